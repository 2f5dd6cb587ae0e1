//! The node configuration file as written in TOML: serde structs, one per section.
//!
//! Every struct denies unknown fields, so a typo is an error with its line and column
//! rather than a silently ignored setting. Validation into the typed [`super::Config`]
//! happens in `validate.rs`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::consensus::ConsensusSection;
use super::dns::{DnsSection, GeoIpSection};
use super::sections::{
    ApiSection, BusSection, ClusterSection, CollatorSection, ListenSection, MatrixSection,
    MonitorSection, NodeSection, RedisSection, SourcesSection, StorageSection,
};
use crate::duration::{serde_text, serde_text_opt};
use crate::ids::MemberId;
use crate::model::{Resources, ServiceType};
pub use crate::secret::Secret;

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
    /// Usage collection and the cluster tables.
    #[serde(default)]
    pub collator: CollatorSection,
    /// API tokens.
    #[serde(default)]
    pub api: ApiSection,
    /// Membership timing.
    #[serde(default)]
    pub cluster: ClusterSection,
    /// Consensus rules, authentication and trusted nodes.
    #[serde(default)]
    pub consensus: ConsensusSection,
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
    /// Ping: port of the TCP connect probe used where ICMP is not allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_port: Option<u16>,
    /// Substrate: most blocks a provider may be behind the others of its service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_block_lag: Option<u64>,
    /// HTTP: text the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// HTTP: JSON pointer (RFC 6901) that must exist in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_pointer: Option<String>,
    /// HTTP: the value at `json_pointer` (a string as is, anything else as JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_expect: Option<String>,
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
    /// Day the member joined (`"2023-05-01"`), shown by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined: Option<chrono::NaiveDate>,
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
    /// Project website (shown by the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Logo URL (shown by the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// One-line description (shown by the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who runs which endpoints: provider name → some of `endpoints` (shown by the API;
    /// the original's `Providers`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, Vec<String>>,
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
            collator: CollatorSection::default(),
            api: ApiSection::default(),
            cluster: ClusterSection::default(),
            consensus: ConsensusSection::default(),
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
            fallback_port: None,
            max_block_lag: None,
            body_contains: None,
            json_pointer: None,
            json_expect: None,
        }
    }
}
