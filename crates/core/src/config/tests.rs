//! Unit tests of config parsing and validation, table-driven where the rules are.

use super::*;
use crate::model::{CheckKind, CountryOverride, Probe, RecordData};

fn origin() -> Origin {
    Origin("test.toml".to_owned())
}

fn build_text(text: &str) -> Result<Config, String> {
    let file = parse_file(text, &origin()).map_err(|e| e.to_string())?;
    build(file, &origin(), SourceItems::default()).map_err(|e| e.to_string())
}

const BASE: &str = r#"
[node]
id = "n1"

[[services]]
name = "Polkadot"
type = "substrate_rpc"
endpoints = ["wss://polkadot.dotters.network", "wss://rpc.dotters.network/polkadot"]

[[services]]
name = "Old"
type = "http"
active = false
endpoints = ["https://old.example.org/"]

[[members]]
name = "Stake Plus"
ipv4 = "192.0.2.1"
latitude = 35.0
longitude = -106.6
services = ["Polkadot"]
"#;

#[test]
fn defaults_apply_to_a_minimal_file() {
    let config = build_text("[node]\nid = \"n1\"\n").unwrap();
    assert_eq!(config.node.roles.len(), 4);
    assert_eq!(config.listen.dns.to_string(), "0.0.0.0:53");
    assert_eq!(config.storage.url, None);
    assert_eq!(config.storage.max_connections, 40);
    assert_eq!(config.bus.mode, BusMode::Embedded);
    assert_eq!(config.sources.reload_interval.as_secs(), 3600);
    assert_eq!(config.dns.answer_ttl, 30);
}

#[test]
fn hostnames_come_from_active_services_only() {
    let config = build_text(BASE).unwrap();
    let hosts: Vec<&str> = config
        .catalog
        .hostnames
        .keys()
        .map(|h| h.as_str())
        .collect();
    assert_eq!(hosts, ["polkadot.dotters.network", "rpc.dotters.network"]);
    // No NS/SOA records and no [dns] zones: each hostname is its own zone, as originally.
    assert_eq!(config.catalog.zones.len(), 2);
}

#[test]
fn zones_absorb_hostnames_below_them() {
    let text = format!("{BASE}\n[dns]\nzones = [\"Dotters.Network.\"]\n");
    let config = build_text(&text).unwrap();
    let zones: Vec<&str> = config.catalog.zones.iter().map(|z| z.as_str()).collect();
    assert_eq!(zones, ["dotters.network"]);
}

#[test]
fn check_kinds_default_from_the_probe_and_options_default() {
    let text = "[node]\nid = \"n\"\n[[checks]]\nname = \"ssl\"\ntype = \"tls\"\n[[checks]]\nname = \"wss\"\ntype = \"substrate_rpc\"\nmin_peers = 8\n";
    let config = build_text(text).unwrap();
    assert_eq!(config.catalog.checks[0].kind, CheckKind::Domain);
    match &config.catalog.checks[1].probe {
        Probe::SubstrateRpc(options) => {
            assert_eq!(options.min_peers, 8);
            assert_eq!(options.read_timeout.as_secs(), 15);
        }
        other => panic!("unexpected probe {other:?}"),
    }
}

