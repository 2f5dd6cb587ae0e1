//! Trust on the bus, against `geodns run` processes on a real nats-server in strict mode
//! (three monitors, a DNS node with the API, every node listed with its key): forged,
//! unsigned, wrongly signed, wrong-role and replayed messages on each control subject
//! change nothing a real DNS client, the cache file or the node's `/metrics` can see,
//! except the refusal counters; a legitimately signed override still applies; forged
//! leaves of every monitor do not stop a failover; a poisoned sync reply does not reach a
//! fresh DNS-only node. (`compat.rs`: an original node's unsigned votes in compat mode.)

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use geodns_bus::envelope::{Gate, TrustTable};
use geodns_bus::{Bus, BusMessage, NatsBus, NatsConfig, Outgoing, subjects};
use geodns_consensus::auth::NodeKey;
use geodns_test_support::NatsServer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::dns::{config_text, german_answer};
use crate::support::{Process, free_port, trust_all, write};

pub(crate) const NEAR: &str = "127.0.0.11";
pub(crate) const FAR: &str = "127.0.0.12";

/// A provider address answering the TCP check (until the task is aborted).
pub(crate) async fn provider(ip: &str, port: u16) -> JoinHandle<()> {
    let listener = TcpListener::bind((ip, port)).await.unwrap();
    tokio::spawn(async move {
        loop {
            let _ = listener.accept().await;
        }
    })
}

/// One node's configuration: the DNS test's zone, members and TCP check, on NATS.
pub(crate) struct NodeFile<'a> {
    pub id: &'a str,
    pub roles: &'a str,
    pub dns: u16,
    pub api: u16,
    pub consensus: &'a str,
}

pub(crate) fn node_file(
    dir: &Path,
    nats: &str,
    (port, trusted): (u16, &str),
    node: &NodeFile<'_>,
) -> PathBuf {
    let data = dir.join(node.id);
    let storage = format!("sqlite://{}/node.db", data.display());
    let text = config_text(&data, node.roles, &storage, port)
        .replace("id = \"dns-it\"", &format!("id = \"{}\"", node.id))
        .replace(
            "dns = \"127.0.0.1:0\"",
            &format!(
                "dns = \"127.0.0.1:{}\"\napi = \"127.0.0.1:{}\"",
                node.dns, node.api
            ),
        )
        .replace(
            "[consensus]\nsingle_node = true\n",
            &format!("[consensus]\n{}\n", node.consensus),
        )
        .replace(
            "usage_flush = \"1s\"",
            "usage_flush = \"1s\"\nsync_interval = \"1s\"",
        );
    let text = format!(
        "{text}\n[bus]\nmode = \"nats\"\nurls = [\"{nats}\"]\n\n\
         [cluster]\nheartbeat = \"1s\"\nactive_window = \"3s\"\npurge_after = \"60s\"\n\n{trusted}"
    );
    write(dir, &format!("{}.toml", node.id), &text)
}

/// A test client on the bus, as node `id`, signing with `key` (none: unsigned).
pub(crate) async fn client(
    nats: &NatsServer,
    id: &str,
    key: Option<NodeKey>,
    tracker: &TaskTracker,
) -> NatsBus {
    let bus = NatsBus::connect(id, &NatsConfig::new(vec![nats.url()]), tracker)
        .await
        .unwrap();
    match key {
        None => bus,
        Some(key) => {
            let clock: geodns_bus::Clock = Arc::new(geodns_node::clock::now);
            let gate = Gate::new((id, Some(key)), TrustTable::off(), rand_boot(), clock);
            bus.with_gate(Arc::new(gate))
        }
    }
}

fn rand_boot() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    u64::from_be_bytes(bytes)
}

fn random_key() -> NodeKey {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    NodeKey::from_seed(seed)
}

/// The key a node created in its data directory (a stolen key file).
pub(crate) fn key_of(dir: &Path, id: &str) -> NodeKey {
    geodns_node::keys::load_or_create(&dir.join(id).join("node.key"))
        .unwrap()
        .0
}

