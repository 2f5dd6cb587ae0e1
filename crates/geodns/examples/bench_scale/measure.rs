//! The phases of `bench_scale`: waiting on every DNS node at once, CPU, RSS and bus
//! traffic over a span, decision → answer, a DNS node started afresh, the mass outage.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use geodns_node::clock::Stopwatch;
pub(crate) use geodns_test_support::fleet::percentile;
use geodns_test_support::fleet::{Fleet, Role};
use serde_json::{Map, Value, json};

use crate::{Args, address, dns_ids, host};

pub(crate) fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Asks every DNS node for `name` at once; their answers in node order.
async fn sweep(fleet: &Fleet, ids: &[String], name: &str) -> Vec<String> {
    let asks = ids.iter().map(|id| fleet.answer_for(id, name));
    futures_util::future::join_all(asks).await
}

/// Seconds until every DNS node's answer for `name` satisfies `accept`; `None` (and a
/// line on stderr) when some still do not after `limit` seconds: where the fleet breaks.
pub(crate) async fn until_all(
    fleet: &Fleet,
    name: &str,
    accept: impl Fn(&str) -> bool,
    limit: u64,
) -> Option<f64> {
    let watch = Stopwatch::start();
    let ids = dns_ids(fleet);
    loop {
        let answers = sweep(fleet, &ids, name).await;
        let wrong = answers.iter().filter(|a| !accept(a)).count();
        if wrong == 0 {
            return Some(watch.elapsed().as_secs_f64());
        }
        if watch.elapsed().as_secs() >= limit {
            eprintln!(
                "bench-scale: {wrong} of {} DNS nodes still answer {name} otherwise after {limit} s",
                ids.len()
            );
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Seconds until the fleet settles after a cold start: the API node holds an official
/// result of each of the `checks` (every check decided once), then fewer than `quiet`
/// messages a second into nats-server over 5 s; `None` after `limit` s.
pub(crate) async fn until_settled(
    fleet: &Fleet,
    (quiet, checks): (f64, usize),
    limit: u64,
) -> Option<f64> {
    let watch = Stopwatch::start();
    loop {
        let mut decided = 0.0;
        for status in ["up", "down"] {
            let series = format!("geodns_official_results{{status=\"{status}\"}}");
            decided += fleet.metric(&series).await.unwrap_or(0.0);
        }
        if decided >= checks as f64 {
            break;
        }
        if watch.elapsed().as_secs() >= limit {
            eprintln!("bench-scale: {decided} of {checks} checks decided after {limit} s");
            return None;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let count = async || {
        let varz = fleet.varz().await.unwrap_or_default();
        varz["in_msgs"].as_f64().unwrap_or(0.0)
    };
    let mut before = count().await;
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let after = count().await;
        if (after - before) / 5.0 < quiet {
            return Some(watch.elapsed().as_secs_f64());
        }
        if watch.elapsed().as_secs() >= limit {
            eprintln!(
                "bench-scale: still {:.0} messages/s after {limit} s",
                (after - before) / 5.0
            );
            return None;
        }
        before = after;
    }
}

/// Per process CPU ticks (user + system) and RSS (kB), from `/proc`.
fn proc_stats(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .ok()?;
    Some((ticks, rss))
}

/// A started measurement: counters at its start.
pub(crate) struct Probe {
    watch: Stopwatch,
    varz: Value,
    ticks: BTreeMap<u32, (Role, u64)>,
}

/// What a span cost: bus traffic, CPU and RSS per role.
pub(crate) struct Usage {
    seconds: f64,
    bus: [f64; 4],
    roles: BTreeMap<&'static str, (Vec<f64>, Vec<f64>)>,
}

impl Probe {
    pub(crate) async fn start(fleet: &Fleet) -> Probe {
        let mut ticks = BTreeMap::new();
        for node in &fleet.nodes {
            if let Some(pid) = node.pid()
                && let Some((t, _)) = proc_stats(pid)
            {
                ticks.insert(pid, (node.role, t));
            }
        }
        let varz = fleet.varz().await.unwrap_or_default();
        Probe {
            watch: Stopwatch::start(),
            varz,
            ticks,
        }
    }

    pub(crate) async fn finish(self, fleet: &Fleet) -> Usage {
        let seconds = self.watch.elapsed().as_secs_f64();
        let varz = fleet.varz().await.unwrap_or_default();
        let delta = |key: &str| {
            (varz[key].as_f64().unwrap_or(0.0) - self.varz[key].as_f64().unwrap_or(0.0)) / seconds
        };
        let bus = [
            delta("in_bytes"),
            delta("out_bytes"),
            delta("in_msgs"),
            delta("out_msgs"),
        ];
        let mut roles: BTreeMap<&'static str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for (pid, (role, before)) in self.ticks {
            if let Some((after, rss)) = proc_stats(pid) {
                let cpu = (after - before) as f64 / seconds; // ticks are 1/100 s
                let entry = roles.entry(role.user()).or_default();
                entry.0.push(cpu);
                entry.1.push(rss as f64 / 1024.0);
            }
        }
        Usage {
            seconds,
            bus,
            roles,
        }
    }
}

impl Usage {
    pub(crate) async fn sample(fleet: &Fleet, span: Duration) -> Usage {
        let probe = Probe::start(fleet).await;
        tokio::time::sleep(span).await;
        probe.finish(fleet).await
    }

    pub(crate) fn report(&self, figures: &mut Map<String, Value>, prefix: &str) {
        let names = [
            "bus_in_bytes_per_s",
            "bus_out_bytes_per_s",
            "bus_in_msgs_per_s",
            "bus_out_msgs_per_s",
        ];
        for (name, value) in names.iter().zip(self.bus) {
            figures.insert(format!("{prefix}_{name}"), json!(value.round()));
        }
        figures.insert(format!("{prefix}_seconds"), json!(round(self.seconds)));
        for (role, (cpu, rss)) in &self.roles {
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
            figures.insert(format!("{prefix}_cpu_pct_{role}"), json!(round(mean(cpu))));
            figures.insert(
                format!("{prefix}_cpu_pct_max_{role}"),
                json!(round(max(cpu))),
            );
            figures.insert(format!("{prefix}_rss_mb_{role}"), json!(round(mean(rss))));
        }
    }
}

/// One failure of member 0: each DNS node's seconds from the decision (the earliest
/// monitor log line adopting it) to its first answer without member 0. Then repairs.
pub(crate) async fn decision_to_answer(fleet: &Fleet) -> Vec<f64> {
    let ids = dns_ids(fleet);
    let name = host(0, 0);
    let at = geodns_node::clock::now();
    fleet.script("m000\n");
    let mut changed: Vec<Option<DateTime<Utc>>> = vec![None; ids.len()];
    let watch = Stopwatch::start();
    while changed.iter().any(Option::is_none) {
        let answers = sweep(fleet, &ids, &name).await;
        let now = geodns_node::clock::now();
        for (seen, answer) in changed.iter_mut().zip(answers) {
            if seen.is_none() && !answer.is_empty() && answer != address(0) {
                *seen = Some(now);
            }
        }
        assert!(
            watch.elapsed().as_secs() < 120,
            "member 0's failure not answered around"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let decision = decided(fleet, at, &name);
    fleet.script("");
    until_all(fleet, &name, |a| a == address(0), 120).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    match decision {
        Some(decision) => changed
            .into_iter()
            .flatten()
            .map(|t| (t - decision).as_seconds_f64())
            .collect(),
        None => Vec::new(),
    }
}

/// The earliest monitor log line after `at` that adopts member 0 down for `name`.
fn decided(fleet: &Fleet, at: DateTime<Utc>, name: &str) -> Option<DateTime<Utc>> {
    fleet
        .nodes
        .iter()
        .filter(|n| n.role == Role::Monitor)
        .flat_map(|n| {
            n.log()
                .lines()
                .filter(|l| {
                    l.contains("official status changed")
                        && l.contains("|m000|")
                        && l.contains(name)
                        && l.contains("status=false")
                })
                .filter_map(|l| l.split_whitespace().next()?.parse::<DateTime<Utc>>().ok())
                .filter(|t| *t >= at)
                .collect::<Vec<_>>()
        })
        .min()
}

/// Member 0 down: the last DNS node is killed, its saved results removed, and started;
/// seconds from its start to its first answer without member 0 (`None`: not in 120 s).
pub(crate) async fn new_dns_node(fleet: &mut Fleet, args: &Args) -> Option<f64> {
    let name = host(0, 0);
    fleet.script("m000\n");
    until_all(fleet, &name, |a| !a.is_empty() && a != address(0), 120).await;
    let id = format!("dns-{}", args.dns);
    fleet.node(&id).kill();
    for file in ["official.cache.json", "local.cache.json"] {
        let _ = std::fs::remove_file(fleet.dir().join(&id).join(file));
    }
    let watch = Stopwatch::start();
    fleet.node(&id).start();
    loop {
        let answer = fleet.answer_for(&id, &name).await;
        if answer.parse::<std::net::Ipv4Addr>().is_ok() && answer != address(0) {
            break;
        }
        if watch.elapsed().as_secs() >= 120 {
            eprintln!("bench-scale: {id} started afresh does not answer right in 120 s");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fresh = (watch.elapsed().as_secs() < 120).then(|| watch.elapsed().as_secs_f64());
    fleet.script("");
    until_all(fleet, &name, |a| a == address(0), 120).await;
    fresh
}

/// Every member down at once: seconds until every DNS node answers none of a sample of
/// hostnames across the services (NODATA, `no_healthy = "none"`), then until every one
/// answers them all again (`None`: not within 5 minutes); and what the outage cost.
pub(crate) async fn mass_outage(fleet: &Fleet, args: &Args) -> (Option<f64>, Option<f64>, Usage) {
    let sample: Vec<String> = (0..10)
        .map(|i| host(i * args.services / 10, i % 10))
        .collect();
    let probe = Probe::start(fleet).await;
    let watch = Stopwatch::start();
    fleet.script("*\n");
    let mut outage = Some(0.0);
    for name in &sample {
        outage = outage.and(until_all(fleet, name, str::is_empty, 300).await);
    }
    let outage = outage.map(|_| watch.elapsed().as_secs_f64());
    let during = probe.finish(fleet).await;
    let watch = Stopwatch::start();
    fleet.script("");
    let mut recovery = Some(0.0);
    for name in &sample {
        recovery = recovery.and(until_all(fleet, name, |a| !a.is_empty(), 300).await);
    }
    let recovery = recovery.map(|_| watch.elapsed().as_secs_f64());
    (outage, recovery, during)
}
