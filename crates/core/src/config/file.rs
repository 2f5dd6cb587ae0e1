//! The node configuration file as written in TOML: serde structs, one per section.
//!
//! Every struct denies unknown fields, so a typo is an error with its line and column
//! rather than a silently ignored setting. Validation into the typed [`super::Config`]
//! happens in `validate.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::{serde_text, serde_text_opt};
use crate::ids::{MemberId, NodeId};
use crate::model::{NodeRole, Resources, ServiceType};

/// A secret string (password, token) whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret itself, for handing to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The whole node configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Identity and roles of this process.
    pub node: NodeSection,
    /// Listen addresses.
    #[serde(default)]
    pub listen: ListenSection,
    /// Database.
    #[serde(default)]
    pub storage: StorageSection,
    /// Message bus between nodes.
    #[serde(default)]
    pub bus: BusSection,
    /// Redis Streams event publishing; absent means off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisSection>,
    /// Matrix alerts; absent means off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<MatrixSection>,
    /// MaxMind databases.
    #[serde(default)]
    pub geoip: GeoIpSection,
    /// DNS answering.
    #[serde(default)]
    pub dns: DnsSection,
    /// Check scheduling.
    #[serde(default)]
    pub monitor: MonitorSection,
    /// Members, services, records and alerts loaded from the original system's JSON files.
    #[serde(default)]
    pub sources: SourcesSection,
    /// Health checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckFile>,
    /// Inline members (providers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberFile>,
    /// Inline services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceFile>,
    /// Inline static DNS records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordFile>,
    /// Country overrides: hostname → country code → override.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, BTreeMap<String, OverrideFile>>,
    /// Alert routing.
    #[serde(default)]
    pub alerts: AlertsFile,
}

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
            api: default_api_listen(),
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// `sqlite://path`, `mysql://…` or `postgres://…`.
    #[serde(default = "default_storage_url")]
    pub url: String,
    /// File holding `username:password`, inserted into `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// How long start-up keeps retrying the connection.
    #[serde(default = "default_connect_retry", with = "serde_text")]
    pub connect_retry: Duration,
}

fn default_storage_url() -> String {
    "sqlite://geodns.db".to_owned()
}

fn default_connect_retry() -> Duration {
    Duration::from_secs(30)
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            url: default_storage_url(),
            credentials_file: None,
            connect_retry: default_connect_retry(),
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
    pub urls: Vec<String>,
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
    /// NKey seed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nkey_seed_file: Option<PathBuf>,
    /// CA certificate for TLS to the NATS servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
}

/// `[redis]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://` or `rediss://` URL.
    pub url: String,
    /// File holding `username:password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// Stream name prefix; the stream is `{prefix}:{member}`.
    #[serde(default = "default_stream_prefix")]
    pub stream_prefix: String,
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

/// `[geoip]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpSection {
    /// MaxMind City (or GeoLite2-City) database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<PathBuf>,
    /// MaxMind ASN database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<PathBuf>,
}

/// `[dns]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    /// Zones served besides the owners of static NS/SOA records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// TTL of geo-routed answers, seconds.
    #[serde(default = "default_answer_ttl")]
    pub answer_ttl: u32,
}

fn default_answer_ttl() -> u32 {
    30
}

impl Default for DnsSection {
    fn default() -> Self {
        DnsSection {
            zones: Vec::new(),
            answer_ttl: default_answer_ttl(),
        }
    }
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
    #[serde(default, with = "serde_text")]
    pub minimum_offline: Duration,
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
            minimum_offline: Duration::ZERO,
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

/// Probe types in `[[checks]] type = …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeType {
    /// ICMP echo.
    Ping,
    /// TLS certificate.
    Tls,
    /// Substrate WebSocket JSON-RPC.
    SubstrateRpc,
    /// Ethereum JSON-RPC.
    EthRpc,
    /// HTTP GET.
    Http,
    /// TCP connect.
    Tcp,
}

