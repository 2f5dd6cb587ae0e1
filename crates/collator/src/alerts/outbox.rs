//! The alert outbox: alerts wait here, in order, until Matrix takes them; the sender task
//! retries the head with back-off while the homeserver is down or rate-limits, so Matrix
//! being down never blocks outage recording, and an alert is sent once it is back.
//! Bounded: past its limit the oldest alert is dropped and counted.
//!
//! The event id of every OFFLINE message is kept in the cluster's key-value state
//! (`matrix.event.<outage id>`), so the ONLINE edit finds it after a restart of the
//! collator, or from another collator. Alerts not sent yet are kept there too, under the
//! collator that owes them (`matrix.pending.<node>.<outage>.<offline|online>`), so a
//! collator restarted while Matrix is down still sends them; another collator does not
//! (it never sends an alert it did not cause).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use geodns_store::{ClusterStore, StoreError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Alert;
use super::matrix::{MatrixClient, MatrixError};
use crate::queue::{QueueReport, RetryQueue};
use crate::writer::Clock;

/// Alerts held at most.
pub const LIMIT: usize = 10_000;
/// Key-value state prefix of OFFLINE event ids.
pub const EVENT_PREFIX: &str = "matrix.event.";
/// How often a waiting head is looked at.
const TICK: Duration = Duration::from_millis(500);

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Job {
    /// Post the OFFLINE message and remember its event id.
    Offline(Alert),
    /// Edit the OFFLINE message to ONLINE (a new message when there is none or the edit
    /// is refused).
    Online(Alert),
}

impl Job {
    fn alert(&self) -> &Alert {
        match self {
            Job::Offline(alert) | Job::Online(alert) => alert,
        }
    }

    /// Its key under the owner's prefix: sorts in outage order, OFFLINE before ONLINE.
    fn key(&self, prefix: &str) -> String {
        let what = match self {
            Job::Offline(_) => "offline",
            Job::Online(_) => "online",
        };
        format!("{prefix}{:020}.{what}", self.alert().outage)
    }
}

/// Key-value state prefix of alerts not sent yet.
pub const PENDING_PREFIX: &str = "matrix.pending.";

/// The queue shared by the writer's notifier and the sender. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    queue: Arc<Mutex<RetryQueue<Job>>>,
    wake: Arc<Notify>,
    /// Where this collator keeps its unsent alerts.
    prefix: Arc<str>,
}

impl Outbox {
    /// An empty outbox of collator `node` holding at most `limit` alerts.
    pub fn new(limit: usize, node: &str) -> Self {
        Outbox {
            queue: Arc::new(Mutex::new(RetryQueue::new(limit))),
            wake: Arc::new(Notify::new()),
            prefix: Arc::from(format!("{PENDING_PREFIX}{node}.")),
        }
    }

    /// Keeps `job` in the key-value state (logged if the store refuses: the alert is then
    /// only in memory), then queues it.
    pub async fn enqueue<S: ClusterStore>(&self, store: &S, job: Job) {
        let bytes = serde_json::to_vec(&job).unwrap_or_default();
        if let Err(error) = store.store_state(&job.key(&self.prefix), &bytes).await {
            tracing::warn!(%error, outage = job.alert().outage, "cannot keep an unsent alert in the database; it is queued in memory only");
        }
        self.push(job);
    }

    /// Queues the alerts an earlier run of this collator left unsent; returns how many.
    pub async fn restore<S: ClusterStore>(&self, store: &S) -> Result<usize, StoreError> {
        let mut restored = 0;
        for (key, bytes) in store.states_with_prefix(&self.prefix).await? {
            match serde_json::from_slice::<Job>(&bytes) {
                Ok(job) => {
                    self.push(job);
                    restored += 1;
                }
                Err(error) => {
                    tracing::warn!(%key, %error, "an unsent alert cannot be read; it is dropped");
                    store.delete_state(&key).await.ok();
                }
            }
        }
        Ok(restored)
    }

