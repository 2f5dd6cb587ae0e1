//! The NATS bus, with the original system's connection behaviour: several servers,
//! reconnect forever 2 s apart, 10 s connect timeout, keepalive pings; user/password,
//! token, NKey, `.creds` file and TLS with a custom CA. A refused login or a failed TLS
//! handshake is an error of `connect`; an unreachable server is not (the client keeps
//! trying). Publishing while disconnected is buffered (bounded) and flushed on reconnect;
//! subscriptions are restored by the client. Nothing waits on a disconnected client for
//! long, so shutdown is prompt whatever state the connection is in.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{ConnectError, ConnectErrorKind, ConnectOptions, Event, HeaderMap};
use bytes::Bytes;
use futures_util::StreamExt;
use geodns_core::secret::redact;
use tokio_util::task::TaskTracker;

use crate::bus::{Bus, BusError, BusMessage, Outgoing, SENDER_HEADER, Subscription, deliver};
use crate::envelope::{ENVELOPE_HEADER, Gate};

/// How to reach and authenticate to NATS.
#[derive(Clone, Default)]
pub struct NatsConfig {
    /// Server URLs.
    pub urls: Vec<String>,
    /// Client name shown by the server.
    pub name: Option<String>,
    /// User and password.
    pub user_password: Option<(String, String)>,
    /// Token.
    pub token: Option<String>,
    /// NKey seed.
    pub nkey_seed: Option<String>,
    /// `.creds` file (JWT and NKey).
    pub creds_file: Option<PathBuf>,
    /// CA certificate for TLS.
    pub tls_ca_file: Option<PathBuf>,
    /// Pause between reconnect attempts (original: 2 s).
    pub reconnect_wait: Duration,
    /// Connect timeout (original: 10 s).
    pub connect_timeout: Duration,
    /// Keepalive ping interval.
    pub ping_interval: Duration,
    /// Messages buffered for publishing while disconnected.
    pub publish_buffer: usize,
    /// Prefix of reply subjects (`None`: the client's `_INBOX`).
    pub inbox_prefix: Option<String>,
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig")
            .field(
                "urls",
                &self.urls.iter().map(|u| redact(u)).collect::<Vec<_>>(),
            )
            .field("name", &self.name)
            .field("user", &self.user_password.as_ref().map(|(user, _)| user))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("creds_file", &self.creds_file)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("inbox_prefix", &self.inbox_prefix)
            .finish_non_exhaustive()
    }
}

impl NatsConfig {
    /// The original's defaults for `urls`.
    pub fn new(urls: Vec<String>) -> Self {
        NatsConfig {
            urls,
            reconnect_wait: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            publish_buffer: 8192,
            ..NatsConfig::default()
        }
    }
}

/// Connection state, for logs, status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected yet, or reconnecting.
    Disconnected,
    /// Connected.
    Connected,
}

/// A node's connection to NATS. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    node_id: Arc<str>,
    /// Messages this node's subscriptions dropped.
    dropped: Arc<std::sync::atomic::AtomicU64>,
    /// Where subscription pumps are spawned (the node's tasks).
    tasks: TaskTracker,
    /// What the server refused (its permissions), by `publish <subject>` or
    /// `subscribe <subject>`.
    refused: Refused,
    /// Seals what this node publishes and admits what it receives.
    gate: Option<Arc<Gate>>,
}

/// Operations the server refused, by operation and subject.
type Refused = Arc<std::sync::Mutex<BTreeMap<String, u64>>>;

