//! `geodns collect usage` (an on-demand usage collection, as the collator's hourly one)
//! and `geodns cluster history` (the consensus log).

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use geodns_bus::Bus as _;
use geodns_collator::history;
use geodns_collator::usage::Window;
use geodns_core::config::{Config, overrides_from_env};
use geodns_store::SqlStore;

use super::ConfigArg;
use crate::config_source::Loader;

/// `geodns collect usage`.
#[derive(Debug, Args)]
pub(super) struct CollectArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// First day (YYYY-MM-DD); default: from the day each node was last collected.
    #[arg(long, requires = "to")]
    from: Option<NaiveDate>,
    /// Last day (YYYY-MM-DD).
    #[arg(long, requires = "from")]
    to: Option<NaiveDate>,
    /// Ask these DNS nodes (repeat); default: the active DNS nodes a running node sees.
    #[arg(long = "dns-node")]
    dns_nodes: Vec<String>,
    /// The running node to ask for the active DNS nodes (default: `[node] id`).
    #[arg(long)]
    node: Option<String>,
    /// How long to wait for the DNS nodes (default: `[collator] usage_timeout`).
    #[arg(long, value_parser = super::parse_duration)]
    timeout: Option<Duration>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `geodns cluster history`.
#[derive(Debug, Args)]
pub(super) struct HistoryArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Only decisions at or after this time (RFC 3339, or a day YYYY-MM-DD).
    #[arg(long, value_parser = parse_since)]
    since: Option<DateTime<Utc>>,
    /// Print one JSON array of {index, entry}.
    #[arg(long)]
    json: bool,
}

fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    text.parse::<NaiveDate>()
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
        .ok_or_else(|| {
            format!("`{text}` is neither RFC 3339 (2026-11-30T10:00:00Z) nor a day (2026-11-30)")
        })
}

async fn load(http: reqwest::Client, config: &ConfigArg) -> anyhow::Result<(Config, SqlStore)> {
    let overrides = overrides_from_env(std::env::vars());
    let config = Loader::new(http, config.config.clone(), overrides)
        .load()
        .await?;
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let store_config = crate::storage::store_config(&config, &env)?;
    let store = SqlStore::open(store_config)
        .await
        .context("cannot open the database")?;
    Ok((config, store))
}

pub(super) async fn collect_usage(
    http: reqwest::Client,
    args: CollectArgs,
) -> anyhow::Result<ExitCode> {
    let (config, store) = load(http, &args.config).await?;
    if config.bus.mode != geodns_core::config::BusMode::Nats {
        anyhow::bail!("[bus] mode is embedded: collecting from DNS nodes needs mode = \"nats\"");
    }
    let me = format!("{}-collect-{}", config.node.id, std::process::id());
    let nats = geodns_node::bus::nats_config(&config.bus, &me);
    let tracker = tokio_util::task::TaskTracker::new();
    let bus = geodns_bus::NatsBus::connect(&me, &nats, &tracker).await?;
    let timeout = args.timeout.unwrap_or(config.collator.usage_timeout);
    let nodes = if args.dns_nodes.is_empty() {
        let target = args
            .node
            .clone()
            .unwrap_or_else(|| config.node.id.to_string());
        let reply = bus
            .request(&geodns_bus::subjects::cluster_status(&target), bytes::Bytes::new(), Duration::from_secs(5))
            .await
            .with_context(|| format!("node `{target}` did not say which DNS nodes are active (name them with --dns-node)"))?;
        let statuses: Vec<geodns_bus::membership::NodeStatus> =
            serde_json::from_slice(&reply.payload).context("malformed status reply")?;
        statuses
            .into_iter()
            .filter(|s| s.active && s.role == "IBPDns")
            .map(|s| s.node_id)
            .collect()
    } else {
        args.dns_nodes.clone()
    };
    let window = args.from.zip(args.to).map(|(from, to)| Window { from, to });
    if let Some(window) = window
        && window.from > window.to
    {
        anyhow::bail!("--from {} is after --to {}", window.from, window.to);
    }
    let report = geodns_collator::runtime::usage::collect(
        &bus,
        &store,
        nodes,
        window,
        geodns_node::clock::now(),
        timeout,
    )
    .await;
    store.close().await;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", serde_json::to_string(&report)?)?;
    } else {
        if let Some(window) = report.window {
            writeln!(stdout, "days:    {} to {}", window.from, window.to)?;
        }
        for (node, rows) in &report.stored {
            writeln!(stdout, "stored:  {node} ({rows} rows)")?;
        }
        for node in &report.missing {
            writeln!(stdout, "missing: {node} (did not answer in {timeout:?})")?;
        }
        for (node, error) in &report.failed {
            writeln!(stdout, "failed:  {node}: {error}")?;
        }
    }
    Ok(if report.missing.is_empty() && report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub(super) async fn cluster_history(
    http: reqwest::Client,
    args: HistoryArgs,
) -> anyhow::Result<ExitCode> {
    let (_, store) = load(http, &args.config).await?;
    let entries = history::read(&store, 1)
        .await
        .context("cannot read the consensus log")?;
    store.close().await;
    let mut stdout = std::io::stdout().lock();
    let mut out = Vec::new();
    for (index, entry) in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                eprintln!("entry {index} cannot be read: {error}");
                continue;
            }
        };
        if args.since.is_some_and(|since| entry.decided_at < since) {
            continue;
        }
        out.push((index, entry));
    }
    if args.json {
        let rows: Vec<serde_json::Value> = out
            .iter()
            .map(|(index, entry)| serde_json::json!({ "index": index, "entry": entry }))
            .collect();
        writeln!(stdout, "{}", serde_json::to_string(&rows)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        stdout,
        "{:>6}  {:<20}  {:<7}  {:<16}  {:<60}  VOTES",
        "INDEX", "DECIDED AT", "STATUS", "DECIDED BY", "CHECK"
    )?;
    for (index, entry) in &out {
        let check = entry.key().map(|k| k.canonical()).unwrap_or_default();
        let votes: Vec<String> = entry
            .votes
            .iter()
            .map(|(node, agree)| {
                format!(
                    "{node}={}",
                    if agree.as_bool() == Some(true) {
                        "yes"
                    } else {
                        "no"
                    }
                )
            })
            .collect();
        writeln!(
            stdout,
            "{index:>6}  {:<20}  {:<7}  {:<16}  {check:<60}  {}",
            entry.decided_at.format("%Y-%m-%d %H:%M:%S"),
            if entry.status { "up" } else { "down" },
            entry.decided_by,
            votes.join(" ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
