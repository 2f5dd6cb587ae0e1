//! The bus seam: publish, subscribe (bounded, counting what it drops), request one reply,
//! and fan-out gather. [`crate::NatsBus`] and [`crate::MemoryBus`] implement its
//! transport (`send`, `subscribe_raw`); the provided methods seal what is published and
//! admit what is received through the node's [`Gate`], when it has one.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::envelope::{Gate, MessageId, Replay};

/// Header naming the sending node on every message geodns publishes.
pub const SENDER_HEADER: &str = "Geodns-Node";

/// Messages a subscription holds before it starts dropping new ones.
pub const SUBSCRIPTION_CAPACITY: usize = 4096;

/// A message from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusMessage {
    /// Subject it was published on.
    pub subject: String,
    /// Body.
    pub payload: Bytes,
    /// Where to send a reply, if the sender wants one.
    pub reply: Option<String>,
    /// Sending node: from [`SENDER_HEADER`] as received; once admitted by a gate, who
    /// the message is from (verified when `authenticated`; in compat mode, the id an
    /// unsigned original-shaped body names); `None` for the original's nodes.
    pub sender: Option<String>,
    /// A server status instead of a message (503: nobody subscribes to the request).
    pub status: Option<u16>,
    /// The envelope header ([`crate::envelope::ENVELOPE_HEADER`]) as received.
    pub envelope: Option<String>,
    /// The envelope's message id (a reply names it).
    pub id: Option<MessageId>,
    /// True once a gate verified the envelope's signature and the sender's right to send.
    pub authenticated: bool,
}

impl BusMessage {
    /// A message as a transport received it, before any gate.
    pub fn received(subject: &str, payload: Bytes, reply: Option<String>) -> BusMessage {
        BusMessage {
            subject: subject.to_owned(),
            payload,
            reply,
            sender: None,
            status: None,
            envelope: None,
            id: None,
            authenticated: false,
        }
    }
}

/// A message handed to a transport: the body and what goes in its headers.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Subject.
    pub subject: String,
    /// Reply subject.
    pub reply: Option<String>,
    /// Body.
    pub payload: Bytes,
    /// The sending node (the [`SENDER_HEADER`]).
    pub sender: String,
    /// The envelope header, when the node signs.
    pub envelope: Option<String>,
}

/// The server's "no responders" status on a request inbox.
pub const NO_RESPONDERS: u16 = 503;

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// Could not connect or configure.
    #[error("bus connection: {0}")]
    Connect(String),
    /// The configured credentials cannot be used (invalid NKey seed, unreadable `.creds`).
    #[error("bus: {0}")]
    Credentials(String),
    /// The NATS server refused this node's credentials.
    #[error("bus: NATS at {servers} refused the login: {reason}")]
    LoginRefused {
        /// The configured server URLs.
        servers: String,
        /// What the server said.
        reason: String,
    },
    /// The TLS handshake with the NATS server failed (e.g. its certificate is not signed
    /// by a trusted CA).
    #[error("bus: TLS to NATS at {servers} failed: {reason}")]
    Tls {
        /// The configured server URLs.
        servers: String,
        /// Why.
        reason: String,
    },
    /// Not connected, and what was asked would have to wait for the connection.
    #[error("bus: not connected to NATS; {0}")]
    NotConnected(String),
    /// Publishing failed.
    #[error("publish on {subject}: {message}")]
    Publish {
        /// Subject.
        subject: String,
        /// Reason.
        message: String,
    },
    /// Subscribing failed.
    #[error("subscribe to {subject}: {message}")]
    Subscribe {
        /// Subject.
        subject: String,
        /// Reason.
        message: String,
    },
    /// No reply in time.
    #[error("request on {subject}: no reply within {millis} ms")]
    Timeout {
        /// Subject.
        subject: String,
        /// Limit.
        millis: u128,
    },
    /// Nobody listens on the subject.
    #[error("request on {subject}: no responders")]
    NoResponders {
        /// Subject.
        subject: String,
    },
}

/// A bounded stream of messages. When the consumer falls behind, new messages are dropped
/// and counted instead of growing memory without limit.
#[derive(Debug)]
pub struct Subscription {
    pub(crate) receiver: mpsc::Receiver<BusMessage>,
    pub(crate) dropped: Arc<AtomicU64>,
    pub(crate) subject: String,
    /// The task that feeds this subscription (NATS), owned here: it ends with it.
    pub(crate) pump: Option<tokio_util::task::AbortOnDropHandle<()>>,
    /// What admits messages (none: everything is taken as received).
    gate: Option<Arc<Gate>>,
    /// On a request's inbox: set, to the request's id when it was sealed (every signed
    /// reply must name it).
    expect: Option<Option<MessageId>>,
    /// The highest message ids seen per sender.
    replay: Replay,
}

