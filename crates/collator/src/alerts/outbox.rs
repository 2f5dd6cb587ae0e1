//! The alert sender: sends the alerts this collator owes, read from the outbox in the
//! store (`outage_alerts`, written in the transaction of the outage change that owes
//! them), in outage order, OFFLINE before ONLINE, and marks each sent with its Matrix
//! event. Matrix being down never blocks outage recording: alerts wait in the store,
//! across restarts, and the head is retried with back-off.
//!
//! One message per outage, across collators: an ONLINE alert whose OFFLINE is not sent
//! yet (owed by this or another collator) waits for it, then edits it. Every collator
//! with Matrix writes a heartbeat (`alerts.alive.<node>` in the key-value state); the
//! alerts of a collator silent for `[collator] alert_takeover` are claimed by another one,
//! once (a conditional update in the store), and sent by it. The store is read when
//! something may be owed (at start, when woken, while alerts wait), not on every tick.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use geodns_store::{AlertKind, AlertStore, ClusterStore, Offline, OwedAlert, PendingAlert};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Alert;
use super::matrix::{MatrixClient, MatrixError};
use crate::writer::Clock;

/// Key-value state prefix of OFFLINE event ids kept by earlier releases.
pub const EVENT_PREFIX: &str = "matrix.event.";
/// Key-value state prefix of unsent alerts kept by earlier releases.
pub const PENDING_PREFIX: &str = "matrix.pending.";
/// Key-value state prefix of the collators' alert heartbeats (Unix milliseconds).
pub const ALIVE_PREFIX: &str = "alerts.alive.";
/// Alerts read from the store at a time.
const BATCH: u32 = 100;
/// How often the sender looks at the store when nothing woke it.
const TICK: Duration = Duration::from_secs(1);
/// The longest wait between two tries of an alert Matrix did not take.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long sent alerts of outages that are over stay in the outbox.
const SENT_KEPT: TimeDelta = TimeDelta::days(30);

/// This collator's side of the outbox: who it is, the writer's wake-up call and the
/// sender's counters. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    owner: Arc<str>,
    wake: Arc<Notify>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    pending: AtomicUsize,
    sent: AtomicU64,
    retries: AtomicU64,
    refused: AtomicU64,
    claimed: AtomicU64,
}

/// What the sender did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxReport {
    /// Alerts owed and not sent, as last read.
    pub pending: usize,
    /// Alerts sent.
    pub sent: u64,
    /// Failed sends that are retried.
    pub retries: u64,
    /// Alerts Matrix refused for good (not retried).
    pub refused: u64,
    /// Alerts claimed from collators that went silent.
    pub claimed: u64,
}

impl Outbox {
    /// The outbox of collator `node`.
    pub fn new(node: &str) -> Self {
        Outbox {
            owner: Arc::from(node),
            wake: Arc::default(),
            counts: Arc::default(),
        }
    }

    /// The alert a decision owes, to store with its change: `alert`'s fields (the store
    /// adds the outage's id and times), owed by this collator at `now`.
    pub fn owe(&self, alert: &Alert, now: DateTime<Utc>) -> OwedAlert {
        OwedAlert {
            owner: self.owner.to_string(),
            payload: serde_json::to_string(alert).unwrap_or_default(),
            at: now,
        }
    }

    /// Tells the sender a new alert is owed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Counters.
    pub fn report(&self) -> OutboxReport {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        OutboxReport {
            pending: self.counts.pending.load(Ordering::Relaxed),
            sent: load(&self.counts.sent),
            retries: load(&self.counts.retries),
            refused: load(&self.counts.refused),
            claimed: load(&self.counts.claimed),
        }
    }

    fn count(&self, counter: impl Fn(&Counts) -> &AtomicU64) {
        counter(&self.counts).fetch_add(1, Ordering::Relaxed);
    }
}

/// The alert a pending row says: its payload with the outage's id and times.
pub fn alert_of(pending: &PendingAlert) -> Result<Alert, serde_json::Error> {
    let mut alert: Alert = serde_json::from_str(&pending.payload)?;
    alert.outage = pending.outage;
    alert.started = pending.start;
    alert.ended = pending.end.map(|end| {
        let lasted = (end - pending.start).to_std().unwrap_or_default();
        (end, lasted)
    });
    Ok(alert)
}

