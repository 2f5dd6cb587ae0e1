//! The sockets: UDP answers from several workers, TCP with its connection cap and idle
//! timeout, a swapped view answered at once, and counters collected from every worker.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use geodns_core::config::{Origin, SourceItems, build, parse_file};
use geodns_dns::geo::GeoDb;
use geodns_dns::serial::SerialBook;
use geodns_dns::server::{Server, Settings};
use geodns_dns::view::{Inputs, View};
use geodns_dns::zone::Zones;
use geodns_node::Tasks;
use geodns_node::slots::Caps;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

fn view(address: &str) -> View {
    view_with(address, "")
}

/// The view with `rrl` (TOML keys of `[dns.rrl]`).
fn view_with(address: &str, rrl: &str) -> View {
    let text = format!(
        r#"
[node]
id = "dns-1"
[dns]
zones = ["geo.example"]
[dns.rrl]
{rrl}
[[services]]
name = "S"
type = "substrate_rpc"
endpoints = ["wss://rpc.geo.example"]
[[members]]
name = "A"
ipv4 = "{address}"
latitude = 50.0
longitude = 8.0
services = ["S"]
"#
    );
    let origin = Origin("test.toml".into());
    let config = build(
        parse_file(&text, &origin).unwrap(),
        &origin,
        SourceItems::default(),
    )
    .unwrap();
    let zones = Zones::build(
        &config.catalog,
        &Default::default(),
        &mut SerialBook::default(),
        1,
    );
    let inputs = Inputs {
        config: &config,
        official: None,
        runtime_overrides: &Default::default(),
        geo: Arc::new(GeoDb::empty()),
    };
    View::build(Arc::new(zones), &inputs).0
}

fn query(id: u16) -> Vec<u8> {
    let mut packet = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["rpc", "geo", "example"] {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    packet
}

/// The A record's address at the end of a one-answer response.
fn address(response: &[u8]) -> [u8; 4] {
    response[response.len() - 4..].try_into().unwrap()
}

async fn start(max_tcp: u32, idle: Duration) -> (Server, Arc<ArcSwap<View>>, Tasks) {
    start_with(Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        workers: 2,
        tcp_caps: Caps {
            total: max_tcp as usize,
            per_client: 0,
            per_network: 0,
        },
        tcp_idle_timeout: idle,
        tcp_lifetime: Duration::from_secs(60),
    })
    .await
}

async fn start_with(settings: Settings) -> (Server, Arc<ArcSwap<View>>, Tasks) {
    let shared = Arc::new(ArcSwap::from_pointee(view("192.0.2.1")));
    let tasks = Tasks::new(CancellationToken::new());
    let server = Server::start(&settings, shared.clone(), 20_000, &tasks)
        .await
        .unwrap();
    (server, shared, tasks)
}

fn udp(server: SocketAddr, id: u16) -> Vec<u8> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket.send_to(&query(id), server).unwrap();
    let mut buffer = [0u8; 512];
    let (len, _) = socket.recv_from(&mut buffer).unwrap();
    buffer[..len].to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn udp_answers_follow_a_swapped_view_and_every_worker_hands_over_its_counts() {
    let (server, shared, tasks) = start(4, Duration::from_secs(5)).await;
    let addr = server.local_addr;
    let answers =
        tokio::task::spawn_blocking(move || (0..200).map(|id| udp(addr, id)).collect::<Vec<_>>())
            .await
            .unwrap();
    assert!(
        answers
            .iter()
            .enumerate()
            .all(|(id, a)| a[..2] == (id as u16).to_be_bytes())
    );
    assert!(answers.iter().all(|a| address(a) == [192, 0, 2, 1]));
    shared.store(Arc::new(view("192.0.2.99")));
    let after = tokio::task::spawn_blocking(move || udp(addr, 1))
        .await
        .unwrap();
    assert_eq!(
        address(&after),
        [192, 0, 2, 99],
        "the next query sees the new view"
    );
    let counts = server.collect(Duration::from_secs(2)).await;
    assert_eq!(counts.queries, 201);
    assert_eq!(counts.hits.values().map(|(_, n)| n).sum::<u64>(), 201);
    assert_eq!(
        server.collect(Duration::from_secs(2)).await.queries,
        0,
        "counted once"
    );
    // Every worker thread and TCP task stops with the token and is joined.
    server.stop(Duration::from_secs(2)).await;
    tasks.stop(Duration::from_secs(5)).await.unwrap();
}

