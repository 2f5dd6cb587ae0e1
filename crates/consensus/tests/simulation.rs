//! Deterministic simulation: 3, 5 and 7 monitors run the real state machine over a
//! simulated network with random delay, loss, duplication and reordering, crashes and
//! partitions, all driven by one seed, under each agreement policy. Checks safety (no
//! official change without a quorum of real agreeing votes; every decision is the one an
//! independent oracle of the policies gives, `sim/oracle.rs`), convergence after the
//! network heals, and bounded state.
//!
//! `GEODNS_SIM_SEEDS=N` runs N seeds (default 2000); `GEODNS_SIM_SEED=S` replays one.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod sim;

use std::collections::BTreeMap;

use geodns_consensus::policy::Policy;
use sim::{Params, Report, run};

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("GEODNS_SIM_SEED") {
        return vec![seed.parse().expect("GEODNS_SIM_SEED is a number")];
    }
    let count: u64 = std::env::var("GEODNS_SIM_SEEDS")
        .ok()
        .map(|n| n.parse().expect("GEODNS_SIM_SEEDS is a number"))
        .unwrap_or(2000);
    (0..count).collect()
}

/// Runs seeds on every core; returns the reports and the failures.
fn run_all(seeds: &[u64]) -> (Vec<Report>, Vec<(u64, String)>) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunks: Vec<&[u64]> = seeds.chunks(seeds.len().div_ceil(threads).max(1)).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    let mut reports = Vec::new();
                    let mut failures = Vec::new();
                    for &seed in chunk {
                        match run(Params::from_seed(seed)) {
                            Ok(report) => reports.push(report),
                            Err(error) => failures.push((seed, error)),
                        }
                    }
                    (reports, failures)
                })
            })
            .collect();
        let mut reports = Vec::new();
        let mut failures = Vec::new();
        for handle in handles {
            let (mut r, mut f) = handle.join().unwrap();
            reports.append(&mut r);
            failures.append(&mut f);
        }
        (reports, failures)
    })
}

#[test]
fn seeded_clusters_stay_safe_converge_after_healing_and_stay_bounded() {
    let seeds = seeds();
    let (reports, failures) = run_all(&seeds);
    if !failures.is_empty() {
        let mut message = format!("{} of {} seeds failed:\n", failures.len(), seeds.len());
        for (seed, error) in failures.iter().take(10) {
            message.push_str(&format!(
                "  seed {seed}: {error}\n  replay: GEODNS_SIM_SEED={seed} cargo test -p geodns-consensus --test simulation\n"
            ));
        }
        panic!("{message}");
    }
    let decisions: u64 = reports.iter().map(|r| r.decisions_passed).sum();
    let failed: u64 = reports.iter().map(|r| r.decisions_failed).sum();
    let applied: u64 = reports.iter().map(|r| r.official_changes).sum();
    let slowest = reports.iter().map(|r| r.converged_after).max().unwrap_or(0);
    let by_size = |n: usize| reports.iter().filter(|r| r.monitors == n).count();
    let mut by_policy: BTreeMap<&str, usize> = BTreeMap::new();
    for report in &reports {
        *by_policy.entry(policy_name(report.policy)).or_default() += 1;
    }
    println!(
        "{} seeds ({} with 3, {} with 5, {} with 7 monitors; {by_policy:?}): {decisions} passed \
         and {failed} failed decisions, {applied} official changes applied, slowest \
         convergence {slowest} ticks after healing",
        reports.len(),
        by_size(3),
        by_size(5),
        by_size(7)
    );
    // The runs must exercise the protocol, not idle.
    assert!(
        decisions > reports.len() as u64,
        "too few decisions: {decisions}"
    );
    // Enough seeds draw every policy; a policy no seed draws is a policy nobody checks.
    if reports.len() >= 100 {
        for name in ["majority", "healthy_above", "all", "any"] {
            assert!(
                by_policy.get(name).is_some_and(|&n| n > 0),
                "no seed drew {name}: {by_policy:?}"
            );
        }
    }
}

fn policy_name(policy: Policy) -> &'static str {
    match policy {
        Policy::Majority => "majority",
        Policy::HealthyAbove { .. } => "healthy_above",
        Policy::All => "all",
        Policy::Any => "any",
    }
}

#[test]
fn a_seed_replays_identically() {
    let first = run(Params::from_seed(42)).unwrap();
    let second = run(Params::from_seed(42)).unwrap();
    assert_eq!(first, second);
}