#[test]
fn rule_violations_are_named() {
    let cases: &[(&str, &str)] = &[
        (
            "[node]\nid = \"n\"\nroles = []\n",
            "test.toml: node.roles: at least one role is required",
        ),
        (
            "[node]\nid = \"n\"\n[[checks]]\nname = \"p\"\ntype = \"ping\"\nkind = \"endpoint\"\n",
            "checks[0].kind: a `ping` check cannot be a `endpoint` check (allowed: site)",
        ),
        (
            "[node]\nid = \"n\"\n[[checks]]\nname = \"a\"\ntype = \"tcp\"\n[[checks]]\nname = \"a\"\ntype = \"tcp\"\n",
            "checks[1].name: duplicate check `a`",
        ),
        (
            "[node]\nid = \"n\"\n[[services]]\nname = \"P\"\ntype = \"substrate_rpc\"\n\
             endpoints = [\"wss://a.example\"]\nproviders = { A = [\"wss://b.example\"] }\n",
            "services[0].providers.A[0]: `wss://b.example` is not one of this service's endpoints",
        ),
        (
            "[node]\nid = \"n\"\n[storage]\nurl = \"oracle://x\"\n",
            "storage.url: unsupported database URL `oracle://x`",
        ),
        (
            "[node]\nid = \"n\"\n[storage]\nurl = \"ftp://u:secret@h/db\"\n",
            "unsupported database URL `ftp://u:***@h/db`",
        ),
        (
            "[node]\nid = \"n\"\n[[records]]\nname = \"a.example\"\ntype = \"PTR\"\ncontent = \"x\"\n",
            "records[0].type: unsupported record type `PTR`",
        ),
        (
            "[node]\nid = \"n\"\n[[records]]\nname = \"a.example\"\ntype = \"SRV\"\ncontent = \"x\"\n",
            "records[0].content: `x` is not a valid SRV record (expected `priority weight port target`)",
        ),
        (
            "[node]\nid = \"n\"\n[[records]]\nname = \"a.example\"\ntype = \"CNAME\"\ncontent = \"b.example.\"\n[[records]]\nname = \"a.example\"\ntype = \"TXT\"\ncontent = \"hi\"\n",
            "`a.example` has a CNAME and other records",
        ),
        (
            "[node]\nid = \"n\"\n[[services]]\nname = \"S\"\ntype = \"http\"\nendpoints = [\"ftp://x.example\"]\n",
            "services[0].endpoints[0]: URL `ftp://x.example` must use ws, wss, http or https",
        ),
        (
            "[node]\nid = \"n\"\n[[services]]\nname = \"S\"\ntype = \"http\"\nendpoints = []\n",
            "services[0].endpoints: at least one endpoint URL is required",
        ),
        (
            "[node]\nid = \"n\"\n[alerts.mentions]\nNobody = [\"@a:b\"]\n",
            "alerts.mentions.Nobody: no member matches `Nobody`",
        ),
        (
            "[node]\nid = \"n\"\n[overrides.\"x.example\".ZZZ]\nipv4 = \"192.0.2.1\"\n",
            "overrides[\"x.example\"].ZZZ: invalid country code `ZZZ`",
        ),
        (
            "[node]\nid = \"n\"\n[bus]\nurls = [\"nats://u:secret@127.0.0.1:4222\"]\n",
            "bus.urls[0]: `nats://u:***@127.0.0.1:4222`: credentials in a NATS URL are not used",
        ),
        (
            "[node]\nid = \"n\"\n[bus]\nuser = \"u\"\n",
            "bus: `user` and `password` go together",
        ),
        (
            "[node]\nid = \"n\"\n[bus]\ninbox_prefix = \"_INBOX.>\"\n",
            "bus.inbox_prefix: `_INBOX.>` is not a subject prefix",
        ),
        (
            "[node]\nid = \"n\"\n[bus]\ninbox_prefix = \"_INBOX..dns\"\n",
            "bus.inbox_prefix: `_INBOX..dns` is not a subject prefix",
        ),
        (
            "[node]\nid = \"n\"\n[matrix]\nhomeserver = \"https://m.example\"\n",
            "matrix: set `access_token`, or `user` with `password` or `password_file`",
        ),
    ];
    for (text, expected) in cases {
        let error = build_text(text).expect_err(expected);
        assert!(
            error.contains(expected),
            "expected {expected:?} in {error:?}"
        );
    }
}

#[test]
fn override_needs_member_or_addresses_not_both() {
    let both = format!(
        "{BASE}\n[overrides.\"rpc.dotters.network\".CN]\nmember = \"Stake Plus\"\nipv4 = \"192.0.2.9\"\n"
    );
    assert!(
        build_text(&both)
            .unwrap_err()
            .contains("set either `member` or addresses")
    );
    let member =
        format!("{BASE}\n[overrides.\"rpc.dotters.network\".cn]\nmember = \"Stake Plus\"\n");
    let config = build_text(&member).unwrap();
    let host = crate::ids::Fqdn::parse("rpc.dotters.network").unwrap();
    let code = crate::ids::CountryCode::parse("CN").unwrap();
    assert!(
        matches!(&config.catalog.overrides[&host][&code], CountryOverride::Member(m) if m.as_str() == "Stake Plus")
    );
}