impl Subscription {
    pub(crate) fn channel(
        subject: &str,
    ) -> (mpsc::Sender<BusMessage>, Arc<AtomicU64>, Subscription) {
        Subscription::with_capacity(subject, SUBSCRIPTION_CAPACITY)
    }

    pub(crate) fn with_capacity(
        subject: &str,
        capacity: usize,
    ) -> (mpsc::Sender<BusMessage>, Arc<AtomicU64>, Subscription) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let subscription = Subscription {
            receiver,
            dropped: dropped.clone(),
            subject: subject.to_owned(),
            pump: None,
            gate: None,
            expect: None,
            replay: Replay::default(),
        };
        (sender, dropped, subscription)
    }

    /// The next message the gate admits; `None` once the bus is gone.
    pub async fn next(&mut self) -> Option<BusMessage> {
        loop {
            let mut message = self.receiver.recv().await?;
            let Some(gate) = &self.gate else {
                return Some(message);
            };
            if gate
                .admit(&mut message, self.expect, &mut self.replay, gate.now())
                .is_ok()
            {
                return Some(message);
            }
        }
    }

    /// Admits messages through `gate` from now on.
    pub fn guarded(mut self, gate: Option<Arc<Gate>>) -> Subscription {
        self.gate = gate;
        self
    }

    /// Takes only replies to request `id` (signed ones must name it).
    pub fn expect_replies_to(&mut self, id: Option<MessageId>) {
        self.expect = Some(id);
    }

    /// Messages dropped because this subscription was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The subject (pattern) subscribed to.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// Hands `message` to a subscription without waiting; counts it as dropped when full, on
/// the subscription (`dropped`) and on its bus handle (`total`).
pub(crate) fn deliver(
    sender: &mpsc::Sender<BusMessage>,
    (dropped, total): (&AtomicU64, &AtomicU64),
    message: BusMessage,
) -> bool {
    match sender.try_send(message) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(message)) => {
            total.fetch_add(1, Ordering::Relaxed);
            let count = dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if count.is_power_of_two() {
                tracing::warn!(subject = %message.subject, dropped = count, "subscriber is behind; dropping messages");
            }
            true
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// What a fan-out gather collected.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Replies from expected responders, by responder.
    pub replies: BTreeMap<String, BusMessage>,
    /// Expected responders that did not answer in time.
    pub missing: BTreeSet<String>,
    /// Replies from responders not in the expected set (kept, not discarded).
    pub others: Vec<BusMessage>,
}

