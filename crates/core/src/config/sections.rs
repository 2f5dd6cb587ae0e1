//! The process-level sections of the node file: `[node]`, `[listen]`, `[storage]`,
//! `[bus]`, `[redis]`, `[matrix]`, `[monitor]` and `[sources]` (`[geoip]` and `[dns]` are
//! in `dns.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_text;
use crate::ids::NodeId;
use crate::model::NodeRole;
use crate::secret::{Secret, SecretUrl};

/// `[node]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// This node's id, unique in the cluster.
    pub id: NodeId,
    /// Roles this process runs; all four by default.
    #[serde(default = "all_roles")]
    pub roles: Vec<NodeRole>,
    /// Directory for caches and keys.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

fn all_roles() -> Vec<NodeRole> {
    NodeRole::ALL.to_vec()
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".")
}

/// `[listen]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSection {
    /// DNS over UDP and TCP.
    #[serde(default = "default_dns_listen")]
    pub dns: SocketAddr,
    /// HTTP API and status page.
    #[serde(default = "default_api_listen")]
    pub api: SocketAddr,
    /// PEM certificate chain: the API is served over HTTPS (with `api_tls_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_tls_cert: Option<PathBuf>,
    /// PEM private key of `api_tls_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_tls_key: Option<PathBuf>,
    /// How often the certificate files are checked for a change (the original: 30 s).
    #[serde(default = "default_api_tls_reload", with = "serde_text")]
    pub api_tls_reload: Duration,
}

fn default_api_tls_reload() -> Duration {
    Duration::from_secs(30)
}

fn default_dns_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 53))
}

fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Default for ListenSection {
    fn default() -> Self {
        ListenSection {
            dns: default_dns_listen(),
            api_tls_cert: None,
            api_tls_key: None,
            api_tls_reload: default_api_tls_reload(),
            api: default_api_listen(),
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// `sqlite://path`, `mysql://…` or `postgres://…`. Unset: the `MYSQL_*` environment
    /// variables if set, else `sqlite://{data_dir}/geodns.db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<SecretUrl>,
    /// File holding `username:password`, inserted into `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// How long start-up keeps retrying the connection.
    #[serde(default = "default_connect_retry", with = "serde_text")]
    pub connect_retry: Duration,
    /// Most connections open at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Connections kept open when idle.
    #[serde(default = "default_min_idle")]
    pub min_idle: u32,
    /// A connection is replaced after this long.
    #[serde(default = "default_max_lifetime", with = "serde_text")]
    pub max_lifetime: Duration,
    /// An idle connection above `min_idle` is closed after this long.
    #[serde(default = "default_idle_timeout", with = "serde_text")]
    pub idle_timeout: Duration,
}

/// The pool defaults of the original collator (data2), shared with `geodns-store`.
pub mod pool_defaults {
    use std::time::Duration;

    /// Most connections open at once.
    pub const MAX_CONNECTIONS: u32 = 40;
    /// Connections kept open when idle.
    pub const MIN_IDLE: u32 = 5;
    /// A connection is replaced after this long.
    pub const MAX_LIFETIME: Duration = Duration::from_secs(4 * 3600);
    /// An idle connection above the minimum closes after this long.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
    /// Longest wait for a free connection.
    pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long start-up keeps retrying the first connection.
    pub const CONNECT_RETRY: Duration = Duration::from_secs(30);
}

fn default_connect_retry() -> Duration {
    pool_defaults::CONNECT_RETRY
}

fn default_max_connections() -> u32 {
    pool_defaults::MAX_CONNECTIONS
}

fn default_min_idle() -> u32 {
    pool_defaults::MIN_IDLE
}

fn default_max_lifetime() -> Duration {
    pool_defaults::MAX_LIFETIME
}

fn default_idle_timeout() -> Duration {
    pool_defaults::IDLE_TIMEOUT
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            url: None,
            credentials_file: None,
            connect_retry: default_connect_retry(),
            max_connections: default_max_connections(),
            min_idle: default_min_idle(),
            max_lifetime: default_max_lifetime(),
            idle_timeout: default_idle_timeout(),
        }
    }
}

/// How nodes talk to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusMode {
    /// In-process bus: every role in this one process, no NATS server.
    #[default]
    Embedded,
    /// NATS servers.
    Nats,
}

/// `[bus]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusSection {
    /// `embedded` or `nats`.
    #[serde(default)]
    pub mode: BusMode,
    /// NATS server URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<SecretUrl>,
    /// NATS user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// NATS password (prefer `credentials_file` or `GEODNS_BUS__PASSWORD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// File holding `username:password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// NATS token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// NATS `.creds` file (JWT + NKey).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_creds_file: Option<PathBuf>,
    /// NKey seed (prefer `nkey_seed_file` or `GEODNS_BUS__NKEY_SEED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nkey_seed: Option<Secret>,
    /// NKey seed file; read into `nkey_seed` when the configuration is loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nkey_seed_file: Option<PathBuf>,
    /// CA certificate for TLS to the NATS servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// Prefix of this node's reply subjects (default `_INBOX`); with one NATS user per
    /// role, each role's own prefix (`_INBOX.dns`) keeps it from seeing other roles'
    /// replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox_prefix: Option<String>,
}

