//! The DNS role end to end with real clients: `kdig` (Knot's dig) against the running
//! server of a node that monitors two local providers; failover within a second of the
//! official change; a country override over the bus kept across a restart; truncation
//! and TCP; usage counted exactly across a database outage and served over the bus.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use geodns_bus::wire::UsageResponse;
use geodns_bus::{Bus, MemoryBus, subjects};
use geodns_node::consensus::ConsensusHandle;
use geodns_store::{SqlStore, StoreConfig, UsageFilter, UsageStore};

use crate::node::{Node, Roles};
use crate::support::{ask, mysql_behind_proxy, until, write};

const MONITOR_AND_DNS: Roles = Roles {
    monitor: true,
    dns: true,
};
pub(crate) const DNS_ONLY: Roles = Roles {
    monitor: false,
    dns: true,
};

/// The service and the two members the DNS tests route between: Near (Frankfurt) and
/// Far (New York), addresses on 127.0.0.0/8.
pub(crate) const NEAR_AND_FAR: &str = r#"[[services]]
name = "Polkadot"
type = "substrate_rpc"
endpoints = ["wss://rpc.geo.example"]

[[members]]
name = "Near"
ipv4 = "127.0.0.11"
latitude = 50.1
longitude = 8.7
services = ["Polkadot"]

[[members]]
name = "Far"
ipv4 = "127.0.0.12"
latitude = 40.7
longitude = -74.0
services = ["Polkadot"]
"#;

pub(crate) fn config_text(dir: &Path, roles: &str, storage: &str, port: u16) -> String {
    let city = dir.join("city.mmdb");
    let asn = dir.join("asn.mmdb");
    std::fs::create_dir_all(dir).unwrap();
    if !city.exists() {
        geodns_test_support::mmdb::write_city(&city, &geodns_test_support::mmdb::world_cities())
            .unwrap();
        geodns_test_support::mmdb::write_asn(&asn, &geodns_test_support::mmdb::world_asns())
            .unwrap();
    }
    let big: String = (0..30)
        .map(|i| {
            format!(
                "[[records]]\nname = \"big.geo.example\"\ntype = \"TXT\"\ncontent = \"{i:03}{}\"\n",
                "x".repeat(200)
            )
        })
        .collect();
    format!(
        r#"
[node]
id = "dns-it"
roles = {roles}
data_dir = "{data}"

[listen]
dns = "127.0.0.1:0"

[storage]
url = "{storage}"

[consensus]
single_node = true

[geoip]
city = "{city}"
asn = "{asn}"

watch = "1s"

[dns]
zones = ["geo.example"]
usage_flush = "1s"
acme_refresh = "1s"

[monitor]
workers = 4
separation = "10ms"
minimum_offline = "0s"

[[checks]]
name = "tcp"
type = "tcp"
kind = "site"
port = {port}
interval = "1s"
timeout = "2s"

{NEAR_AND_FAR}
{big}"#,
        data = dir.display(),
        city = city.display(),
        asn = asn.display(),
    )
}

pub(crate) fn kdig(server: SocketAddr, args: &[&str]) -> String {
    let output = std::process::Command::new("kdig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+timeout=2", "+retry=0"])
        .args(args)
        .output()
        .expect("kdig runs (knot-dnsutils; scripts/services installs it)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn german_answer(server: SocketAddr) -> String {
    kdig(
        server,
        &["rpc.geo.example", "A", "+subnet=81.2.69.0/24", "+short"],
    )
    .trim()
    .to_owned()
}

pub(crate) fn near_is(handle: &ConsensusHandle, status: bool) -> bool {
    let snapshot = handle.official.borrow().clone();
    snapshot
        .iter()
        .any(|(key, entry)| key.member.as_str() == "Near" && entry.status == status)
}