    /// Forgets the kept copy of a job that was sent or refused.
    async fn forget<S: ClusterStore>(&self, store: &S, job: &Job) {
        if let Err(error) = store.delete_state(&job.key(&self.prefix)).await {
            tracing::debug!(%error, "cannot forget a sent alert; it may be sent again after a restart");
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut RetryQueue<Job>) -> R) -> R {
        f(&mut self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Queues an alert and wakes the sender.
    pub fn push(&self, job: Job) {
        if let Some(dropped) = self.with(|q| q.push(job)) {
            tracing::error!(
                outage = dropped.alert().outage,
                "alert outbox full: the oldest alert is dropped"
            );
        }
        self.wake.notify_one();
    }

    /// Counters: waiting, sent, retries, dropped, refused.
    pub fn report(&self) -> QueueReport {
        self.with(|q| q.report())
    }
}

/// Why one delivery failed.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error("cannot read the OFFLINE event id: {0}")]
    Store(#[from] StoreError),
}

impl DeliveryError {
    fn transient(&self) -> bool {
        match self {
            DeliveryError::Matrix(error) => error.transient(),
            DeliveryError::Store(_) => true,
        }
    }
}

/// Sends queued alerts to `room` until `shutdown`.
pub async fn run<S: ClusterStore>(
    mut client: MatrixClient,
    room: String,
    store: S,
    outbox: Outbox,
    clock: Clock,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut room_id: Option<String> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = outbox.wake.notified() => {}
            _ = tick.tick() => {}
        }
        while let Some(job) = outbox.with(|q| q.due(clock()).cloned()) {
            let result = tokio::select! {
                () = shutdown.cancelled() => break,
                result = deliver(&mut client, &room, &mut room_id, &store, &job) => result,
            };
            match result {
                Ok(event) => {
                    outbox.with(|q| q.stored());
                    outbox.forget(&store, &job).await;
                    tracing::info!(outage = job.alert().outage, %event, online = matches!(job, Job::Online(_)), "Matrix alert sent");
                }
                Err(error) if error.transient() => {
                    let wait = outbox.with(|q| q.failed(clock(), error.to_string()));
                    tracing::warn!(%error, retry_in = ?wait, waiting = outbox.report().pending, "Matrix alert not sent yet; it stays queued");
                    break;
                }
                Err(error) => {
                    outbox.with(|q| q.refused());
                    outbox.forget(&store, &job).await;
                    tracing::error!(%error, outage = job.alert().outage, "Matrix refused an alert; it is not retried");
                }
            }
        }
    }
    let waiting = outbox.report().pending;
    if waiting > 0 {
        tracing::warn!(waiting, "collator stopped with Matrix alerts not sent");
    }
}

/// Sends one job; returns the event id.
async fn deliver<S: ClusterStore>(
    client: &mut MatrixClient,
    room: &str,
    room_id: &mut Option<String>,
    store: &S,
    job: &Job,
) -> Result<String, DeliveryError> {
    let room = match room_id {
        Some(id) => id.clone(),
        None => {
            let id = client.join(room).await?;
            tracing::info!(room = %id, "joined the Matrix alert room");
            room_id.insert(id).clone()
        }
    };
    let alert = job.alert();
    let key = format!("{EVENT_PREFIX}{}", alert.outage);
    // Transaction ids include the outage's start, so a reused row id (a reset database)
    // is never mistaken for an earlier alert by the homeserver's de-duplication.
    let txn = |what: &str| {
        format!(
            "geodns-{what}-{}-{}",
            alert.outage,
            alert.started.timestamp_millis()
        )
    };
    match job {
        Job::Offline(alert) => {
            let event = client
                .send(&room, &txn("offline"), &alert.offline())
                .await?;
            if let Err(error) = store.store_state(&key, event.as_bytes()).await {
                tracing::warn!(%error, outage = alert.outage, "cannot keep the OFFLINE event id; the recovery will be a new message");
            }
            Ok(event)
        }
        Job::Online(alert) => {
            let original = store
                .state(&key)
                .await?
                .and_then(|bytes| String::from_utf8(bytes).ok());
            let sent = match &original {
                Some(event) => match client
                    .send(&room, &txn("edit"), &alert.online_edit(event))
                    .await
                {
                    Err(error) if !error.transient() => {
                        tracing::warn!(%error, "the ONLINE edit was refused; sending a new message");
                        client.send(&room, &txn("online"), &alert.online()).await?
                    }
                    other => other?,
                },
                None => client.send(&room, &txn("online"), &alert.online()).await?,
            };
            if original.is_some()
                && let Err(error) = store.delete_state(&key).await
            {
                tracing::debug!(%error, "cannot forget a sent alert's event id");
            }
            Ok(sent)
        }
    }
}
