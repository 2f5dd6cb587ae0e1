//! The collator's side of consensus: caches the votes of every proposal as they pass, and
//! on a passed finalize queues the decision (with who voted how) for the writer task,
//! which stores the outage (opened or closed) and publishes the event to Redis Streams.
//!
//! Nothing decided is lost to a database outage: the decision stays in the
//! [`RetryQueue`] until the store accepts it. Only a passed finalize takes a proposal's
//! votes out of the cache, so a failed finalize (another monitor's timed-out decision)
//! cannot hide a passed one; the repeats every deciding monitor sends are ignored.

mod queue;
mod writer;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use geodns_bus::consensus::{decode_finalize, decode_proposal, decode_vote};
use geodns_bus::redis::EventPublisher;
use geodns_bus::{Bus, BusMessage, subjects};
use geodns_consensus::auth::Trust;
use geodns_consensus::message::{Finalize, Signed};
use geodns_consensus::proposal_cache::{CacheLimits, Popped, ProposalCache};
use geodns_core::records::Votes;
use geodns_store::OutageStore;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use queue::QueueReport;
use queue::{Decision, RetryQueue};

use crate::reload::LiveConfig;

/// How often expired cache entries are dropped.
const JANITOR: Duration = Duration::from_secs(30);

/// The collator's queue of decisions waiting for the store, shared by the bus reader, the
/// writer and `consensus status`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CollatorQueue {
    queue: Arc<Mutex<RetryQueue>>,
    wake: Arc<Notify>,
}

impl CollatorQueue {
    /// An empty queue holding at most `limit` decisions.
    pub fn new(limit: usize) -> Self {
        CollatorQueue {
            queue: Arc::new(Mutex::new(RetryQueue::new(limit))),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Runs `f` on the queue; the lock is never held across an `.await`.
    fn with<T>(&self, f: impl FnOnce(&mut RetryQueue) -> T) -> T {
        f(&mut self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Queues a decision and wakes the writer.
    fn push(&self, decision: Decision) {
        if let Some(evicted) = self.with(|queue| queue.push(decision)) {
            tracing::error!(
                check = %evicted.key,
                proposal = %evicted.proposal,
                "collator queue full: the oldest unstored decision is dropped"
            );
        }
        self.wake.notify_one();
    }

    /// The queue's counters.
    pub fn report(&self) -> QueueReport {
        self.with(|queue| queue.report())
    }
}

impl Default for CollatorQueue {
    fn default() -> Self {
        CollatorQueue::new(queue::DEFAULT_LIMIT)
    }
}

/// Runs until `shutdown`: caches votes, queues decided outages, and has a writer task
/// (owned by `tasks`) store them and publish events.
pub async fn run_collator<B: Bus, S: OutageStore + 'static>(
    bus: B,
    store: S,
    events: Option<EventPublisher>,
    live: LiveConfig,
    queue: CollatorQueue,
    shutdown: CancellationToken,
) -> Result<(), super::ConsensusError> {
    let mut messages = super::subscribe(&bus, "consensus.*").await?;
    let tasks = TaskTracker::new();
    tasks.spawn(writer::run(store, events, queue.clone(), shutdown.clone()));
    tasks.close();
    let mut cache = ProposalCache::new(CacheLimits::default());
    let mut janitor = tokio::time::interval(JANITOR);
    let mut configs = live.subscribe();
    let mut trust = super::keys::trust(&live.current())?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Ok(()) = configs.changed() => {
                let config = configs.borrow_and_update().clone();
                match super::keys::trust(&config) {
                    Ok(reloaded) => trust = reloaded,
                    Err(error) => {
                        let error = format!("{error:#}");
                        tracing::warn!(%error, "collator keeps its trusted nodes");
                    }
                }
            }
            _ = janitor.tick() => {
                let dropped = cache.expire(crate::clock::now());
                tracing::debug!(
                    dropped,
                    cached = cache.len(),
                    evicted = cache.evicted(),
                    "proposal cache janitor"
                );
            }
            Some(message) = messages.next() => {
                let min_votes = live.current().consensus.effective_min_votes();
                if let Some(finalize) = cache_or_finalize(&mut cache, &trust, min_votes, &message)
                    && let Some(decision) = decision(&mut cache, finalize)
                {
                    queue.push(decision);
                }
            }
        }
    }
    tasks.wait().await;
    Ok(())
}

/// Feeds proposals and votes to the cache; returns an accepted finalize.
fn cache_or_finalize(
    cache: &mut ProposalCache,
    trust: &Trust,
    min_votes: usize,
    message: &BusMessage,
) -> Option<Signed<Finalize>> {
    let now = crate::clock::now();
    let rejected = |kind: &str, error: &dyn std::fmt::Display| {
        tracing::debug!(kind, %error, "collator ignores a consensus message");
    };
    match message.subject.as_str() {
        subjects::PROPOSE => match decode_proposal(&message.payload) {
            Ok(p) if trust.check(&p).is_ok() => cache.on_proposal(&p.message, now),
            Ok(p) => rejected("proposal", &p.message.sender),
            Err(error) => rejected("proposal", &error),
        },
        subjects::VOTE => match decode_vote(&message.payload) {
            Ok(v) if trust.check(&v).is_ok() => cache.on_vote(&v.message, now),
            Ok(v) => rejected("vote", &v.message.voter),
            Err(error) => rejected("vote", &error),
        },
        subjects::FINALIZE => match decode_finalize(&message.payload) {
            Ok(f) if trust.check_finalize(&f, min_votes).is_ok() => return Some(f),
            Ok(f) => rejected("finalize", &f.message.sender),
            Err(error) => rejected("finalize", &error),
        },
        _ => {}
    }
    None
}

/// The decision a passed finalize records, once per proposal. A failed finalize leaves
/// the cache alone, so a passed one arriving later still finds its votes.
fn decision(cache: &mut ProposalCache, signed: Signed<Finalize>) -> Option<Decision> {
    let finalize = signed.message;
    if !finalize.passed {
        return None;
    }
    let certificate: Votes = finalize
        .votes
        .iter()
        .map(|vote| (vote.message.voter.clone(), vote.message.agree))
        .collect();
    let votes = match cache.pop(&finalize.proposal.id, crate::clock::now()) {
        Popped::AlreadyHandled => return None,
        Popped::Votes(mut seen) => {
            // The certificate's signed votes count even if their bus copies were missed.
            seen.extend(certificate);
            seen
        }
        Popped::Unknown => certificate,
    };
    let proposal = finalize.proposal;
    Some(Decision {
        proposal: proposal.id,
        key: proposal.key,
        healthy: proposal.status,
        decided_at: finalize.decided_at,
        decided_by: finalize.sender,
        error: proposal.error,
        votes,
        data: proposal.data.unwrap_or_default(),
    })
}
