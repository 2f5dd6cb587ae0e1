//! The in-process bus: every role in one process, no NATS server. A hub shared by any
//! number of node handles delivers each message to every matching subscription.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use crate::bus::{Bus, BusError, BusMessage, Outgoing, Subscription, deliver};
use crate::envelope::Gate;
use crate::subjects::matches;

/// One subscription on the hub: pattern, queue, its dropped counter and its node's.
type Entry = (
    String,
    mpsc::Sender<BusMessage>,
    Arc<AtomicU64>,
    Arc<AtomicU64>,
);

#[derive(Debug)]
struct Hub {
    subscriptions: Mutex<Vec<Entry>>,
    inboxes: AtomicU64,
    /// Messages each subscription holds before it drops (and counts) new ones.
    capacity: usize,
}

/// A node's handle on an in-process hub. Clones share the hub and the node id.
#[derive(Debug, Clone)]
pub struct MemoryBus {
    hub: Arc<Hub>,
    node_id: Arc<str>,
    /// Messages this node's subscriptions dropped.
    dropped: Arc<AtomicU64>,
    /// Seals what this node publishes and admits what it receives.
    gate: Option<Arc<Gate>>,
}

impl MemoryBus {
    /// A new hub with a first node on it.
    pub fn new(node_id: &str) -> Self {
        MemoryBus::with_capacity(node_id, crate::bus::SUBSCRIPTION_CAPACITY)
    }

    /// A new hub whose subscriptions hold at most `capacity` messages each (at least 1),
    /// to see how a slow consumer copes with drops.
    pub fn with_capacity(node_id: &str, capacity: usize) -> Self {
        MemoryBus {
            hub: Arc::new(Hub {
                subscriptions: Mutex::default(),
                inboxes: AtomicU64::default(),
                capacity: capacity.max(1),
            }),
            node_id: node_id.into(),
            dropped: Arc::default(),
            gate: None,
        }
    }

    /// This handle, sealing and admitting through `gate`.
    pub fn with_gate(mut self, gate: Arc<Gate>) -> MemoryBus {
        self.gate = Some(gate);
        self
    }

    /// Another node on the same hub (without a gate).
    pub fn join(&self, node_id: &str) -> Self {
        MemoryBus {
            hub: self.hub.clone(),
            node_id: node_id.into(),
            dropped: Arc::default(),
            gate: None,
        }
    }
}

impl Bus for MemoryBus {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn gate(&self) -> Option<&Arc<Gate>> {
        self.gate.as_ref()
    }

    async fn send(&self, outgoing: Outgoing) -> Result<(), BusError> {
        let subject = outgoing.subject.as_str();
        let mut message = BusMessage::received(subject, outgoing.payload.clone(), outgoing.reply);
        message.sender = Some(outgoing.sender);
        message.envelope = outgoing.envelope;
        let mut subscriptions = self
            .hub
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        subscriptions.retain(|(pattern, sender, dropped, total)| {
            !matches(pattern, subject) || deliver(sender, (dropped, total), message.clone())
        });
        Ok(())
    }

    async fn subscribe_raw(&self, subject: &str) -> Result<Subscription, BusError> {
        let (sender, dropped, subscription) =
            Subscription::with_capacity(subject, self.hub.capacity);
        self.hub
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((subject.to_owned(), sender, dropped, self.dropped.clone()));
        Ok(subscription)
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn new_inbox(&self) -> String {
        format!(
            "_INBOX.{}.{}",
            self.node_id,
            self.hub.inboxes.fetch_add(1, Ordering::Relaxed)
        )
    }
}
