//! The API's listener under abuse, over real sockets: a client sending its headers one
//! byte a second is cut off after `header_timeout` while another is served; a body
//! trickled in gets 408 after `request_timeout`; one address cannot hold more than its
//! connections while another address is served.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::{Fake, config_with, empty, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMITS: &str =
    "[api]\npdns = true\nheader_timeout = \"1s\"\nrequest_timeout = \"2s\"\nper_client = 3\n";

async fn node() -> String {
    serve(Fake {
        config: config_with(LIMITS),
        ..empty()
    })
    .await
}

async fn health(base: &str) -> u16 {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client.get(format!("{base}/health")).send().await.unwrap();
    response.status().as_u16()
}

/// A connection to `base` from the local address `from`.
async fn connect_from(from: &str, base: &str) -> TcpStream {
    let address: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(address).await.unwrap()
}

/// True when the server closed `stream` (read gives end of file or an error) within
/// `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buffer = [0u8; 512];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off_while_others_are_served() {
    let base = node().await;
    let mut slow = connect_from("127.0.0.1", &base).await;
    let watch = geodns_node::clock::Stopwatch::start();
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut = false;
    for byte in request {
        if slow.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        assert_eq!(health(&base).await, 200, "others are served meanwhile");
        if closed_within(&mut slow, Duration::from_secs(1)).await {
            cut = true;
            break;
        }
    }
    let took = watch.elapsed();
    assert!(cut, "the trickling client was never cut off");
    assert!(took < Duration::from_secs(5), "cut off after {took:?}");
    eprintln!("a client sending a header byte a second was cut off after {took:?}");
}

#[tokio::test]
async fn a_body_trickled_in_gets_408_after_the_request_timeout() {
    let base = node().await;
    let mut slow = connect_from("127.0.0.1", &base).await;
    let head = "POST /dns HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    slow.write_all(head.as_bytes()).await.unwrap();
    let watch = geodns_node::clock::Stopwatch::start();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 512];
    while watch.elapsed() < Duration::from_secs(6) {
        slow.write_all(b" ").await.ok();
        if let Ok(Ok(n @ 1..)) =
            tokio::time::timeout(Duration::from_millis(700), slow.read(&mut buffer)).await
        {
            answer.extend_from_slice(&buffer[..n]);
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        watch.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        watch.elapsed()
    );
}

#[tokio::test]
async fn one_address_cannot_hold_more_connections_than_its_share() {
    let base = node().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.2", &base).await);
    }
    let mut fourth = connect_from("127.0.0.2", &base).await;
    assert!(
        closed_within(&mut fourth, Duration::from_millis(500)).await,
        "a fourth connection from the address is closed at once"
    );
    assert!(
        !closed_within(&mut held[0], Duration::from_millis(100)).await,
        "the three it holds stay open"
    );
    assert_eq!(health(&base).await, 200, "another address is served");
    drop(held);
}
