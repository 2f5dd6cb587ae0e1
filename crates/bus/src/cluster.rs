//! The membership task: announces this node (three joins 500 ms apart, then a heartbeat),
//! keeps the [`Membership`] table from `consensus.cluster` traffic, answers status
//! requests, and says `leave` on graceful shutdown so peers drop it at once.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, BusError};
use crate::membership::{MalformedLog, Membership, MembershipConfig, NodeStatus, Reaction};
use crate::subjects;
use crate::wire::{ClusterMessage, NodeInfo, WireRole, decode, encode};

/// Shortest heartbeat the task uses.
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);
/// Longest heartbeat the task uses.
const MAX_HEARTBEAT: Duration = Duration::from_secs(3600);

/// A clock handed in by the binary, so this crate never reads one.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Shared view of the membership table. Cheap to clone.
#[derive(Clone)]
pub struct ClusterHandle {
    table: Arc<Mutex<Membership>>,
    clock: Clock,
}

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterHandle").finish_non_exhaustive()
    }
}

impl ClusterHandle {
    /// An empty table for `self_id`.
    pub fn new(self_id: &str, config: MembershipConfig, clock: Clock) -> Self {
        ClusterHandle {
            table: Arc::new(Mutex::new(Membership::new(self_id, config))),
            clock,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Membership, DateTime<Utc>) -> T) -> T {
        let now = (self.clock)();
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut table, now)
    }

    /// The configured node ids (see [`Membership::set_known`]).
    pub fn set_known(&self, known: std::collections::BTreeSet<String>) {
        self.with(|table, _| table.set_known(known));
    }

    /// Joins refused because the table was full.
    pub fn refused(&self) -> u64 {
        self.with(|table, _| table.refused())
    }

    /// Every known node and role.
    pub fn status(&self) -> Vec<NodeStatus> {
        self.with(|table, now| table.status(now))
    }

    /// Active nodes in `role`.
    pub fn count_active(&self, role: &WireRole) -> usize {
        self.with(|table, now| table.count_active(role, now))
    }

    /// Ids of active nodes in `role`.
    pub fn active_ids(&self, role: &WireRole) -> Vec<String> {
        self.with(|table, now| table.active_ids(role, now))
    }

    /// Whether every active node other than this one announced `feature`.
    pub fn all_active_have(&self, feature: &str) -> bool {
        self.with(|table, now| table.all_active_have(feature, now))
    }

    /// Any traffic from `node_id` refreshes it.
    pub fn heard(&self, node_id: &str) {
        self.with(|table, now| table.heard(node_id, now));
    }
}

/// How this node announces itself.
#[derive(Debug, Clone)]
pub struct SelfInfo {
    /// Node id.
    pub node_id: String,
    /// One wire role per role this process runs.
    pub roles: Vec<WireRole>,
    /// Public address (may be empty).
    pub public_address: String,
    /// Listen address.
    pub listen_address: String,
    /// Listen port.
    pub listen_port: String,
}

impl SelfInfo {
    fn messages(&self, kind: &str, now: DateTime<Utc>) -> Vec<ClusterMessage> {
        self.roles
            .iter()
            .map(|role| ClusterMessage {
                kind: kind.to_owned(),
                sender: NodeInfo {
                    node_id: self.node_id.clone(),
                    public_address: self.public_address.clone(),
                    listen_address: self.listen_address.clone(),
                    listen_port: self.listen_port.clone(),
                    node_role: role.clone(),
                    last_heard: now,
                },
                members: None,
                features: vec![crate::wire::FEATURE_BATCH.to_owned()],
            })
            .collect()
    }
}

async fn announce<B: Bus>(bus: &B, me: &SelfInfo, kind: &str, now: DateTime<Utc>) {
    for message in me.messages(kind, now) {
        if let Err(error) = bus
            .publish(subjects::CLUSTER, Bytes::from(encode(&message)))
            .await
        {
            tracing::warn!(%error, kind, "cannot announce membership");
        }
    }
}