impl NatsBus {
    /// Connects: tries each server once (up to `connect_timeout` each) and returns the
    /// connected bus. A refused login or a failed TLS handshake is an error naming the
    /// servers, returned at once. If no server is reachable yet, returns a disconnected bus
    /// whose client keeps trying in the background and buffers what is published meanwhile.
    /// Subscription pumps are spawned on `tasks` (and aborted with their subscription).
    pub async fn connect(
        node_id: &str,
        config: &NatsConfig,
        tasks: &TaskTracker,
    ) -> Result<Self, BusError> {
        if config.urls.is_empty() {
            return Err(BusError::Connect(
                "no NATS server URLs configured".to_owned(),
            ));
        }
        let servers = config.urls.join(", ");
        // The first attempt must not use `retry_on_initial_connect`. With it (as before),
        // `connect` returned a client in state Pending before it had even opened a socket
        // (the connection is made by a spawned task, so a test that went on with blocking
        // work, or looked at the state at once, saw a client that never reached the
        // server); and a refused login was only an event, logged at INFO, in a loop that
        // retried every 2 s forever, so the first flush or request hung with no error.
        // Without it, the client reports what the server answered.
        let refused = Refused::default();
        let first = options(config, &refused)
            .await?
            .connect(config.urls.join(","))
            .await;
        let client = match first {
            Ok(client) => client,
            Err(error) => match failure(&error, &servers) {
                Some(fatal) => return Err(fatal),
                None => {
                    tracing::warn!(%servers, %error, "NATS unreachable; connecting in the background");
                    options(config, &refused)
                        .await?
                        .retry_on_initial_connect()
                        .connect(config.urls.join(","))
                        .await
                        .map_err(|e| BusError::Connect(e.to_string()))?
                }
            },
        };
        Ok(NatsBus {
            client,
            node_id: node_id.into(),
            dropped: Arc::default(),
            tasks: tasks.clone(),
            refused,
            gate: None,
        })
    }

    /// This bus, sealing and admitting through `gate`.
    pub fn with_gate(mut self, gate: Arc<Gate>) -> NatsBus {
        self.gate = Some(gate);
        self
    }

    /// Waits (up to 2 s, and only while connected) until the server has processed
    /// everything this client sent before: a message to a private inbox comes back.
    async fn round_trip(&self) {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return;
        }
        let inbox = self.client.new_inbox();
        let Ok(mut probe) = self.client.subscribe(inbox.clone()).await else {
            return;
        };
        if self.client.publish(inbox, Bytes::new()).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), probe.next()).await;
        }
        let _ = probe.unsubscribe().await;
    }

    /// Current connection state.
    pub fn state(&self) -> ConnectionState {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => ConnectionState::Connected,
            _ => ConnectionState::Disconnected,
        }
    }

    /// Waits (at most 2 s) until everything published so far has been written
    /// to the server. While disconnected it fails at once: what was published stays
    /// buffered and goes out after the reconnect, and waiting for that would hold up
    /// shutdown for as long as the server is away.
    pub async fn flush(&self) -> Result<(), BusError> {
        if self.state() != ConnectionState::Connected {
            return Err(BusError::NotConnected(
                "published messages stay buffered until it reconnects".to_owned(),
            ));
        }
        match tokio::time::timeout(FLUSH_LIMIT, self.client.flush()).await {
            Ok(result) => result.map_err(|e| BusError::Publish {
                subject: "(flush)".to_owned(),
                message: e.to_string(),
            }),
            Err(_) => Err(BusError::Publish {
                subject: "(flush)".to_owned(),
                message: format!("not written within {FLUSH_LIMIT:?}"),
            }),
        }
    }

    /// Hands a command (publish, subscribe) to the client's bounded queue. While connected
    /// the connection drains the queue, so a full one is waited for, briefly; while
    /// disconnected nothing drains it, so a full queue is an error at once instead of a
    /// wait that only a reconnect would end.
    async fn queue<T, E: Display>(
        &self,
        command: impl Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        let wait = match self.state() {
            ConnectionState::Connected => QUEUE_WAIT_CONNECTED,
            ConnectionState::Disconnected => QUEUE_WAIT_DISCONNECTED,
        };
        match tokio::time::timeout(wait, command).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(match self.state() {
                ConnectionState::Connected => {
                    format!("the publish buffer stayed full for {wait:?}")
                }
                ConnectionState::Disconnected => {
                    "not connected to NATS and the publish buffer is full".to_owned()
                }
            }),
        }
    }
}

