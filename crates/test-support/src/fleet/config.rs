//! The fleet's files: each node's `geodns.toml` (one role, strict trust of every node,
//! NATS as the role's user of `examples/nats-server.conf`, checks every interval against
//! the two providers), the nats-server configuration, and the GeoIP files.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::{FleetSpec, Role};

/// The zone and the hostname every DNS node answers.
pub const HOSTNAME: &str = "rpc.geo.example";

/// A second hostname of the service, which only a test's counted queries ask for (the
/// waits ask for [`HOSTNAME`]), so its usage is exactly what the test sent.
pub const HITS_HOSTNAME: &str = "hits.geo.example";

/// Member `Near` (Frankfurt) and its provider address; the first answer of a European client.
pub const NEAR: &str = "127.0.0.11";
/// Member `Far` (New York): the answer while Near is down.
pub const FAR: &str = "127.0.0.12";

/// The role users' passwords in the test server's configuration.
pub(super) fn password(role: Role) -> String {
    format!("{}-secret", role.user())
}

/// `examples/nats-server.conf` without its `listen` line (the test server picks a port)
/// and with literal passwords for the server's environment variables (`<user>-secret`).
pub fn nats_server_conf() -> String {
    let text = include_str!("../../../../examples/nats-server.conf");
    let mut config: String = text
        .lines()
        .filter(|line| !line.starts_with("listen:"))
        .map(|line| format!("{line}\n"))
        .collect();
    for role in [Role::Monitor, Role::Dns, Role::Collator, Role::Api] {
        let variable = format!("${}_PASS", role.user().to_uppercase());
        config = config.replace(&variable, &format!("\"{}\"", password(role)));
    }
    config.replace("$NODE_PASS", "\"node-secret\"")
}

/// Writes the City and ASN files the DNS nodes read (`dir/city.mmdb`, `dir/asn.mmdb`).
pub(super) fn geoip(dir: &Path) {
    use geodns_fakes::mmdb;
    mmdb::write_city(&dir.join("city.mmdb"), &mmdb::world_cities()).expect("write city.mmdb");
    mmdb::write_asn(&dir.join("asn.mmdb"), &mmdb::world_asns()).expect("write asn.mmdb");
}

/// What a node's file points at: its NATS URL, the database URL, the providers' check
/// port and the directory of the GeoIP files.
pub(super) struct Links<'a> {
    pub nats: &'a str,
    pub database: &'a str,
    pub port: u16,
    pub geoip: &'a Path,
}

/// One node's configuration.
pub(super) fn node_text(
    spec: &FleetSpec,
    node: &super::NodeSpec,
    links: &Links<'_>,
    trusted: &str,
) -> String {
    let dir = &node.data;
    let role = node.role;
    let mut text = format!(
        "[node]\nid = \"{id}\"\nroles = [\"{role}\"]\ndata_dir = \"{dir}\"\n\n[listen]\n",
        id = node.id,
        role = role.user(),
        dir = dir.display(),
    );
    if let Some(port) = node.dns {
        let _ = writeln!(text, "dns = \"127.0.0.1:{port}\"");
    }
    if let Some(port) = node.api {
        let _ = writeln!(text, "api = \"127.0.0.1:{port}\"");
    }
    let local = role == Role::Monitor || (role == Role::Dns && !spec.dns_database);
    let storage = if local {
        format!("sqlite://{}/node.db", dir.display())
    } else {
        links.database.to_owned()
    };
    let _ = write!(
        text,
        "\n[storage]\nurl = \"{storage}\"\nconnect_retry = \"60s\"\n\n\
         [bus]\nmode = \"nats\"\nurls = [\"{nats}\"]\nuser = \"{user}\"\n\
         inbox_prefix = \"_INBOX.{user}\"\n\n\
         {timings}auth = \"{auth}\"\n\n",
        nats = links.nats,
        user = role.user(),
        timings = spec.timings,
        auth = spec.auth,
    );
    text.push_str(&catalog(spec, links));
    text.push_str(&spec.extra);
    if role == Role::Collator {
        text.push_str(&spec.collator_extra);
    }
    text.push('\n');
    text.push_str(trusted);
    text
}

/// What every node shares: GeoIP, the zone, the monitor's settings, and the catalog (by
/// default the TCP check, the service and its two members).
fn catalog(spec: &FleetSpec, links: &Links<'_>) -> String {
    let common = format!(
        "[geoip]\ncity = \"{city}\"\nasn = \"{asn}\"\nwatch = \"1s\"\n\n\
         [dns]\nzones = [\"geo.example\"]\nusage_flush = \"1s\"\n{dns}\n\n\
         [monitor]\nworkers = 4\nseparation = \"10ms\"\nminimum_offline = \"0s\"\n\n",
        city = links.geoip.join("city.mmdb").display(),
        asn = links.geoip.join("asn.mmdb").display(),
        dns = spec.dns_keys,
    );
    match &spec.catalog {
        Some(catalog) => format!("{common}{catalog}\n"),
        None => format!("{common}{}", default_catalog(spec, links)),
    }
}

/// The TCP check every interval, the service, members Near and Far.
fn default_catalog(spec: &FleetSpec, links: &Links<'_>) -> String {
    format!(
        r#"[[checks]]
name = "tcp"
type = "tcp"
kind = "site"
port = {port}
interval = "{interval}s"
timeout = "{timeout}ms"

[[services]]
name = "Polkadot"
type = "substrate_rpc"
endpoints = ["wss://{HOSTNAME}", "wss://{HITS_HOSTNAME}"]

[[members]]
name = "Near"
ipv4 = "{NEAR}"
latitude = 50.1
longitude = 8.7
services = ["Polkadot"]

[[members]]
name = "Far"
ipv4 = "{FAR}"
latitude = 40.7
longitude = -74.0
services = ["Polkadot"]

"#,
        port = links.port,
        interval = spec.interval.as_secs().max(1),
        timeout = timeout(spec.interval).as_millis(),
    )
}

/// A check's timeout: most of its interval, at most 2 s.
fn timeout(interval: Duration) -> Duration {
    (interval * 4 / 5).min(Duration::from_secs(2))
}
