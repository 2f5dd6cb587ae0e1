//! A fake Ethereum node: JSON-RPC over HTTP POST and over WebSocket, on two listeners,
//! answering `eth_chainId`, `eth_blockNumber`, `net_version` and `eth_syncing` (single calls
//! and batches), with a behaviour a test switches at run time to break it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;

use super::common::{
    ANY_LOOPBACK_PORT, Observed, RpcError, Seen, SeenHandle, Serving, accept_websocket, answer_rpc,
    hex_quantity, lock,
};
use super::http1::{read_request, write_response};

/// The block number a new node reports first.
const DEFAULT_BLOCK: u64 = 1_000_000;
/// How far behind the chain head a syncing node says it is.
const SYNC_GAP: u64 = 0x10;

/// How the node answers; switch with [`EthNode::set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EthBehaviour {
    /// The configured chain id and net version, not syncing, the block advancing.
    #[default]
    Healthy,
    /// `eth_syncing` answers a progress object instead of `false`.
    Syncing,
    /// `eth_chainId` answers the chain id + 1 (and `net_version` the net version + 1).
    WrongChain,
    /// Every call answers `{"code": -32000, "message": "node is overloaded"}`.
    RpcError,
    /// HTTP only: every request gets this status with an empty body (WebSocket stays
    /// healthy).
    HttpStatus(u16),
    /// Healthy, but the block number does not advance.
    Stuck,
}

/// A running fake Ethereum node on 127.0.0.1 (an HTTP and a WebSocket listener); it stops
/// when dropped.
#[derive(Debug)]
pub struct EthNode {
    http: Serving,
    ws: Serving,
    shared: Arc<Shared>,
}

impl EthNode {
    /// A plain `http://` and `ws://` node for `chain_id` (`eth_chainId`) and `net_version`.
    pub async fn start(chain_id: u64, net_version: &str) -> EthNode {
        EthNode::start_with(chain_id, net_version, None).await
    }

    /// An `https://` and `wss://` node presenting `config`'s certificate on both listeners.
    pub async fn start_tls(
        chain_id: u64,
        net_version: &str,
        config: Arc<rustls::ServerConfig>,
    ) -> EthNode {
        EthNode::start_with(chain_id, net_version, Some(config)).await
    }