#[tokio::test(flavor = "multi_thread")]
async fn kdig_sees_geo_answers_failover_within_a_second_and_a_kept_override() {
    let dir = tempfile::tempdir().unwrap();
    let near = tokio::net::TcpListener::bind("127.0.0.11:0").await.unwrap();
    let port = near.local_addr().unwrap().port();
    let far = tokio::net::TcpListener::bind(("127.0.0.12", port))
        .await
        .unwrap();
    let accept = |listener: tokio::net::TcpListener| {
        tokio::spawn(async move {
            loop {
                let _ = listener.accept().await;
            }
        })
    };
    let near_task = accept(near);
    let _far_task = accept(far);
    let storage = format!("sqlite://{}/dns.db", dir.path().display());
    let path = write(
        dir.path(),
        "dns.toml",
        &config_text(dir.path(), r#"["monitor", "dns"]"#, &storage, port),
    );
    let bus = MemoryBus::new("dns-it");
    let node = Node::start(bus.clone(), &path, MONITOR_AND_DNS).await;
    until("Near is officially up", Duration::from_secs(20), || {
        near_is(&node.handle, true)
    })
    .await;
    assert_eq!(german_answer(node.dns()), "127.0.0.11");
    assert_eq!(
        kdig(
            node.dns(),
            &["rpc.geo.example", "A", "+subnet=12.0.0.0/16", "+short"]
        )
        .trim(),
        "127.0.0.12"
    );
    let full = kdig(
        node.dns(),
        &["rpc.geo.example", "A", "+subnet=81.2.69.0/24"],
    );
    assert!(full.contains("Flags: qr aa rd"), "{full}");
    assert!(full.contains("CLIENT-SUBNET: 81.2.69.0/24/24"), "{full}");

    // Near stops accepting: the monitor decides it is down; DNS follows within a second.
    near_task.abort();
    let _ = near_task.await;
    until("Near is officially down", Duration::from_secs(30), || {
        near_is(&node.handle, false)
    })
    .await;
    let decided = tokio::time::Instant::now();
    loop {
        if german_answer(node.dns()) == "127.0.0.12" {
            break;
        }
        assert!(
            decided.elapsed() < Duration::from_secs(1),
            "DNS still answers Near 1 s after the official change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "failover visible {:?} after the official change was seen",
        decided.elapsed()
    );

    // A fresh DNS-only node on the same bus learns the official results from a peer.
    let fresh_dir = dir.path().join("fresh");
    let fresh_storage = format!("sqlite://{}/dns.db", fresh_dir.display());
    // It trusts the deciding monitor: in strict mode a peer's entries must prove
    // themselves with that monitor's signed decision.
    let trusted =
        geodns_node::keys::trusted_entry(&crate::support::load_config(&path).await).unwrap();
    let fresh_text = config_text(&fresh_dir, r#"["dns"]"#, &fresh_storage, port)
        .replace("id = \"dns-it\"", "id = \"dns-2\"")
        + "\n"
        + &trusted;
    let fresh_path = write(dir.path(), "fresh.toml", &fresh_text);
    let fresh = Node::start(bus.join("dns-2"), &fresh_path, DNS_ONLY).await;
    until(
        "the fresh node has the official results",
        Duration::from_secs(10),
        || near_is(&fresh.handle, false),
    )
    .await;
    // Its view is rebuilt from them off the query path, within a second.
    until("the fresh node answers Far", Duration::from_secs(1), || {
        german_answer(fresh.dns()) == "127.0.0.12"
    })
    .await;
    fresh.stop().await;

    // A country override over the bus, then a restart: the override is still there.
    let update = serde_json::json!({"action": "set", "domain": "rpc.geo.example", "countryCode": "DE",
        "override": {"memberName": "", "ipv4": "198.51.100.7", "ipv6": ""}});
    bus.publish(subjects::OVERRIDE_UPDATE, Bytes::from(update.to_string()))
        .await
        .unwrap();
    until("the override applies", Duration::from_secs(5), || {
        german_answer(node.dns()) == "198.51.100.7"
    })
    .await;
    assert_eq!(
        kdig(
            node.dns(),
            &["rpc.geo.example", "A", "+subnet=12.0.0.0/16", "+short"]
        )
        .trim(),
        "127.0.0.12"
    );
    node.stop().await;
    let node = Node::start(MemoryBus::new("dns-it"), &path, DNS_ONLY).await;
    assert_eq!(
        german_answer(node.dns()),
        "198.51.100.7",
        "the override survived the restart"
    );

    // Protocol behaviour through a real client.
    let nx = kdig(node.dns(), &["nothing.geo.example", "A"]);
    assert!(
        nx.contains("status: NXDOMAIN") && nx.contains("SOA"),
        "{nx}"
    );
    let refused = kdig(node.dns(), &["example.org", "A"]);
    assert!(refused.contains("status: REFUSED"), "{refused}");
    let badvers = kdig(node.dns(), &["rpc.geo.example", "A", "+edns=1"]);
    assert!(badvers.contains("BADVERS"), "{badvers}");
    let udp = kdig(
        node.dns(),
        &["big.geo.example", "TXT", "+notcp", "+ignore", "+noedns"],
    );
    assert!(udp.contains(" tc") && udp.contains("ANSWER: 0"), "{udp}");
    let tcp = kdig(node.dns(), &["big.geo.example", "TXT", "+tcp"]);
    assert!(tcp.contains("ANSWER: 30"), "{tcp}");
    let fallback = kdig(node.dns(), &["big.geo.example", "TXT"]);
    assert!(
        fallback.contains("ANSWER: 30"),
        "kdig retries over TCP after TC: {fallback}"
    );
    node.stop().await;
}

/// A query for `name` type A, as a resolver would send it.
fn raw_query(id: u16, name: &str) -> Vec<u8> {
    let mut packet = vec![
        (id >> 8) as u8,
        id as u8,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    for label in name.split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    packet
}

pub(crate) fn send_queries(server: SocketAddr, count: u16) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buffer = [0u8; 512];
    for id in 0..count {
        socket
            .send_to(&raw_query(id, "rpc.geo.example"), server)
            .unwrap();
        let (len, _) = socket.recv_from(&mut buffer).unwrap();
        assert!(len > 12 && buffer[..2] == id.to_be_bytes());
    }
}

pub(crate) async fn stored_hits(store: &SqlStore) -> i64 {
    let today = geodns_node::clock::now().date_naive();
    let filter = UsageFilter::between(today.pred_opt().unwrap(), today);
    store.usage_summary(&filter).await.unwrap().total_hits
}

#[tokio::test(flavor = "multi_thread")]
async fn every_query_is_counted_once_across_a_database_outage() {
    let (database, proxy, url) = mysql_behind_proxy().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "dns.toml",
        &config_text(dir.path(), r#"["dns"]"#, url.as_str(), 9),
    );
    let bus = MemoryBus::new("dns-it");
    let node = Node::start(bus.clone(), &path, DNS_ONLY).await;
    let direct = SqlStore::connect(StoreConfig::new(database.url.clone()))
        .await
        .unwrap();

    let server = node.dns();
    tokio::task::spawn_blocking(move || send_queries(server, 300))
        .await
        .unwrap();
    until_hits(&direct, 300).await;
    proxy.cut();
    tokio::task::spawn_blocking(move || send_queries(server, 200))
        .await
        .unwrap();
    // Two writes fail while the database is unreachable; the hits wait for it.
    let failed = || node.metric("geodns_usage_flushes_total{result=\"failed\"}");
    until("two failed usage writes", Duration::from_secs(60), || {
        failed().unwrap_or(0.0) >= 2.0
    })
    .await;
    assert_eq!(stored_hits(&direct).await, 300);
    proxy.restore();
    until_hits(&direct, 500).await;
    // Nothing is left to write (no later write can change the count): counted once.
    let pending = || node.metric("geodns_usage_rows_pending");
    until("no usage row pending", Duration::from_secs(30), || {
        pending() == Some(0.0)
    })
    .await;
    assert_eq!(stored_hits(&direct).await, 500, "nothing counted twice");

    // Another DNS node's rows in the same table are not this node's usage.
    let other = unknown_row("dns-other", "rpc.geo.example", 7);
    let written = direct
        .write_usage(&[other], geodns_store::WriteMode::Add)
        .await
        .unwrap();
    assert!(written.failed.is_empty());
    let today = geodns_node::clock::now().date_naive().to_string();
    let request =
        serde_json::json!({"startDate": today, "endDate": today, "domain": "rpc.geo.example"});
    let response: UsageResponse = ask(&bus, subjects::USAGE_REQUEST, request).await;
    let records = response.usage_records.unwrap();
    assert_eq!(records.iter().map(|r| r.hits).sum::<i64>(), 500);
    assert!(
        records
            .iter()
            .all(|r| r.country_code == "??" && r.country_name == "Unknown"),
        "{records:?}"
    );
    let bad = serde_json::json!({"startDate": "2026-11-30", "endDate": "2026-11-01"});
    let response: UsageResponse = ask(&bus, subjects::USAGE_REQUEST, bad).await;
    assert_eq!(response.error, "startDate is after endDate");
    node.stop().await;
    direct.close().await;
    database.drop_now().await;
}

/// A usage row of today for `node` and `domain`, answered by Far to an unknown client.
pub(crate) fn unknown_row(node: &str, domain: &str, hits: i64) -> geodns_core::records::UsageRow {
    geodns_core::records::UsageRow {
        key: geodns_core::records::UsageKey {
            date: geodns_node::clock::now().date_naive(),
            node: geodns_core::ids::NodeId::parse(node).unwrap(),
            domain: domain.into(),
            member: "Far".into(),
            asn: String::new(),
            network: String::new(),
            country_code: "??".into(),
            country_name: "Unknown".into(),
            ipv6: false,
        },
        hits,
    }
}

pub(crate) async fn until_hits(store: &SqlStore, want: i64) {
    for _ in 0..100 {
        if stored_hits(store).await >= want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the store has {} hits, not {want}",
        stored_hits(store).await
    );
}

/// The world fixture with the US network moved to Frankfurt.
fn moved_us_to_germany(dir: &Path) {
    let mut cities = geodns_test_support::mmdb::world_cities();
    for city in &mut cities {
        if city.network == "12.0.0.0/16" {
            (city.latitude, city.longitude) = (50.11, 8.68);
        }
    }
    let temporary = dir.join("city.mmdb.new");
    geodns_test_support::mmdb::write_city(&temporary, &cities).unwrap();
    std::fs::rename(&temporary, dir.join("city.mmdb")).unwrap();
}

fn american_answer(server: SocketAddr) -> String {
    kdig(
        server,
        &["rpc.geo.example", "A", "+subnet=12.0.0.0/16", "+short"],
    )
    .trim()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn replaced_geoip_files_maintenance_and_a_fresh_node_reading_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let storage = format!("sqlite://{}/dns.db", dir.path().display());
    let path = write(
        dir.path(),
        "first.toml",
        &config_text(&first, r#"["dns"]"#, &storage, 9),
    );
    let node = Node::start(MemoryBus::new("dns-it"), &path, DNS_ONLY).await;
    assert_eq!(american_answer(node.dns()), "127.0.0.12");
    moved_us_to_germany(&first);
    until(
        "the replaced City database is used",
        Duration::from_secs(10),
        || american_answer(node.dns()) == "127.0.0.11",
    )
    .await;
    // A broken replacement is refused: the running database stays in use.
    std::fs::write(first.join("city.mmdb.new"), b"not a database").unwrap();
    std::fs::rename(first.join("city.mmdb.new"), first.join("city.mmdb")).unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(american_answer(node.dns()), "127.0.0.11");
    node.live.set_maintenance("Near", true).unwrap();
    until(
        "Near in maintenance is not answered",
        Duration::from_secs(5),
        || german_answer(node.dns()) == "127.0.0.12",
    )
    .await;
    node.live.set_maintenance("Near", false).unwrap();
    until("Near back from maintenance", Duration::from_secs(5), || {
        german_answer(node.dns()) == "127.0.0.11"
    })
    .await;
    node.stop().await;

    // A fresh node (no cache file, no peer) takes the store's open outages.
    let store = SqlStore::open(StoreConfig::new(storage.clone()))
        .await
        .unwrap();
    let key = geodns_core::records::CheckKey {
        kind: geodns_core::model::CheckKind::Site,
        check: "tcp".into(),
        member: geodns_core::ids::MemberId::parse("Near").unwrap(),
        domain: String::new(),
        endpoint: String::new(),
        ipv6: false,
    };
    let outage = geodns_core::records::OutageStart {
        key,
        start: geodns_node::clock::now(),
        error: "refused".into(),
        votes: Default::default(),
        data: Default::default(),
    };
    geodns_store::OutageStore::open_outage(&store, &outage)
        .await
        .unwrap();
    store.close().await;
    let second = dir.path().join("second");
    let path = write(
        dir.path(),
        "second.toml",
        &config_text(&second, r#"["dns"]"#, &storage, 9),
    );
    let node = Node::start(MemoryBus::new("dns-it"), &path, DNS_ONLY).await;
    until(
        "the store's outage reaches the answers",
        Duration::from_secs(10),
        || german_answer(node.dns()) == "127.0.0.12",
    )
    .await;
    node.stop().await;
}