/// Publishes `message` exactly as captured (its envelope and sender header included).
async fn resend(bus: &NatsBus, message: &BusMessage) {
    bus.send(Outgoing {
        subject: message.subject.clone(),
        reply: message.reply.clone(),
        payload: message.payload.clone(),
        sender: message.sender.clone().unwrap_or_default(),
        envelope: message.envelope.clone(),
    })
    .await
    .unwrap();
    bus.flush().await.unwrap();
}

/// An unsigned message that names `sender` in its header, as anyone with NATS access can.
pub(crate) async fn unsigned(bus: &NatsBus, subject: &str, sender: &str, body: String) {
    bus.send(Outgoing {
        subject: subject.to_owned(),
        reply: None,
        payload: Bytes::from(body),
        sender: sender.to_owned(),
        envelope: None,
    })
    .await
    .unwrap();
    bus.flush().await.unwrap();
}

async fn answer(dns: SocketAddr) -> String {
    tokio::task::spawn_blocking(move || german_answer(dns))
        .await
        .unwrap()
}

/// Waits until the German client is answered `want`; fails after `limit`.
pub(crate) async fn until_answer(dns: SocketAddr, want: &str, limit: Duration, dir: &Path) {
    let watch = geodns_node::clock::Stopwatch::start();
    loop {
        let got = answer(dns).await;
        if got == want {
            return;
        }
        assert!(
            watch.elapsed() < limit,
            "still `{got}` after {limit:?}, want {want}{}",
            logs(dir)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The German client's answer stays `want` for `span`.
pub(crate) async fn stays(dns: SocketAddr, want: &str, span: Duration, what: &str) {
    let watch = geodns_node::clock::Stopwatch::start();
    while watch.elapsed() < span {
        assert_eq!(answer(dns).await, want, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn logs(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "log") {
            let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            text.push_str(&format!("\n--- {}\n", entry.path().display()));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

/// `geodns_bus_messages_refused_total{subject, reason}` on the node serving `api`.
async fn refused(api: u16, subject: &str, reason: &str) -> u64 {
    let client = geodns_node::http::client(Duration::from_secs(5)).unwrap();
    let text = client
        .get(format!("http://127.0.0.1:{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let wanted =
        format!("geodns_bus_messages_refused_total{{subject=\"{subject}\",reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&wanted))
        .map_or(0, |value| value.trim().parse::<f64>().unwrap() as u64)
}

/// Waits until the node serving `api` counted a refusal of `subject` for `reason`.
async fn until_refused(api: u16, subject: &str, reason: &str) {
    let watch = geodns_node::clock::Stopwatch::start();
    while refused(api, subject, reason).await == 0 {
        assert!(
            watch.elapsed() < Duration::from_secs(10),
            "{subject} {reason} not counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn override_set(ip: &str) -> String {
    serde_json::json!({"action": "set", "domain": "rpc.geo.example", "countryCode": "DE",
        "override": {"ipv4": ip}})
    .to_string()
}

fn leave(node: &str) -> String {
    serde_json::json!({"type": "leave", "members": null, "sender": {"NodeID": node,
        "PublicAddress": "", "ListenAddress": "", "ListenPort": "0", "NodeRole": "IBPMonitor",
        "LastHeard": "0001-01-01T00:00:00Z"}})
    .to_string()
}

/// The first message on `subscription` that `want` accepts, within `limit`.
async fn capture(
    subscription: &mut geodns_bus::Subscription,
    limit: Duration,
    want: impl Fn(&BusMessage) -> bool,
) -> BusMessage {
    tokio::time::timeout(limit, async {
        loop {
            let message = subscription.next().await.unwrap();
            if want(&message) {
                return message;
            }
        }
    })
    .await
    .expect("the message was published")
}

const MONITORS: [&str; 3] = ["MON-1", "MON-2", "MON-3"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_control_messages_change_nothing_in_strict_mode() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let near = provider(NEAR, port).await;
    let _far = provider(FAR, port).await;
    let fleet: Vec<(&str, &[&str])> = vec![
        ("MON-1", &["monitor"]),
        ("MON-2", &["monitor"]),
        ("MON-3", &["monitor"]),
        ("dns-1", &["dns", "api"]),
        ("dns-2", &["dns", "api"]),
        ("api-1", &["api"]),
    ];
    let trusted = trust_all(dir.path(), &fleet);
    let consensus = "max_message_age = \"30s\"\ncache_interval = \"1s\"";
    let (dns1, api1) = (free_port(), free_port());
    let file = |id: &str, roles: &str, dns: u16, api: u16| {
        let node = NodeFile {
            id,
            roles,
            dns,
            api,
            consensus,
        };
        node_file(dir.path(), &nats.url(), (port, &trusted), &node)
    };
    let mut running = Vec::new();
    for id in MONITORS {
        let path = file(id, r#"["monitor"]"#, free_port(), free_port());
        running.push(Process::start(&path, &dir.path().join(format!("{id}.log"))));
    }
    let dns1_path = file("dns-1", r#"["dns", "api"]"#, dns1, api1);
    running.push(Process::start(&dns1_path, &dir.path().join("dns-1.log")));
    let dns: SocketAddr = ([127, 0, 0, 1], dns1).into();
    until_answer(dns, NEAR, Duration::from_secs(40), dir.path()).await;

    let tracker = TaskTracker::new();
    let raw = client(&nats, "intruder", None, &tracker).await;
    let api = client(&nats, "api-1", Some(key_of(dir.path(), "api-1")), &tracker).await;
    let mut overrides = raw.subscribe(subjects::OVERRIDE_UPDATE).await.unwrap();
    let mut finalizes = raw.subscribe(subjects::FINALIZE).await.unwrap();

    // Overrides: unsigned, signed by a key nobody lists, by a monitor (wrong role), by
    // an unlisted node. None redirects the German client.
    let redirect = override_set("198.51.100.66");
    unsigned(&raw, subjects::OVERRIDE_UPDATE, "api-1", redirect.clone()).await;
    let impostor = client(&nats, "api-1", Some(random_key()), &tracker).await;
    let monitor = client(&nats, "MON-1", Some(key_of(dir.path(), "MON-1")), &tracker).await;
    let stranger = client(&nats, "api-9", Some(random_key()), &tracker).await;
    for bus in [&impostor, &monitor, &stranger] {
        bus.publish(subjects::OVERRIDE_UPDATE, Bytes::from(redirect.clone()))
            .await
            .unwrap();
        bus.flush().await.unwrap();
    }
    for reason in ["unsigned", "unknown_key", "wrong_role", "unknown_sender"] {
        until_refused(api1, subjects::OVERRIDE_UPDATE, reason).await;
    }
    stays(
        dns,
        NEAR,
        Duration::from_secs(2),
        "a forged override redirected users",
    )
    .await;

    // The api's own signed override applies, and its clear; the captured "set" replayed
    // afterwards (inside the age window) is refused.
    api.publish(
        subjects::OVERRIDE_UPDATE,
        Bytes::from(override_set("198.51.100.7")),
    )
    .await
    .unwrap();
    until_answer(dns, "198.51.100.7", Duration::from_secs(5), dir.path()).await;
    let set = capture(&mut overrides, Duration::from_secs(5), |m| {
        String::from_utf8_lossy(&m.payload).contains("198.51.100.7\"")
    })
    .await;
    let clear = serde_json::json!({"action": "clear", "domain": "rpc.geo.example"});
    api.publish(subjects::OVERRIDE_UPDATE, Bytes::from(clear.to_string()))
        .await
        .unwrap();
    until_answer(dns, NEAR, Duration::from_secs(5), dir.path()).await;
    resend(&raw, &set).await;
    until_refused(api1, subjects::OVERRIDE_UPDATE, "replayed").await;
    stays(
        dns,
        NEAR,
        Duration::from_secs(1),
        "a replayed override applied",
    )
    .await;

    // Maintenance: unsigned and from a monitor's stolen key; Near stays in service.
    let maintenance = serde_json::json!({"member": "Near", "maintenance": true, "by": "root"});
    unsigned(
        &raw,
        subjects::MAINTENANCE_UPDATE,
        "api-1",
        maintenance.to_string(),
    )
    .await;
    monitor
        .publish(
            subjects::MAINTENANCE_UPDATE,
            Bytes::from(maintenance.to_string()),
        )
        .await
        .unwrap();
    until_refused(api1, subjects::MAINTENANCE_UPDATE, "unsigned").await;
    until_refused(api1, subjects::MAINTENANCE_UPDATE, "wrong_role").await;
    stays(
        dns,
        NEAR,
        Duration::from_secs(2),
        "forged maintenance took Near out",
    )
    .await;

    // Forged leaves of every monitor, unsigned and signed with other keys, repeated
    // while Near fails: the failover still happens.
    let forging = {
        let (raw, impostor) = (raw.clone(), impostor.clone());
        tokio::spawn(async move {
            loop {
                for id in MONITORS {
                    unsigned(&raw, subjects::CLUSTER, id, leave(id)).await;
                    impostor
                        .publish(subjects::CLUSTER, Bytes::from(leave(id)))
                        .await
                        .ok();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    near.abort();
    until_answer(dns, FAR, Duration::from_secs(30), dir.path()).await;
    forging.abort();
    until_refused(api1, subjects::CLUSTER, "unsigned").await;
    until_refused(api1, subjects::CLUSTER, "unknown_key").await;
    let down = capture(&mut finalizes, Duration::from_secs(5), |m| {
        let body = String::from_utf8_lossy(&m.payload);
        body.contains("\"Passed\":true") && body.contains("\"ProposedStatus\":false")
    })
    .await;
    let captured = geodns_node::clock::Stopwatch::start();

    // Near comes back; the captured "down" decision replayed inside the window (a replay
    // the node saw) and after it (expired) changes nothing.
    let _near = provider(NEAR, port).await;
    until_answer(dns, NEAR, Duration::from_secs(25), dir.path()).await;
    assert!(
        captured.elapsed() < Duration::from_secs(28),
        "back up too late for this test"
    );
    resend(&raw, &down).await;
    until_refused(api1, subjects::FINALIZE, "replayed").await;
    stays(
        dns,
        NEAR,
        Duration::from_secs(1),
        "a replayed finalize took Near down",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(31).saturating_sub(captured.elapsed())).await;
    resend(&raw, &down).await;
    until_refused(api1, subjects::FINALIZE, "expired").await;
    stays(
        dns,
        NEAR,
        Duration::from_secs(2),
        "an expired finalize took Near down",
    )
    .await;
    let cache = std::fs::read_to_string(dir.path().join("dns-1/official.cache.json")).unwrap();
    assert!(!cache.contains("198.51.100.66"), "{cache}");

    // A fresh DNS-only node asks for the official results; an intruder answers first,
    // claiming MON-1, with Near down in the year 9999. The monitors' answer is taken.
    let poisoned = poisoned_sync();
    let answering = {
        let (raw, impostor) = (raw.clone(), impostor.clone());
        let mut requests = raw.subscribe(subjects::OFFICIAL_SYNC).await.unwrap();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                let Some(inbox) = request.reply.clone() else {
                    continue;
                };
                unsigned(&raw, &inbox, "MON-1", poisoned.clone()).await;
                impostor
                    .reply(&request, &inbox, Bytes::from(poisoned.clone()))
                    .await
                    .ok();
            }
        })
    };
    let (dns2, api2) = (free_port(), free_port());
    let dns2_path = file("dns-2", r#"["dns", "api"]"#, dns2, api2);
    running.push(Process::start(&dns2_path, &dir.path().join("dns-2.log")));
    let fresh: SocketAddr = ([127, 0, 0, 1], dns2).into();
    until_answer(fresh, NEAR, Duration::from_secs(30), dir.path()).await;
    until_refused(api2, "reply", "unsigned").await;
    stays(
        fresh,
        NEAR,
        Duration::from_secs(3),
        "the poisoned sync reached the fresh node",
    )
    .await;
    let cache = std::fs::read_to_string(dir.path().join("dns-2/official.cache.json")).unwrap();
    assert!(!cache.contains("9999"), "{cache}");
    answering.abort();
    for process in running {
        process.stop().await;
    }
}

/// A sync reply in the shape of the official cache file with Near down in 9999.
fn poisoned_sync() -> String {
    serde_json::json!({"node": "MON-1", "saved_at": "2026-01-01T00:00:00Z", "results": [
        {"check_type": "site", "check_name": "tcp", "member": "Near", "domain": "", "endpoint": "",
         "ipv6": false, "status": false, "error": "forged", "at": "9999-01-01T00:00:00Z"}]})
    .to_string()
}
