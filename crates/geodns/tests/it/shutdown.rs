//! A node with every role stops within 3 s of SIGTERM with every task and thread joined:
//! on embedded defaults while a health check hangs, and with its MariaDB unreachable (gone,
//! or not answering at all), when the usage it could not write is kept in the journal.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use geodns_node::clock::Stopwatch;

use crate::support::{RunNode, free_port, mysql_behind_proxy, write};

/// SIGTERM to exit.
const STOP_LIMIT: Duration = Duration::from_secs(3);

/// A provider that accepts TCP connections and never answers: a TLS check against it
/// hangs until its timeout. Counts the connections it took.
fn hanging_provider() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::Relaxed);
            held.push(stream);
        }
    });
    (port, accepted)
}

fn config(dir: &Path, provider: u16, storage: &str) -> (PathBuf, u16) {
    let dns = free_port();
    let text = format!(
        r#"
[node]
id = "all-roles"
roles = ["monitor", "dns", "collator", "api"]
data_dir = "{data}"

[listen]
dns = "127.0.0.1:{dns}"
api = "127.0.0.1:{api}"

{storage}

[consensus]
single_node = true

[dns]
zones = ["geo.example"]

[[checks]]
name = "ssl"
type = "tls"
timeout = "60s"
interval = "1h"

[[services]]
name = "Web"
type = "http"
endpoints = ["https://rpc.geo.example:{provider}/"]

[[members]]
name = "Local"
ipv4 = "127.0.0.1"
latitude = 1
longitude = 1
services = ["Web"]
"#,
        data = dir.display(),
        api = free_port(),
    );
    (write(dir, "all.toml", &text), dns)
}

/// Asks `rpc.geo.example A` on 127.0.0.1:`port` `count` times; returns the answers.
fn query(port: u16, count: u16) -> usize {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut answered = 0;
    for id in 0..count {
        let mut packet = Vec::new();
        packet.extend_from_slice(&id.to_be_bytes());
        packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in ["rpc", "geo", "example"] {
            packet.push(label.len() as u8);
            packet.extend_from_slice(label.as_bytes());
        }
        packet.extend_from_slice(&[0, 0, 1, 0, 1]);
        socket.send_to(&packet, ("127.0.0.1", port)).unwrap();
        let mut reply = [0u8; 512];
        if let Ok((len, _)) = socket.recv_from(&mut reply) {
            answered += usize::from(len > 12 && reply[..2] == id.to_be_bytes());
        }
    }
    answered
}

/// Starts the node, waits until the check hangs and DNS answered, and stops it.
fn run_and_stop(
    config: &Path,
    dns: u16,
    accepted: &AtomicUsize,
    before_stop: impl FnOnce(),
) -> (Duration, String) {
    let mut node = RunNode::start(config);
    node.wait_for_log("DNS server listening", Duration::from_secs(30));
    node.wait_for_log("API listening", Duration::from_secs(30));
    let watch = Stopwatch::start();
    while accepted.load(Ordering::Relaxed) == 0 {
        assert!(
            watch.elapsed() < Duration::from_secs(30),
            "the check never connected:\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(query(dns, 20), 20, "DNS answers:\n{}", node.log());
    before_stop();
    let took = node.terminate();
    (took, node.log())
}

#[test]
fn every_role_stops_within_3_s_while_a_check_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, accepted) = hanging_provider();
    let (config, dns) = config(dir.path(), provider, "");
    let (took, log) = run_and_stop(&config, dns, &accepted, || {});
    eprintln!("stopped {took:?} after SIGTERM");
    assert!(took < STOP_LIMIT, "stopped {took:?} after SIGTERM:\n{log}");
    assert!(!log.contains("did not stop"), "every task joined:\n{log}");
    assert!(
        !log.contains("usage not in the store"),
        "usage written:\n{log}"
    );
}

/// How the database becomes unreachable.
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// Connections are closed and refused.
    Gone,
    /// Connections stay open and nothing comes back.
    Silent,
}

async fn stops_with_the_store(outage: Outage) {
    let (database, proxy, url) = mysql_behind_proxy().await;
    let dir = tempfile::tempdir().unwrap();
    let (provider, accepted) = hanging_provider();
    let storage = format!("[storage]\nurl = \"{url}\"\nconnect_retry = \"1s\"\n");
    let (config, dns) = config(dir.path(), provider, &storage);
    let proxy = Arc::new(proxy);
    let unreachable = proxy.clone();
    let (took, log) = tokio::task::spawn_blocking(move || {
        run_and_stop(&config, dns, &accepted, move || match outage {
            Outage::Gone => unreachable.cut(),
            Outage::Silent => unreachable.stall(),
        })
    })
    .await
    .unwrap();
    eprintln!("stopped {took:?} after SIGTERM with the store {outage:?}");
    assert!(took < STOP_LIMIT, "stopped {took:?} after SIGTERM:\n{log}");
    assert!(!log.contains("did not stop"), "every task joined:\n{log}");
    assert!(
        log.contains("usage not in the store at shutdown: kept in the journal"),
        "the usage it could not write is kept, and said so:\n{log}"
    );
    proxy.restore();
    database.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_stops_within_3_s_with_the_store_gone() {
    stops_with_the_store(Outage::Gone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_stops_within_3_s_with_the_store_not_answering() {
    stops_with_the_store(Outage::Silent).await;
}
