//! The domain model: providers (members), services, health checks, static DNS records,
//! country overrides and alert routing, as validated from configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::geo::GeoPoint;
use crate::ids::{CountryCode, Fqdn, MemberId, ServiceId};

/// A provider that runs service endpoints, e.g. one operator of the collective.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Identity and display name (`Stake Plus`).
    pub id: MemberId,
    /// Key used in alert routing files (`stakeplus`); defaults to [`MemberId::slug`].
    pub slug: String,
    /// Inactive members are neither checked nor answered.
    pub active: bool,
    /// Membership level; a service can require a minimum.
    pub level: u8,
    /// Address that serves IPv4 clients, if any.
    pub ipv4: Option<Ipv4Addr>,
    /// Address that serves IPv6 clients, if any.
    pub ipv6: Option<Ipv6Addr>,
    /// Where the provider's servers are, for nearest-provider routing.
    pub location: GeoPoint,
    /// Free-text region used for pricing (`Europe`).
    pub region: String,
    /// Services the member is assigned to.
    pub services: BTreeSet<ServiceId>,
    /// Maintenance override: excluded from checks and answers while set.
    pub maintenance: bool,
    /// Public website, shown by the API.
    pub website: Option<String>,
    /// Logo URL, shown by the API.
    pub logo: Option<String>,
    /// Day the member joined, shown by the API.
    pub joined: Option<chrono::NaiveDate>,
}

/// What protocol a service's endpoints speak; decides which checks apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceType {
    /// Substrate JSON-RPC over WebSocket (the original's `RPC`).
    SubstrateRpc,
    /// Ethereum JSON-RPC (the original's `ETHRPC`).
    EthRpc,
    /// Plain HTTP(S).
    Http,
}

impl ServiceType {
    /// The original's name (`RPC`, `ETHRPC`, `HTTP`), as its services file and API
    /// write it.
    pub fn ibp_name(self) -> &'static str {
        match self {
            ServiceType::SubstrateRpc => "RPC",
            ServiceType::EthRpc => "ETHRPC",
            ServiceType::Http => "HTTP",
        }
    }
}

/// Hardware a service needs per provider; used for cost accounting.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Number of nodes.
    #[serde(default)]
    pub nodes: u32,
    /// CPU cores per node.
    #[serde(default)]
    pub cores: f64,
    /// Memory per node, GB.
    #[serde(default)]
    pub memory: f64,
    /// Disk per node, GB.
    #[serde(default)]
    pub disk: f64,
    /// Bandwidth per node, GB per month.
    #[serde(default)]
    pub bandwidth: f64,
}

/// A service that members provide under one or more public hostnames.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// Identity (`Polkadot`).
    pub id: ServiceId,
    /// Protocol of the endpoints.
    pub service_type: ServiceType,
    /// Inactive services are not served or checked.
    pub active: bool,
    /// Minimum member level to serve it.
    pub level_required: u8,
    /// Chain name (`system_chain`) or EVM chain id the endpoints must report.
    pub network: String,
    /// Genesis state root the endpoints must report, if checked.
    pub state_root: Option<String>,
    /// Public endpoint URLs (`wss://polkadot.dotters.network`).
    pub endpoints: Vec<Url>,
    /// Distinct host names of `endpoints`; each is a GeoDNS-served name.
    pub hostnames: BTreeSet<Fqdn>,
    /// Human-readable name.
    pub display_name: Option<String>,
    /// `Relay`, `System`, `Community`, ...
    pub network_type: Option<String>,
    /// Relay chain of a parachain.
    pub relay_network: Option<String>,
    /// Hardware per provider.
    pub resources: Resources,
    /// Project website.
    pub website: Option<String>,
    /// Logo URL.
    pub logo: Option<String>,
    /// One-line description.
    pub description: Option<String>,
    /// Provider name → the endpoints it runs (informational).
    pub providers: BTreeMap<String, Vec<String>>,
}

/// What a check looks at: the provider as a whole, one hostname, or one endpoint URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The member's addresses (e.g. ping).
    Site,
    /// One hostname of a service on the member (e.g. TLS certificate).
    Domain,
    /// One endpoint URL of a service on the member (e.g. WebSocket RPC).
    Endpoint,
}

impl CheckKind {
    /// Reads the original system's wire value (`site`, `domain`, `endpoint`).
    pub fn parse(text: &str) -> Option<CheckKind> {
        match text {
            "site" => Some(CheckKind::Site),
            "domain" => Some(CheckKind::Domain),
            "endpoint" => Some(CheckKind::Endpoint),
            _ => None,
        }
    }

