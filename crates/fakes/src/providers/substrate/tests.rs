//! The fake Substrate node against a real WebSocket client, plain and over TLS.

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use super::*;
use crate::providers::pki::{TestPki, Validity};
use crate::providers::test_client::{call, tls_connect, ws_call, ws_connect, ws_plain, ws_result};

const ROOT: &str = "0x29d0d972cd27cbc511e9589fcb7a4506d5eb6a9e8df205f00472e5ab354a4e17";
const URL: &str = "ws://rpc.test.example/polkadot?key=1";

async fn node() -> SubstrateNode {
    SubstrateNode::start("Polkadot", ROOT).await
}

#[tokio::test]
async fn a_healthy_node_answers_the_check_sequence() {
    let node = node().await;
    let mut socket = ws_plain(node.addr(), URL).await;
    assert_eq!(node.last_host().as_deref(), Some("rpc.test.example"));
    assert_eq!(node.last_path().as_deref(), Some("/polkadot?key=1"));
    assert_eq!(node.last_sni(), None);

    let genesis = ws_result(&mut socket, "chain_getBlockHash", json!([0])).await;
    assert_eq!(genesis, SubstrateNode::GENESIS_HASH);
    let header = ws_result(&mut socket, "chain_getHeader", json!([genesis])).await;
    assert_eq!(header["stateRoot"], ROOT);
    assert_eq!(header["number"], "0x0");
    assert_eq!(
        ws_result(&mut socket, "system_chain", json!([])).await,
        "Polkadot"
    );
    let health = ws_result(&mut socket, "system_health", json!([])).await;
    assert_eq!(
        health,
        json!({ "peers": 20, "isSyncing": false, "shouldHavePeers": true })
    );

    let best = ws_result(&mut socket, "chain_getHeader", json!([])).await;
    assert_eq!(best["number"], "0x3e8");
    assert_eq!(best["parentHash"], SubstrateNode::block_hash(999));
    let best_hash = ws_result(&mut socket, "chain_getBlockHash", json!([])).await;
    assert_eq!(best_hash, SubstrateNode::block_hash(1000));
    assert_eq!(best_hash.as_str().map(str::len), Some(66));
    let by_hash = ws_result(&mut socket, "chain_getHeader", json!([best_hash])).await;
    assert_eq!(by_hash, best);

    let unknown = ws_call(&mut socket, &call(7, "author_rotateKeys", json!([])))
        .await
        .expect("an answer");
    assert_eq!(unknown["id"], 7);
    assert_eq!(unknown["error"]["code"], -32601);
    assert_eq!(unknown["error"]["message"], "Method not found");

    let batch = json!([
        call(1, "system_chain", json!([])),
        call(2, "chain_getBlockHash", json!([0]))
    ]);
    let answers = ws_call(&mut socket, &batch).await.expect("an answer");
    assert_eq!(answers[0]["result"], "Polkadot");
    assert_eq!(answers[1]["result"], SubstrateNode::GENESIS_HASH);
    assert_eq!(node.connections(), 1);
}

async fn best_number(node: &SubstrateNode) -> Value {
    let mut socket = ws_plain(node.addr(), URL).await;
    ws_result(&mut socket, "chain_getHeader", json!([])).await["number"].clone()
}

#[tokio::test]
async fn the_best_block_advances_per_connection_unless_stuck() {
    let node = node().await;
    node.set_best(5);
    assert_eq!(best_number(&node).await, "0x5");
    assert_eq!(best_number(&node).await, "0x6");
    node.set(SubstrateBehaviour::Stuck);
    assert_eq!(best_number(&node).await, "0x7");
    assert_eq!(best_number(&node).await, "0x7");
    assert_eq!(node.best(), 7);
    node.set(SubstrateBehaviour::Healthy);
    assert_eq!(best_number(&node).await, "0x7");
    assert_eq!(best_number(&node).await, "0x8");
    assert_eq!(node.connections(), 6);
}

#[tokio::test]
async fn each_broken_mode_shows_in_its_answer() {
    let node = node().await;
    let open = || ws_plain(node.addr(), URL);

    node.set(SubstrateBehaviour::Syncing);
    let health = ws_result(&mut open().await, "system_health", json!([])).await;
    assert_eq!(
        (health["isSyncing"].clone(), health["peers"].clone()),
        (json!(true), json!(20))
    );

    node.set(SubstrateBehaviour::FewPeers);
    let health = ws_result(&mut open().await, "system_health", json!([])).await;
    assert_eq!(health["peers"], 2);

    node.set(SubstrateBehaviour::WrongChain);
    assert_eq!(
        ws_result(&mut open().await, "system_chain", json!([])).await,
        "Kusama"
    );

    node.set(SubstrateBehaviour::WrongStateRoot);
    let genesis = json!([SubstrateNode::GENESIS_HASH]);
    let header = ws_result(&mut open().await, "chain_getHeader", genesis).await;
    assert_ne!(header["stateRoot"], ROOT);
    assert_eq!(header["stateRoot"].as_str().map(str::len), Some(66));

    node.set(SubstrateBehaviour::RpcError);
    let answer = ws_call(&mut open().await, &call(3, "system_chain", json!([])))
        .await
        .expect("an answer");
    assert_eq!(answer["id"], 3);
    assert_eq!(
        answer["error"],
        json!({ "code": -32000, "message": "node is overloaded" })
    );
    assert_eq!(node.behaviour(), SubstrateBehaviour::RpcError);

    node.set(SubstrateBehaviour::Healthy);
    assert_eq!(
        ws_result(&mut open().await, "system_chain", json!([])).await,
        "Polkadot"
    );
}

#[tokio::test]
async fn hang_after_connect_takes_requests_and_never_answers() {
    let node = node().await;
    node.set(SubstrateBehaviour::HangAfterConnect);
    let mut socket = ws_plain(node.addr(), URL).await;
    let request = call(1, "system_chain", json!([])).to_string();
    socket.send(Message::text(request)).await.expect("send");
    // The node reads in order: the request, then our Close, which ends the connection.
    socket.close(None).await.expect("close");
    while let Some(Ok(message)) = socket.next().await {
        assert!(!message.is_text(), "a hanging node answered: {message}");
    }
    assert_eq!(node.connections(), 1);
}

#[tokio::test]
async fn close_mid_sequence_answers_once_then_drops_the_connection() {
    let node = node().await;
    node.set(SubstrateBehaviour::CloseMidSequence);
    let mut socket = ws_plain(node.addr(), URL).await;
    assert_eq!(
        ws_result(&mut socket, "system_chain", json!([])).await,
        "Polkadot"
    );
    assert_eq!(
        ws_call(&mut socket, &call(2, "system_health", json!([]))).await,
        None
    );
}

#[tokio::test]
async fn wss_records_the_sni_and_the_host() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pki = TestPki::new(dir.path());
    let config = pki.server_config(&["rpc.test.example"], Validity::VALID);
    let node = SubstrateNode::start_tls("Kusama", ROOT, config).await;
    node.set(SubstrateBehaviour::WrongChain);
    let stream = tls_connect(node.addr(), &pki, "rpc.test.example")
        .await
        .expect("TLS handshake");
    let mut socket = ws_connect(stream, "wss://rpc.test.example/kusama").await;
    assert_eq!(
        ws_result(&mut socket, "system_chain", json!([])).await,
        "Polkadot"
    );
    assert_eq!(node.last_sni().as_deref(), Some("rpc.test.example"));
    assert_eq!(node.last_host().as_deref(), Some("rpc.test.example"));
    assert_eq!(node.last_path().as_deref(), Some("/kusama"));
}