/// Runs until `shutdown`, then announces `leave`.
pub async fn run_membership<B: Bus>(
    bus: B,
    me: SelfInfo,
    handle: ClusterHandle,
    shutdown: CancellationToken,
) -> Result<(), BusError> {
    let mut cluster = bus.subscribe(subjects::CLUSTER).await?;
    let mut status_requests = bus
        .subscribe(&subjects::cluster_status(&me.node_id))
        .await?;
    // The configuration bounds the heartbeat (100 ms to 1 h); clamp anyway, so a library
    // caller's zero or huge value can neither panic `interval` nor overflow `Instant`.
    let heartbeat = handle
        .with(|table, _| table.config().heartbeat)
        .clamp(MIN_HEARTBEAT, MAX_HEARTBEAT);
    let mut burst = tokio::time::interval(Duration::from_millis(500));
    let mut bursts_left = 3;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let mut purge = tokio::time::interval(Duration::from_secs(1));
    let mut malformed = MalformedLog::default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = burst.tick(), if bursts_left > 0 => {
                bursts_left -= 1;
                announce(&bus, &me, "join", (handle.clock)()).await;
            }
            _ = beat.tick() => announce(&bus, &me, "join", (handle.clock)()).await,
            _ = purge.tick() => {
                for gone in handle.with(|table, now| table.purge(now)) {
                    tracing::info!(node = %gone, "node silent too long; forgotten");
                }
            }
            Some(message) = cluster.next() => {
                let sender = message.sender.clone().unwrap_or_else(|| "(unknown)".to_owned());
                match decode::<ClusterMessage>("cluster", &message.payload) {
                    Ok(decoded) => {
                        let reaction = handle.with(|table, now| table.on_message(&decoded, now));
                        if decoded.kind == "leave" {
                            tracing::info!(node = %decoded.sender.node_id, "node left the cluster");
                        }
                        if reaction == Reaction::ReplyJoin {
                            announce(&bus, &me, "join", (handle.clock)()).await;
                        }
                    }
                    Err(error) => {
                        if malformed.record(&sender, (handle.clock)()) {
                            tracing::warn!(%sender, %error, total = malformed.total, "malformed cluster message");
                        }
                    }
                }
            }
            Some(request) = status_requests.next() => {
                if let Some(reply) = request.reply {
                    let body = serde_json::to_vec(&handle.status()).unwrap_or_default();
                    if let Err(error) = bus.publish(&reply, Bytes::from(body)).await {
                        tracing::warn!(%error, "cannot answer a status request");
                    }
                }
            }
        }
    }
    announce(&bus, &me, "leave", (handle.clock)()).await;
    // A bus that is down cannot deliver the leave; peers then drop this node when its
    // window passes. Not worth failing (or waiting) over at shutdown.
    if let Err(error) = bus.flush().await {
        tracing::warn!(%error, "the leave announcement may not reach the other nodes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBus;

    /// A heartbeat no configuration allows (zero, or the largest `Duration`) neither panics
    /// `interval` nor overflows `Instant`: the task runs and stops cleanly.
    #[tokio::test]
    async fn extreme_heartbeats_do_not_panic() {
        for heartbeat in [Duration::ZERO, Duration::MAX] {
            let config = MembershipConfig {
                heartbeat,
                active_window: Duration::MAX,
                purge_after: Duration::MAX,
            };
            let fixed = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid time");
            let handle = ClusterHandle::new("n1", config, Arc::new(move || fixed));
            let me = SelfInfo {
                node_id: "n1".to_owned(),
                roles: vec![WireRole::Monitor],
                public_address: String::new(),
                listen_address: "127.0.0.1".to_owned(),
                listen_port: "8080".to_owned(),
            };
            let bus = MemoryBus::new("n1");
            let mut observer = bus
                .join("n2")
                .subscribe(subjects::CLUSTER)
                .await
                .expect("subscribe");
            let shutdown = CancellationToken::new();
            let task = tokio::spawn(run_membership(bus, me, handle.clone(), shutdown.clone()));
            tokio::task::yield_now().await;
            shutdown.cancel();
            assert!(task.await.expect("no panic").is_ok(), "{heartbeat:?}");
            // The task still announced its leave: it ran its loop and stopped cleanly.
            let mut kinds = Vec::new();
            while let Ok(Some(message)) =
                tokio::time::timeout(Duration::from_millis(100), observer.next()).await
            {
                let decoded: ClusterMessage = decode("cluster", &message.payload).expect("wire");
                kinds.push(decoded.kind);
            }
            assert_eq!(
                kinds.last().map(String::as_str),
                Some("leave"),
                "{heartbeat:?}: {kinds:?}"
            );
        }
    }
}