#[test]
fn records_parse_by_type() {
    let text = "[node]\nid = \"n\"\n\
        [[records]]\nname = \"example.org\"\ntype = \"MX\"\ncontent = \"10 mail.example.org.\"\n\
        [[records]]\nname = \"example.org\"\ntype = \"soa\"\ncontent = \"ns1.example.org. hostmaster.example.org. 1 3600 600 1209600 3600\"\n\
        [[records]]\nname = \"_acme-challenge.example.org\"\ntype = \"TXT\"\ncontent = \"http://192.0.2.7/acme\"\nttl = 0\n";
    let config = build_text(text).unwrap();
    let records = &config.catalog.records;
    assert!(
        matches!(&records[0].data, RecordData::Mx { preference: 10, exchange } if exchange.as_str() == "mail.example.org")
    );
    assert!(matches!(
        &records[1].data,
        RecordData::Soa {
            refresh: 3600,
            minimum: 3600,
            ..
        }
    ));
    assert!(
        matches!(&records[2].data, RecordData::TxtFromUrl(url) if url.as_str() == "http://192.0.2.7/acme")
    );
    assert_eq!(config.catalog.zones.len(), 1, "the SOA owner is a zone");
}

#[test]
fn overrides_apply_after_the_file() {
    let overrides = vec![
        Override::from_text("GEODNS_NODE__ID", &["node", "id"], "n2"),
        Override::from_text("--storage-url", &["storage", "url"], "postgres://db/geodns"),
    ];
    let file = parse_file_with_overrides("[node]\nid = \"n1\"\n", &origin(), &overrides).unwrap();
    assert_eq!(file.node.id.as_str(), "n2");
    assert_eq!(
        file.storage
            .url
            .as_ref()
            .map(crate::secret::SecretUrl::expose),
        Some("postgres://db/geodns")
    );
    let bad = vec![Override::from_text(
        "GEODNS_NODE__COLOUR",
        &["node", "colour"],
        "red",
    )];
    let error = parse_file_with_overrides("[node]\nid = \"n1\"\n", &origin(), &bad).unwrap_err();
    assert!(
        error.to_string().starts_with(
            "test.toml with overrides GEODNS_NODE__COLOUR: node.colour: unknown field `colour`"
        ),
        "{error}"
    );
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let text = "[node]\nid = \"n\"\n[bus]\nmode = \"nats\"\nurls = [\"nats://127.0.0.1:4222\"]\nuser = \"u\"\npassword = \"hunter2\"\n";
    let config = build_text(text).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"));
    assert_eq!(
        config.bus.password.as_ref().map(Secret::expose),
        Some("hunter2")
    );
}

#[test]
fn a_usage_collection_ends_before_the_next_is_due() {
    let text = "[node]\nid = \"n1\"\n[collator]\nusage_every = \"1m\"\nusage_timeout = \"1m\"\n";
    let error = build_text(text).unwrap_err();
    assert!(
        error.contains("collator.usage_timeout: 1m is not shorter than collator.usage_every (1m)"),
        "{error}"
    );
    let text = "[node]\nid = \"n1\"\n[collator]\nusage_every = \"1m\"\nusage_timeout = \"20s\"\n";
    let config = build_text(text).unwrap();
    assert_eq!(
        config.collator.usage_every,
        std::time::Duration::from_secs(60)
    );
}