/// `[[checks]]`: common fields plus the options of its probe type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckFile {
    /// Name on the wire (`ping`, `ssl`, `wss`, `ethrpc`, ...).
    pub name: String,
    /// Probe type.
    #[serde(rename = "type")]
    pub probe: ProbeType,
    /// `site`, `domain` or `endpoint`; defaults from the probe type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<crate::model::CheckKind>,
    /// Run it at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Time between runs per target.
    #[serde(default = "default_check_interval", with = "serde_text")]
    pub interval: Duration,
    /// Limit per run.
    #[serde(default = "default_check_timeout", with = "serde_text")]
    pub timeout: Duration,
    /// Ping: echo requests per run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Ping: time between requests.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_text_opt"
    )]
    pub ping_interval: Option<Duration>,
    /// Ping: wait per request.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_text_opt"
    )]
    pub per_ping_timeout: Option<Duration>,
    /// Ping: IP TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// Ping: payload bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u16>,
    /// Ping: highest healthy loss, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_packet_loss: Option<f64>,
    /// Ping: highest healthy average round trip.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_text_opt"
    )]
    pub max_latency: Option<Duration>,
    /// Connect limit (tls, substrate_rpc, eth_rpc, http, tcp).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_text_opt"
    )]
    pub connect_timeout: Option<Duration>,
    /// Substrate: limit per RPC response.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_text_opt"
    )]
    pub read_timeout: Option<Duration>,
    /// Substrate: fewest healthy peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_peers: Option<u32>,
    /// TLS: shortest healthy remaining certificate validity.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_text_opt"
    )]
    pub min_validity: Option<Duration>,
    /// HTTP: path requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// HTTP: healthy status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// TCP: port (default: the endpoint URL's port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

fn yes() -> bool {
    true
}

fn default_check_interval() -> Duration {
    Duration::from_secs(300)
}

fn default_check_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `[[members]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFile {
    /// Name (`Stake Plus`), the member's identity on the wire.
    pub name: MemberId,
    /// Alert routing key; defaults to the name in lower case without spaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Inactive members are neither checked nor answered.
    #[serde(default = "yes")]
    pub active: bool,
    /// Membership level.
    #[serde(default)]
    pub level: u8,
    /// IPv4 service address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 service address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// Region for pricing.
    #[serde(default)]
    pub region: String,
    /// Assigned services, by name.
    #[serde(default)]
    pub services: Vec<String>,
    /// Maintenance override.
    #[serde(default)]
    pub maintenance: bool,
    /// Website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Logo URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
}

/// `[[services]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    /// Name (`Polkadot`).
    pub name: String,
    /// Endpoint protocol.
    #[serde(rename = "type")]
    pub service_type: ServiceType,
    /// Served and checked at all.
    #[serde(default = "yes")]
    pub active: bool,
    /// Minimum member level.
    #[serde(default)]
    pub level_required: u8,
    /// Expected chain name or EVM chain id.
    #[serde(default)]
    pub network: String,
    /// Expected genesis state root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_root: Option<String>,
    /// Public endpoint URLs.
    pub endpoints: Vec<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `Relay`, `System`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_type: Option<String>,
    /// Relay chain name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_network: Option<String>,
    /// Hardware per provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

/// `[[records]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordFile {
    /// Owner name.
    pub name: String,
    /// Record type (`A`, `NS`, ...).
    #[serde(rename = "type")]
    pub record_type: String,
    /// Presentation-format data; for TXT at `_acme-challenge.*` an http(s) URL is fetched.
    pub content: String,
    /// TTL, seconds.
    #[serde(default = "default_record_ttl")]
    pub ttl: u32,
}

fn default_record_ttl() -> u32 {
    3600
}

/// `[overrides."host"."CC"]`: a member, or literal addresses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideFile {
    /// Send the country to this member while it is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Literal IPv4 answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Ipv4Addr>,
    /// Literal IPv6 answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
}

/// `[alerts]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsFile {
    /// Matrix room for alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Matrix users to mention, by member name or slug.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mentions: BTreeMap<String, Vec<String>>,
}

impl ConfigFile {
    /// A file with this `[node]` section and every other section at its default.
    pub fn with_node(node: NodeSection) -> Self {
        ConfigFile {
            node,
            listen: ListenSection::default(),
            storage: StorageSection::default(),
            bus: BusSection::default(),
            redis: None,
            matrix: None,
            geoip: GeoIpSection::default(),
            dns: DnsSection::default(),
            monitor: MonitorSection::default(),
            sources: SourcesSection::default(),
            checks: Vec::new(),
            members: Vec::new(),
            services: Vec::new(),
            records: Vec::new(),
            overrides: BTreeMap::new(),
            alerts: AlertsFile::default(),
        }
    }
}

impl CheckFile {
    /// A check with default interval and timeout and no probe options set.
    pub fn new(name: &str, probe: ProbeType) -> Self {
        CheckFile {
            name: name.to_owned(),
            probe,
            kind: None,
            enabled: true,
            interval: default_check_interval(),
            timeout: default_check_timeout(),
            count: None,
            ping_interval: None,
            per_ping_timeout: None,
            ttl: None,
            size: None,
            max_packet_loss: None,
            max_latency: None,
            connect_timeout: None,
            read_timeout: None,
            min_peers: None,
            min_validity: None,
            path: None,
            expect_status: None,
            port: None,
        }
    }
}