/// `[redis]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://` or `rediss://` URL.
    pub url: SecretUrl,
    /// File holding `username:password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// Stream name prefix; the stream is `{prefix}:{member}`.
    #[serde(default = "default_stream_prefix")]
    pub stream_prefix: String,
    /// Approximate cap on entries per stream (`XADD … MAXLEN ~`).
    #[serde(default = "default_stream_max_len")]
    pub stream_max_len: usize,
}

fn default_stream_max_len() -> usize {
    10_000
}

fn default_stream_prefix() -> String {
    "geodns-stream".to_owned()
}

/// `[matrix]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixSection {
    /// Homeserver base URL.
    pub homeserver: String,
    /// User to log in as (with a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password (prefer `password_file` or `GEODNS_MATRIX__PASSWORD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// File holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Access token instead of a login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    /// Room to post to; `[alerts] room` wins when both are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

/// `[monitor]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSection {
    /// Checks run at once.
    #[serde(default = "default_workers")]
    pub workers: u32,
    /// Pause between check starts.
    #[serde(default = "default_separation", with = "serde_text")]
    pub separation: Duration,
    /// Outages shorter than this are dropped from history when they end (0: keep all).
    #[serde(default = "default_minimum_offline", with = "serde_text")]
    pub minimum_offline: Duration,
    /// PEM file of extra certificate authorities the checks trust beside the public
    /// roots (a private CA; the tests' own CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_minimum_offline() -> Duration {
    Duration::from_secs(30)
}

fn default_workers() -> u32 {
    10
}

fn default_separation() -> Duration {
    Duration::from_millis(100)
}

impl Default for MonitorSection {
    fn default() -> Self {
        MonitorSection {
            workers: default_workers(),
            separation: default_separation(),
            minimum_offline: default_minimum_offline(),
            ca_file: None,
        }
    }
}

/// `[api]`: who may change maintenance and overrides through the API. Tokens are never
/// in the file: it holds their SHA-256 (hex), or names a file holding the token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// SHA-256 (hex) of the root token, which may change anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_token_sha256: Option<String>,
    /// File holding the root token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_token_file: Option<PathBuf>,
    /// Tokens that may act on one member only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_tokens: Vec<MemberToken>,
    /// Serve the PowerDNS remote backend (`POST /dns`).
    #[serde(default)]
    pub pdns: bool,
    /// Source networks that may call `POST /dns` without a token.
    #[serde(default = "default_pdns_allow")]
    pub pdns_allow: Vec<crate::cidr::Cidr>,
    /// SHA-256 (hex) of a token that may call `POST /dns` from anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdns_token_sha256: Option<String>,
    /// File holding that token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdns_token_file: Option<PathBuf>,
    /// Answer the backend's `list` (a whole zone, as AXFR would give).
    #[serde(default)]
    pub pdns_list: bool,
    /// HTTP connections at most (0: no cap).
    #[serde(default = "default_api_connections")]
    pub max_connections: u32,
    /// HTTP connections per client address at most (0: no cap).
    #[serde(default = "default_api_per_client")]
    pub per_client: u32,
    /// HTTP connections per client network (/24, /56) at most (0: no cap).
    #[serde(default = "default_api_per_network")]
    pub per_network: u32,
    /// How long a client may take to send a request's headers.
    #[serde(default = "default_header_timeout", with = "serde_text")]
    pub header_timeout: Duration,
    /// How long a request may take from its headers to its response (a body sent
    /// slowly included).
    #[serde(default = "default_request_timeout", with = "serde_text")]
    pub request_timeout: Duration,
    /// How long a connection may stay open, however busy (then it is closed
    /// gracefully).
    #[serde(default = "default_connection_lifetime", with = "serde_text")]
    pub connection_lifetime: Duration,
}

fn default_pdns_allow() -> Vec<crate::cidr::Cidr> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|net| net.parse().ok())
        .collect()
}

fn default_api_connections() -> u32 {
    1024
}

fn default_api_per_client() -> u32 {
    64
}

fn default_api_per_network() -> u32 {
    256
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_connection_lifetime() -> Duration {
    Duration::from_secs(600)
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            root_token_sha256: None,
            root_token_file: None,
            member_tokens: Vec::new(),
            pdns: false,
            pdns_allow: default_pdns_allow(),
            pdns_token_sha256: None,
            pdns_token_file: None,
            pdns_list: false,
            max_connections: default_api_connections(),
            per_client: default_api_per_client(),
            per_network: default_api_per_network(),
            header_timeout: default_header_timeout(),
            request_timeout: default_request_timeout(),
            connection_lifetime: default_connection_lifetime(),
        }
    }
}

