//! `scripts/bench-failover`: on a fleet of separate `geodns run` processes (test support's
//! `Fleet`: N monitors, 2 DNS nodes, strict trust, a private nats-server, TCP checks every
//! `--interval`), breaks and repairs member Near's provider `--runs` times and prints, for
//! failures and recoveries, median and p99 of (a) first failing (passing) check → the
//! decision, (b) decision → each DNS node's first changed answer, (c) the break (repair)
//! → each DNS node's first changed answer, and the spread between the DNS nodes. Times
//! come from the processes' logs (the monitors log every check result) and from polling
//! each DNS node with kdig, all on this machine's one clock.
#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![allow(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::time::Duration;

use chrono::{DateTime, Utc};
use geodns_test_support::fleet::{FAR, Fleet, FleetSpec, NEAR, Role, percentile};
use serde_json::{Value, json};

#[path = "common/flags.rs"]
mod flags;

struct Args {
    binary: String,
    runs: usize,
    interval: u64,
    monitors: Vec<usize>,
    json: bool,
}

fn args() -> Args {
    let mut args = Args {
        binary: "target/release/geodns".to_owned(),
        runs: 20,
        interval: 1,
        monitors: vec![3, 5],
        json: false,
    };
    flags::parse(|flag, value| match flag {
        "--binary" => args.binary = value(),
        "--runs" => args.runs = value().parse().expect("--runs N"),
        "--interval" => args.interval = value().parse().expect("--interval SECONDS"),
        "--monitors" => {
            args.monitors = value()
                .split(',')
                .map(|n| n.parse().expect("--monitors 3,5"))
                .collect();
        }
        "--quick" => args.runs = 5,
        "--json" => args.json = true,
        other => panic!("unknown argument {other}"),
    });
    args
}

/// One break or repair: when it happened and what followed.
#[derive(Default)]
struct Samples {
    check_to_decision: Vec<f64>,
    decision_to_answer: Vec<f64>,
    break_to_answer: Vec<f64>,
    spread: Vec<f64>,
}

#[tokio::main]
async fn main() {
    let args = args();
    let mut report = serde_json::Map::new();
    let mut worst = [0.0f64; 5];
    for &monitors in &args.monitors {
        let (failures, recoveries) = run(&args, monitors).await;
        let figures = json!({
            "failure": summary(&failures),
            "recovery": summary(&recoveries),
        });
        if !args.json {
            print_table(monitors, &failures, &recoveries);
        }
        let pick = |s: &Samples, p: f64| percentile(&s.break_to_answer, p);
        for (slot, value) in worst.iter_mut().zip([
            pick(&failures, 0.5),
            pick(&failures, 0.99),
            pick(&recoveries, 0.5),
            pick(&recoveries, 0.99),
            percentile(&failures.spread, 0.99).max(percentile(&recoveries.spread, 0.99)),
        ]) {
            *slot = slot.max(value);
        }
        report.insert(format!("monitors_{monitors}"), figures);
    }
    let keys = [
        "failover_p50_s",
        "failover_p99_s",
        "recovery_p50_s",
        "recovery_p99_s",
        "dns_spread_p99_s",
    ];
    for (key, value) in keys.iter().zip(worst) {
        report.insert((*key).to_owned(), json!(round(value)));
    }
    report.insert("runs".to_owned(), json!(args.runs));
    report.insert("interval_s".to_owned(), json!(args.interval));
    println!("{}", Value::Object(report));
}

/// Runs one fleet of `monitors` monitors through `args.runs` breaks and repairs.
async fn run(args: &Args, monitors: usize) -> (Samples, Samples) {
    let binary = std::fs::canonicalize(&args.binary).expect("the geodns binary exists");
    let mut spec = FleetSpec::new(binary, &format!("bench-failover-{monitors}"));
    spec.monitors = monitors;
    spec.collator_and_api = false;
    spec.interval = Duration::from_secs(args.interval);
    spec.log = "info,geodns_monitor::runtime=debug".to_owned();
    let fleet = Fleet::start(spec).await;
    let (mut failures, mut recoveries) = (Samples::default(), Samples::default());
    for _ in 0..args.runs {
        let at = geodns_node::clock::now();
        fleet.near().fail().await;
        measure(&fleet, at, (FAR, false), &mut failures).await;
        tokio::time::sleep(Duration::from_secs(args.interval)).await;
        let at = geodns_node::clock::now();
        fleet.near().repair().await;
        measure(&fleet, at, (NEAR, true), &mut recoveries).await;
        tokio::time::sleep(Duration::from_secs(args.interval)).await;
    }
    fleet.finish().await;
    (failures, recoveries)
}

