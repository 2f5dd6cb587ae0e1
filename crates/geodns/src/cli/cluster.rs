//! The cluster-facing commands: `cluster status` and `consensus status|key`, which ask a
//! running node over NATS or read this node's key.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use geodns_core::config::overrides_from_env;

use super::ConsensusCommand;
use crate::config_source::Loader;

pub(super) async fn cluster_status(
    http: reqwest::Client,
    path: &std::path::Path,
    node: Option<String>,
    json: bool,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    use geodns_bus::Bus as _;
    let config = Loader::new(
        http,
        path.to_path_buf(),
        overrides_from_env(std::env::vars()),
    )
    .load()
    .await?;
    if config.bus.mode != geodns_core::config::BusMode::Nats {
        anyhow::bail!(
            "[bus] mode is embedded: its nodes live inside one process; cluster status needs mode = \"nats\""
        );
    }
    let target = node.unwrap_or_else(|| config.node.id.to_string());
    let me = format!("{}-cli-{}", config.node.id, std::process::id());
    let nats = crate::bus::nats_config(&config.bus, &me)?;
    let bus = geodns_bus::NatsBus::connect(&me, &nats).await?;
    let reply = bus
        .request(
            &geodns_bus::subjects::cluster_status(&target),
            bytes::Bytes::new(),
            timeout,
        )
        .await
        .with_context(|| format!("node `{target}` did not answer"))?;
    let nodes: Vec<geodns_bus::membership::NodeStatus> =
        serde_json::from_slice(&reply.payload).context("malformed status reply")?;
    let mut stdout = std::io::stdout().lock();
    if json {
        writeln!(stdout, "{}", serde_json::to_string(&nodes)?)?;
    } else {
        writeln!(
            stdout,
            "{:<32} {:<12} {:<25} ACTIVE",
            "NODE", "ROLE", "LAST HEARD"
        )?;
        for status in &nodes {
            let heard = status
                .last_heard
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            writeln!(
                stdout,
                "{:<32} {:<12} {:<25} {}",
                status.node_id,
                status.role,
                heard,
                if status.active { "yes" } else { "no" }
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn consensus(
    http: reqwest::Client,
    command: ConsensusCommand,
) -> anyhow::Result<ExitCode> {
    let (ConsensusCommand::Status { config, .. } | ConsensusCommand::Key(config)) = &command;
    let overrides = overrides_from_env(std::env::vars());
    let loaded = Loader::new(http, config.config.clone(), overrides)
        .load()
        .await?;
    let text = match command {
        ConsensusCommand::Key(_) => crate::consensus::keys::trusted_entry(&loaded)?,
        ConsensusCommand::Status {
            node,
            json,
            timeout,
            ..
        } => {
            let report = crate::consensus::status::ask(&loaded, node, timeout).await?;
            if json {
                serde_json::to_string(&report)? + "\n"
            } else {
                report.render()
            }
        }
    };
    write!(std::io::stdout().lock(), "{text}")?;
    Ok(ExitCode::SUCCESS)
}
