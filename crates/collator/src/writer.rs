//! The collator's writer task: drains the [`CollatorQueue`](crate::CollatorQueue) in
//! decision order into the outage store and the consensus log, retrying the head with
//! back-off while the store fails, and reports every change of history (an outage opened,
//! closed, or recorded already over) on a channel, for alerts and events. Runs apart from
//! the bus reader, so a slow or unreachable database never stalls the reading of
//! consensus messages.
//!
//! Every step is idempotent (the store recognises a decision it has by its check and
//! time; the log by its proposal id), so a retry, a repeated finalize or a second collator
//! on the same database changes nothing twice, and only the writer whose write changed
//! the history reports it. With alerts on, each change is stored with the alert it owes
//! in one transaction (the outbox, sent by `alerts::outbox`): one alert per outage,
//! however many collators run, and none lost to a crash after the change committed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use geodns_store::{
    CloseOutcome, ClusterStore, ErrorKind, OpenOutcome, OutageStore, RecordOutcome, StoreError,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::alerts::Alert;
use crate::alerts::outbox::Outbox;
use crate::decision::Decision;
use crate::ordering as stored;
use crate::queue::CollatorQueue;

/// How often a waiting head is looked at (its back-off decides whether it is tried).
const RETRY_TICK: Duration = Duration::from_millis(250);
/// How often closes that waited too long are deleted from the key-value state.
const SWEEP: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// What a decision changed in the outage history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new outage: send the OFFLINE alert.
    Opened {
        /// Its row id.
        id: i64,
    },
    /// The outage ended: edit the alert to ONLINE.
    Closed {
        /// Its row id.
        id: i64,
        /// How long it lasted.
        duration: Duration,
        /// It was shorter than the flap threshold and removed from history.
        dropped: bool,
    },
    /// An outage first seen already over (its close came first): one alert, already
    /// ONLINE.
    Recorded {
        /// Its row id.
        id: i64,
        /// How long it lasted.
        duration: Duration,
    },
}

/// A change of history, with the decision that made it (for a [`ChangeKind::Recorded`]
/// outage, the open; `ended` is the close's time).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The decision.
    pub decision: Decision,
    /// What it changed.
    pub kind: ChangeKind,
    /// When the outage ended, for closed and recorded outages.
    pub ended: Option<DateTime<Utc>>,
}

/// The time source of the writer (the binary's clock; tests drive their own).
pub type Clock = fn() -> DateTime<Utc>;

/// The alert of a decision (its outage's id and times are the store's).
pub type Render = Arc<dyn Fn(&Decision) -> Alert + Send + Sync>;

/// Alerts the writer owes with each change: this collator's outbox, and how a decision
/// reads as an alert.
#[derive(Clone)]
pub struct Alerting {
    /// Where the owed alerts go.
    pub outbox: Outbox,
    /// How a decision reads.
    pub render: Render,
}

impl std::fmt::Debug for Alerting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerting")
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

/// Runs until `shutdown`, then reports what is still unstored. Changes go to `changes`
/// without waiting: a full channel drops (and logs) the change, never the history.
pub async fn run<S: OutageStore + ClusterStore>(
    store: S,
    queue: CollatorQueue,
    (changes, alerting): (mpsc::Sender<Change>, Option<Alerting>),
    clock: Clock,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(RETRY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut writer = Writer {
        store,
        queue,
        changes,
        alerting,
        clock,
    };
    let mut swept = clock();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            () = writer.queue.wake.notified() => {}
            _ = tick.tick() => {}
        }
        writer.drain(&shutdown).await;
        let now = (writer.clock)();
        if now - swept > SWEEP {
            swept = now;
            match stored::expire(&writer.store, now).await {
                Ok(dropped) => {
                    for check in dropped {
                        tracing::warn!(%check, "a recovery whose outage never arrived is dropped");
                    }
                }
                Err(error) => tracing::debug!(%error, "cannot sweep the waiting closes"),
            }
            if let Err(error) = writer.store.expire_tombstones(now).await {
                tracing::debug!(%error, "cannot sweep the expired flap tombstones");
            }
        }
    }
    let pending = writer.queue.report().pending;
    if pending > 0 {
        tracing::error!(
            pending,
            "collator stopped with outage decisions the database has not accepted"
        );
    }
}

struct Writer<S> {
    store: S,
    queue: CollatorQueue,
    changes: mpsc::Sender<Change>,
    alerting: Option<Alerting>,
    clock: Clock,
}

