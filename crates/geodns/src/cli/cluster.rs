//! The cluster-facing commands: `cluster status` and `consensus status|key`, which ask a
//! running node over NATS or read this node's key.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use geodns_core::config::overrides_from_env;

use super::{AskArgs, ConsensusCommand};
use crate::config_source::Loader;

/// Loads the file and asks node `--node` (default: the file's node) on `subject(node)`.
async fn ask_node(
    http: reqwest::Client,
    ask: &AskArgs,
    subject: fn(&str) -> String,
) -> anyhow::Result<bytes::Bytes> {
    use geodns_bus::Bus as _;
    let overrides = overrides_from_env(std::env::vars());
    let config = Loader::new(http, ask.config.config.clone(), overrides)
        .load()
        .await?;
    if config.bus.mode != geodns_core::config::BusMode::Nats {
        anyhow::bail!(
            "[bus] mode is embedded: its nodes live inside one process; asking a node needs mode = \"nats\""
        );
    }
    let target = ask
        .node
        .clone()
        .unwrap_or_else(|| config.node.id.to_string());
    let me = format!("{}-cli-{}", config.node.id, std::process::id());
    let nats = geodns_node::bus::nats_config(&config.bus, &me);
    let tracker = tokio_util::task::TaskTracker::new();
    let bus = geodns_bus::NatsBus::connect(&me, &nats, &tracker).await?;
    if bus.state() != geodns_bus::ConnectionState::Connected {
        anyhow::bail!("cannot reach NATS at {}", nats.urls.join(", "));
    }
    let reply = bus
        .request(&subject(&target), bytes::Bytes::new(), ask.timeout)
        .await
        .with_context(|| format!("node `{target}` did not answer"))?;
    Ok(reply.payload)
}

pub(super) async fn cluster_status(
    http: reqwest::Client,
    ask: AskArgs,
) -> anyhow::Result<ExitCode> {
    let payload = ask_node(http, &ask, geodns_bus::subjects::cluster_status).await?;
    let json = ask.json;
    let nodes: Vec<geodns_bus::membership::NodeStatus> =
        serde_json::from_slice(&payload).context("malformed status reply")?;
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
    let text = match command {
        ConsensusCommand::Key(config) => {
            let overrides = overrides_from_env(std::env::vars());
            let loaded = Loader::new(http, config.config, overrides).load().await?;
            geodns_node::keys::trusted_entry(&loaded)?
        }
        ConsensusCommand::Status(ask) => {
            let payload = ask_node(http, &ask, geodns_bus::subjects::consensus_status).await?;
            let report: geodns_node::consensus::StatusReport =
                serde_json::from_slice(&payload).context("malformed consensus status reply")?;
            if ask.json {
                serde_json::to_string(&report)? + "\n"
            } else {
                render_status(&report)?
            }
        }
    };
    write!(std::io::stdout().lock(), "{text}")?;
    Ok(ExitCode::SUCCESS)
}

/// The consensus report, and the collator's part when the node collates.
fn render_status(report: &geodns_node::consensus::StatusReport) -> anyhow::Result<String> {
    let mut text = report.render();
    if let Some(collator) = report.parts.get("collator") {
        let queue: geodns_collator::QueueReport = serde_json::from_value(collator.clone())
            .context("malformed collator part of the consensus status reply")?;
        text.push_str(&queue.render());
    }
    Ok(text)
}
