//! A fake Substrate node: WebSocket JSON-RPC 2.0 (`ws://` or `wss://`) answering the calls
//! a health check makes (`chain_getBlockHash`, `chain_getHeader`, `system_chain`,
//! `system_health`), with a behaviour a test switches at run time to break it.

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

/// The best block a new node reports first.
const DEFAULT_BEST: u64 = 1000;
/// Block hashes are this prefix and the block number in 16 hex digits, so a hash can be
/// turned back into its number.
const BLOCK_HASH_PREFIX: &str = "b10cb10cb10cb10cb10cb10cb10cb10cb10cb10cb10cb10c";
const STATE_ROOT_PREFIX: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";
const EXTRINSICS_ROOT_PREFIX: &str = "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0";
const ZERO_HASH: &str = "0x0000000000000000000000000000000000000000000000000000000000000000";

/// How the node answers; switch with [`SubstrateNode::set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubstrateBehaviour {
    /// 20 peers, not syncing, the configured chain and genesis state root.
    #[default]
    Healthy,
    /// `system_health` says `isSyncing: true` (with 20 peers).
    Syncing,
    /// `system_health` reports 2 peers.
    FewPeers,
    /// `system_chain` names another chain ("Kusama", or "Polkadot" if the node is Kusama).
    WrongChain,
    /// The genesis header carries a different state root than the configured one.
    WrongStateRoot,
    /// Every call answers `{"code": -32000, "message": "node is overloaded"}`.
    RpcError,
    /// Completes the WebSocket handshake, then never answers (the socket stays open).
    HangAfterConnect,
    /// Answers the first request, then drops the connection without a Close frame.
    CloseMidSequence,
    /// Healthy, but the best block does not advance between connections.
    Stuck,
}

/// A running fake Substrate node on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub struct SubstrateNode {
    serving: Serving,
    shared: Arc<Shared>,
}

impl SubstrateNode {
    /// The genesis block hash every node reports (Polkadot's).
    pub const GENESIS_HASH: &'static str =
        "0x91b171bb158e2d3848fa23a9f1c25182fb8e20313b2c1eb49219da7a70ce90c3";

    /// A plain `ws://` node for `chain` whose genesis header has `genesis_state_root`.
    pub async fn start(chain: &str, genesis_state_root: &str) -> SubstrateNode {
        SubstrateNode::start_with((ANY_LOOPBACK_PORT, None), chain, genesis_state_root)
            .await
            .expect("bind a fake provider on 127.0.0.1")
    }

    /// A plain `ws://` node listening on `addr` (a loopback address: several providers
    /// can share a port on 127.0.0.x, as real ones share the service's port).
    pub async fn start_at(
        addr: SocketAddr,
        chain: &str,
        genesis_state_root: &str,
    ) -> std::io::Result<SubstrateNode> {
        SubstrateNode::start_with((addr, None), chain, genesis_state_root).await
    }

    /// A `wss://` node presenting `config`'s certificate.
    pub async fn start_tls(
        chain: &str,
        genesis_state_root: &str,
        config: Arc<rustls::ServerConfig>,
    ) -> SubstrateNode {
        SubstrateNode::start_with((ANY_LOOPBACK_PORT, Some(config)), chain, genesis_state_root)
            .await
            .expect("bind a fake provider on 127.0.0.1")
    }

    async fn start_with(
        (addr, tls): (SocketAddr, Option<Arc<rustls::ServerConfig>>),
        chain: &str,
        genesis_state_root: &str,
    ) -> std::io::Result<SubstrateNode> {
        let shared = Arc::new(Shared {
            chain: chain.to_owned(),
            genesis_state_root: genesis_state_root.to_owned(),
            seen: Arc::new(Mutex::new(Seen::default())),
            state: Mutex::new(State {
                behaviour: SubstrateBehaviour::Healthy,
                best: DEFAULT_BEST,
                connections: 0,
            }),
        });
        let serving = Serving::start_maybe_tls(
            (addr, tls),
            Arc::clone(&shared),
            Arc::clone(&shared.seen),
            |stream, shared| async move { serve_connection(stream, &shared).await },
        )
        .await?;
        Ok(SubstrateNode { serving, shared })
    }

    /// Switches how the node answers from the next request on.
    pub fn set(&self, behaviour: SubstrateBehaviour) {
        lock(&self.shared.state).behaviour = behaviour;
    }

    /// How the node answers now.
    pub fn behaviour(&self) -> SubstrateBehaviour {
        lock(&self.shared.state).behaviour
    }

    /// The best block number the next connection is told (then it advances by one, unless
    /// [`SubstrateBehaviour::Stuck`]).
    pub fn set_best(&self, number: u64) {
        lock(&self.shared.state).best = number;
    }

    /// The best block number the next connection will be told.
    pub fn best(&self) -> u64 {
        lock(&self.shared.state).best
    }

    /// The hash this node gives block `number` (the genesis hash for 0).
    pub fn block_hash(number: u64) -> String {
        block_hash(number)
    }

    /// Where clients connect (`ws://` or `wss://` per how it was started).
    pub fn addr(&self) -> SocketAddr {
        self.serving.addr()
    }

    /// How many WebSocket handshakes completed.
    pub fn connections(&self) -> usize {
        lock(&self.shared.state).connections
    }
}