async fn tcp_query(stream: &mut tokio::net::TcpStream, id: u16) -> Vec<u8> {
    let packet = query(id);
    stream
        .write_all(&(packet.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&packet).await.unwrap();
    let len = stream.read_u16().await.unwrap();
    let mut response = vec![0; usize::from(len)];
    stream.read_exact(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_keeps_connections_to_its_cap_and_closes_idle_ones() {
    let (server, _shared, tasks) = start(2, Duration::from_millis(500)).await;
    let mut first = tokio::net::TcpStream::connect(server.local_addr)
        .await
        .unwrap();
    let mut second = tokio::net::TcpStream::connect(server.local_addr)
        .await
        .unwrap();
    // Several queries on one connection, one after another.
    for id in 0..3 {
        assert_eq!(address(&tcp_query(&mut first, id).await), [192, 0, 2, 1]);
    }
    assert_eq!(address(&tcp_query(&mut second, 9).await), [192, 0, 2, 1]);
    let mut third = tokio::net::TcpStream::connect(server.local_addr)
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(2), third.read(&mut byte))
        .await
        .unwrap();
    assert!(
        matches!(closed, Ok(0) | Err(_)),
        "a third connection is closed at once"
    );
    // Idle connections are closed after the timeout, which frees the slots.
    let idle = tokio::time::timeout(Duration::from_secs(3), first.read(&mut byte))
        .await
        .unwrap();
    assert!(matches!(idle, Ok(0) | Err(_)), "idle connection closed");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut again = tokio::net::TcpStream::connect(server.local_addr)
        .await
        .unwrap();
    assert_eq!(address(&tcp_query(&mut again, 5).await), [192, 0, 2, 1]);
    drop(again);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let counts = server.collect(Duration::from_secs(2)).await;
    assert_eq!(counts.queries, 5);
    // Every worker thread and TCP task stops with the token and is joined.
    server.stop(Duration::from_secs(2)).await;
    tasks.stop(Duration::from_secs(5)).await.unwrap();
}

/// A TCP connection to `server` from the local address `from` (any 127/8 address).
async fn connect_from(from: &str, server: SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(server).await.unwrap()
}

/// True when the server closed `stream` within two seconds.
async fn closed(stream: &mut tokio::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut byte)).await;
    matches!(read, Ok(Ok(0) | Err(_)))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_client_cannot_hold_more_tcp_connections_than_its_share() {
    let (server, _shared, tasks) = start_with(Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        workers: 1,
        tcp_caps: Caps {
            total: 100,
            per_client: 2,
            per_network: 3,
        },
        tcp_idle_timeout: Duration::from_secs(10),
        tcp_lifetime: Duration::from_millis(1500),
    })
    .await;
    let at = server.local_addr;
    // One host holds its two connections (sending nothing: a trickler) ...
    let mut held = [
        connect_from("127.0.0.2", at).await,
        connect_from("127.0.0.2", at).await,
    ];
    assert_eq!(address(&tcp_query(&mut held[0], 1).await), [192, 0, 2, 1]);
    let mut third = connect_from("127.0.0.2", at).await;
    assert!(
        closed(&mut third).await,
        "a third connection of the host is closed"
    );
    // ... its network one more, then none ...
    let mut neighbour = connect_from("127.0.0.3", at).await;
    assert_eq!(address(&tcp_query(&mut neighbour, 2).await), [192, 0, 2, 1]);
    let mut fourth = connect_from("127.0.0.4", at).await;
    assert!(closed(&mut fourth).await, "the network's share is taken");
    // ... while a client elsewhere is answered.
    let mut other = connect_from("127.0.1.9", at).await;
    assert_eq!(address(&tcp_query(&mut other, 3).await), [192, 0, 2, 1]);
    let refused = server.shared().tcp_slots.refused();
    assert_eq!(refused.map(|(_, n)| n), [0, 1, 1], "{refused:?}");
    // A busy connection still ends at its lifetime (1.5 s), which frees the slot.
    let watch = geodns_node::clock::Stopwatch::start();
    let mut id = 10;
    while !closed_after_query(&mut held[1], id).await {
        id += 1;
        assert!(
            watch.elapsed() < Duration::from_secs(5),
            "closed at its lifetime"
        );
    }
    assert!(
        watch.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        watch.elapsed()
    );
    let mut again = connect_from("127.0.0.2", at).await;
    assert_eq!(address(&tcp_query(&mut again, 4).await), [192, 0, 2, 1]);
    server.stop(Duration::from_secs(2)).await;
    tasks.stop(Duration::from_secs(5)).await.unwrap();
}

