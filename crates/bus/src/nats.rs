//! The NATS bus, with the original system's connection behaviour: several servers,
//! reconnect forever 2 s apart, 10 s connect timeout, keepalive pings; user/password,
//! token, NKey, `.creds` file and TLS with a custom CA. Publishing while disconnected is
//! buffered (bounded) and flushed on reconnect; subscriptions are restored by the client.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{ConnectOptions, Event, HeaderMap};
use bytes::Bytes;
use futures_util::StreamExt;
use geodns_core::secret::redact;

use crate::bus::{Bus, BusError, BusMessage, SENDER_HEADER, Subscription, deliver};

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
}

impl NatsBus {
    /// Connects, waiting up to `connect_timeout` for the first connection. Returns even if
    /// no server is reachable yet: the client keeps trying in the background and buffers
    /// what is published meanwhile.
    pub async fn connect(node_id: &str, config: &NatsConfig) -> Result<Self, BusError> {
        if config.urls.is_empty() {
            return Err(BusError::Connect(
                "no NATS server URLs configured".to_owned(),
            ));
        }
        let options = options(config).await?;
        let client = options
            .connect(config.urls.join(","))
            .await
            .map_err(|e| BusError::Connect(e.to_string()))?;
        Ok(NatsBus {
            client,
            node_id: node_id.into(),
        })
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

    /// Waits until everything published so far has been written to the server.
    pub async fn flush(&self) -> Result<(), BusError> {
        self.client.flush().await.map_err(|e| BusError::Publish {
            subject: "(flush)".to_owned(),
            message: e.to_string(),
        })
    }
}

async fn options(config: &NatsConfig) -> Result<ConnectOptions, BusError> {
    let wait = config.reconnect_wait;
    let mut options = ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(move |attempt| if attempt <= 1 { Duration::ZERO } else { wait })
        .connection_timeout(config.connect_timeout)
        .ping_interval(config.ping_interval)
        .client_capacity(config.publish_buffer)
        .event_callback(|event| async move { log_event(&event) });
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
        options = options.nkey(seed.clone());
    }
    if let Some(path) = &config.creds_file {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| BusError::Connect(format!("credentials file {}: {e}", path.display())))?;
    }
    if let Some(path) = &config.tls_ca_file {
        options = options
            .add_root_certificates(path.clone())
            .require_tls(true);
    }
    Ok(options)
}

fn log_event(event: &Event) {
    match event {
        Event::Connected => tracing::info!("connected to NATS"),
        Event::Disconnected => tracing::warn!("disconnected from NATS; reconnecting"),
        other => tracing::info!(event = %other, "NATS connection event"),
    }
}

fn headers(node_id: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(SENDER_HEADER, node_id);
    headers
}

impl Bus for NatsBus {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    async fn publish_with_reply(
        &self,
        subject: &str,
        reply: Option<&str>,
        payload: Bytes,
    ) -> Result<(), BusError> {
        let error = |e: String| BusError::Publish {
            subject: subject.to_owned(),
            message: e,
        };
        let headers = headers(&self.node_id);
        match reply {
            Some(reply) => self
                .client
                .publish_with_reply_and_headers(
                    subject.to_owned(),
                    reply.to_owned(),
                    headers,
                    payload,
                )
                .await
                .map_err(|e| error(e.to_string())),
            None => self
                .client
                .publish_with_headers(subject.to_owned(), headers, payload)
                .await
                .map_err(|e| error(e.to_string())),
        }
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription, BusError> {
        let mut subscriber = self
            .client
            .subscribe(subject.to_owned())
            .await
            .map_err(|e| BusError::Subscribe {
                subject: subject.to_owned(),
                message: e.to_string(),
            })?;
        let (sender, dropped, subscription) = Subscription::channel(subject);
        tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                let sender_node = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(SENDER_HEADER))
                    .map(|v| v.as_str().to_owned());
                let converted = BusMessage {
                    subject: message.subject.to_string(),
                    payload: message.payload,
                    reply: message.reply.map(|r| r.to_string()),
                    sender: sender_node,
                    // Messages with headers carry status 200; only real statuses count.
                    status: message
                        .status
                        .map(|code| code.as_u16())
                        .filter(|code| !(200..300).contains(code)),
                };
                if !deliver(&sender, &dropped, converted) {
                    break;
                }
            }
            let _ = subscriber.unsubscribe().await;
        });
        // The client writes SUB in the background; make sure the server has it before the
        // caller relies on it (a request right after, from another node, must reach it).
        self.round_trip().await;
        Ok(subscription)
    }

    fn new_inbox(&self) -> String {
        self.client.new_inbox()
    }

    async fn flush(&self) -> Result<(), BusError> {
        self.client.flush().await.map_err(|e| BusError::Publish {
            subject: "(flush)".to_owned(),
            message: e.to_string(),
        })
    }
}