    /// The original system's wire value (`site`, `domain`, `endpoint`).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Site => "site",
            CheckKind::Domain => "domain",
            CheckKind::Endpoint => "endpoint",
        }
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a check probes, with the options of that probe.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// ICMP echo.
    Ping(PingOptions),
    /// TLS handshake and certificate expiry.
    Tls(TlsOptions),
    /// Substrate JSON-RPC over WebSocket.
    SubstrateRpc(SubstrateRpcOptions),
    /// Ethereum JSON-RPC over HTTP.
    EthRpc(EthRpcOptions),
    /// HTTP(S) GET with an expected status.
    Http(HttpOptions),
    /// TCP connect.
    Tcp(TcpOptions),
}

impl Probe {
    /// The protocol name used in configuration (`ping`, `tls`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Probe::Ping(_) => "ping",
            Probe::Tls(_) => "tls",
            Probe::SubstrateRpc(_) => "substrate_rpc",
            Probe::EthRpc(_) => "eth_rpc",
            Probe::Http(_) => "http",
            Probe::Tcp(_) => "tcp",
        }
    }

    /// Which service types this probe applies to (`None`: site checks, all members).
    pub fn service_types(&self) -> Option<&'static [ServiceType]> {
        match self {
            Probe::Ping(_) => None,
            Probe::Tls(_) | Probe::Tcp(_) => Some(&[
                ServiceType::SubstrateRpc,
                ServiceType::EthRpc,
                ServiceType::Http,
            ]),
            Probe::SubstrateRpc(_) => Some(&[ServiceType::SubstrateRpc]),
            Probe::EthRpc(_) => Some(&[ServiceType::EthRpc]),
            Probe::Http(_) => Some(&[ServiceType::Http]),
        }
    }
}

/// Options of an ICMP probe (defaults from the original's `ping` check).
#[derive(Debug, Clone, PartialEq)]
pub struct PingOptions {
    /// Echo requests per run.
    pub count: u32,
    /// Time between requests.
    pub interval: Duration,
    /// Wait per request.
    pub per_ping_timeout: Duration,
    /// IP time to live.
    pub ttl: u8,
    /// Payload bytes.
    pub size: u16,
    /// Highest loss, percent, still counted healthy.
    pub max_packet_loss: f64,
    /// Highest average round trip still counted healthy.
    pub max_latency: Duration,
    /// Port of the TCP connect probe used where ICMP is not allowed.
    pub fallback_port: u16,
}

/// Options of a TLS certificate probe.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsOptions {
    /// TCP connect and handshake limit.
    pub connect_timeout: Duration,
    /// Fail when the certificate expires sooner than this.
    pub min_validity: Duration,
}

/// Options of a Substrate WebSocket JSON-RPC probe.
#[derive(Debug, Clone, PartialEq)]
pub struct SubstrateRpcOptions {
    /// WebSocket handshake limit.
    pub connect_timeout: Duration,
    /// Limit per RPC response.
    pub read_timeout: Duration,
    /// Fewest peers a healthy node reports.
    pub min_peers: u32,
    /// Most blocks a provider may be behind the best block another provider of the same
    /// service showed earlier.
    pub max_block_lag: u64,
}

/// Options of an Ethereum JSON-RPC probe.
#[derive(Debug, Clone, PartialEq)]
pub struct EthRpcOptions {
    /// Connect and request limit.
    pub connect_timeout: Duration,
}

/// Options of an HTTP probe.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// Connect and request limit.
    pub connect_timeout: Duration,
    /// Path requested on each endpoint's host (`/health`).
    pub path: String,
    /// Status code counted healthy.
    pub expect_status: u16,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// JSON pointer (RFC 6901) that must exist in the body, and the value expected there
    /// (a string as is, anything else as JSON text).
    pub json_pointer: Option<(String, Option<String>)>,
}

/// Options of a TCP connect probe.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpOptions {
    /// Connect limit.
    pub connect_timeout: Duration,
    /// Port to connect to; `None` means the endpoint URL's port.
    pub port: Option<u16>,
}

/// A configured health check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Name on the wire (`CheckName`): `ping`, `ssl`, `wss`, ...
    pub name: String,
    /// What it looks at.
    pub kind: CheckKind,
    /// Disabled checks stay in the config but never run.
    pub enabled: bool,
    /// Time between runs per target.
    pub interval: Duration,
    /// Limit for one run.
    pub timeout: Duration,
    /// How it probes.
    pub probe: Probe,
}

