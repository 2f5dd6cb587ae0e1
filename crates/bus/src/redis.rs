//! Redis Streams publishing (seed 003): configuration from the `REDIS_CLUSTER_*`
//! environment variables or a `redis://`/`rediss://` URL, cluster or single instance,
//! optional TLS, a ping on connect, and `push_to_stream` with an approximate length cap.
//! geodns publishes every finalized status change and alert as a [`StreamEvent`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use geodns_core::secret::{Secret, SecretUrl, encode_userinfo, parse_credentials};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::streams::StreamMaxlen;
use redis::{AsyncCommands, TlsMode};

/// Why Redis could not be used; the first three are the seed's error kinds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// No configuration (`ErrConfigNil`).
    #[error("redis: configuration missing: {0}")]
    ConfigMissing(String),
    /// The client could not be built (`ErrClientNil`).
    #[error("redis: cannot create client: {0}")]
    ClientMissing(String),
    /// The server did not answer PING (`ErrPingingRedisCluster`).
    #[error("redis: ping failed: {0}")]
    PingFailed(String),
    /// A command failed.
    #[error("redis: {operation}: {source}")]
    Command {
        /// What was being done.
        operation: &'static str,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
}

/// How to reach Redis.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Cluster mode (`REDIS_CLUSTER_MODE_ON`).
    pub cluster: bool,
    /// `host:port` seeds (`REDIS_CLUSTER_ADDRESSES`), or one full URL.
    pub addresses: Vec<SecretUrl>,
    /// User (`REDIS_CLUSTER_USERNAME`).
    pub username: Option<String>,
    /// Password (`REDIS_CLUSTER_PASSWORD`).
    pub password: Option<Secret>,
    /// TLS (`REDIS_CLUSTER_TLS`).
    pub tls: bool,
    /// Accept any certificate (`REDIS_CLUSTER_SKIP_VERIFY`); off unless asked for.
    pub skip_verify: bool,
    /// Connect timeout (`REDIS_CLUSTER_DIAL_TIMEOUT_IN_SECS`).
    pub dial_timeout: Duration,
    /// Response timeout (the larger of the read and write timeouts).
    pub response_timeout: Duration,
    /// Pool settings of the seed (`…_POOL_SIZE`, `…_MIN_IDLE_CONNECTIONS`, …): accepted and
    /// reported; the client multiplexes one connection per node, so no pool is needed.
    pub pool: BTreeMap<String, u64>,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("cluster", &self.cluster)
            .field("addresses", &self.addresses)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("tls", &self.tls)
            .field("skip_verify", &self.skip_verify)
            .finish_non_exhaustive()
    }
}

const POOL_VARIABLES: [&str; 5] = [
    "REDIS_CLUSTER_POOL_TIMEOUT_IN_SECS",
    "REDIS_CLUSTER_POOL_SIZE",
    "REDIS_CLUSTER_MIN_IDLE_CONNECTIONS",
    "REDIS_CLUSTER_MAX_IDLE_CONNECTIONS",
    "REDIS_CLUSTER_MAX_ACTIVE_CONNECTIONS",
];

impl RedisConfig {
    /// A single instance or cluster seed at `url` (`redis://`, `rediss://`).
    pub fn from_url(url: impl Into<SecretUrl>) -> Self {
        let url = url.into();
        RedisConfig {
            cluster: false,
            tls: url.expose().starts_with("rediss://"),
            addresses: vec![url],
            username: None,
            password: None,
            skip_verify: false,
            dial_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            pool: BTreeMap::new(),
        }
    }

