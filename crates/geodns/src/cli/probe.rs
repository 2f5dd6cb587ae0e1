//! `geodns probe`: every eligible check, once, now, printed as a table or as JSON. Exits
//! 0 when every check ran (whatever it found); 1 when the probe itself cannot run.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use geodns_core::config::overrides_from_env;
use geodns_monitor::target::endpoint_text;
use geodns_monitor::{Env, Item, Outcome};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::ProbeArgs;
use crate::config_source::Loader;

pub(super) async fn probe(http: reqwest::Client, args: ProbeArgs) -> anyhow::Result<ExitCode> {
    let loader = Loader::new(
        http,
        args.config.config.clone(),
        overrides_from_env(std::env::vars()),
    );
    let config = loader.load().await?;
    let env = Arc::new(geodns_monitor::runtime::env(&config).await?);
    let items: Vec<Item> = geodns_monitor::runtime::plan(&config)
        .items
        .into_iter()
        .filter(|item| selected(&args, item))
        .collect();
    if items.is_empty() {
        anyhow::bail!("no enabled check applies to the selected members, checks and services");
    }
    let results = run_all(items, env, config.monitor.workers).await?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let rows: Vec<Value> = results
            .iter()
            .map(|(item, outcome)| row(item, outcome))
            .collect();
        writeln!(stdout, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        table(&mut stdout, &results)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn selected(args: &ProbeArgs, item: &Item) -> bool {
    let eq = |wanted: &Option<String>, found: &str| {
        wanted
            .as_ref()
            .is_none_or(|w| w.eq_ignore_ascii_case(found))
    };
    let service = item.target.service.as_ref().map_or("", |s| s.as_str());
    eq(&args.member, item.target.member.as_str())
        && eq(&args.check, &item.check.name)
        && eq(&args.service, service)
}

/// Runs every item, `workers` at a time, with a progress line on a terminal.
async fn run_all(
    items: Vec<Item>,
    env: Arc<Env>,
    workers: u32,
) -> anyhow::Result<Vec<(Item, Outcome)>> {
    let total = items.len();
    let permits = Arc::new(Semaphore::new(usize::try_from(workers.max(1)).unwrap_or(1)));
    let mut running = JoinSet::new();
    for (index, item) in items.into_iter().enumerate() {
        let env = env.clone();
        let permits = permits.clone();
        running.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let outcome = geodns_monitor::run(&item.check, &item.target, &env).await;
            (index, item, outcome)
        });
    }
    let progress = std::io::stderr().is_terminal();
    let mut done = Vec::with_capacity(total);
    while let Some(finished) = running.join_next().await {
        done.push(finished.context("a check task failed")?);
        if progress {
            let _ = write!(std::io::stderr(), "\rchecks: {}/{total}", done.len());
        }
    }
    if progress {
        let _ = writeln!(std::io::stderr());
    }
    done.sort_by_key(|(index, _, _)| *index);
    Ok(done
        .into_iter()
        .map(|(_, item, outcome)| (item, outcome))
        .collect())
}

fn row(item: &Item, outcome: &Outcome) -> Value {
    let target = &item.target;
    json!({
        "member": target.member.as_str(),
        "check": item.check.name,
        "kind": item.check.kind.as_str(),
        "domain": target.domain,
        "endpoint": target.endpoint.as_ref().map(endpoint_text).unwrap_or_default(),
        "ipv6": target.ipv6,
        "ok": outcome.is_ok(),
        "error": outcome.error(),
        "latency_ms": (outcome.latency.as_secs_f64() * 1e4).round() / 10.0,
        "data": outcome.data,
    })
}

fn table(out: &mut impl std::io::Write, results: &[(Item, Outcome)]) -> std::io::Result<()> {
    let lines: Vec<[String; 7]> = results
        .iter()
        .map(|(item, outcome)| {
            let target = &item.target;
            let what = match (&target.endpoint, target.domain.is_empty()) {
                (Some(url), _) => endpoint_text(url),
                (None, false) => target.domain.clone(),
                (None, true) => "-".to_owned(),
            };
            [
                target.member.to_string(),
                item.check.name.clone(),
                what,
                if target.ipv6 { "IPv6" } else { "IPv4" }.to_owned(),
                if outcome.is_ok() { "ok" } else { "FAILED" }.to_owned(),
                format!("{:.1} ms", outcome.latency.as_secs_f64() * 1e3),
                outcome.error().to_owned(),
            ]
        })
        .collect();
    let header = [
        "MEMBER", "CHECK", "TARGET", "FAMILY", "RESULT", "LATENCY", "ERROR",
    ]
    .map(String::from);
    let mut widths = [0usize; 7];
    for line in std::iter::once(&header).chain(&lines) {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for line in std::iter::once(&header).chain(&lines) {
        let mut text = String::new();
        for (index, cell) in line.iter().enumerate() {
            if index == 6 {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[index]));
            }
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    let failed = results.iter().filter(|(_, o)| !o.is_ok()).count();
    writeln!(out, "{} checks, {} failed", results.len(), failed)
}