/// What the accept loop and the handle share.
#[derive(Debug)]
struct Shared {
    chain: String,
    genesis_state_root: String,
    seen: SeenHandle,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    behaviour: SubstrateBehaviour,
    /// What the next connection is told.
    best: u64,
    connections: usize,
}

async fn serve_connection<S>(stream: S, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(mut socket) = accept_websocket(stream, &shared.seen).await else {
        return;
    };
    // One best block per connection, so the calls of one check run agree with each other.
    let best = {
        let mut state = lock(&shared.state);
        state.connections += 1;
        let best = state.best;
        if state.behaviour != SubstrateBehaviour::Stuck {
            state.best += 1;
        }
        best
    };
    while let Some(Ok(message)) = socket.next().await {
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            // Pings are answered by tungstenite; a Close is answered on the next read,
            // which then ends the stream.
            _ => continue,
        };
        let behaviour = lock(&shared.state).behaviour;
        if behaviour == SubstrateBehaviour::HangAfterConnect {
            continue;
        }
        let mut dispatch =
            |method: &str, params: &Value| shared.answer(behaviour, best, method, params);
        let Some(answer) = answer_rpc(&text, &mut dispatch) else {
            continue;
        };
        if socket.send(Message::text(answer)).await.is_err() {
            break;
        }
        if behaviour == SubstrateBehaviour::CloseMidSequence {
            // Dropping the socket closes the TCP stream without a WebSocket Close frame.
            return;
        }
    }
}

impl Shared {
    fn answer(
        &self,
        behaviour: SubstrateBehaviour,
        best: u64,
        method: &str,
        params: &Value,
    ) -> Result<Value, RpcError> {
        if behaviour == SubstrateBehaviour::RpcError {
            return Err(RpcError::overloaded());
        }
        let first = params.as_array().and_then(|params| params.first());
        match method {
            "chain_getBlockHash" => match first {
                None | Some(Value::Null) => Ok(json!(block_hash(best))),
                Some(number) => {
                    let number = block_number_param(number).ok_or_else(RpcError::invalid_params)?;
                    Ok(if number <= best {
                        json!(block_hash(number))
                    } else {
                        Value::Null
                    })
                }
            },
            "chain_getHeader" => match first {
                None | Some(Value::Null) => Ok(self.header(behaviour, best)),
                Some(Value::String(hash)) => Ok(match block_number_of(hash) {
                    Some(number) if number <= best => self.header(behaviour, number),
                    _ => Value::Null,
                }),
                Some(_) => Err(RpcError::invalid_params()),
            },
            "system_chain" => Ok(json!(if behaviour == SubstrateBehaviour::WrongChain {
                other_chain(&self.chain)
            } else {
                self.chain.as_str()
            })),
            "system_health" => Ok(json!({
                "peers": if behaviour == SubstrateBehaviour::FewPeers { 2 } else { 20 },
                "isSyncing": behaviour == SubstrateBehaviour::Syncing,
                "shouldHavePeers": true,
            })),
            "system_name" => Ok(json!("geodns-test-substrate")),
            "system_version" => Ok(json!("1.0.0")),
            _ => Err(RpcError::method_not_found()),
        }
    }

    fn header(&self, behaviour: SubstrateBehaviour, number: u64) -> Value {
        if number == 0 {
            let state_root = if behaviour == SubstrateBehaviour::WrongStateRoot {
                other_state_root(&self.genesis_state_root)
            } else {
                self.genesis_state_root.clone()
            };
            return json!({
                "number": "0x0",
                "parentHash": ZERO_HASH,
                "stateRoot": state_root,
                "extrinsicsRoot": format!("0x{EXTRINSICS_ROOT_PREFIX}{:016x}", 0),
                "digest": { "logs": [] },
            });
        }
        json!({
            "number": hex_quantity(number),
            "parentHash": block_hash(number - 1),
            "stateRoot": format!("0x{STATE_ROOT_PREFIX}{number:016x}"),
            "extrinsicsRoot": format!("0x{EXTRINSICS_ROOT_PREFIX}{number:016x}"),
            "digest": { "logs": [] },
        })
    }
}

fn block_hash(number: u64) -> String {
    if number == 0 {
        SubstrateNode::GENESIS_HASH.to_owned()
    } else {
        format!("0x{BLOCK_HASH_PREFIX}{number:016x}")
    }
}

/// The number of a block this node named by `hash`.
fn block_number_of(hash: &str) -> Option<u64> {
    if hash.eq_ignore_ascii_case(SubstrateNode::GENESIS_HASH) {
        return Some(0);
    }
    let digits = hash.strip_prefix("0x")?.strip_prefix(BLOCK_HASH_PREFIX)?;
    u64::from_str_radix(digits, 16)
        .ok()
        .filter(|number| *number > 0)
}

/// A block number given as a JSON number or a hex string.
fn block_number_param(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => u64::from_str_radix(text.strip_prefix("0x")?, 16).ok(),
        _ => None,
    }
}

fn other_chain(chain: &str) -> &'static str {
    if chain == "Kusama" {
        "Polkadot"
    } else {
        "Kusama"
    }
}

fn other_state_root(root: &str) -> String {
    let other = format!("0x{}", "de".repeat(32));
    if root.eq_ignore_ascii_case(&other) {
        format!("0x{}", "ad".repeat(32))
    } else {
        other
    }
}

impl Observed for SubstrateNode {
    fn seen(&self) -> &SeenHandle {
        &self.shared.seen
    }
}

#[cfg(test)]
mod tests;
