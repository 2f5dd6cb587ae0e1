//! The collator's side of consensus: caches the votes of every proposal as they pass,
//! and on a passed finalize stores the outage (opened with who voted how, or closed) and
//! publishes the event to Redis Streams when configured. Only the first finalize of a
//! proposal is stored; the repeats every other deciding monitor sends are ignored.

use std::time::Duration;

use anyhow::Context as _;
use geodns_bus::consensus::{decode_finalize, decode_proposal, decode_vote};
use geodns_bus::redis::{EventPublisher, StreamEvent};
use geodns_bus::{Bus, BusMessage, subjects};
use geodns_consensus::auth::Trust;
use geodns_consensus::message::{Finalize, Signed};
use geodns_consensus::proposal_cache::{CacheLimits, Popped, ProposalCache};
use geodns_core::records::OutageStart;
use geodns_store::{CloseOutcome, OpenOutcome, OutageStore};
use tokio_util::sync::CancellationToken;

use crate::reload::LiveConfig;

/// How often expired cache entries are dropped.
const JANITOR: Duration = Duration::from_secs(30);

/// Runs until `shutdown`: caches votes, stores decided outages, publishes events.
pub async fn run_collator<B: Bus, S: OutageStore>(
    bus: B,
    store: S,
    mut events: Option<EventPublisher>,
    live: LiveConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut messages = bus
        .subscribe("consensus.*")
        .await
        .context("subscribe to consensus messages")?;
    let mut cache = ProposalCache::new(CacheLimits::default());
    let mut janitor = tokio::time::interval(JANITOR);
    let mut configs = live.subscribe();
    let mut trust = super::keys::trust(&live.current())?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
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
                if let Some(finalize) = cache_or_finalize(&mut cache, &trust, min_votes, &message) {
                    store_decision(&mut cache, &store, events.as_mut(), finalize).await;
                }
            }
        }
    }
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

async fn store_decision<S: OutageStore>(
    cache: &mut ProposalCache,
    store: &S,
    events: Option<&mut EventPublisher>,
    signed: Signed<Finalize>,
) {
    let finalize = signed.message;
    let proposal = &finalize.proposal;
    let votes = match cache.pop(&proposal.id, crate::clock::now()) {
        Popped::AlreadyHandled => return,
        Popped::Votes(votes) => votes,
        Popped::Unknown => Default::default(),
    };
    if !finalize.passed {
        return;
    }
    let (name, stored) = if proposal.status {
        let outcome = store.close_outage(&proposal.key, finalize.decided_at).await;
        let changed = matches!(
            outcome,
            Ok(CloseOutcome::Closed { .. } | CloseOutcome::Dropped { .. })
        );
        (
            "OutageClosed",
            outcome.map(|o| format!("{o:?}")).map(|o| (o, changed)),
        )
    } else {
        let start = OutageStart {
            key: proposal.key.clone(),
            start: finalize.decided_at,
            error: proposal.error.clone(),
            votes: votes.clone(),
            data: proposal.data.clone().unwrap_or_default(),
        };
        let outcome = store.open_outage(&start).await;
        let changed = matches!(outcome, Ok(OpenOutcome::Opened { .. }));
        (
            "OutageOpened",
            outcome.map(|o| format!("{o:?}")).map(|o| (o, changed)),
        )
    };
    match stored {
        Ok((outcome, changed)) => {
            tracing::info!(check = %proposal.key, %outcome, votes = votes.len(), "outage recorded");
            if let (true, Some(events)) = (changed, events) {
                let signal = serde_json::json!({
                    "proposal": proposal.id.as_str(),
                    "check": proposal.key.canonical(),
                    "status": proposal.status,
                    "error": proposal.error,
                    "decidedAt": finalize.decided_at,
                    "decidedBy": finalize.sender.as_str(),
                    "votes": votes.iter().map(|(n, a)| (n.to_string(), *a)).collect::<std::collections::BTreeMap<_, _>>(),
                });
                let event = StreamEvent {
                    name: name.to_owned(),
                    signal: signal.to_string(),
                    member: proposal.key.member.to_string(),
                    domain: proposal.key.domain.clone(),
                    request_id: proposal.id.to_string(),
                };
                if let Err(error) = events.publish(&event).await {
                    tracing::warn!(%error, "cannot publish the outage event to Redis");
                }
            }
        }
        Err(error) => tracing::error!(check = %proposal.key, %error, "cannot record the outage"),
    }
}