/// The longest a flush waits for the server.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);
/// How long a command waits for room in the client's queue while connected.
const QUEUE_WAIT_CONNECTED: Duration = Duration::from_secs(1);
/// ... and while disconnected (only long enough for a queue with room to take it).
const QUEUE_WAIT_DISCONNECTED: Duration = Duration::from_millis(50);

/// The error for a failed first connection attempt, or `None` when the servers were just
/// unreachable (worth retrying in the background). A refused login and a failed TLS
/// handshake are answers, not outages: retrying them forever would only hide them.
fn failure(error: &ConnectError, servers: &str) -> Option<BusError> {
    let servers = servers.to_owned();
    match error.kind() {
        ConnectErrorKind::AuthorizationViolation => Some(BusError::LoginRefused {
            servers,
            reason: error.kind().to_string(),
        }),
        ConnectErrorKind::Authentication => Some(BusError::Credentials(format!(
            "cannot sign the login for NATS at {servers}: {error}"
        ))),
        ConnectErrorKind::Tls => Some(BusError::Tls {
            servers,
            reason: error.to_string(),
        }),
        ConnectErrorKind::ServerParse => Some(BusError::Connect(format!("{servers}: {error}"))),
        _ => tls_error(error).map(|reason| BusError::Tls { servers, reason }),
    }
}

/// A TLS handshake failure arrives as an I/O error that wraps the rustls error.
fn tls_error(error: &ConnectError) -> Option<String> {
    let mut source = std::error::Error::source(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = inner.downcast_ref::<async_nats::rustls::Error>()
        {
            return Some(tls.to_string());
        }
        source = current.source();
    }
    None
}

async fn options(config: &NatsConfig, refused: &Refused) -> Result<ConnectOptions, BusError> {
    let wait = config.reconnect_wait;
    let refused = refused.clone();
    let mut options = ConnectOptions::new()
        .max_reconnects(None)
        .reconnect_delay_callback(move |attempt| if attempt <= 1 { Duration::ZERO } else { wait })
        .connection_timeout(config.connect_timeout)
        .ping_interval(config.ping_interval)
        .client_capacity(config.publish_buffer)
        .event_callback(move |event| {
            let refused = refused.clone();
            async move { log_event(&event, &refused) }
        });
    if let Some(prefix) = &config.inbox_prefix {
        options = options.custom_inbox_prefix(prefix);
    }
    if let Some(name) = &config.name {
        options = options.name(name);
    }
    if let Some((user, password)) = &config.user_password {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &config.token {
        options = options.token(token.clone());
    }
    if let Some(seed) = &config.nkey_seed {
        // The client would only find out when signing the server's nonce, and then say
        // "failed signing nonce"; say what is wrong instead.
        nkeys::KeyPair::from_seed(seed)
            .map_err(|e| BusError::Credentials(format!("the NKey seed is not valid: {e}")))?;
        options = options.nkey(seed.clone());
    }
    if let Some(path) = &config.creds_file {
        options = options.credentials_file(path).await.map_err(|e| {
            BusError::Credentials(format!("credentials file {}: {e}", path.display()))
        })?;
    }
    if let Some(path) = &config.tls_ca_file {
        options = options
            .add_root_certificates(path.clone())
            .require_tls(true);
    }
    Ok(options)
}

fn log_event(event: &Event, refused: &Refused) {
    if let Event::ServerError(async_nats::ServerError::Other(text)) = event
        && let Some(operation) = permission_violation(text)
    {
        let mut counts = refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.entry(operation.clone()).or_default();
        *count += 1;
        // Once per operation: a node whose user lacks a permission would log it each time.
        if *count == 1 {
            tracing::error!(refused = %operation, "the NATS server refused this (its user's permissions); counted in geodns_bus_refused_total");
        }
        return;
    }
    match event {
        Event::Connected => tracing::info!("connected to NATS"),
        Event::Disconnected => tracing::warn!("disconnected from NATS; reconnecting"),
        // A failed reconnect (refused login, TLS, unreachable) or an error from the server.
        Event::ClientError(_) | Event::ServerError(_) => {
            tracing::warn!(event = %event, "NATS connection problem; retrying");
        }
        other => tracing::info!(event = %other, "NATS connection event"),
    }
}

/// `publish <subject>` or `subscribe <subject>` of a server's `Permissions Violation for
/// Publish to "<subject>"` (or `for Subscription to`).
fn permission_violation(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Permissions Violation for ")?;
    let (operation, subject) = if let Some(subject) = rest.strip_prefix("Publish to ") {
        ("publish", subject)
    } else {
        ("subscribe", rest.strip_prefix("Subscription to ")?)
    };
    let subject = subject.trim().trim_matches('"');
    Some(format!("{operation} {subject}"))
}

fn headers(message: &Outgoing) -> HeaderMap {
    let mut headers = HeaderMap::new();
    // An empty sender is a client without a node id (the original's shape: no header).
    if !message.sender.is_empty() {
        headers.insert(SENDER_HEADER, message.sender.as_str());
    }
    if let Some(envelope) = &message.envelope {
        headers.insert(ENVELOPE_HEADER, envelope.as_str());
    }
    headers
}

fn header(message: &async_nats::Message, name: &str) -> Option<String> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
}

