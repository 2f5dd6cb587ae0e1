//! The scheduler task: runs every planned item at its interval, at most `workers` at
//! once and `separation` apart, each bounded by its check's timeout, so a hanging
//! provider holds one worker for at most that long and never delays the others. A new
//! plan (configuration reload) rebuilds the schedule; shutdown aborts in-flight checks.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::check::{Env, run};
use crate::counters::Counters;
use crate::outcome::Outcome;
use crate::schedule::Schedule;
use crate::target::Item;

/// What the scheduler runs and how fast.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Every (check, target).
    pub items: Vec<Item>,
    /// Checks in flight at most (at least 1).
    pub workers: usize,
    /// Least time between two check starts.
    pub separation: Duration,
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// What ran.
    pub item: Item,
    /// What it found.
    pub outcome: Outcome,
}

/// Runs the plan until `shutdown`; results go to `results` (a closed receiver stops
/// the task).
pub async fn run_scheduler(
    mut plan: watch::Receiver<Plan>,
    env: Arc<Env>,
    counters: Arc<Counters>,
    results: mpsc::Sender<CheckResult>,
    shutdown: CancellationToken,
) {
    let mut schedule = Schedule::default();
    let mut current = plan.borrow_and_update().clone();
    schedule.rebuild(current.items.clone(), Instant::now());
    tracing::info!(
        items = schedule.len(),
        workers = current.workers,
        "check schedule ready"
    );
    let mut running: JoinSet<CheckResult> = JoinSet::new();
    let mut last_start: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let workers = current.workers.max(1);
        let spaced = last_start.is_none_or(|at| now >= at + current.separation);
        if running.len() < workers
            && spaced
            && let Some(item) = schedule.take_due(now)
        {
            last_start = Some(now);
            let env = env.clone();
            running.spawn(async move {
                let outcome = run(&item.check, &item.target, &env).await;
                CheckResult { item, outcome }
            });
            continue;
        }
        let wake = if running.len() < workers {
            schedule.next_due().map(|due| match last_start {
                Some(at) => due.max(at + current.separation),
                None => due,
            })
        } else {
            None
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            changed = plan.changed() => {
                if changed.is_err() {
                    break;
                }
                current = plan.borrow_and_update().clone();
                schedule.rebuild(current.items.clone(), Instant::now());
                tracing::info!(items = schedule.len(), "check schedule rebuilt");
            }
            Some(done) = running.join_next(), if !running.is_empty() => {
                let Ok(result) = done else { continue };
                let key = result.item.key();
                if !schedule.finished(&key, Instant::now(), jitter()) {
                    continue;
                }
                counters.record(result.item.check.probe.type_name(), &result.outcome);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    sent = results.send(result) => if sent.is_err() { break },
                }
            }
            () = sleep_until(wake) => {}
        }
    }
    running.abort_all();
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A uniform draw in [-1, 1] from the operating system's randomness.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.0;
    }
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX) * 2.0 - 1.0
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
