//! `eth_rpc` (wire name `ethrpc`): `eth_chainId`, `eth_blockNumber`, `net_version` and
//! `eth_syncing` over HTTP(S) or a WebSocket, as the endpoint URL says, to the member's
//! address; the chain must be the service's (`network` equal to `net_version`, or to the
//! chain id in hex or decimal, as the original) and not syncing.

use geodns_core::model::EthRpcOptions;
use serde_json::{Map, Value, json};

use super::jsonrpc::Rpc;
use super::{Env, Probe, socket};
use crate::outcome::{Failure, Reason};
use crate::target::Target;

impl Probe for EthRpcOptions {
    async fn probe(
        &self,
        target: &Target,
        env: &Env,
        data: &mut Map<String, Value>,
    ) -> Result<(), Failure> {
        let url = target.endpoint.as_ref().ok_or_else(|| {
            Failure::new(Reason::Config, "an eth_rpc check needs an endpoint URL")
        })?;
        let addr = socket(target, None)?;
        let mut rpc = match url.scheme() {
            "ws" | "wss" => {
                let limit = self.connect_timeout;
                Rpc::websocket(env.tls.clone(), url, addr, limit, limit, env.now()).await?
            }
            _ => Rpc::http(&env.tls, url, addr, self.connect_timeout)?,
        };
        let result = calls(
            &mut rpc,
            target.network.as_deref().unwrap_or_default(),
            data,
        )
        .await;
        rpc.close().await;
        result
    }
}

async fn calls(rpc: &mut Rpc, network: &str, data: &mut Map<String, Value>) -> Result<(), Failure> {
    let chain_id = rpc.call("eth_chainId", json!([])).await?;
    let chain_id = chain_id.as_str().unwrap_or_default().to_owned();
    let chain_dec = u64::from_str_radix(chain_id.trim_start_matches("0x"), 16).map_err(|_| {
        Failure::new(
            Reason::Protocol,
            format!("eth_chainId: `{chain_id}` is not a hex number"),
        )
    })?;
    data.insert("chainId".into(), json!(chain_id));
    data.insert("chainIdDec".into(), json!(chain_dec));
    let block = rpc.call("eth_blockNumber", json!([])).await?;
    let block = block.as_str().unwrap_or_default();
    let number = u64::from_str_radix(block.trim_start_matches("0x"), 16).map_err(|_| {
        Failure::new(
            Reason::Protocol,
            format!("eth_blockNumber: `{block}` is not a hex number"),
        )
    })?;
    data.insert("blockNumber".into(), json!(number));
    let net_version = rpc.call("net_version", json!([])).await?;
    let net_version = match &net_version {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    data.insert("netVersion".into(), json!(net_version));
    let matches = network.eq_ignore_ascii_case(&net_version)
        || network.eq_ignore_ascii_case(&chain_id)
        || network == chain_dec.to_string();
    data.insert("network".into(), json!(matches));
    if !matches {
        return Err(Failure::new(
            Reason::Unhealthy,
            format!(
                "Wrong network: chain id {chain_dec} ({chain_id}), net_version {net_version}; the service is `{network}`"
            ),
        ));
    }
    let syncing = rpc.call("eth_syncing", json!([])).await?;
    let syncing = !matches!(syncing, Value::Bool(false) | Value::Null);
    data.insert("syncing".into(), json!(syncing));
    if syncing {
        return Err(Failure::new(Reason::Unhealthy, "the node is syncing"));
    }
    Ok(())
}