/// Every duration key, given the largest value the parser accepts, is a clear error
/// naming the key and its range (never an overflow later).
#[test]
fn every_duration_key_rejects_its_maximum() {
    const MAX: &str = "\"18446744073709551615\"";
    let sections = [
        ("storage", "connect_retry", "0s to 1d"),
        ("storage", "max_lifetime", "1s to 30d"),
        ("storage", "idle_timeout", "1s to 30d"),
        ("monitor", "separation", "0s to 1m"),
        ("monitor", "minimum_offline", "0s to 1d"),
        ("sources", "reload_interval", "1s to 30d"),
        ("sources", "fetch_timeout", "1s to 10m"),
        ("cluster", "heartbeat", "100ms to 1h"),
        ("cluster", "active_window", "200ms to 1d"),
        ("cluster", "purge_after", "200ms to 30d"),
        ("consensus", "proposal_timeout", "100ms to 1h"),
        ("consensus", "republish_interval", "100ms to 1h"),
        ("consensus", "cache_interval", "1s to 1d"),
        ("consensus", "max_skew", "0s to 1m"),
        ("consensus", "max_message_age", "1s to 1h"),
        ("collator", "usage_every", "10s to 1d"),
        ("collator", "flap_tombstone", "1m to 3650d"),
        ("collator", "alert_takeover", "5s to 7d"),
        ("collator", "log_retention", "1d to 36500d"),
        ("collator", "usage_timeout", "1s to 1h"),
    ];
    for (section, key, range) in sections {
        let text = format!("[node]\nid = \"n1\"\n[{section}]\n{key} = {MAX}\n");
        let error = build_text(&text).unwrap_err();
        assert!(
            error.contains(&format!(
                "test.toml: {section}.{key}: 213503982334601d7h15s is out of range: use {range}"
            )),
            "{section}.{key}: {error}"
        );
    }
    let checks = [
        ("ping", "interval"),
        ("ping", "timeout"),
        ("ping", "ping_interval"),
        ("ping", "per_ping_timeout"),
        ("ping", "max_latency"),
        ("tls", "connect_timeout"),
        ("tls", "min_validity"),
        ("substrate_rpc", "read_timeout"),
    ];
    for (probe, key) in checks {
        let text = format!(
            "[node]\nid = \"n1\"\n[[checks]]\nname = \"c\"\ntype = \"{probe}\"\n{key} = {MAX}\n"
        );
        let error = build_text(&text).unwrap_err();
        assert!(
            error.contains(&format!(
                "test.toml: checks[0].{key}: 213503982334601d7h15s is out of range"
            )),
            "checks {probe}.{key}: {error}"
        );
    }
}

#[test]
fn a_strict_fleet_node_is_told_what_its_trust_table_lacks() {
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let fleet = |id: &str, roles: &str, nodes: &[(&str, &str)]| {
        let mut text = format!(
            "[node]\nid = \"{id}\"\nroles = [{roles}]\n[bus]\nmode = \"nats\"\nurls = [\"nats://127.0.0.1:4222\"]\n"
        );
        for (node, role) in nodes {
            text.push_str(&format!(
                "[[consensus.nodes]]\nid = \"{node}\"\nroles = [\"{role}\"]\npublic_key = \"{KEY}\"\n"
            ));
        }
        build_text(&text).unwrap().warnings.join("\n")
    };
    let dns = fleet("dns-1", "\"dns\"", &[("dns-2", "dns")]);
    assert!(dns.contains("no monitor is listed"), "{dns}");
    assert!(dns.contains("this node (`dns-1`) is not listed"), "{dns}");
    let fine = fleet("dns-1", "\"dns\"", &[("m1", "monitor"), ("dns-1", "dns")]);
    assert!(fine.is_empty(), "{fine}");
    let monitor = fleet("m2", "\"monitor\"", &[("m1", "monitor")]);
    assert!(
        monitor.contains("this node (`m2`) is not listed") && monitor.contains("votes"),
        "{monitor}"
    );
    let api = fleet("api-1", "\"api\"", &[("m1", "monitor")]);
    assert!(api.contains("overrides, maintenance"), "{api}");
    let wrong = fleet("api-1", "\"api\"", &[("m1", "monitor"), ("api-1", "dns")]);
    assert!(wrong.contains("lacks its role(s) api"), "{wrong}");
    let listed = fleet("m1", "\"monitor\"", &[("m1", "monitor")]);
    assert!(listed.is_empty(), "{listed}");
}
