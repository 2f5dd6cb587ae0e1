//! A fleet of `geodns run` processes on a real nats-server for the trust tests
//! (`forgery.rs`, `compat.rs`): providers answering the TCP check, node files, test
//! clients that sign as some node with some key (or not at all), raw re-sends, the German
//! client's answer through `kdig`, and the refusal counters of a node's `/metrics`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use geodns_bus::envelope::{Gate, TrustTable};
use geodns_bus::{Bus, BusMessage, NatsBus, NatsConfig, Outgoing};
use geodns_consensus::auth::NodeKey;
use geodns_test_support::NatsServer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::dns::{config_text, german_answer};
use crate::support::write;

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

/// A test client on the bus, as node `id`, signing with `key` (none: unsigned); it
/// takes whatever arrives.
pub(crate) async fn client(
    nats: &NatsServer,
    id: &str,
    key: Option<NodeKey>,
    tracker: &TaskTracker,
) -> NatsBus {
    client_trusting(nats, (id, key), TrustTable::off(), tracker).await
}

/// A test client that admits what arrives as a node with `table` would.
pub(crate) async fn client_trusting(
    nats: &NatsServer,
    (id, key): (&str, Option<NodeKey>),
    table: TrustTable,
    tracker: &TaskTracker,
) -> NatsBus {
    let bus = NatsBus::connect(id, &NatsConfig::new(vec![nats.url()]), tracker)
        .await
        .unwrap();
    match key {
        None => bus,
        Some(key) => {
            let clock: geodns_bus::Clock = Arc::new(geodns_node::clock::now);
            let gate = Gate::new((id, Some(key)), table, rand_boot(), clock);
            bus.with_gate(Arc::new(gate))
        }
    }
}

pub(crate) fn rand_boot() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    u64::from_be_bytes(bytes)
}

pub(crate) fn random_key() -> NodeKey {
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
pub(crate) async fn resend(bus: &NatsBus, message: &BusMessage) {
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

pub(crate) async fn answer(dns: SocketAddr) -> String {
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

/// The value of the sample `series` (name and labels, as `/metrics` prints them) on the
/// node serving its API on `api`; `None` when it has no such sample.
pub(crate) async fn metric(api: u16, series: &str) -> Option<f64> {
    let client = geodns_node::http::client(Duration::from_secs(5)).unwrap();
    let text = client
        .get(format!("http://127.0.0.1:{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let wanted = format!("{series} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&wanted))
        .map(|value| value.trim().parse::<f64>().unwrap())
}

/// `geodns_bus_messages_refused_total{subject, reason}` on the node serving `api`.
pub(crate) async fn refused(api: u16, subject: &str, reason: &str) -> u64 {
    let series =
        format!("geodns_bus_messages_refused_total{{subject=\"{subject}\",reason=\"{reason}\"}}");
    metric(api, &series).await.map_or(0, |value| value as u64)
}

/// Waits until the node serving `api` counted a refusal of `subject` for `reason`.
pub(crate) async fn until_refused(api: u16, subject: &str, reason: &str) {
    let watch = geodns_node::clock::Stopwatch::start();
    while refused(api, subject, reason).await == 0 {
        assert!(
            watch.elapsed() < Duration::from_secs(10),
            "{subject} {reason} not counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn override_set(ip: &str) -> String {
    serde_json::json!({"action": "set", "domain": "rpc.geo.example", "countryCode": "DE",
        "override": {"ipv4": ip}})
    .to_string()
}

pub(crate) fn leave(node: &str) -> String {
    serde_json::json!({"type": "leave", "members": null, "sender": {"NodeID": node,
        "PublicAddress": "", "ListenAddress": "", "ListenPort": "0", "NodeRole": "IBPMonitor",
        "LastHeard": "0001-01-01T00:00:00Z"}})
    .to_string()
}

/// The first message on `subscription` that `want` accepts, within `limit`.
pub(crate) async fn capture(
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