/// Why one delivery failed.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error("the database: {0}")]
    Store(#[from] geodns_store::StoreError),
    #[error("the stored alert cannot be read: {0}")]
    Payload(#[from] serde_json::Error),
}

impl DeliveryError {
    fn transient(&self) -> bool {
        match self {
            DeliveryError::Matrix(error) => error.transient(),
            DeliveryError::Store(_) => true,
            DeliveryError::Payload(_) => false,
        }
    }
}

/// Where alerts go, and how long a silent collator keeps its alerts.
#[derive(Debug)]
pub struct Sender {
    /// The Matrix client.
    pub client: MatrixClient,
    /// The room (id or alias).
    pub room: String,
    /// The heartbeat silence after which another collator's alerts are claimed.
    pub takeover: Duration,
}

/// Sends owed alerts until `shutdown`.
pub async fn run<S: AlertStore + ClusterStore>(
    mut sender: Sender,
    store: S,
    outbox: Outbox,
    clock: Clock,
    shutdown: CancellationToken,
) {
    carry_over(&store, &outbox, clock()).await;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let beat = heartbeat_every(sender.takeover);
    let (mut beaten, mut pruned) = (None::<DateTime<Utc>>, clock());
    let mut room_id = None;
    let mut backoff = Backoff::default();
    // Read the store at start, when woken (a change owed an alert, a claim), while
    // alerts are still owed or a batch was full, and after a failure.
    let mut look = true;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = outbox.wake.notified() => look = true,
            _ = tick.tick() => {}
        }
        let now = clock();
        if beaten.is_none_or(|at| now - at >= beat) {
            beaten = Some(now);
            heartbeat(&store, &outbox, now).await;
            take_over(&store, &outbox, sender.takeover, now).await;
        }
        if now - pruned > TimeDelta::hours(1) {
            pruned = now;
            match store.prune_sent_alerts(now - SENT_KEPT).await {
                Ok(0) => {}
                Ok(pruned) => tracing::debug!(pruned, "sent alerts pruned from the outbox"),
                Err(error) => tracing::debug!(%error, "cannot prune sent alerts"),
            }
        }
        if !backoff.due(now) || !(look || outbox.report().pending > 0) {
            continue;
        }
        let delivery = (&mut sender, &mut room_id);
        match send_owed(delivery, &store, &outbox, clock, &shutdown).await {
            Ok(full) => {
                backoff.reset();
                look = full;
            }
            Err(error) => {
                look = true;
                outbox.count(|c| &c.retries);
                let wait = backoff.failed(clock());
                tracing::warn!(%error, retry_in = ?wait, waiting = outbox.report().pending, "Matrix alert not sent yet; it stays owed");
            }
        }
    }
    let waiting = outbox.report().pending;
    if waiting > 0 {
        tracing::warn!(
            waiting,
            "collator stopped with Matrix alerts not sent (they stay owed in the database)"
        );
    }
}

