//! `substrate_rpc` (wire name `wss`): the original's sequence over one WebSocket to the
//! member's address (best block hash, genesis hash, chain name, genesis state root,
//! health), plus the best block advancing between runs and not lagging behind the other
//! providers of the service.

use geodns_core::model::SubstrateRpcOptions;
use serde_json::{Map, Value, json};

use super::jsonrpc::Rpc;
use super::{Env, Probe, socket};
use crate::outcome::{Failure, Reason};
use crate::target::Target;

impl Probe for SubstrateRpcOptions {
    async fn probe(
        &self,
        target: &Target,
        env: &Env,
        data: &mut Map<String, Value>,
    ) -> Result<(), Failure> {
        let url = target.endpoint.as_ref().ok_or_else(|| {
            Failure::new(
                Reason::Config,
                "a substrate_rpc check needs an endpoint URL",
            )
        })?;
        let expected = Expected {
            network: target.network.as_deref().unwrap_or_default(),
            state_root: target.state_root.as_deref(),
        };
        let addr = socket(target, None)?;
        let mut rpc = Rpc::websocket(
            env.tls.clone(),
            url,
            addr,
            self.connect_timeout,
            self.read_timeout,
            env.now(),
        )
        .await?;
        let result = calls(self, &mut rpc, &expected, data).await;
        rpc.close().await;
        let best = result?;
        data.insert("BestBlock".into(), json!(best));
        compare_heads(self, target, env, best, data)
    }
}

/// The facts a service's endpoints must report.
struct Expected<'a> {
    network: &'a str,
    state_root: Option<&'a str>,
}

/// The calls; the best block number when all passed.
async fn calls(
    options: &SubstrateRpcOptions,
    rpc: &mut Rpc,
    expected: &Expected<'_>,
    data: &mut Map<String, Value>,
) -> Result<u64, Failure> {
    let best_hash = rpc.call("chain_getBlockHash", json!([])).await?;
    non_empty_string("chain_getBlockHash", &best_hash)?;
    let genesis = rpc.call("chain_getBlockHash", json!([0])).await?;
    let genesis = non_empty_string("chain_getBlockHash [0]", &genesis)?.to_owned();
    data.insert("Archive".into(), json!(true));
    let chain = rpc.call("system_chain", json!([])).await?;
    let chain = chain.as_str().unwrap_or_default();
    let right = chain.eq_ignore_ascii_case(expected.network);
    data.insert("Network".into(), json!(right));
    if !right {
        return Err(Failure::new(
            Reason::Unhealthy,
            format!(
                "Wrong network: the node serves `{chain}`, the service is `{}`",
                expected.network
            ),
        ));
    }
    if let Some(root) = expected.state_root {
        let header = rpc.call("chain_getHeader", json!([genesis])).await?;
        let found = header
            .get("stateRoot")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !found.eq_ignore_ascii_case(root) {
            return Err(Failure::new(
                Reason::Unhealthy,
                format!("Wrong genesis state root: `{found}`, expected `{root}`"),
            ));
        }
    }
    let health = rpc.call("system_health", json!([])).await?;
    let peers = health.get("peers").and_then(Value::as_u64).unwrap_or(0);
    let syncing = health
        .get("isSyncing")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    data.insert("PeerCount".into(), json!(peers));
    data.insert("Peers".into(), json!(peers >= u64::from(options.min_peers)));
    data.insert("Syncing".into(), json!(syncing));
    if syncing || peers < u64::from(options.min_peers) {
        return Err(Failure::new(
            Reason::Unhealthy,
            format!(
                "Syncing or not enough peers: syncing={syncing}, peers={peers} (need {})",
                options.min_peers
            ),
        ));
    }
    let header = rpc.call("chain_getHeader", json!([])).await?;
    let number = header
        .get("number")
        .and_then(Value::as_str)
        .unwrap_or_default();
    u64::from_str_radix(number.trim_start_matches("0x"), 16).map_err(|_| {
        Failure::new(
            Reason::Protocol,
            format!("chain_getHeader: `{number}` is not a hex block number"),
        )
    })
}

fn compare_heads(
    options: &SubstrateRpcOptions,
    target: &Target,
    env: &Env,
    best: u64,
    data: &mut Map<String, Value>,
) -> Result<(), Failure> {
    let service = target
        .service
        .as_ref()
        .map(|s| s.as_str())
        .unwrap_or_default();
    let key = format!(
        "{}|{}|{}",
        target.member,
        target
            .endpoint
            .as_ref()
            .map(url::Url::as_str)
            .unwrap_or_default(),
        target.ipv6
    );
    let verdict = env
        .heads
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .record(
            service,
            &key,
            target.member.as_str(),
            best,
            tokio::time::Instant::now(),
        );
    if let Some(previous) = verdict.previous
        && best <= previous
    {
        return Err(Failure::new(
            Reason::Unhealthy,
            format!("best block stuck: #{best}, #{previous} at the previous check"),
        ));
    }
    if let Some(other) = verdict.best_other {
        let lag = other.saturating_sub(best);
        data.insert("BlockLag".into(), json!(lag));
        if lag > options.max_block_lag {
            return Err(Failure::new(
                Reason::Unhealthy,
                format!(
                    "best block #{best} is {lag} blocks behind another provider (#{other}); at most {} allowed",
                    options.max_block_lag
                ),
            ));
        }
    }
    Ok(())
}

fn non_empty_string<'a>(method: &str, value: &'a Value) -> Result<&'a str, Failure> {
    match value.as_str() {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(Failure::new(
            Reason::Protocol,
            format!("{method}: empty or not a string: {value}"),
        )),
    }
}