/// A message bus seen from one node.
pub trait Bus: Clone + Send + Sync + 'static {
    /// This node's id, sent with every message.
    fn node_id(&self) -> &str;

    /// Transport: hands one message to the bus as it is (headers included).
    fn send(&self, message: Outgoing) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Transport: subscribes to `subject` (NATS wildcards allowed), ungated.
    fn subscribe_raw(
        &self,
        subject: &str,
    ) -> impl Future<Output = Result<Subscription, BusError>> + Send;

    /// The gate sealing and admitting this node's messages (none: unsigned, all taken).
    fn gate(&self) -> Option<&Arc<Gate>> {
        None
    }

    /// Publishes `payload` on `subject`, with `reply` as the reply subject if given and,
    /// on a reply, `re` the request's id; sealed when the node signs. Returns the
    /// message's id when sealed.
    fn publish_sealed(
        &self,
        (subject, reply): (&str, Option<&str>),
        re: Option<MessageId>,
        payload: Bytes,
    ) -> impl Future<Output = Result<Option<MessageId>, BusError>> + Send {
        async move {
            let mut outgoing = Outgoing {
                subject: subject.to_owned(),
                reply: reply.map(str::to_owned),
                payload,
                sender: self.node_id().to_owned(),
                envelope: None,
            };
            let Some(gate) = self.gate() else {
                self.send(outgoing).await?;
                return Ok(None);
            };
            // Sealed and queued one at a time: ids rise in the order messages leave.
            let _order = gate.order().lock().await;
            let sealed = gate.seal((subject, reply), re, &outgoing.payload, gate.now());
            let id = sealed.as_ref().map(|sealed| sealed.id);
            outgoing.envelope = sealed.map(|sealed| sealed.header);
            self.send(outgoing).await?;
            Ok(id)
        }
    }

    /// Publishes `payload` on `subject`, with `reply` as the reply subject if given.
    fn publish_with_reply(
        &self,
        subject: &str,
        reply: Option<&str>,
        payload: Bytes,
    ) -> impl Future<Output = Result<(), BusError>> + Send {
        async move {
            self.publish_sealed((subject, reply), None, payload)
                .await
                .map(|_| ())
        }
    }

    /// Answers `request` with `payload` on `to` (its reply subject, or a broadcast
    /// subject), naming the request's id.
    fn reply(
        &self,
        request: &BusMessage,
        to: &str,
        payload: Bytes,
    ) -> impl Future<Output = Result<(), BusError>> + Send {
        let re = request.id;
        async move {
            self.publish_sealed((to, None), re, payload)
                .await
                .map(|_| ())
        }
    }

    /// Subscribes to `subject` (NATS wildcards allowed); what arrives passes the gate.
    fn subscribe(
        &self,
        subject: &str,
    ) -> impl Future<Output = Result<Subscription, BusError>> + Send {
        async move {
            let subscription = self.subscribe_raw(subject).await?;
            Ok(subscription.guarded(self.gate().cloned()))
        }
    }

    /// A fresh, unique reply subject.
    fn new_inbox(&self) -> String;

    /// Messages this node's subscriptions dropped because their consumer was behind,
    /// since the bus was created (shared by clones).
    fn dropped(&self) -> u64;

    /// What the server refused this node (its NATS user's permissions), by
    /// `publish <subject>` or `subscribe <subject>`, since the bus was created.
    fn refused(&self) -> std::collections::BTreeMap<String, u64> {
        std::collections::BTreeMap::new()
    }

    /// Waits until everything published so far has left this process.
    fn flush(&self) -> impl Future<Output = Result<(), BusError>> + Send {
        async { Ok(()) }
    }

    /// Publishes `payload` on `subject`.
    fn publish(
        &self,
        subject: &str,
        payload: Bytes,
    ) -> impl Future<Output = Result<(), BusError>> + Send {
        self.publish_with_reply(subject, None, payload)
    }

    /// Sends `payload` and waits for the first reply.
    fn request(
        &self,
        subject: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> impl Future<Output = Result<BusMessage, BusError>> + Send {
        async move {
            let inbox = self.new_inbox();
            let mut replies = self.subscribe(&inbox).await?;
            let id = self
                .publish_sealed((subject, Some(&inbox)), None, payload)
                .await?;
            replies.expect_replies_to(id);
            match tokio::time::timeout(timeout, replies.next()).await {
                Ok(Some(reply)) if reply.status == Some(NO_RESPONDERS) => {
                    Err(BusError::NoResponders {
                        subject: subject.to_owned(),
                    })
                }
                Ok(Some(reply)) => Ok(reply),
                _ => Err(BusError::Timeout {
                    subject: subject.to_owned(),
                    millis: timeout.as_millis(),
                }),
            }
        }
    }

    /// Publishes a request and collects replies until every node in `expected` answered
    /// or `timeout` passed. A reply's responder is its sender header, else what `identify`
    /// reads from its payload (the original's replies carry `nodeID` in the body).
    fn gather<F>(
        &self,
        subject: &str,
        payload: Bytes,
        expected: &BTreeSet<String>,
        timeout: Duration,
        identify: F,
    ) -> impl Future<Output = Result<Gathered, BusError>> + Send
    where
        F: Fn(&BusMessage) -> Option<String> + Send + Sync,
    {
        async move {
            let inbox = self.new_inbox();
            let mut replies = self.subscribe(&inbox).await?;
            let id = self
                .publish_sealed((subject, Some(&inbox)), None, payload)
                .await?;
            replies.expect_replies_to(id);
            let mut gathered = Gathered {
                missing: expected.clone(),
                ..Gathered::default()
            };
            // A huge timeout means "until every expected node answered", not a panic.
            let deadline = tokio::time::Instant::now()
                .checked_add(timeout)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400 * 365));
            while !gathered.missing.is_empty() {
                let Ok(Some(reply)) = tokio::time::timeout_at(deadline, replies.next()).await
                else {
                    break;
                };
                match reply.sender.clone().or_else(|| identify(&reply)) {
                    Some(node) if gathered.missing.remove(&node) || expected.contains(&node) => {
                        gathered.replies.insert(node, reply);
                    }
                    _ => gathered.others.push(reply),
                }
            }
            Ok(gathered)
        }
    }
}