    /// Reads the seed's `REDIS_CLUSTER_*` variables; `Ok(None)` when no address is set.
    pub fn from_env(vars: &BTreeMap<String, String>) -> Result<Option<Self>, RedisError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let Some(addresses) = get("REDIS_CLUSTER_ADDRESSES") else {
            return Ok(None);
        };
        let flag = |name: &str| -> Result<bool, RedisError> {
            match get(name).map(str::to_ascii_lowercase).as_deref() {
                None | Some("false" | "0" | "no") => Ok(false),
                Some("true" | "1" | "yes") => Ok(true),
                Some(other) => Err(RedisError::ConfigMissing(format!(
                    "{name}: `{other}` is not true or false"
                ))),
            }
        };
        let seconds = |name: &str, default: u64| -> Result<Duration, RedisError> {
            match get(name) {
                None => Ok(Duration::from_secs(default)),
                Some(text) => text.parse().map(Duration::from_secs).map_err(|_| {
                    RedisError::ConfigMissing(format!(
                        "{name}: `{text}` is not a number of seconds"
                    ))
                }),
            }
        };
        let (mut username, mut password) = (
            get("REDIS_CLUSTER_USERNAME").map(str::to_owned),
            get("REDIS_CLUSTER_PASSWORD").map(|p| Secret(p.to_owned())),
        );
        if let Some(path) = get("REDIS_CLUSTER_SECRET_FILE") {
            let path = Path::new(path);
            let credentials =
                parse_credentials(path, std::fs::read_to_string(path)).map_err(|e| {
                    RedisError::ConfigMissing(format!("REDIS_CLUSTER_SECRET_FILE: {e}"))
                })?;
            username = Some(credentials.user);
            password = Some(credentials.password);
        }
        let mut pool = BTreeMap::new();
        for name in POOL_VARIABLES {
            if let Some(text) = get(name) {
                let value = text.parse().map_err(|_| {
                    RedisError::ConfigMissing(format!("{name}: `{text}` is not a number"))
                })?;
                pool.insert(name.to_owned(), value);
            }
        }
        let read = seconds("REDIS_CLUSTER_READ_TIMEOUT_IN_SECS", 5)?;
        let write = seconds("REDIS_CLUSTER_WRITE_TIMEOUT_IN_SECS", 5)?;
        Ok(Some(RedisConfig {
            cluster: flag("REDIS_CLUSTER_MODE_ON")?,
            addresses: addresses
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(SecretUrl::from)
                .collect(),
            username,
            password,
            tls: flag("REDIS_CLUSTER_TLS")?,
            skip_verify: flag("REDIS_CLUSTER_SKIP_VERIFY")?,
            dial_timeout: seconds("REDIS_CLUSTER_DIAL_TIMEOUT_IN_SECS", 5)?,
            response_timeout: read.max(write),
            pool,
        }))
    }

    /// Each address as a URL with scheme, credentials and TLS applied.
    fn urls(&self) -> Vec<String> {
        self.addresses
            .iter()
            .map(|address| {
                let address = address.expose();
                let mut url = if address.contains("://") {
                    address.to_owned()
                } else {
                    format!("{}://{address}", if self.tls { "rediss" } else { "redis" })
                };
                if let (Some(password), false) = (&self.password, url.contains('@')) {
                    let user = self.username.as_deref().unwrap_or("");
                    let scheme_end = url.find("://").map_or(0, |i| i + 3);
                    url.insert_str(
                        scheme_end,
                        &format!(
                            "{}:{}@",
                            encode_userinfo(user),
                            encode_userinfo(password.expose())
                        ),
                    );
                }
                if self.tls && self.skip_verify && !url.ends_with("#insecure") {
                    url.push_str("#insecure");
                }
                url
            })
            .collect()
    }
}

/// A connected Redis: one instance or a cluster.
#[derive(Clone)]
pub enum RedisClient {
    /// Single instance, reconnecting.
    Single(ConnectionManager),
    /// Cluster.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RedisClient::Single(_) => "RedisClient::Single",
            RedisClient::Cluster(_) => "RedisClient::Cluster",
        })
    }
}

impl RedisClient {
    /// Connects and pings.
    pub async fn connect(config: &RedisConfig) -> Result<Self, RedisError> {
        let urls = config.urls();
        if urls.is_empty() {
            return Err(RedisError::ConfigMissing("no Redis address".to_owned()));
        }
        let mut client = if config.cluster {
            let mut builder = ClusterClientBuilder::new(urls)
                .connection_timeout(config.dial_timeout)
                .response_timeout(config.response_timeout);
            if config.tls {
                builder = builder.tls(if config.skip_verify {
                    TlsMode::Insecure
                } else {
                    TlsMode::Secure
                });
            }
            let client = builder
                .build()
                .map_err(|e| RedisError::ClientMissing(e.to_string()))?;
            RedisClient::Cluster(
                client
                    .get_async_connection()
                    .await
                    .map_err(|e| RedisError::PingFailed(e.to_string()))?,
            )
        } else {
            let client = redis::Client::open(urls[0].as_str())
                .map_err(|e| RedisError::ClientMissing(e.to_string()))?;
            let settings = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(config.dial_timeout))
                .set_response_timeout(Some(config.response_timeout));
            let manager = client
                .get_connection_manager_with_config(settings)
                .await
                .map_err(|e| RedisError::PingFailed(e.to_string()))?;
            RedisClient::Single(manager)
        };
        client.ping().await?;
        Ok(client)
    }

    /// PING.
    pub async fn ping(&mut self) -> Result<(), RedisError> {
        let command = redis::cmd("PING");
        let reply: Result<String, _> = match self {
            RedisClient::Single(c) => command.query_async(c).await,
            RedisClient::Cluster(c) => command.query_async(c).await,
        };
        match reply {
            Ok(text) if text == "PONG" => Ok(()),
            Ok(other) => Err(RedisError::PingFailed(format!(
                "unexpected reply `{other}`"
            ))),
            Err(e) => Err(RedisError::PingFailed(e.to_string())),
        }
    }

    /// `XADD stream MAXLEN ~ max_len * field value …`; returns the entry id.
    pub async fn push_to_stream(
        &mut self,
        stream: &str,
        fields: &[(&str, String)],
        max_len: usize,
    ) -> Result<String, RedisError> {
        let cap = StreamMaxlen::Approx(max_len);
        let result: redis::RedisResult<String> = match self {
            RedisClient::Single(c) => c.xadd_maxlen(stream, cap, "*", fields).await,
            RedisClient::Cluster(c) => c.xadd_maxlen(stream, cap, "*", fields).await,
        };
        result.map_err(|source| RedisError::Command {
            operation: "push to stream",
            source,
        })
    }
}

