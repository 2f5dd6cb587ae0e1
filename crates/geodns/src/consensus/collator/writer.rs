//! The collator's writer task: drains the [`RetryQueue`] in decision order into the
//! outage store, retrying the head with back-off while the store fails, and publishes an
//! event for every outage opened or closed. Runs apart from the bus reader, so a slow or
//! unreachable database never stalls the reading of consensus messages.

use std::time::Duration;

use geodns_bus::redis::{EventPublisher, StreamEvent};
use geodns_core::records::OutageStart;
use geodns_store::{CloseOutcome, ErrorKind, OpenOutcome, OutageStore, StoreError};
use tokio_util::sync::CancellationToken;

use super::{CollatorQueue, Decision};

/// How often a waiting head is looked at (its back-off decides whether it is tried).
const RETRY_TICK: Duration = Duration::from_millis(250);

/// Runs until `shutdown`, then reports what is still unstored.
pub(super) async fn run<S: OutageStore>(
    store: S,
    mut events: Option<EventPublisher>,
    queue: CollatorQueue,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(RETRY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            () = queue.wake.notified() => {}
            _ = tick.tick() => {}
        }
        drain(&store, events.as_mut(), &queue, &shutdown).await;
    }
    let pending = queue.report().pending;
    if pending > 0 {
        tracing::error!(
            pending,
            "collator stopped with outage decisions the database has not accepted"
        );
    }
}

/// Writes due decisions in order until the queue is empty or the head has to wait.
async fn drain<S: OutageStore>(
    store: &S,
    mut events: Option<&mut EventPublisher>,
    queue: &CollatorQueue,
    shutdown: &CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let now = crate::clock::now();
        let Some(decision) = queue.with(|q| q.due(now).cloned()) else {
            return;
        };
        let result = tokio::select! {
            _ = shutdown.cancelled() => return,
            result = write(store, &decision) => result,
        };
        match result {
            Ok((outcome, changed)) => {
                queue.with(|q| q.stored());
                tracing::info!(check = %decision.key, %outcome, votes = decision.votes.len(), "outage recorded");
                if let (true, Some(events)) = (changed, events.as_deref_mut()) {
                    publish(events, &decision).await;
                }
            }
            Err(error) if permanent(&error) => {
                queue.with(|q| q.refused());
                tracing::error!(check = %decision.key, %error, "the database refused an outage decision; it is not retried");
            }
            Err(error) => {
                let wait = queue.with(|q| q.failed(crate::clock::now(), error.to_string()));
                tracing::warn!(
                    check = %decision.key,
                    %error,
                    retry_in = ?wait,
                    pending = queue.report().pending,
                    "cannot record an outage yet; it stays queued"
                );
                return;
            }
        }
    }
}

/// Errors a retry cannot cure: the record itself is wrong.
fn permanent(error: &StoreError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::InvalidRecord | ErrorKind::Config | ErrorKind::Conflict
    )
}

/// Stores one decision; returns the outcome's description and whether it changed the
/// history (an outage opened or closed), which is what an event is published for.
async fn write<S: OutageStore>(
    store: &S,
    decision: &Decision,
) -> Result<(String, bool), StoreError> {
    if decision.healthy {
        let outcome = store
            .close_outage(&decision.key, decision.decided_at)
            .await?;
        let changed = matches!(
            outcome,
            CloseOutcome::Closed { .. } | CloseOutcome::Dropped { .. }
        );
        Ok((format!("{outcome:?}"), changed))
    } else {
        let start = OutageStart {
            key: decision.key.clone(),
            start: decision.decided_at,
            error: decision.error.clone(),
            votes: decision.votes.clone(),
            data: decision.data.clone(),
        };
        let outcome = store.open_outage(&start).await?;
        let changed = matches!(outcome, OpenOutcome::Opened { .. });
        Ok((format!("{outcome:?}"), changed))
    }
}

async fn publish(events: &mut EventPublisher, decision: &Decision) {
    let votes: std::collections::BTreeMap<String, bool> = decision
        .votes
        .iter()
        .map(|(node, agree)| (node.to_string(), *agree))
        .collect();
    let signal = serde_json::json!({
        "proposal": decision.proposal.as_str(),
        "check": decision.key.canonical(),
        "status": decision.healthy,
        "error": decision.error,
        "decidedAt": decision.decided_at,
        "decidedBy": decision.decided_by.as_str(),
        "votes": votes,
    });
    let event = StreamEvent {
        name: if decision.healthy {
            "OutageClosed"
        } else {
            "OutageOpened"
        }
        .to_owned(),
        signal: signal.to_string(),
        member: decision.key.member.to_string(),
        domain: decision.key.domain.clone(),
        request_id: decision.proposal.to_string(),
    };
    if let Err(error) = events.publish(&event).await {
        tracing::warn!(%error, "cannot publish the outage event to Redis");
    }
}
