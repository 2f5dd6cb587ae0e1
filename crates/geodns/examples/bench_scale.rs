//! `scripts/bench-scale`: a large fleet of separate `geodns run` processes on one real
//! nats-server (test support's `Fleet`): `--monitors` monitors and `--dns` DNS nodes, a
//! collator and an API node, a catalog of `--members` members and `--services` services
//! of 10 hostnames each, every member serving one service in ten, one domain check per
//! member and hostname (10,000 checks at the defaults), observed from a script (the
//! monitors' `GEODNS_TEST_OBSERVATIONS` knob, so the cluster is measured, not fake
//! providers). For `auth = "strict"` and `"off"` it prints steady bus traffic
//! (nats-server's `/varz`), CPU and RSS per role (`/proc`), decision → answer on every
//! DNS node, how long a DNS node started afresh takes to answer right, and a mass
//! outage: every check failing at once, until every DNS node answers around all of them.
#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![allow(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "common/flags.rs"]
mod flags;
#[path = "bench_scale/measure.rs"]
mod measure;

use std::fmt::Write as _;
use std::time::Duration;

use geodns_test_support::fleet::{Fleet, FleetSpec, Role};
use serde_json::{Map, Value, json};

use measure::{Usage, percentile, round};

/// What to run.
pub(crate) struct Args {
    binary: String,
    pub(crate) dns: usize,
    monitors: usize,
    members: usize,
    services: usize,
    steady: u64,
    runs: usize,
    modes: Vec<String>,
    json: bool,
}

fn args() -> Args {
    let mut args = Args {
        binary: "target/release/geodns".to_owned(),
        dns: 50,
        monitors: 7,
        members: 100,
        services: 100,
        steady: 30,
        runs: 5,
        modes: vec!["strict".to_owned(), "off".to_owned()],
        json: false,
    };
    let number = |text: String| text.parse::<usize>().expect("a number");
    flags::parse(|flag, value| match flag {
        "--binary" => args.binary = value(),
        "--dns" => args.dns = number(value()),
        "--monitors" => args.monitors = number(value()),
        "--members" => args.members = number(value()),
        "--services" => args.services = number(value()),
        "--runs" => args.runs = number(value()),
        "--steady" => args.steady = number(value()) as u64,
        "--modes" => args.modes = value().split(',').map(str::to_owned).collect(),
        "--quick" => (args.dns, args.monitors, args.steady, args.runs) = (10, 3, 15, 3),
        "--json" => args.json = true,
        other => panic!("unknown argument {other}"),
    });
    args
}

/// Members serve the services whose number is theirs modulo this: one service in ten.
const SPREAD: usize = 10;
/// Hostnames per service.
const HOSTS: usize = 10;

/// The checks, services and members.
fn catalog(args: &Args) -> String {
    let mut text = String::from(
        "[[checks]]\nname = \"rpc\"\ntype = \"tcp\"\nkind = \"domain\"\nport = 443\n\
         interval = \"1s\"\ntimeout = \"500ms\"\n\n",
    );
    for s in 0..args.services {
        let hosts: Vec<String> = (0..HOSTS)
            .map(|h| format!("\"wss://{}\"", host(s, h)))
            .collect();
        let _ = write!(
            text,
            "[[services]]\nname = \"S{s:03}\"\ntype = \"substrate_rpc\"\nendpoints = [{}]\n\n",
            hosts.join(", ")
        );
    }
    for m in 0..args.members {
        let services: Vec<String> = (0..args.services)
            .filter(|s| s % SPREAD == m % SPREAD)
            .map(|s| format!("\"S{s:03}\""))
            .collect();
        // Member 0 is in London, nearest the test's European client; the others spread.
        let (lat, lon) = if m == 0 {
            (51.5, -0.12)
        } else {
            (
                -60.0 + (m * 37 % 120) as f64,
                -180.0 + (m * 73 % 360) as f64,
            )
        };
        let _ = write!(
            text,
            "[[members]]\nname = \"m{m:03}\"\nipv4 = \"{}\"\nlatitude = {lat}\nlongitude = {lon}\n\
             services = [{}]\n\n",
            address(m),
            services.join(", ")
        );
    }
    text
}

