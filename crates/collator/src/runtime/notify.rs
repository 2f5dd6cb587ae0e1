//! What happens after the history changed: the change goes to the Redis stream (the
//! seed's event fields). It cannot block the writer: changes arrive on a channel and Redis
//! failures are logged. (Alerts do not pass here: each is stored with its change, in the
//! outbox, and sent from there.)

use std::collections::BTreeMap;

use geodns_bus::redis::{EventPublisher, StreamEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Deliveries;
use crate::{Change, ChangeKind};

/// Publishes changes until `shutdown`. Changes still queued then are not published
/// (their history and alerts are stored); the stop logs how many.
pub(super) async fn run(
    mut changes: mpsc::Receiver<Change>,
    (mut events, deliveries): (Option<EventPublisher>, Deliveries),
    shutdown: CancellationToken,
) {
    loop {
        let change = tokio::select! {
            Some(change) = changes.recv() => change,
            () = shutdown.cancelled() => break,
            else => break,
        };
        deliver(&change, (&mut events, &deliveries)).await;
    }
    let left = changes.len();
    if left > 0 {
        tracing::warn!(
            left,
            "collator stopped before publishing these history changes"
        );
    }
}

/// One change to the stream.
async fn deliver(
    change: &Change,
    (events, deliveries): (&mut Option<EventPublisher>, &Deliveries),
) {
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
