//! The fake Ethereum node against hand-written HTTP/1.1 requests and a real WebSocket
//! client, plain and over TLS.

use serde_json::json;

use super::*;
use crate::providers::pki::{TestPki, Validity};
use crate::providers::test_client::{
    call, http_plain, http_request, tls_connect, ws_call, ws_plain, ws_result,
};

/// One call over HTTP: `(status, parsed body or Null)`.
async fn post(node: &EthNode, body: &Value) -> (u16, Value) {
    let (status, body) = http_plain(
        node.http_addr(),
        "POST",
        "eth.test.example",
        "/v1/key",
        &body.to_string(),
    )
    .await;
    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
    (status, body)
}

async fn post_result(node: &EthNode, method: &str) -> Value {
    let (status, answer) = post(node, &call(1, method, json!([]))).await;
    assert_eq!(status, 200);
    answer["result"].clone()
}

#[tokio::test]
async fn a_healthy_node_answers_over_http() {
    let node = EthNode::start(1, "1").await;
    node.set_block(0x10);
    assert_eq!(post_result(&node, "eth_chainId").await, "0x1");
    assert_eq!(node.last_host().as_deref(), Some("eth.test.example"));
    assert_eq!(node.last_path().as_deref(), Some("/v1/key"));
    assert_eq!(post_result(&node, "net_version").await, "1");
    assert_eq!(post_result(&node, "eth_syncing").await, json!(false));
    assert_eq!(post_result(&node, "eth_blockNumber").await, "0x13");
    assert_eq!(post_result(&node, "eth_blockNumber").await, "0x14");

    let batch = json!([
        call(1, "eth_chainId", json!([])),
        call(2, "eth_blockNumber", json!([])),
        call(3, "eth_blockNumber", json!([])),
        call(4, "eth_sendRawTransaction", json!(["0x00"]))
    ]);
    let (status, answers) = post(&node, &batch).await;
    assert_eq!(status, 200);
    assert_eq!(answers[0]["result"], "0x1");
    assert_eq!(answers[1]["result"], "0x15", "one block per batch");
    assert_eq!(answers[2]["result"], "0x15");
    assert_eq!(answers[3]["error"]["code"], -32601);
    assert_eq!(node.http_requests(), 6);
    assert_eq!(node.block(), 0x16);
}

#[tokio::test]
async fn a_healthy_node_answers_over_websocket() {
    let node = EthNode::start(137, "137").await;
    let mut socket = ws_plain(node.ws_addr(), "ws://ws.test.example/ws").await;
    assert_eq!(node.last_host().as_deref(), Some("ws.test.example"));
    assert_eq!(node.last_path().as_deref(), Some("/ws"));
    assert_eq!(
        ws_result(&mut socket, "eth_chainId", json!([])).await,
        "0x89"
    );
    assert_eq!(
        ws_result(&mut socket, "net_version", json!([])).await,
        "137"
    );
    let first = ws_result(&mut socket, "eth_blockNumber", json!([])).await;
    assert_eq!(
        ws_result(&mut socket, "eth_blockNumber", json!([])).await,
        first
    );
    let mut again = ws_plain(node.ws_addr(), "ws://ws.test.example/ws").await;
    let second = ws_result(&mut again, "eth_blockNumber", json!([])).await;
    assert_ne!(second, first, "a new connection sees a new block");
    assert_eq!(node.ws_connections(), 2);
}

#[tokio::test]
async fn each_broken_mode_shows_in_its_answer() {
    let node = EthNode::start(1, "1").await;

    node.set(EthBehaviour::Syncing);
    node.set_block(0x100);
    let syncing = post_result(&node, "eth_syncing").await;
    assert_eq!(
        syncing,
        json!({ "startingBlock": "0x0", "currentBlock": "0x100", "highestBlock": "0x110" })
    );

    node.set(EthBehaviour::WrongChain);
    assert_eq!(post_result(&node, "eth_chainId").await, "0x2");
    assert_eq!(post_result(&node, "net_version").await, "2");

    node.set(EthBehaviour::RpcError);
    let (status, answer) = post(&node, &call(9, "eth_chainId", json!([]))).await;
    assert_eq!(status, 200);
    assert_eq!(answer["id"], 9);
    assert_eq!(
        answer["error"],
        json!({ "code": -32000, "message": "node is overloaded" })
    );

    node.set(EthBehaviour::HttpStatus(503));
    let (status, body) = http_plain(node.http_addr(), "POST", "eth.test.example", "/", "{}").await;
    assert_eq!((status, body.as_str()), (503, ""));
    let mut socket = ws_plain(node.ws_addr(), "ws://ws.test.example/").await;
    let answer = ws_call(&mut socket, &call(1, "eth_chainId", json!([])))
        .await
        .expect("WebSocket ignores HTTP statuses");
    assert_eq!(answer["result"], "0x1");

    node.set(EthBehaviour::Stuck);
    let stuck = post_result(&node, "eth_blockNumber").await;
    assert_eq!(post_result(&node, "eth_blockNumber").await, stuck);
    assert_eq!(node.behaviour(), EthBehaviour::Stuck);
}

#[tokio::test]
async fn tls_listeners_record_the_sni_and_the_host() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pki = TestPki::new(dir.path());
    let config = pki.server_config(&["eth.test.example"], Validity::VALID);
    let node = EthNode::start_tls(10, "10", config).await;

    let mut stream = tls_connect(node.http_addr(), &pki, "eth.test.example")
        .await
        .expect("TLS handshake");
    let body = call(1, "eth_chainId", json!([])).to_string();
    let (status, answer) = http_request(&mut stream, "POST", "eth.test.example", "/", &body).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&answer).expect("JSON")["result"],
        "0xa"
    );
    assert_eq!(node.last_sni().as_deref(), Some("eth.test.example"));

    let stream = tls_connect(node.ws_addr(), &pki, "eth.test.example")
        .await
        .expect("TLS handshake");
    let url = "wss://eth.test.example/socket";
    let mut socket = crate::providers::test_client::ws_connect(stream, url).await;
    assert_eq!(ws_result(&mut socket, "net_version", json!([])).await, "10");
    assert_eq!(node.last_path().as_deref(), Some("/socket"));
}
