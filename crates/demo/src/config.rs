//! The four nodes' configuration files: three monitors and an edge node (DNS, collator,
//! API), each trusting the others' keys (strict authentication, as a fleet runs), all on
//! the in-process bus the binary gives them, checking every provider every second with
//! `fall = rise = 2`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::world::{HOSTNAME, REGIONS, STATE_ROOT, ZONE, io};
use crate::{DemoError, Options};

/// The nodes: id and roles.
pub const NODES: [(&str, &[&str]); 4] = [
    ("mon-1", &["monitor"]),
    ("mon-2", &["monitor"]),
    ("mon-3", &["monitor"]),
    ("edge", &["dns", "collator", "api"]),
];

/// Writes each node's key (created once) and configuration; returns (id, file).
pub fn write_all(
    dir: &Path,
    options: &Options,
    port: u16,
) -> Result<Vec<(String, PathBuf)>, DemoError> {
    let mut trusted = String::new();
    for (id, roles) in NODES {
        let key_file = dir.join(id).join("node.key");
        let (key, _) = geodns_node::keys::load_or_create(&key_file)
            .map_err(|error| DemoError::Key(error.to_string()))?;
        trusted.push('\n');
        trusted.push_str(&geodns_node::keys::entry_text(id, roles, &key.public()));
    }
    let mut files = Vec::new();
    for (id, roles) in NODES {
        let text = node_text(dir, (id, roles), options, port) + &trusted;
        let path = dir.join(format!("{id}.toml"));
        std::fs::write(&path, text).map_err(|source| io("write", &path, source))?;
        files.push((id.to_owned(), path));
    }
    Ok(files)
}

fn node_text(dir: &Path, (id, roles): (&str, &[&str]), options: &Options, port: u16) -> String {
    let data = dir.join(id);
    let roles: Vec<String> = roles.iter().map(|role| format!("\"{role}\"")).collect();
    let roles = format!("[{}]", roles.join(", "));
    let mut text = format!(
        r#"# geodns demo: node {id}
[node]
id = "{id}"
roles = {roles}
data_dir = "{data}"

[listen]
dns = "{dns}"
api = "{api}"

[storage]
url = "sqlite://{data}/geodns.db"

[bus]
mode = "embedded"

[cluster]
heartbeat = "1s"
active_window = "3s"

[consensus]
fall = 2
rise = 2
cache_interval = "5s"

[geoip]
city = "{city}"
asn = "{asn}"

[dns]
zones = ["{ZONE}"]
answer_ttl = 5

[monitor]
workers = 4
separation = "10ms"
minimum_offline = "0s"

[[checks]]
name = "rpc"
type = "substrate_rpc"
interval = "1s"
timeout = "3s"
read_timeout = "1s"

[[services]]
name = "Polkadot"
type = "substrate_rpc"
network = "Polkadot"
state_root = "{STATE_ROOT}"
endpoints = ["ws://{HOSTNAME}:{port}"]
"#,
        data = data.display(),
        dns = options.dns_listen,
        api = options.api_listen,
        city = dir.join("city.mmdb").display(),
        asn = dir.join("asn.mmdb").display(),
    );
    for region in REGIONS {
        let _ = write!(
            text,
            "\n[[members]]\nname = \"{}\"\nipv4 = \"{}\"\nlatitude = {}\nlongitude = {}\nservices = [\"Polkadot\"]\n",
            region.member, region.ip, region.latitude, region.longitude
        );
    }
    text
}
