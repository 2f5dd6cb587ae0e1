//! Tests of the eligibility rules: who is checked, by which check, per family.

use std::collections::BTreeSet;

use geodns_core::config::{Config, Origin, SourceItems, build, parse_file};
use geodns_core::ids::MemberId;

use super::*;

fn config(text: &str) -> Config {
    let origin = Origin("test.toml".to_owned());
    let file = parse_file(text, &origin).expect("parses");
    build(file, &origin, SourceItems::default()).expect("valid")
}

const TEXT: &str = r#"
[node]
id = "n1"

[[checks]]
name = "ping"
type = "ping"

[[checks]]
name = "ssl"
type = "tls"

[[checks]]
name = "wss"
type = "substrate_rpc"

[[checks]]
name = "ethrpc"
type = "eth_rpc"

[[checks]]
name = "off"
type = "tcp"
kind = "site"
port = 22
enabled = false

[[services]]
name = "Polkadot"
type = "substrate_rpc"
level_required = 3
network = "Polkadot"
endpoints = ["wss://polkadot.test.example", "wss://rpc.test.example/polkadot", "wss://rpc.test.example:444/kusama"]

[[services]]
name = "Moonbeam"
type = "eth_rpc"
network = "1284"
endpoints = ["https://moonbeam.test.example"]

[[services]]
name = "Retired"
type = "substrate_rpc"
active = false
endpoints = ["wss://old.test.example"]

[[members]]
name = "Both"
level = 5
ipv4 = "127.0.0.2"
ipv6 = "::1"
latitude = 1
longitude = 1
services = ["Polkadot", "Moonbeam", "Retired"]

[[members]]
name = "Junior"
level = 1
ipv4 = "127.0.0.3"
latitude = 1
longitude = 1
services = ["Polkadot", "Moonbeam"]

[[members]]
name = "Resting"
level = 9
ipv4 = "127.0.0.4"
maintenance = true
latitude = 1
longitude = 1
services = ["Polkadot"]

[[members]]
name = "Gone"
level = 9
ipv4 = "127.0.0.5"
active = false
latitude = 1
longitude = 1
services = ["Polkadot"]

[[members]]
name = "Nowhere"
level = 9
latitude = 1
longitude = 1
services = ["Moonbeam"]
"#;

fn summary(items: &[Item]) -> Vec<String> {
    let mut lines: Vec<String> = items
        .iter()
        .map(|item| {
            let target = &item.target;
            format!(
                "{} {} {} {} {} {:?}",
                item.check.name,
                target.member,
                target.domain,
                target
                    .endpoint
                    .as_ref()
                    .map(endpoint_text)
                    .unwrap_or_default(),
                if target.ipv6 { "v6" } else { "v4" },
                target.port
            )
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_original_rules_decide_what_is_checked() {
    let config = config(TEXT);
    let items = plan(&config.catalog, &BTreeSet::new());
    let lines = summary(&items);
    let expected = [
        // eth_rpc: Moonbeam only; level 0 required, so Junior too; Nowhere has no address.
        "ethrpc Both moonbeam.test.example https://moonbeam.test.example v4 Some(443)",
        "ethrpc Both moonbeam.test.example https://moonbeam.test.example v6 Some(443)",
        "ethrpc Junior moonbeam.test.example https://moonbeam.test.example v4 Some(443)",
        "ethrpc Nowhere moonbeam.test.example https://moonbeam.test.example v4 Some(443)",
        // ping: every active member not in maintenance, per family.
        "ping Both   v4 None",
        "ping Both   v6 None",
        "ping Junior   v4 None",
        "ping Nowhere   v4 None",
        // tls: each distinct hostname once (the first URL's port), Polkadot (level 3:
        // not Junior) and Moonbeam; not the inactive service.
        "ssl Both moonbeam.test.example  v4 Some(443)",
        "ssl Both moonbeam.test.example  v6 Some(443)",
        "ssl Both polkadot.test.example  v4 Some(443)",
        "ssl Both polkadot.test.example  v6 Some(443)",
        "ssl Both rpc.test.example  v4 Some(443)",
        "ssl Both rpc.test.example  v6 Some(443)",
        "ssl Junior moonbeam.test.example  v4 Some(443)",
        "ssl Nowhere moonbeam.test.example  v4 Some(443)",
        // wss: every Polkadot URL, with its own port.
        "wss Both polkadot.test.example wss://polkadot.test.example v4 Some(443)",
        "wss Both polkadot.test.example wss://polkadot.test.example v6 Some(443)",
        "wss Both rpc.test.example wss://rpc.test.example/polkadot v4 Some(443)",
        "wss Both rpc.test.example wss://rpc.test.example/polkadot v6 Some(443)",
        "wss Both rpc.test.example wss://rpc.test.example:444/kusama v4 Some(444)",
        "wss Both rpc.test.example wss://rpc.test.example:444/kusama v6 Some(444)",
    ];
    assert_eq!(lines, expected);
    let nowhere = items
        .iter()
        .find(|item| item.target.member.as_str() == "Nowhere")
        .unwrap();
    assert_eq!(nowhere.target.address, None);
    let wss = items.iter().find(|item| item.check.name == "wss").unwrap();
    assert_eq!(wss.target.network.as_deref(), Some("Polkadot"));
    let key = wss.key();
    assert_eq!(key.kind, CheckKind::Endpoint);
    assert_eq!(key.domain, wss.target.domain);
}

#[test]
fn run_time_maintenance_removes_a_member() {
    let config = config(TEXT);
    let resting: BTreeSet<MemberId> = [MemberId::parse("Both").unwrap()].into();
    let items = plan(&config.catalog, &resting);
    assert!(
        items
            .iter()
            .all(|item| item.target.member.as_str() != "Both")
    );
    assert!(
        items
            .iter()
            .any(|item| item.target.member.as_str() == "Junior")
    );
}

#[test]
fn endpoints_print_as_configured() {
    let url = Url::parse("wss://rpc.test.example").unwrap();
    assert_eq!(endpoint_text(&url), "wss://rpc.test.example");
    let url = Url::parse("wss://rpc.test.example/polkadot").unwrap();
    assert_eq!(endpoint_text(&url), "wss://rpc.test.example/polkadot");
}