/// Data of a static DNS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Canonical name.
    Cname(Fqdn),
    /// Name server.
    Ns(Fqdn),
    /// Mail exchanger.
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// Mail server name.
        exchange: Fqdn,
    },
    /// Text.
    Txt(String),
    /// A TXT record whose text is fetched from this URL (the original's ACME helper for
    /// `_acme-challenge` names); fetched in the background, never on the query path.
    TxtFromUrl(Url),
    /// Certification authority authorisation (RFC 8659).
    Caa {
        /// Flags; 128 is "issuer critical".
        flags: u8,
        /// Property tag (`issue`, `issuewild`, `iodef`), lower-case letters and digits.
        tag: String,
        /// Property value.
        value: String,
    },
    /// Service location (RFC 2782).
    Srv {
        /// Lower is tried first.
        priority: u16,
        /// Share among equal priorities.
        weight: u16,
        /// Port.
        port: u16,
        /// Target host.
        target: Fqdn,
    },
    /// Start of authority.
    Soa {
        /// Primary name server.
        mname: Fqdn,
        /// Responsible mailbox, as a name.
        rname: Fqdn,
        /// Refresh interval, seconds.
        refresh: u32,
        /// Retry interval, seconds.
        retry: u32,
        /// Expiry, seconds.
        expire: u32,
        /// Negative-caching TTL, seconds.
        minimum: u32,
    },
}

/// Record types accepted in static records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Canonical name.
    Cname,
    /// Name server.
    Ns,
    /// Mail exchanger.
    Mx,
    /// Text.
    Txt,
    /// Certification authority authorisation.
    Caa,
    /// Service location.
    Srv,
    /// Start of authority.
    Soa,
}

impl RecordType {
    /// Upper-case mnemonic.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Ns => "NS",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
            RecordType::Caa => "CAA",
            RecordType::Srv => "SRV",
            RecordType::Soa => "SOA",
        }
    }
}

impl FromStr for RecordType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let all = [
            RecordType::A,
            RecordType::Aaaa,
            RecordType::Cname,
            RecordType::Ns,
            RecordType::Mx,
            RecordType::Txt,
            RecordType::Caa,
            RecordType::Srv,
            RecordType::Soa,
        ];
        all.into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unsupported record type `{s}` (supported: A, AAAA, CNAME, NS, MX, TXT, CAA, SRV, SOA)"
                )
            })
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A static DNS record served as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRecord {
    /// Owner name.
    pub name: Fqdn,
    /// Time to live, seconds.
    pub ttl: u32,
    /// Type and data.
    pub data: RecordData,
}

impl StaticRecord {
    /// The record's type.
    pub fn record_type(&self) -> RecordType {
        match self.data {
            RecordData::A(_) => RecordType::A,
            RecordData::Aaaa(_) => RecordType::Aaaa,
            RecordData::Cname(_) => RecordType::Cname,
            RecordData::Ns(_) => RecordType::Ns,
            RecordData::Mx { .. } => RecordType::Mx,
            RecordData::Txt(_) | RecordData::TxtFromUrl(_) => RecordType::Txt,
            RecordData::Caa { .. } => RecordType::Caa,
            RecordData::Srv { .. } => RecordType::Srv,
            RecordData::Soa { .. } => RecordType::Soa,
        }
    }
}

/// Where clients of one country are sent for one hostname, ahead of geo routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountryOverride {
    /// Send them to this member while it is healthy; otherwise route by distance.
    Member(MemberId),
    /// Answer these literal addresses (either may be absent).
    Addresses {
        /// Answer for A queries.
        ipv4: Option<Ipv4Addr>,
        /// Answer for AAAA queries.
        ipv6: Option<Ipv6Addr>,
    },
}

/// Country overrides: hostname → country → override.
pub type CountryOverrides = BTreeMap<Fqdn, BTreeMap<CountryCode, CountryOverride>>;

/// Where alerts go and whom they mention.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertRouting {
    /// Matrix room id or alias for alerts (`!room:matrix.org`).
    pub room: Option<String>,
    /// Matrix user ids to mention per member.
    pub mentions: BTreeMap<MemberId, Vec<String>>,
}

/// The role a node plays in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// Runs health checks and votes.
    Monitor,
    /// Answers DNS queries and counts usage.
    Dns,
    /// Stores outages and usage, sends alerts.
    Collator,
    /// Serves the HTTP API and status page.
    Api,
}

impl NodeRole {
    /// Every role, in a fixed order.
    pub const ALL: [NodeRole; 4] = [
        NodeRole::Monitor,
        NodeRole::Dns,
        NodeRole::Collator,
        NodeRole::Api,
    ];

    /// Name in configuration (`monitor`).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Monitor => "monitor",
            NodeRole::Dns => "dns",
            NodeRole::Collator => "collator",
            NodeRole::Api => "api",
        }
    }

    /// The original system's `NodeRole` wire value, for roles it knows.
    pub fn wire_name(self) -> Option<&'static str> {
        match self {
            NodeRole::Monitor => Some("IBPMonitor"),
            NodeRole::Dns => Some("IBPDns"),
            NodeRole::Collator => Some("IBPCollator"),
            NodeRole::Api => None,
        }
    }
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        NodeRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                format!("unknown role `{s}` (expected one of: monitor, dns, collator, api)")
            })
    }
}