/// An event on a member's stream: a finalized status change or an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    /// Event type (`StatusChanged`, `OutageOpened`, `OutageClosed`, `Alert`).
    pub name: String,
    /// The event as JSON.
    pub signal: String,
    /// Member the event is about.
    pub member: String,
    /// Hostname, empty for site checks.
    pub domain: String,
    /// Unique id of this event (the proposal id for consensus decisions).
    pub request_id: String,
}

/// Publishes [`StreamEvent`]s to `{prefix}:{member}`.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    client: RedisClient,
    prefix: String,
    max_len: usize,
}

impl EventPublisher {
    /// Events for `member` go to `{prefix}:{member}`, capped at about `max_len` entries.
    pub fn new(client: RedisClient, prefix: &str, max_len: usize) -> Self {
        EventPublisher {
            client,
            prefix: prefix.to_owned(),
            max_len,
        }
    }

    /// The stream of `member`.
    pub fn stream(&self, member: &str) -> String {
        format!("{}:{member}", self.prefix)
    }

    /// Publishes one event; returns its stream entry id.
    pub async fn publish(&mut self, event: &StreamEvent) -> Result<String, RedisError> {
        let fields = [
            ("name", event.name.clone()),
            ("signal", event.signal.clone()),
            ("member", event.member.clone()),
            ("domain", event.domain.clone()),
            ("messageType", "signalMessage".to_owned()),
            ("requestId", event.request_id.clone()),
        ];
        let stream = self.stream(&event.member);
        self.client
            .push_to_stream(&stream, &fields, self.max_len)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn environment_variables() {
        assert!(RedisConfig::from_env(&vars(&[])).unwrap().is_none());
        let config = RedisConfig::from_env(&vars(&[
            ("REDIS_CLUSTER_MODE_ON", "true"),
            ("REDIS_CLUSTER_ADDRESSES", "127.0.0.1:7000, 127.0.0.1:7001"),
            ("REDIS_CLUSTER_USERNAME", "geo"),
            ("REDIS_CLUSTER_PASSWORD", "p@ss"),
            ("REDIS_CLUSTER_TLS", "true"),
            ("REDIS_CLUSTER_SKIP_VERIFY", "true"),
            ("REDIS_CLUSTER_READ_TIMEOUT_IN_SECS", "7"),
            ("REDIS_CLUSTER_POOL_SIZE", "1000"),
        ]))
        .unwrap()
        .unwrap();
        assert!(config.cluster);
        assert_eq!(config.response_timeout, Duration::from_secs(7));
        assert_eq!(config.pool["REDIS_CLUSTER_POOL_SIZE"], 1000);
        assert_eq!(
            config.urls(),
            [
                "rediss://geo:p%40ss@127.0.0.1:7000#insecure",
                "rediss://geo:p%40ss@127.0.0.1:7001#insecure"
            ]
        );
        assert!(!format!("{config:?}").contains("p@ss"));
        let error = RedisConfig::from_env(&vars(&[
            ("REDIS_CLUSTER_ADDRESSES", "h:1"),
            ("REDIS_CLUSTER_TLS", "maybe"),
        ]))
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "redis: configuration missing: REDIS_CLUSTER_TLS: `maybe` is not true or false"
        );
    }
}
