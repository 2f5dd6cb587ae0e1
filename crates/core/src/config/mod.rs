//! Typed configuration: parse the TOML node file, apply overrides, merge the original
//! system's JSON sources, and validate everything into one immutable [`Config`].
//!
//! Text goes in, a `Config` or a list of errors comes out; nothing here reads files or
//! the network. A rejected configuration is never partially applied: callers keep the
//! previous `Arc<Config>` until a new one validates completely.

mod consensus;
mod dns;
mod error;
mod file;
mod overrides;
mod render;
mod sections;
mod summary;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub use consensus::{AuthName, ConsensusSection, PolicyName, TrustedNodeFile};
pub use dns::{
    DnsSection, GeoIpSection, MAXMIND_DOWNLOAD_URL, NoHealthy, RrlSection, UnknownClient,
    UnknownClientName,
};
pub use error::{ConfigError, ConfigErrors, Origin, Position};
pub use file::{
    AlertsFile, CheckFile, ConfigFile, MemberFile, OverrideFile, ProbeType, RecordFile, Secret,
    ServiceFile,
};
pub use overrides::{ENV_PREFIX, Override, overrides_from_env};
pub use render::CatalogFiles;
pub use sections::{
    ApiSection, BusMode, BusSection, ClusterSection, CollatorSection, ListenSection, MatrixSection,
    MonitorSection, NodeSection, RedisSection, SourcesSection, StorageSection, pool_defaults,
};
pub use summary::Summary;
pub use validate::{Located, SourceItems, build};

use crate::ids::{Fqdn, MemberId, NodeId, ServiceId};
use crate::model::{
    AlertRouting, Check, CountryOverrides, Member, NodeRole, Service, StaticRecord,
};

/// A validated configuration. Shared read-only as `Arc<Config>`; a reload builds a new one.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Identity and roles of this process.
    pub node: NodeSettings,
    /// Listen addresses.
    pub listen: ListenSection,
    /// Database.
    pub storage: StorageSection,
    /// Message bus.
    pub bus: BusSection,
    /// Redis Streams, if configured.
    pub redis: Option<RedisSection>,
    /// Matrix, if configured.
    pub matrix: Option<MatrixSection>,
    /// MaxMind databases.
    pub geoip: GeoIpSection,
    /// DNS answering settings.
    pub dns: DnsSection,
    /// Check scheduling.
    pub monitor: MonitorSection,
    /// Usage collection and the cluster tables.
    pub collator: CollatorSection,
    /// API tokens.
    pub api: ApiSection,
    /// Membership timing.
    pub cluster: ClusterSection,
    /// Consensus rules, authentication and trusted nodes.
    pub consensus: ConsensusSection,
    /// Where members/services/records/alerts are reloaded from.
    pub sources: SourcesSection,
    /// Members, services, checks, records, overrides and alert routing.
    pub catalog: Catalog,
    /// Things that are allowed but probably unintended, for `check-config` and logs.
    pub warnings: Vec<String>,
}

/// `[node]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSettings {
    /// Unique id in the cluster.
    pub id: NodeId,
    /// Roles this process runs (at least one).
    pub roles: BTreeSet<NodeRole>,
    /// Directory for caches and keys.
    pub data_dir: PathBuf,
}

/// Everything the roles serve and check, validated and cross-referenced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    /// Providers by name.
    pub members: BTreeMap<MemberId, Member>,
    /// Services by name.
    pub services: BTreeMap<ServiceId, Service>,
    /// Health checks.
    pub checks: Vec<Check>,
    /// Static DNS records.
    pub records: Vec<StaticRecord>,
    /// Country overrides.
    pub overrides: CountryOverrides,
    /// Alert room and mentions.
    pub alerts: AlertRouting,
    /// Zones this deployment is authoritative for.
    pub zones: BTreeSet<Fqdn>,
    /// Geo-routed hostnames of active services, with the services behind each.
    pub hostnames: BTreeMap<Fqdn, BTreeSet<ServiceId>>,
}

/// Parses the TOML node file. Errors carry line and column.
pub fn parse_file(text: &str, origin: &Origin) -> Result<ConfigFile, ConfigError> {
    let deserializer =
        toml::de::Deserializer::parse(text).map_err(|error| ConfigError::Syntax {
            origin: origin.clone(),
            position: error
                .span()
                .map_or(Position { line: 1, column: 1 }, |span| {
                    Position::of_offset(text, span.start)
                }),
            message: error.message().trim().to_owned(),
        })?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = display_path(error.path());
        let inner = error.into_inner();
        ConfigError::Field {
            origin: origin.clone(),
            position: inner
                .span()
                .map(|span| Position::of_offset(text, span.start)),
            path,
            message: inner.message().trim().to_owned(),
        }
    })
}

/// Parses the TOML node file, then applies environment and command-line overrides
/// (later ones win). Errors after overriding name the variables that were applied.
pub fn parse_file_with_overrides(
    text: &str,
    origin: &Origin,
    overrides: &[Override],
) -> Result<ConfigFile, ConfigError> {
    let file = parse_file(text, origin)?;
    if overrides.is_empty() {
        return Ok(file);
    }
    let mut table: toml::Table =
        text.parse()
            .map_err(|error: toml::de::Error| ConfigError::Syntax {
                origin: origin.clone(),
                position: Position { line: 1, column: 1 },
                message: error.message().to_owned(),
            })?;
    for item in overrides {
        item.apply(&mut table)?;
    }
    let names: Vec<&str> = overrides.iter().map(|o| o.source_name.as_str()).collect();
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
        let path = display_path(error.path());
        ConfigError::Field {
            origin: Origin(format!("{origin} with overrides {}", names.join(", "))),
            position: None,
            path,
            message: error.into_inner().message().trim().to_owned(),
        }
    })
}

/// Renders a serde path as `members[2].ipv4` (serde_path_to_error prints `members.2.ipv4`).
pub(crate) fn display_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push_str(&key_segment(key, out.is_empty()))
            }
            Segment::Unknown => out.push_str(".?"),
        }
    }
    if out.is_empty() {
        "(top level)".to_owned()
    } else {
        out
    }
}

/// One path segment for a map key: `.key` (or `key` first) when it is a plain word,
/// `["key with spaces"]` otherwise.
pub(crate) fn key_segment(key: &str, first: bool) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (plain, first) {
        (true, true) => key.to_owned(),
        (true, false) => format!(".{key}"),
        (false, _) => format!("[{key:?}]"),
    }
}