/// Sends what this collator owes, in order, until a transient failure (returned);
/// true when the batch read was full (more may be owed).
async fn send_owed<S: AlertStore + ClusterStore>(
    (sender, room_id): (&mut Sender, &mut Option<String>),
    store: &S,
    outbox: &Outbox,
    clock: Clock,
    shutdown: &CancellationToken,
) -> Result<bool, DeliveryError> {
    let owed = store.owed_alerts(&outbox.owner, BATCH).await?;
    let full = owed.len() == BATCH as usize;
    outbox.counts.pending.store(owed.len(), Ordering::Relaxed);
    // OFFLINE alerts sent in this pass, for their ONLINE alerts later in it.
    let mut sent_now: HashMap<i64, Option<String>> = HashMap::new();
    for mut pending in owed {
        if pending.offline == Offline::Unsent {
            match sent_now.get(&pending.outage) {
                Some(event) => pending.offline = Offline::Sent(event.clone()),
                // Its OFFLINE goes first (from the collator that owes it).
                None => continue,
            }
        }
        let result = tokio::select! {
            () = shutdown.cancelled() => return Ok(full),
            result = deliver(sender, room_id, store, &pending) => result,
        };
        let event = match result {
            Ok(event) => {
                outbox.count(|c| &c.sent);
                tracing::info!(outage = pending.outage, %event, kind = ?pending.kind, "Matrix alert sent");
                Some(event)
            }
            Err(error) if error.transient() => return Err(error),
            Err(error) => {
                outbox.count(|c| &c.refused);
                tracing::error!(%error, outage = pending.outage, kind = ?pending.kind, "Matrix refused an alert; it is not retried");
                None
            }
        };
        let key = (pending.outage, pending.kind);
        if pending.kind == AlertKind::Offline {
            sent_now.insert(pending.outage, event.clone());
        }
        if !store
            .mark_alert_sent(key, &outbox.owner, event.as_deref(), clock())
            .await?
        {
            tracing::warn!(
                outage = pending.outage,
                "an alert sent was claimed by another collator meanwhile; it may be sent twice"
            );
        }
        outbox.counts.pending.fetch_sub(1, Ordering::Relaxed);
    }
    Ok(full)
}

/// Sends one alert; returns the event id.
async fn deliver<S: ClusterStore>(
    sender: &mut Sender,
    room_id: &mut Option<String>,
    store: &S,
    pending: &PendingAlert,
) -> Result<String, DeliveryError> {
    let alert = alert_of(pending)?;
    let room = match room_id {
        Some(id) => id.clone(),
        None => {
            let id = sender.client.join(&sender.room).await?;
            tracing::info!(room = %id, "joined the Matrix alert room");
            room_id.insert(id).clone()
        }
    };
    let client = &mut sender.client;
    // Transaction ids include the outage's start, so a reused row id (a reset database)
    // is never mistaken for an earlier alert by the homeserver's de-duplication.
    let txn = |what: &str| {
        format!(
            "geodns-{what}-{}-{}",
            alert.outage,
            alert.started.timestamp_millis()
        )
    };
    if pending.kind == AlertKind::Offline {
        return Ok(client
            .send(&room, &txn("offline"), &alert.offline())
            .await?);
    }
    let original = match &pending.offline {
        Offline::Sent(event) => event.clone(),
        // Sent by an earlier release, which kept the event id in the key-value state.
        Offline::None | Offline::Unsent => legacy_event(store, pending.outage).await?,
    };
    let Some(event) = original else {
        return Ok(client.send(&room, &txn("online"), &alert.online()).await?);
    };
    match client
        .send(&room, &txn("edit"), &alert.online_edit(&event))
        .await
    {
        Err(error) if !error.transient() => {
            tracing::warn!(%error, "the ONLINE edit was refused; sending a new message");
            Ok(client.send(&room, &txn("online"), &alert.online()).await?)
        }
        other => Ok(other?),
    }
}

/// The OFFLINE event id an earlier release kept for `outage`.
async fn legacy_event<S: ClusterStore>(
    store: &S,
    outage: i64,
) -> Result<Option<String>, DeliveryError> {
    let bytes = store.state(&format!("{EVENT_PREFIX}{outage}")).await?;
    Ok(bytes.and_then(|bytes| String::from_utf8(bytes).ok()))
}

/// How often the heartbeat is written: often enough that a live collator is never
/// taken for gone.
fn heartbeat_every(takeover: Duration) -> TimeDelta {
    let every = (takeover / 5).clamp(Duration::from_secs(1), Duration::from_secs(30));
    TimeDelta::from_std(every).unwrap_or(TimeDelta::seconds(30))
}

async fn heartbeat<S: ClusterStore>(store: &S, outbox: &Outbox, now: DateTime<Utc>) {
    let key = format!("{ALIVE_PREFIX}{}", outbox.owner);
    let value = now.timestamp_millis().to_string();
    if let Err(error) = store.store_state(&key, value.as_bytes()).await {
        tracing::debug!(%error, "cannot write the alert heartbeat");
    }
}

