//! `[geoip]` and `[dns]`: where client locations come from and how the DNS role answers.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_text;
use crate::secret::Secret;

/// MaxMind's download endpoint; `{edition}` is replaced by the edition id.
pub const MAXMIND_DOWNLOAD_URL: &str =
    "https://download.maxmind.com/geoip/databases/{edition}/download?suffix=tar.gz";

/// `[geoip]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpSection {
    /// MaxMind City (or GeoLite2-City) database. Replaced files are picked up without a
    /// restart; replace by rename, never by writing into the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<PathBuf>,
    /// MaxMind ASN database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<PathBuf>,
    /// MaxMind account id; with a licence key, the databases are downloaded to `city`
    /// and `asn` at start and every `refresh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// MaxMind licence key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_key: Option<Secret>,
    /// File holding the licence key (wins over `license_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_key_file: Option<PathBuf>,
    /// Download URL; `{edition}` becomes the edition id.
    #[serde(default = "default_download_url")]
    pub download_url: String,
    /// Edition downloaded into `city`.
    #[serde(default = "default_city_edition")]
    pub city_edition: String,
    /// Edition downloaded into `asn`.
    #[serde(default = "default_asn_edition")]
    pub asn_edition: String,
    /// How often downloads are checked (a HEAD request compares `Last-Modified`).
    #[serde(default = "default_refresh", with = "serde_text")]
    pub refresh: Duration,
    /// How often the files are checked for replacement.
    #[serde(default = "default_watch", with = "serde_text")]
    pub watch: Duration,
}

fn default_download_url() -> String {
    MAXMIND_DOWNLOAD_URL.to_owned()
}

fn default_city_edition() -> String {
    "GeoLite2-City".to_owned()
}

fn default_asn_edition() -> String {
    "GeoLite2-ASN".to_owned()
}

fn default_refresh() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_watch() -> Duration {
    Duration::from_secs(10)
}

impl Default for GeoIpSection {
    fn default() -> Self {
        GeoIpSection {
            city: None,
            asn: None,
            account_id: None,
            license_key: None,
            license_key_file: None,
            download_url: default_download_url(),
            city_edition: default_city_edition(),
            asn_edition: default_asn_edition(),
            refresh: default_refresh(),
            watch: default_watch(),
        }
    }
}

impl GeoIpSection {
    /// Downloads are configured (an account id and a licence key or key file).
    pub fn downloads(&self) -> bool {
        self.account_id.is_some() && (self.license_key.is_some() || self.license_key_file.is_some())
    }
}

/// Where a client without a known location is placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum UnknownClient {
    /// `"centroid"`: the middle of the hostname's members, so the most central provider.
    Named(UnknownClientName),
    /// `{ latitude = .., longitude = .. }`
    Location {
        /// Degrees north.
        latitude: f64,
        /// Degrees east.
        longitude: f64,
    },
    /// `{ region = "Europe" }`: the middle of the members whose `region` matches.
    Region {
        /// Member region, compared case-insensitively.
        region: String,
    },
}

/// Named policies for clients without a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownClientName {
    /// The centroid of the hostname's members.
    Centroid,
}

/// What to answer when no member of a hostname is healthy for the family asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoHealthy {
    /// The nearest member regardless of health (logged and counted).
    Nearest,
    /// Every member that has an address of the family.
    All,
    /// No address (NODATA).
    None,
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
    /// Addresses in one geo answer: the k nearest healthy members.
    #[serde(default = "default_answers")]
    pub answers: u8,
    /// Where clients without a location are placed.
    #[serde(default = "default_unknown_client")]
    pub unknown_client: UnknownClient,
    /// What to answer when no member is healthy.
    #[serde(default = "default_no_healthy")]
    pub no_healthy: NoHealthy,
    /// UDP worker threads (0: one per core).
    #[serde(default)]
    pub workers: u16,
    /// Largest UDP response with EDNS, bytes (512..=4096).
    #[serde(default = "default_udp_payload")]
    pub max_udp_payload: u16,
    /// Open TCP connections at most.
    #[serde(default = "default_tcp_connections")]
    pub tcp_max_connections: u32,
    /// A TCP connection idle this long is closed.
    #[serde(default = "default_tcp_idle", with = "serde_text")]
    pub tcp_idle_timeout: Duration,
    /// Open TCP connections per client address at most (0: no such cap).
    #[serde(default = "default_tcp_per_client")]
    pub tcp_per_client: u32,
    /// Open TCP connections per client network (/24, /56) at most (0: no such cap).
    #[serde(default = "default_tcp_per_network")]
    pub tcp_per_network: u32,
    /// A TCP connection is closed this long after it opened, however busy.
    #[serde(default = "default_tcp_lifetime", with = "serde_text")]
    pub tcp_lifetime: Duration,
    /// Count usage per day, hostname, member and client network.
    #[serde(default = "default_true")]
    pub usage: bool,
    /// How often usage counts are written to the database.
    #[serde(default = "default_usage_flush", with = "serde_text")]
    pub usage_flush: Duration,
    /// How often counts not yet in the database are appended to the usage journal in
    /// the data directory (what a crash can lose at most).
    #[serde(default = "default_usage_journal", with = "serde_text")]
    pub usage_journal: Duration,
    /// How often the official results are compared with a peer's (anti-entropy).
    #[serde(default = "default_sync_interval", with = "serde_text")]
    pub sync_interval: Duration,
    /// Official results not confirmed by a peer or a decision for this long are reported.
    #[serde(default = "default_max_snapshot_age", with = "serde_text")]
    pub max_snapshot_age: Duration,
    /// How often TXT records whose content is a URL are fetched again.
    #[serde(default = "default_acme_refresh", with = "serde_text")]
    pub acme_refresh: Duration,
    /// Response rate limiting of UDP answers.
    #[serde(default)]
    pub rrl: RrlSection,
}