/// Polls the DNS nodes until each answers `want`, then reads the logs for the first
/// check that saw `status` and the decision.
async fn measure(
    fleet: &Fleet,
    at: DateTime<Utc>,
    (want, status): (&str, bool),
    out: &mut Samples,
) {
    let dns = fleet.ids(Role::Dns);
    let mut changed: Vec<Option<DateTime<Utc>>> = vec![None; dns.len()];
    while changed.iter().any(Option::is_none) {
        for (id, seen) in dns.iter().zip(changed.iter_mut()) {
            if seen.is_none() && fleet.answer(id).await == want {
                *seen = Some(geodns_node::clock::now());
            }
        }
        let waited = (geodns_node::clock::now() - at).num_seconds();
        assert!(waited < 120, "no DNS node answered {want} within 2 minutes");
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // the logs are written
    let logs: Vec<String> = fleet
        .nodes
        .iter()
        .filter(|n| n.role == Role::Monitor)
        .map(|n| n.log())
        .collect();
    let check = first_line_after(&logs, at, |l| {
        l.contains("check result") && l.contains("|Near|") && l.contains(&format!("ok={status}"))
    });
    let decision = first_line_after(&logs, at, |l| {
        l.contains("official status changed")
            && l.contains("|Near|")
            && l.contains(&format!("status={status}"))
    });
    let seconds = |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).as_seconds_f64();
    let changed: Vec<DateTime<Utc>> = changed.into_iter().flatten().collect();
    if let (Some(check), Some(decision)) = (check, decision) {
        out.check_to_decision.push(seconds(check, decision));
        for answer in &changed {
            out.decision_to_answer.push(seconds(decision, *answer));
        }
    }
    for answer in &changed {
        out.break_to_answer.push(seconds(at, *answer));
    }
    let first = changed.iter().min().copied().unwrap_or(at);
    let last = changed.iter().max().copied().unwrap_or(at);
    out.spread.push(seconds(first, last));
}

/// The earliest timestamp after `at` of a log line that `wanted` accepts, in any log.
fn first_line_after(
    logs: &[String],
    at: DateTime<Utc>,
    wanted: impl Fn(&str) -> bool,
) -> Option<DateTime<Utc>> {
    logs.iter()
        .flat_map(|log| log.lines())
        .filter(|line| wanted(line))
        .filter_map(|line| {
            line.split_whitespace()
                .next()?
                .parse::<DateTime<Utc>>()
                .ok()
        })
        .filter(|time| *time >= at)
        .min()
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn summary(samples: &Samples) -> Value {
    let pair = |s: &[f64]| json!({"p50_s": round(percentile(s, 0.5)), "p99_s": round(percentile(s, 0.99)), "n": s.len()});
    json!({
        "check_to_decision": pair(&samples.check_to_decision),
        "decision_to_answer": pair(&samples.decision_to_answer),
        "break_to_answer": pair(&samples.break_to_answer),
        "dns_spread": pair(&samples.spread),
    })
}

/// Which samples a table row shows.
type Field = fn(&Samples) -> &[f64];

fn print_table(monitors: usize, failures: &Samples, recoveries: &Samples) {
    println!("\n{monitors} monitors, 2 DNS nodes (seconds, p50 / p99)");
    println!("{:<44} {:>17} {:>17}", "", "failure", "recovery");
    let rows: [(&str, Field); 4] = [
        ("(a) first failing check -> decision", |s| {
            &s.check_to_decision
        }),
        ("(b) decision -> answer, each DNS node", |s| {
            &s.decision_to_answer
        }),
        ("(c) break/repair -> answer, each DNS node", |s| {
            &s.break_to_answer
        }),
        ("DNS nodes' spread", |s| &s.spread),
    ];
    for (name, field) in rows {
        let cell = |s: &Samples| {
            let v = field(s);
            format!("{:.3} / {:.3}", percentile(v, 0.5), percentile(v, 0.99))
        };
        println!("{name:<44} {:>17} {:>17}", cell(failures), cell(recoveries));
    }
}
