//! What happens after the history changed: the change goes to the Redis stream (the
//! seed's event fields) and, when Matrix is configured, becomes an alert in the outbox.
//! Neither can block the writer: changes arrive on a channel, Redis failures are logged,
//! and Matrix has its own queue and retries.

use std::collections::BTreeMap;

use geodns_bus::redis::{EventPublisher, StreamEvent};
use geodns_node::LiveConfig;
use geodns_store::SqlStore;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Deliveries;
use crate::alerts::Alert;
use crate::alerts::outbox::{Job, Outbox};
use crate::{Change, ChangeKind};

/// Delivers changes until `shutdown`. Changes still queued then are not alerted (their
/// history is stored; only the message is lost); the stop logs how many.
pub(super) async fn run(
    store: SqlStore,
    mut changes: mpsc::Receiver<Change>,
    (mut events, deliveries): (Option<EventPublisher>, Deliveries),
    outbox: Option<Outbox>,
    live: LiveConfig,
    shutdown: CancellationToken,
) {
    loop {
        let change = tokio::select! {
            Some(change) = changes.recv() => change,
            () = shutdown.cancelled() => break,
            else => break,
        };
        let sinks = (&mut events, &deliveries);
        deliver(&store, &change, sinks, outbox.as_ref(), &live).await;
    }
    let left = changes.len();
    if left > 0 {
        tracing::warn!(
            left,
            "collator stopped before alerting these history changes"
        );
    }
}

/// One change to the outbox and the stream.
async fn deliver(
    store: &SqlStore,
    change: &Change,
    (events, deliveries): (&mut Option<EventPublisher>, &Deliveries),
    outbox: Option<&Outbox>,
    live: &LiveConfig,
) {
    if let Some(outbox) = outbox {
        let config = live.current();
        let alert = Alert::of(change, &config.catalog.alerts, &config.catalog.members);
        let job = match change.kind {
            ChangeKind::Opened { .. } => Job::Offline(alert),
            ChangeKind::Closed { .. } | ChangeKind::Recorded { .. } => Job::Online(alert),
        };
        outbox.enqueue(store, job).await;
    }
    if let Some(events) = events.as_mut() {
        // An outage first seen already over opens and closes in the stream, so its
        // readers see the pair they always see.
        if let ChangeKind::Recorded { id, .. } = change.kind {
            let opened = Change {
                kind: ChangeKind::Opened { id },
                ended: None,
                ..change.clone()
            };
            deliveries.redis(publish(events, &opened).await);
        }
        deliveries.redis(publish(events, change).await);
    }
}

/// The seed's stream event for a change: `OutageOpened` or `OutageClosed` with the
/// decision as its signal.
pub(super) fn event(change: &Change) -> StreamEvent {
    let decision = &change.decision;
    let votes: BTreeMap<String, bool> = decision
        .votes
        .iter()
        .map(|(node, agree)| (node.to_string(), *agree))
        .collect();
    let (outage, duration) = match change.kind {
        ChangeKind::Opened { id } => (id, None),
        ChangeKind::Closed { id, duration, .. } | ChangeKind::Recorded { id, duration } => {
            (id, Some(duration.as_secs()))
        }
    };
    let signal = serde_json::json!({
        "proposal": decision.proposal.as_str(),
        "outage": outage,
        "check": decision.key.canonical(),
        "status": !matches!(change.kind, ChangeKind::Opened { .. }),
        "error": decision.error,
        "decidedAt": decision.decided_at,
        "decidedBy": decision.decided_by.as_str(),
        "endedAt": change.ended,
        "durationSeconds": duration,
        "votes": votes,
    });
    StreamEvent {
        name: match change.kind {
            ChangeKind::Opened { .. } => "OutageOpened",
            ChangeKind::Closed { .. } | ChangeKind::Recorded { .. } => "OutageClosed",
        }
        .to_owned(),
        signal: signal.to_string(),
        member: decision.key.member.to_string(),
        domain: decision.key.domain.clone(),
        request_id: decision.proposal.to_string(),
    }
}

/// Publishes one change; false when Redis refused it (logged).
async fn publish(events: &mut EventPublisher, change: &Change) -> bool {
    match events.publish(&event(change)).await {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(%error, "cannot publish the outage event to Redis");
            false
        }
    }
}