/// `[dns.rrl]`: response rate limiting of UDP answers (off by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrlSection {
    /// Responses a second per client network and response (0: off).
    #[serde(default)]
    pub responses_per_second: u32,
    /// How long a flood is remembered (the debt an account may run up).
    #[serde(default = "default_rrl_window", with = "serde_text")]
    pub window: Duration,
    /// Every `slip`-th limited response is sent truncated (TC=1); 0 drops them all.
    #[serde(default = "default_rrl_slip")]
    pub slip: u32,
    /// Clients never limited (known resolvers), as networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt: Vec<crate::cidr::Cidr>,
    /// Count what would be limited, limit nothing (to choose a rate from real traffic).
    #[serde(default)]
    pub log_only: bool,
}

fn default_rrl_window() -> Duration {
    Duration::from_secs(15)
}

fn default_rrl_slip() -> u32 {
    2
}

impl Default for RrlSection {
    fn default() -> Self {
        RrlSection {
            responses_per_second: 0,
            window: default_rrl_window(),
            slip: default_rrl_slip(),
            exempt: Vec::new(),
            log_only: false,
        }
    }
}

impl RrlSection {
    fn problems(&self, out: &mut Vec<(&'static str, String)>) {
        if self.slip > 10 {
            out.push(("dns.rrl.slip", format!("{} is outside 0..=10", self.slip)));
        }
        let window = self.window.as_secs();
        if !(1..=3600).contains(&window) || self.window.subsec_nanos() != 0 {
            out.push((
                "dns.rrl.window",
                "must be whole seconds from 1s to 1h".to_owned(),
            ));
        } else if u64::from(self.responses_per_second) * window > 8_000_000 {
            out.push((
                "dns.rrl.responses_per_second",
                format!(
                    "{} a second over a {window} s window is more than 8,000,000 responses of debt",
                    self.responses_per_second
                ),
            ));
        }
    }
}

fn default_answer_ttl() -> u32 {
    30
}

fn default_answers() -> u8 {
    1
}

fn default_unknown_client() -> UnknownClient {
    UnknownClient::Named(UnknownClientName::Centroid)
}

fn default_no_healthy() -> NoHealthy {
    NoHealthy::Nearest
}

fn default_udp_payload() -> u16 {
    1232
}

fn default_tcp_connections() -> u32 {
    1024
}

fn default_tcp_idle() -> Duration {
    Duration::from_secs(10)
}

fn default_tcp_per_client() -> u32 {
    16
}

fn default_tcp_per_network() -> u32 {
    64
}

fn default_tcp_lifetime() -> Duration {
    Duration::from_secs(60)
}

fn default_true() -> bool {
    true
}

fn default_usage_flush() -> Duration {
    Duration::from_secs(300)
}

fn default_usage_journal() -> Duration {
    Duration::from_secs(1)
}

fn default_sync_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_max_snapshot_age() -> Duration {
    Duration::from_secs(600)
}

fn default_acme_refresh() -> Duration {
    Duration::from_secs(60)
}

impl Default for DnsSection {
    fn default() -> Self {
        DnsSection {
            zones: Vec::new(),
            answer_ttl: default_answer_ttl(),
            answers: default_answers(),
            unknown_client: default_unknown_client(),
            no_healthy: default_no_healthy(),
            workers: 0,
            max_udp_payload: default_udp_payload(),
            tcp_max_connections: default_tcp_connections(),
            tcp_idle_timeout: default_tcp_idle(),
            tcp_per_client: default_tcp_per_client(),
            tcp_per_network: default_tcp_per_network(),
            tcp_lifetime: default_tcp_lifetime(),
            usage: true,
            usage_flush: default_usage_flush(),
            usage_journal: default_usage_journal(),
            sync_interval: default_sync_interval(),
            max_snapshot_age: default_max_snapshot_age(),
            acme_refresh: default_acme_refresh(),
            rrl: RrlSection::default(),
        }
    }
}

impl DnsSection {
    /// Problems a type cannot express, as `(key, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.answers == 0 {
            out.push(("dns.answers", "must be at least 1".to_owned()));
        }
        if !(512..=4096).contains(&self.max_udp_payload) {
            out.push((
                "dns.max_udp_payload",
                format!("{} is outside 512..=4096", self.max_udp_payload),
            ));
        }
        if self.tcp_max_connections == 0 {
            out.push(("dns.tcp_max_connections", "must be at least 1".to_owned()));
        }
        for (key, value) in [
            ("dns.usage_flush", self.usage_flush),
            ("dns.usage_journal", self.usage_journal),
            ("dns.sync_interval", self.sync_interval),
            ("dns.acme_refresh", self.acme_refresh),
            ("dns.tcp_idle_timeout", self.tcp_idle_timeout),
            ("dns.tcp_lifetime", self.tcp_lifetime),
        ] {
            if value.is_zero() {
                out.push((key, "must be longer than 0".to_owned()));
            }
        }
        self.rrl.problems(&mut out);
        if let UnknownClient::Location {
            latitude,
            longitude,
        } = self.unknown_client
            && let Err(error) = crate::geo::GeoPoint::new(latitude, longitude)
        {
            out.push(("dns.unknown_client", error.to_string()));
        }
        out
    }
}