/// Claims the alerts of collators whose heartbeat has been silent for `takeover` (or
/// that never wrote one, once their oldest alert is that old).
async fn take_over<S: AlertStore + ClusterStore>(
    store: &S,
    outbox: &Outbox,
    takeover: Duration,
    now: DateTime<Utc>,
) {
    let limit = TimeDelta::from_std(takeover).unwrap_or(TimeDelta::MAX);
    let owners = match store.alert_owners().await {
        Ok(owners) => owners,
        Err(error) => return tracing::debug!(%error, "cannot read who owes alerts"),
    };
    for owner in owners.iter().filter(|o| **o != *outbox.owner) {
        let last = match last_sign_of_life(store, owner).await {
            Ok(last) => last,
            Err(error) => return tracing::debug!(%error, "cannot read an alert heartbeat"),
        };
        if last.is_some_and(|at| now - at < limit) {
            continue;
        }
        match store.claim_alerts(owner, &outbox.owner).await {
            Ok(0) => {}
            Ok(claimed) => {
                outbox.counts.claimed.fetch_add(claimed, Ordering::Relaxed);
                tracing::warn!(from = %owner, claimed, silent_since = ?last, "claimed the alerts of a collator that went silent");
                outbox.wake();
            }
            Err(error) => tracing::debug!(%error, from = %owner, "cannot claim alerts"),
        }
    }
}

/// `owner`'s last heartbeat; without one, when its oldest owed alert was owed.
async fn last_sign_of_life<S: AlertStore + ClusterStore>(
    store: &S,
    owner: &str,
) -> Result<Option<DateTime<Utc>>, geodns_store::StoreError> {
    let beat = store.state(&format!("{ALIVE_PREFIX}{owner}")).await?;
    let beat = beat
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis);
    if beat.is_some() {
        return Ok(beat);
    }
    Ok(store
        .owed_alerts(owner, 1)
        .await?
        .first()
        .map(|a| a.created))
}

/// Moves the unsent alerts an earlier release kept in the key-value state
/// (`matrix.pending.<node>.…`) into the outbox.
async fn carry_over<S: AlertStore + ClusterStore>(store: &S, outbox: &Outbox, now: DateTime<Utc>) {
    #[derive(serde::Deserialize)]
    enum Job {
        Offline(Alert),
        Online(Alert),
    }
    let prefix = format!("{PENDING_PREFIX}{}.", outbox.owner);
    let kept = match store.states_with_prefix(&prefix).await {
        Ok(kept) => kept,
        Err(error) => {
            return tracing::warn!(%error, "cannot read the unsent alerts of an earlier release");
        }
    };
    for (key, bytes) in kept {
        let (kind, alert) = match serde_json::from_slice::<Job>(&bytes) {
            Ok(Job::Offline(alert)) => (AlertKind::Offline, alert),
            Ok(Job::Online(alert)) => (AlertKind::Online, alert),
            Err(error) => {
                tracing::warn!(%key, %error, "an unsent alert of an earlier release cannot be read; it is dropped");
                store.delete_state(&key).await.ok();
                continue;
            }
        };
        let span = (alert.started, alert.ended.map(|(end, _)| end));
        match store
            .owe_alert((alert.outage, kind), span, &outbox.owe(&alert, now))
            .await
        {
            Ok(_) => {
                store.delete_state(&key).await.ok();
            }
            Err(error) => {
                tracing::warn!(%key, %error, "cannot carry an unsent alert over; it stays")
            }
        }
    }
}

/// Exponential back-off from one second to [`MAX_BACKOFF`].
#[derive(Debug, Default)]
struct Backoff {
    wait: Duration,
    until: Option<DateTime<Utc>>,
}

impl Backoff {
    fn due(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now >= until)
    }

    fn reset(&mut self) {
        *self = Backoff::default();
    }

    fn failed(&mut self, now: DateTime<Utc>) -> Duration {
        self.wait = (self.wait * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
        self.until = Some(now + TimeDelta::from_std(self.wait).unwrap_or(TimeDelta::MAX));
        self.wait
    }
}
