//! The fixture the query-path tests share: six members on six continents, a generated
//! GeoIP database, views built from official results and overrides.
#![allow(
    clippy::unwrap_used,
    dead_code,
    unreachable_pub,
    reason = "test helpers"
)]

use std::sync::Arc;

use chrono::TimeZone;
use geodns_consensus::results::{ResultEntry, Results, Snapshot};
use geodns_core::config::{Config, Origin, SourceItems, build, parse_file};
use geodns_core::ids::MemberId;
use geodns_core::model::{CheckKind, CountryOverrides};
use geodns_core::records::CheckKey;
use geodns_dns::geo::GeoDb;
use geodns_dns::serial::SerialBook;
use geodns_dns::view::{Inputs, View};
use geodns_dns::zone::Zones;

const MEMBERS: &str = r#"
[node]
id = "dns-1"

[dns]
zones = ["geo.example"]

[[services]]
name = "Polkadot"
type = "substrate_rpc"
level_required = 3
endpoints = ["wss://rpc.geo.example"]

[[records]]
name = "www.geo.example"
type = "CNAME"
content = "web.geo.example."

[[records]]
name = "web.geo.example"
type = "A"
content = "192.0.2.80"

[[records]]
name = "alias.geo.example"
type = "CNAME"
content = "rpc.geo.example."

[[records]]
name = "deep.sub.geo.example"
type = "TXT"
content = "hello"

[[records]]
name = "geo.example"
type = "CAA"
content = "0 issue \"letsencrypt.org\""

[[records]]
name = "_rpc._tcp.geo.example"
type = "SRV"
content = "10 5 443 rpc.geo.example."
"#;

/// Six members on six continents; the JSON-style sections follow.
pub fn member(name: &str, ip: &str, ipv6: Option<&str>, (lat, lon): (f64, f64)) -> String {
    let v6 = ipv6
        .map(|v| format!("ipv6 = \"{v}\"\n"))
        .unwrap_or_default();
    format!(
        "[[members]]\nname = \"{name}\"\nlevel = 5\nipv4 = \"{ip}\"\n{v6}latitude = {lat}\nlongitude = {lon}\nservices = [\"Polkadot\"]\n"
    )
}

pub fn config(extra: &str) -> Config {
    let mut text = MEMBERS.replace("[dns]\n", &format!("[dns]\n{extra}\n"));
    for m in [
        member("Frankfurt", "192.0.2.1", Some("2001:db8::1"), (50.1, 8.7)),
        member("NewYork", "192.0.2.2", Some("2001:db8::2"), (40.7, -74.0)),
        member("Tokyo", "192.0.2.3", None, (35.7, 139.7)),
        member("SaoPaulo", "192.0.2.4", None, (-23.5, -46.6)),
        member("Sydney", "192.0.2.5", None, (-33.9, 151.2)),
        member("Johannesburg", "192.0.2.6", None, (-26.2, 28.0)),
    ] {
        text.push_str(&m);
    }
    let origin = Origin("test.toml".to_owned());
    build(
        parse_file(&text, &origin).unwrap(),
        &origin,
        SourceItems::default(),
    )
    .unwrap()
}

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub geo: Arc<GeoDb>,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let city = dir.path().join("city.mmdb");
    let asn = dir.path().join("asn.mmdb");
    geodns_test_support::mmdb::write_city(&city, &geodns_test_support::mmdb::world_cities())
        .unwrap();
    geodns_test_support::mmdb::write_asn(&asn, &geodns_test_support::mmdb::world_asns()).unwrap();
    let geo = Arc::new(GeoDb::open(Some(&city), Some(&asn), 1).unwrap());
    Fixture { _dir: dir, geo }
}

pub fn view(
    config: &Config,
    geo: &Arc<GeoDb>,
    official: &Snapshot,
    overrides: &CountryOverrides,
) -> View {
    let zones = Zones::build(
        &config.catalog,
        &Default::default(),
        &mut SerialBook::default(),
        1_800_000_000,
    );
    let inputs = Inputs {
        config,
        official: Some(official),
        runtime_overrides: overrides,
        geo: geo.clone(),
    };
    View::build(Arc::new(zones), &inputs).0
}

/// Official results with `members` down over IPv4 (and Frankfurt up over IPv6, so the
/// snapshot is not empty: an empty one means "nothing decided").
pub fn down(members: &[&str]) -> Snapshot {
    let mut results = Results::new();
    let at = chrono::Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let up = [("Frankfurt", true)];
    for (member, ipv6) in members.iter().map(|m| (*m, false)).chain(up) {
        let key = CheckKey {
            kind: CheckKind::Site,
            check: "ping".into(),
            member: MemberId::parse(member).unwrap(),
            domain: String::new(),
            endpoint: String::new(),
            ipv6,
        };
        let (status, error) = (ipv6, if ipv6 { "" } else { "down" }.to_owned());
        results.set(
            key,
            ResultEntry {
                status,
                error,
                data: None,
                at,
            },
        );
    }
    (*results.snapshot()).clone()
}