impl<S: OutageStore + ClusterStore> Writer<S> {
    /// Writes due decisions in order until the queue is empty or the head has to wait.
    async fn drain(&mut self, shutdown: &CancellationToken) {
        while !shutdown.is_cancelled() {
            let now = (self.clock)();
            let Some(decision) = self.queue.with(|q| q.due(now).cloned()) else {
                return;
            };
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                result = self.record(&decision) => result,
            };
            match result {
                Ok(()) => self.queue.with(|q| q.stored()),
                Err(error) if permanent(&error) => {
                    self.queue.with(|q| q.refused());
                    tracing::error!(check = %decision.key, %error, "the database refused an outage decision; it is not retried");
                }
                Err(error) => {
                    let now = (self.clock)();
                    let wait = self.queue.with(|q| q.failed(now, error.to_string()));
                    tracing::warn!(
                        check = %decision.key,
                        %error,
                        retry_in = ?wait,
                        pending = self.queue.report().pending,
                        "cannot record an outage yet; it stays queued"
                    );
                    return;
                }
            }
        }
    }

    /// Records one decision: the outage history, then the consensus log.
    async fn record(&mut self, decision: &Decision) -> Result<(), StoreError> {
        let change = if decision.healthy {
            self.close(decision).await?
        } else {
            self.open(decision).await?
        };
        if let Some(change) = change {
            self.queue.changed(&change.kind);
            if let Some(alerting) = &self.alerting {
                alerting.outbox.wake();
            }
            tracing::info!(check = %change.decision.key, change = ?change.kind, votes = change.decision.votes.len(), "outage history changed");
            if let Err(error) = self.changes.try_send(change) {
                tracing::error!(%error, "event channel full: a Redis event is dropped");
            }
        }
        let appended = crate::history::append(&self.store, decision, (self.clock)()).await?;
        tracing::debug!(proposal = %decision.proposal, ?appended, "consensus log");
        Ok(())
    }

    async fn close(&mut self, decision: &Decision) -> Result<Option<Change>, StoreError> {
        let change = |id, duration, dropped| Change {
            decision: decision.clone(),
            kind: ChangeKind::Closed {
                id,
                duration,
                dropped,
            },
            ended: Some(decision.decided_at),
        };
        let alert = self.owed(decision);
        let outcome = self
            .store
            .close_outage_alerting(&decision.key, decision.decided_at, alert.as_ref())
            .await?;
        Ok(match outcome {
            CloseOutcome::Closed { id, duration } => Some(change(id, duration, false)),
            CloseOutcome::Dropped { id, duration } => Some(change(id, duration, true)),
            CloseOutcome::AlreadyClosed { .. } | CloseOutcome::Stale { .. } => None,
            CloseOutcome::NothingToClose => {
                tracing::info!(check = %decision.key, "a recovery arrived before its outage; it waits for it");
                stored::hold(&self.store, decision, (self.clock)()).await?;
                None
            }
        })
    }

    async fn open(&mut self, decision: &Decision) -> Result<Option<Change>, StoreError> {
        // Held by this collator, an earlier run of it, or another one.
        let close = stored::closing(&self.store, decision, (self.clock)()).await?;
        let Some(close) = close else {
            let alert = self.owed(decision);
            let outcome = self
                .store
                .open_outage_alerting(&decision.outage(), alert.as_ref())
                .await?;
            return Ok(match outcome {
                OpenOutcome::Opened { id } => Some(Change {
                    decision: decision.clone(),
                    kind: ChangeKind::Opened { id },
                    ended: None,
                }),
                OpenOutcome::AlreadyOpen { .. }
                | OpenOutcome::AlreadyRecorded { .. }
                | OpenOutcome::Stale { .. }
                | OpenOutcome::Tombstoned { .. } => None,
            });
        };
        let end = close.decided_at;
        let alert = self.owed(decision);
        let outcome = self
            .store
            .record_closed_outage_alerting(&decision.outage(), end, alert.as_ref())
            .await?;
        let change = match outcome {
            RecordOutcome::Recorded { id, duration } => Some(Change {
                decision: decision.clone(),
                kind: ChangeKind::Recorded { id, duration },
                ended: Some(end),
            }),
            // Another collator opened it meanwhile: this close ends it.
            RecordOutcome::AlreadyRecorded { .. } => self.close(&close).await?,
            RecordOutcome::TooShort { .. } => None,
        };
        if let Err(error) = stored::done(&self.store, &decision.key).await {
            tracing::debug!(%error, "cannot forget a used waiting close; it expires");
        }
        Ok(change)
    }
}

impl<S> Writer<S> {
    /// The alert `decision` owes if it changes history, when alerts are on.
    fn owed(&self, decision: &Decision) -> Option<geodns_store::OwedAlert> {
        let alerting = self.alerting.as_ref()?;
        Some(
            alerting
                .outbox
                .owe(&(alerting.render)(decision), (self.clock)()),
        )
    }
}

/// Errors a retry cannot cure: the record itself is wrong.
fn permanent(error: &StoreError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::InvalidRecord | ErrorKind::Config | ErrorKind::Conflict
    )
}