pub(crate) fn host(service: usize, index: usize) -> String {
    format!("h{service:03}-{index}.geo.example")
}

pub(crate) fn address(member: usize) -> String {
    format!("127.1.{}.{}", member / 250, member % 250 + 1)
}

#[tokio::main]
async fn main() {
    let args = args();
    let checks = args.members * args.services / SPREAD * HOSTS;
    let mut report = Map::new();
    for mode in args.modes.clone() {
        let figures = run(&args, &mode).await;
        if !args.json {
            print(&mode, &figures);
        }
        for (key, value) in figures {
            report.insert(format!("{mode}_{key}"), value);
        }
    }
    report.insert("dns_nodes".to_owned(), json!(args.dns));
    report.insert("monitors".to_owned(), json!(args.monitors));
    report.insert("hostnames".to_owned(), json!(args.services * HOSTS));
    report.insert("members".to_owned(), json!(args.members));
    report.insert("checks".to_owned(), json!(checks));
    println!("{}", Value::Object(report));
}

fn print(mode: &str, figures: &Map<String, Value>) {
    println!("\nauth = \"{mode}\"");
    for (key, value) in figures {
        println!("  {key:<32} {value}");
    }
}

/// One fleet in `mode`, through every phase.
async fn run(args: &Args, mode: &str) -> Map<String, Value> {
    let binary = std::fs::canonicalize(&args.binary).expect("the geodns binary exists");
    let mut spec = FleetSpec::new(binary, &format!("bench-scale-{mode}"));
    spec.monitors = args.monitors;
    spec.dns = args.dns;
    spec.auth = if mode == "strict" { "strict" } else { "off" };
    spec.catalog = Some(catalog(args));
    spec.scripted = true;
    // What a fleet runs, not the tests' tight membership and cache timings.
    spec.timings = geodns_test_support::fleet::DEFAULT_TIMINGS.to_owned();
    spec.dns_database = false;
    spec.dns_keys = "no_healthy = \"none\"".to_owned();
    let mut fleet = Fleet::start(spec).await;
    let mut figures = Map::new();
    let ready = measure::until_all(&fleet, &host(0, 0), |a| a == address(0), 600).await;
    figures.insert("start_to_ready_s".to_owned(), json!(ready.map(round)));
    // Heartbeats: about one message a second per node; everything above is consensus.
    let quiet = 3.0 * (args.dns + args.monitors + 2) as f64;
    let checks = args.members * args.services / SPREAD * HOSTS;
    let settled = measure::until_settled(&fleet, (quiet, checks), 900).await;
    figures.insert("start_to_settled_s".to_owned(), json!(settled.map(round)));

    let usage = Usage::sample(&fleet, Duration::from_secs(args.steady)).await;
    usage.report(&mut figures, "steady");

    let mut samples = Vec::new();
    for _ in 0..args.runs {
        samples.extend(measure::decision_to_answer(&fleet).await);
    }
    figures.insert(
        "decision_to_answer_p50_s".to_owned(),
        json!(round(percentile(&samples, 0.5))),
    );
    figures.insert(
        "decision_to_answer_p99_s".to_owned(),
        json!(round(percentile(&samples, 0.99))),
    );
    figures.insert("decision_to_answer_n".to_owned(), json!(samples.len()));

    let fresh = measure::new_dns_node(&mut fleet, args).await;
    figures.insert("new_dns_node_s".to_owned(), json!(fresh.map(round)));

    let (outage, recovery, during) = measure::mass_outage(&fleet, args).await;
    figures.insert("mass_outage_s".to_owned(), json!(outage.map(round)));
    figures.insert("mass_recovery_s".to_owned(), json!(recovery.map(round)));
    during.report(&mut figures, "mass_outage");
    fleet.finish().await;
    figures
}

/// The DNS nodes' ids.
pub(crate) fn dns_ids(fleet: &Fleet) -> Vec<String> {
    fleet.ids(Role::Dns)
}