/// `[[api.member_tokens]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberToken {
    /// The member it acts for.
    pub member: String,
    /// SHA-256 (hex) of the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sha256: Option<String>,
    /// File holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

/// `[collator]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollatorSection {
    /// How often usage is collected from the DNS nodes, at multiples of it since the Unix
    /// epoch (the default, an hour, is the top of every UTC hour, as the original).
    #[serde(default = "default_usage_every", with = "serde_text")]
    pub usage_every: Duration,
    /// How long a usage collection waits for the DNS nodes to answer.
    #[serde(default = "default_usage_timeout", with = "serde_text")]
    pub usage_timeout: Duration,
    /// How long consensus messages stay in the message log.
    #[serde(default = "default_message_retention", with = "serde_text")]
    pub message_retention: Duration,
    /// How often membership, runtime config and routes are written to the cluster tables.
    #[serde(default = "default_tables_interval", with = "serde_text")]
    pub tables_interval: Duration,
    /// How long a flap (an outage shorter than `[monitor] minimum_offline`, deleted when
    /// it ends) leaves a tombstone, so a late copy of its open does not store it again.
    #[serde(default = "default_flap_tombstone", with = "serde_text")]
    pub flap_tombstone: Duration,
    /// How long every consensus log entry is kept; beyond, only the latest decision of
    /// each check (`geodns cluster history`, a fresh node's replay).
    #[serde(default = "default_log_retention", with = "serde_text")]
    pub log_retention: Duration,
    /// How long a collator's alert heartbeat may be silent before another collator
    /// claims the Matrix alerts it owes and sends them.
    #[serde(default = "default_alert_takeover", with = "serde_text")]
    pub alert_takeover: Duration,
}

fn default_alert_takeover() -> Duration {
    Duration::from_secs(300)
}

fn default_usage_every() -> Duration {
    Duration::from_secs(3600)
}

fn default_usage_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_message_retention() -> Duration {
    Duration::from_secs(7 * 86_400)
}

fn default_log_retention() -> Duration {
    Duration::from_secs(400 * 86_400)
}

fn default_flap_tombstone() -> Duration {
    Duration::from_secs(7 * 86_400)
}

fn default_tables_interval() -> Duration {
    Duration::from_secs(30)
}

impl Default for CollatorSection {
    fn default() -> Self {
        CollatorSection {
            usage_every: default_usage_every(),
            usage_timeout: default_usage_timeout(),
            message_retention: default_message_retention(),
            tables_interval: default_tables_interval(),
            flap_tombstone: default_flap_tombstone(),
            log_retention: default_log_retention(),
            alert_takeover: default_alert_takeover(),
        }
    }
}

/// `[sources]`: the original system's JSON files, by path or http(s) URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesSection {
    /// `members_professional.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<String>,
    /// `services_rpc.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<String>,
    /// `geodns-static.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_records: Option<String>,
    /// `alerts.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<String>,
    /// How often the config file and sources are reloaded.
    #[serde(default = "default_reload_interval", with = "serde_text")]
    pub reload_interval: Duration,
    /// Limit for one download.
    #[serde(default = "default_fetch_timeout", with = "serde_text")]
    pub fetch_timeout: Duration,
}

fn default_reload_interval() -> Duration {
    Duration::from_secs(3600)
}

fn default_fetch_timeout() -> Duration {
    Duration::from_secs(15)
}

impl Default for SourcesSection {
    fn default() -> Self {
        SourcesSection {
            members: None,
            services: None,
            static_records: None,
            alerts: None,
            reload_interval: default_reload_interval(),
            fetch_timeout: default_fetch_timeout(),
        }
    }
}

impl SourcesSection {
    /// The configured sources as (section key, location) pairs.
    pub fn locations(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("members", &self.members),
            ("services", &self.services),
            ("static_records", &self.static_records),
            ("alerts", &self.alerts),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.as_deref().map(|v| (key, v)))
    }
}

/// `[cluster]`: membership timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Between heartbeats.
    #[serde(default = "default_heartbeat", with = "serde_text")]
    pub heartbeat: Duration,
    /// A node is active while heard within this window (it drives quorum sizes).
    #[serde(default = "default_active_window", with = "serde_text")]
    pub active_window: Duration,
    /// A silent node is forgotten after this long.
    #[serde(default = "default_purge_after", with = "serde_text")]
    pub purge_after: Duration,
    /// Address announced to peers (`PublicAddress` on the wire).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub public_address: String,
}

fn default_heartbeat() -> Duration {
    Duration::from_secs(5)
}

fn default_active_window() -> Duration {
    Duration::from_secs(20)
}

fn default_purge_after() -> Duration {
    Duration::from_secs(900)
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            heartbeat: default_heartbeat(),
            active_window: default_active_window(),
            purge_after: default_purge_after(),
            public_address: String::new(),
        }
    }
}