impl Bus for NatsBus {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn gate(&self) -> Option<&Arc<Gate>> {
        self.gate.as_ref()
    }

    async fn send(&self, message: Outgoing) -> Result<(), BusError> {
        let headers = headers(&message);
        let Outgoing {
            subject,
            reply,
            payload,
            ..
        } = message;
        let published = match reply {
            Some(reply) => {
                self.queue(self.client.publish_with_reply_and_headers(
                    subject.clone(),
                    reply,
                    headers,
                    payload,
                ))
                .await
            }
            None => {
                self.queue(
                    self.client
                        .publish_with_headers(subject.clone(), headers, payload),
                )
                .await
            }
        };
        published.map_err(|message| BusError::Publish { subject, message })
    }

    async fn subscribe_raw(&self, subject: &str) -> Result<Subscription, BusError> {
        let mut subscriber = self
            .queue(self.client.subscribe(subject.to_owned()))
            .await
            .map_err(|message| BusError::Subscribe {
                subject: subject.to_owned(),
                message,
            })?;
        let (sender, dropped, mut subscription) = Subscription::channel(subject);
        let total = self.dropped.clone();
        // Owned by the subscription: dropping it aborts the pump, and dropping the
        // pump's `Subscriber` unsubscribes from the server.
        let pump = self.tasks.spawn(async move {
            while let Some(message) = subscriber.next().await {
                let mut converted = BusMessage::received(
                    message.subject.as_str(),
                    message.payload.clone(),
                    message.reply.as_ref().map(|r| r.to_string()),
                );
                converted.sender = header(&message, SENDER_HEADER);
                converted.envelope = header(&message, ENVELOPE_HEADER);
                // Messages with headers carry status 200; only real statuses count.
                converted.status = message
                    .status
                    .map(|code| code.as_u16())
                    .filter(|code| !(200..300).contains(code));
                if !deliver(&sender, (&dropped, &total), converted) {
                    break;
                }
            }
            let _ = subscriber.unsubscribe().await;
        });
        subscription.pump = Some(tokio_util::task::AbortOnDropHandle::new(pump));
        // The client writes SUB in the background; make sure the server has it before the
        // caller relies on it (a request right after, from another node, must reach it).
        self.round_trip().await;
        Ok(subscription)
    }

    fn new_inbox(&self) -> String {
        self.client.new_inbox()
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn refused(&self) -> BTreeMap<String, u64> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn flush(&self) -> Result<(), BusError> {
        NatsBus::flush(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_violations_name_the_operation_and_subject() {
        assert_eq!(
            permission_violation("Permissions Violation for Publish to \"consensus.vote\"")
                .as_deref(),
            Some("publish consensus.vote")
        );
        assert_eq!(
            permission_violation("Permissions Violation for Subscription to consensus.>")
                .as_deref(),
            Some("subscribe consensus.>")
        );
        assert_eq!(permission_violation("Authorization Violation"), None);
    }
}