    async fn start_with(
        chain_id: u64,
        net_version: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> EthNode {
        let shared = Arc::new(Shared {
            chain_id,
            net_version: net_version.to_owned(),
            seen: Arc::new(Mutex::new(Seen::default())),
            state: Mutex::new(State {
                behaviour: EthBehaviour::Healthy,
                block: DEFAULT_BLOCK,
                http_requests: 0,
                ws_connections: 0,
            }),
        });
        let http = Serving::start_maybe_tls(
            (ANY_LOOPBACK_PORT, tls.clone()),
            Arc::clone(&shared),
            Arc::clone(&shared.seen),
            |stream, shared| async move { serve_http(stream, &shared).await },
        )
        .await
        .expect("bind a fake provider on 127.0.0.1");
        let ws = Serving::start_maybe_tls(
            (ANY_LOOPBACK_PORT, tls),
            Arc::clone(&shared),
            Arc::clone(&shared.seen),
            |stream, shared| async move { serve_ws(stream, &shared).await },
        )
        .await
        .expect("bind a fake provider on 127.0.0.1");
        EthNode { http, ws, shared }
    }

    /// Switches how the node answers from the next request on.
    pub fn set(&self, behaviour: EthBehaviour) {
        lock(&self.shared.state).behaviour = behaviour;
    }

    /// How the node answers now.
    pub fn behaviour(&self) -> EthBehaviour {
        lock(&self.shared.state).behaviour
    }

    /// The block number the next HTTP request or WebSocket connection is told (then it
    /// advances by one, unless [`EthBehaviour::Stuck`]).
    pub fn set_block(&self, number: u64) {
        lock(&self.shared.state).block = number;
    }

    /// The block number the next HTTP request or WebSocket connection will be told.
    pub fn block(&self) -> u64 {
        lock(&self.shared.state).block
    }

    /// The HTTP JSON-RPC listener (POST on any path).
    pub fn http_addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// The WebSocket JSON-RPC listener (any path).
    pub fn ws_addr(&self) -> SocketAddr {
        self.ws.addr()
    }

    /// How many HTTP requests arrived.
    pub fn http_requests(&self) -> usize {
        lock(&self.shared.state).http_requests
    }

    /// How many WebSocket handshakes completed.
    pub fn ws_connections(&self) -> usize {
        lock(&self.shared.state).ws_connections
    }
}

/// What the accept loops and the handle share.
#[derive(Debug)]
struct Shared {
    chain_id: u64,
    net_version: String,
    seen: SeenHandle,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    behaviour: EthBehaviour,
    /// What the next request or connection is told.
    block: u64,
    http_requests: usize,
    ws_connections: usize,
}

impl State {
    /// The block for one request batch or connection; advances the next one.
    fn take_block(&mut self) -> u64 {
        let block = self.block;
        if self.behaviour != EthBehaviour::Stuck {
            self.block += 1;
        }
        block
    }
}

async fn serve_http<S>(mut stream: S, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    {
        let mut seen = lock(&shared.seen);
        seen.host = request.header("host").map(str::to_owned);
        seen.path = Some(request.target.clone());
    }
    let (behaviour, block) = {
        let mut state = lock(&shared.state);
        state.http_requests += 1;
        (state.behaviour, state.take_block())
    };
    if let EthBehaviour::HttpStatus(status) = behaviour {
        write_response(&mut stream, status, "").await;
        return;
    }
    if request.method != "POST" {
        write_response(&mut stream, 405, "").await;
        return;
    }
    let text = String::from_utf8_lossy(&request.body);
    let mut dispatch = |method: &str, _: &Value| shared.answer(behaviour, block, method);
    match answer_rpc(&text, &mut dispatch) {
        Some(answer) => write_response(&mut stream, 200, &answer).await,
        None => write_response(&mut stream, 204, "").await,
    }
}

async fn serve_ws<S>(stream: S, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(mut socket) = accept_websocket(stream, &shared.seen).await else {
        return;
    };
    let block = {
        let mut state = lock(&shared.state);
        state.ws_connections += 1;
        state.take_block()
    };
    while let Some(Ok(message)) = socket.next().await {
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            _ => continue,
        };
        let behaviour = match lock(&shared.state).behaviour {
            EthBehaviour::HttpStatus(_) => EthBehaviour::Healthy,
            behaviour => behaviour,
        };
        let mut dispatch = |method: &str, _: &Value| shared.answer(behaviour, block, method);
        let Some(answer) = answer_rpc(&text, &mut dispatch) else {
            continue;
        };
        if socket.send(Message::text(answer)).await.is_err() {
            break;
        }
    }
}

impl Shared {
    fn answer(&self, behaviour: EthBehaviour, block: u64, method: &str) -> Result<Value, RpcError> {
        let wrong_chain = behaviour == EthBehaviour::WrongChain;
        match (behaviour, method) {
            (EthBehaviour::RpcError, _) => Err(RpcError::overloaded()),
            (_, "eth_chainId") => Ok(json!(hex_quantity(self.chain_id + u64::from(wrong_chain)))),
            (_, "net_version") if wrong_chain => Ok(json!(other_net_version(&self.net_version))),
            (_, "net_version") => Ok(json!(self.net_version)),
            (_, "eth_blockNumber") => Ok(json!(hex_quantity(block))),
            (EthBehaviour::Syncing, "eth_syncing") => Ok(json!({
                "startingBlock": "0x0",
                "currentBlock": hex_quantity(block),
                "highestBlock": hex_quantity(block + SYNC_GAP),
            })),
            (_, "eth_syncing") => Ok(json!(false)),
            (_, "web3_clientVersion") => Ok(json!("geodns-test-eth/1.0.0")),
            _ => Err(RpcError::method_not_found()),
        }
    }
}

fn other_net_version(net_version: &str) -> String {
    match net_version.parse::<u64>() {
        Ok(number) => (number + 1).to_string(),
        Err(_) => format!("{net_version}-other"),
    }
}

impl Observed for EthNode {
    fn seen(&self) -> &SeenHandle {
        &self.shared.seen
    }
}

#[cfg(test)]
mod tests;