/// Sends one query on `stream` after a pause; true when the server closed it instead of
/// answering.
async fn closed_after_query(stream: &mut tokio::net::TcpStream, id: u16) -> bool {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let query = query(id);
    let mut frame = (query.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&query);
    if stream.write_all(&frame).await.is_err() {
        return true;
    }
    let mut length = [0u8; 2];
    match tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut length)).await {
        Ok(Ok(_)) => {
            let mut body = vec![0u8; usize::from(u16::from_be_bytes(length))];
            stream.read_exact(&mut body).await.is_err()
        }
        _ => true,
    }
}

/// Sends `count` queries from `from` (a 127/8 address) as fast as they go; returns the
/// responses in full, the truncated ones, and the unanswered.
fn flood(server: SocketAddr, from: &str, count: u16) -> [usize; 3] {
    let socket = std::net::UdpSocket::bind(format!("{from}:0")).unwrap();
    for id in 0..count {
        socket.send_to(&query(id), server).unwrap();
    }
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut seen = [0usize; 3];
    let mut buffer = [0u8; 1500];
    while let Ok((len, _)) = socket.recv_from(&mut buffer) {
        let truncated = buffer[2] & 0x02 != 0;
        let answers = u16::from_be_bytes([buffer[6], buffer[7]]);
        assert!(len >= 12);
        seen[usize::from(truncated)] += 1;
        assert!(truncated == (answers == 0), "a slip carries no answer");
    }
    seen[2] = usize::from(count) - seen[0] - seen[1];
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn an_rrl_flood_from_one_network_is_slipped_and_limited_while_another_is_answered() {
    let (server, shared, tasks) = start(4, Duration::from_secs(5)).await;
    shared.store(Arc::new(view_with(
        "192.0.2.1",
        "responses_per_second = 10\nwindow = \"5s\"\nslip = 2\n",
    )));
    let at = server.local_addr;
    let [full, truncated, none] = tokio::task::spawn_blocking(move || flood(at, "127.0.0.2", 200))
        .await
        .unwrap();
    assert!(
        (10..=20).contains(&full),
        "about one second's rate in full: {full}"
    );
    assert!(
        truncated >= 80 && none >= 80,
        "the rest slipped and dropped in turns: {truncated} {none}"
    );
    let other = tokio::task::spawn_blocking(move || flood(at, "127.0.1.2", 10))
        .await
        .unwrap();
    assert_eq!(other, [10, 0, 0], "another network is answered in full");
    let counts = server.collect(Duration::from_secs(2)).await;
    assert_eq!(counts.rrl, [none as u64, truncated as u64]);
    server.stop(Duration::from_secs(2)).await;
    tasks.stop(Duration::from_secs(5)).await.unwrap();
}
