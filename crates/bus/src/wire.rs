//! The original system's NATS messages, field for field as Go's `encoding/json` writes
//! its structs (`libs:nats/core/types.go`; see `golden/README.md`): json tag names in
//! declaration order, `omitempty` where the tag has it, nil slices and maps as `null`,
//! times as Go's RFC 3339 with nanoseconds, HTML-safe escapes (`go.rs`). Unknown extra
//! fields are ignored (newer or older peers may add some); missing ones take Go's zero
//! values. This is the only module that knows these JSON shapes.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

mod go;

/// Go's zero `time.Time`, which the original writes for unset times.
pub fn go_zero_time() -> DateTime<Utc> {
    DateTime::from_timestamp(-62_135_596_800, 0).expect("0001-01-01T00:00:00Z is representable")
}

/// A node role as the original names it on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WireRole {
    /// `IBPMonitor`.
    Monitor,
    /// `IBPDns`.
    Dns,
    /// `IBPCollator`.
    Collator,
    /// Anything else (kept as written).
    Other(String),
}

impl WireRole {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            WireRole::Monitor => "IBPMonitor",
            WireRole::Dns => "IBPDns",
            WireRole::Collator => "IBPCollator",
            WireRole::Other(text) => text,
        }
    }

    /// Reads a wire string.
    pub fn parse(text: &str) -> WireRole {
        match text {
            "IBPMonitor" => WireRole::Monitor,
            "IBPDns" => WireRole::Dns,
            "IBPCollator" => WireRole::Collator,
            other => WireRole::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for WireRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WireRole {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WireRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(WireRole::parse(&String::deserialize(d)?))
    }
}

/// `site`, `domain` or `endpoint` on the wire; anything else is kept as written.
pub type WireCheckType = String;

/// One node as the cluster sees it (`NodeInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Node id.
    #[serde(rename = "NodeID", default)]
    pub node_id: String,
    /// Public address, often empty.
    #[serde(rename = "PublicAddress", default)]
    pub public_address: String,
    /// Listen address (`0.0.0.0` in the original).
    #[serde(rename = "ListenAddress", default)]
    pub listen_address: String,
    /// Listen port as a string (`"0"` in the original).
    #[serde(rename = "ListenPort", default)]
    pub listen_port: String,
    /// Role.
    #[serde(rename = "NodeRole", default = "unknown_role")]
    pub node_role: WireRole,
    /// When the sender last heard this node.
    #[serde(
        rename = "LastHeard",
        default = "go_zero_time",
        serialize_with = "go::serialize_time"
    )]
    pub last_heard: DateTime<Utc>,
}

fn unknown_role() -> WireRole {
    WireRole::Other(String::new())
}

/// `consensus.cluster` payload: a join (or heartbeat) or, beyond the original, a leave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterMessage {
    /// `join` (the original's only type) or `leave`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Who sends it.
    pub sender: NodeInfo,
    /// Known members; the original always sends `null`.
    #[serde(default)]
    pub members: Option<Vec<NodeInfo>>,
    /// geodns extension: what the sender speaks beyond the original's messages (see
    /// [`FEATURE_BATCH`]). The original's nodes neither send nor read it.
    #[serde(rename = "geodns", default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// The feature of a node that reads batched consensus messages (`consensus.batch`,
/// `consensus.decided`; see [`crate::consensus::Batch`]). Monitors send batches only
/// while every active node has it.
pub const FEATURE_BATCH: &str = "batch/1";

/// `consensus.propose` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Proposal id (UUID v4).
    #[serde(rename = "ID")]
    pub id: String,
    /// Proposer.
    #[serde(rename = "SenderNodeID", default)]
    pub sender_node_id: String,
    /// `site`, `domain` or `endpoint`.
    #[serde(rename = "CheckType", default)]
    pub check_type: WireCheckType,
    /// Check name.
    #[serde(rename = "CheckName", default)]
    pub check_name: String,
    /// Member.
    #[serde(rename = "MemberName", default)]
    pub member_name: String,
    /// Hostname (empty for site checks).
    #[serde(rename = "DomainName", default)]
    pub domain_name: String,
    /// Endpoint URL (empty unless endpoint check).
    #[serde(rename = "Endpoint", default)]
    pub endpoint: String,
    /// Proposed health: `true` up, `false` down.
    #[serde(rename = "ProposedStatus", default)]
    pub proposed_status: bool,
    /// Error text of the failing check.
    #[serde(rename = "ErrorText", default)]
    pub error_text: String,
    /// Check data; `null` when none.
    #[serde(rename = "Data", default)]
    pub data: Option<Map<String, Value>>,
    /// Checked over IPv6.
    #[serde(rename = "IsIPv6", default)]
    pub is_ipv6: bool,
    /// When proposed.
    #[serde(
        rename = "Timestamp",
        default = "go_zero_time",
        serialize_with = "go::serialize_time"
    )]
    pub timestamp: DateTime<Utc>,
    /// geodns extension: base64 ed25519 signature of the sender; absent from original
    /// nodes, which ignore it.
    #[serde(rename = "Signature", default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `consensus.vote` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// Proposal voted on.
    #[serde(rename = "ProposalID")]
    pub proposal_id: String,
    /// Sender.
    #[serde(rename = "SenderNodeID", default)]
    pub sender_node_id: String,
    /// Voter (equal to the sender in the original).
    #[serde(rename = "NodeID", default)]
    pub node_id: String,
    /// Agrees with the proposal.
    #[serde(rename = "Agree", default)]
    pub agree: bool,
    /// When voted.
    #[serde(
        rename = "Timestamp",
        default = "go_zero_time",
        serialize_with = "go::serialize_time"
    )]
    pub timestamp: DateTime<Utc>,
    /// geodns extension: base64 ed25519 signature of the sender; absent from original
    /// nodes, which ignore it.
    #[serde(rename = "Signature", default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `consensus.finalize` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalizeMessage {
    /// The decided proposal.
    #[serde(rename = "Proposal")]
    pub proposal: Proposal,
    /// Who decided: `omitempty`, and absent before libs v0.2.0.
    #[serde(
        rename = "SenderNodeID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub sender_node_id: String,
    /// Passed (apply) or failed (change nothing).
    #[serde(rename = "Passed", default)]
    pub passed: bool,
    /// When decided.
    #[serde(
        rename = "DecidedAt",
        default = "go_zero_time",
        serialize_with = "go::serialize_time"
    )]
    pub decided_at: DateTime<Utc>,
    /// geodns extension: the signed agreeing votes behind a passed decision (its quorum
    /// certificate); absent from original nodes, which ignore it.
    #[serde(rename = "Votes", default, skip_serializing_if = "Vec::is_empty")]
    pub votes: Vec<Vote>,
    /// geodns extension: base64 ed25519 signature of the sender; absent from original
    /// nodes, which ignore it.
    #[serde(rename = "Signature", default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `dns.usage.getUsage` payload. Dates are `YYYY-MM-DD`; filters are optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageRequest {
    /// First day.
    #[serde(default)]
    pub start_date: String,
    /// Last day.
    #[serde(default)]
    pub end_date: String,
    /// Only this hostname.
    #[serde(default)]
    pub domain: String,
    /// Only this member.
    #[serde(default)]
    pub member_name: String,
    /// Only this country.
    #[serde(default)]
    pub country: String,
}

/// One usage counter in a [`UsageResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Node (empty in the original's replies: the response's `nodeID` says it).
    #[serde(rename = "nodeid", default)]
    pub node_id: String,
    /// Day.
    #[serde(default)]
    pub date: String,
    /// Hostname.
    #[serde(default)]
    pub domain: String,
    /// Member.
    #[serde(rename = "memberName", default)]
    pub member_name: String,
    /// Country code.
    #[serde(rename = "countryCode", default)]
    pub country_code: String,
    /// `AS<n>`.
    #[serde(default)]
    pub asn: String,
    /// Network name.
    #[serde(rename = "networkName", default)]
    pub network_name: String,
    /// Country name.
    #[serde(rename = "countryName", default)]
    pub country_name: String,
    /// Hits.
    #[serde(default)]
    pub hits: i64,
    /// AAAA answers.
    #[serde(rename = "isIPv6", default)]
    pub is_ipv6: bool,
}

/// Reply to `dns.usage.getUsage` (or a `dns.usage.usageData` broadcast).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageResponse {
    /// Answering node.
    #[serde(rename = "nodeID", default)]
    pub node_id: String,
    /// Counters: `null` when a query found none, `[]` beside an error.
    #[serde(rename = "usageRecords", default)]
    pub usage_records: Option<Vec<UsageRecord>>,
    /// Error text; `omitempty`, so absent on success.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// `monitor.stats.getDowntime` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DowntimeRequest {
    /// Window start.
    #[serde(default = "go_zero_time", serialize_with = "go::serialize_time")]
    pub start_time: DateTime<Utc>,
    /// Window end.
    #[serde(default = "go_zero_time", serialize_with = "go::serialize_time")]
    pub end_time: DateTime<Utc>,
    /// Only this member (empty: all).
    #[serde(default)]
    pub member_name: String,
}

/// One outage in a [`DowntimeResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DowntimeEvent {
    /// Member.
    #[serde(default)]
    pub member_name: String,
    /// `site`, `domain`, `endpoint`.
    #[serde(default)]
    pub check_type: WireCheckType,
    /// Check name.
    #[serde(default)]
    pub check_name: String,
    /// Hostname; `omitempty` (absent for site checks).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain_name: String,
    /// Endpoint; `omitempty` (absent unless an endpoint check).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    /// Health during the event (`false`: down).
    #[serde(default)]
    pub status: bool,
    /// Start.
    #[serde(default = "go_zero_time", serialize_with = "go::serialize_time")]
    pub start_time: DateTime<Utc>,
    /// End (Go's zero time while open).
    #[serde(default = "go_zero_time", serialize_with = "go::serialize_time")]
    pub end_time: DateTime<Utc>,
    /// Error text.
    #[serde(default)]
    pub error_text: String,
    /// Check data; `null` when the event has none.
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
    /// IPv6.
    #[serde(rename = "isIPv6", default)]
    pub is_ipv6: bool,
}

/// Reply to `monitor.stats.getDowntime`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DowntimeResponse {
    /// Answering node.
    #[serde(rename = "nodeID", default)]
    pub node_id: String,
    /// Outages (`[]` when none: the original never sends `null` here).
    #[serde(default)]
    pub events: Option<Vec<DowntimeEvent>>,
    /// Error text; `omitempty`, so absent on success.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// `geodns.override.update` payload: set, remove or clear country overrides. The
/// original only reads it (into a struct whose `override` is a `CountryOverride` value,
/// not a pointer), so Go would write `countryCode` and `override` always; operators'
/// hand-written messages that leave them out read the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideUpdate {
    /// `set`, `remove` or `clear`.
    pub action: String,
    /// Hostname.
    #[serde(default)]
    pub domain: String,
    /// Country (for set and remove; empty for clear).
    #[serde(default)]
    pub country_code: String,
    /// The override (for set; empty otherwise).
    #[serde(default, rename = "override")]
    pub target: OverrideTarget,
}

/// `geodns.maintenance.update` payload (a geodns extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceUpdate {
    /// The member.
    pub member: String,
    /// In maintenance (`true`) or back in service.
    pub maintenance: bool,
    /// Who changed it (`root` or `member:<name>`).
    #[serde(default)]
    pub by: String,
}

/// Where an override sends a country (`CountryOverride`; every field `omitempty`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideTarget {
    /// Member (wins when set).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub member_name: String,
    /// Literal IPv4.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv4: String,
    /// Literal IPv6.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv6: String,
}

/// A wire message that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("malformed {what} message: {source}")]
pub struct DecodeError {
    /// Which message type was expected.
    pub what: &'static str,
    /// The JSON error.
    #[source]
    pub source: serde_json::Error,
}

/// Decodes a wire message, naming its type on failure.
pub fn decode<T: for<'de> Deserialize<'de>>(
    what: &'static str,
    payload: &[u8],
) -> Result<T, DecodeError> {
    serde_json::from_slice(payload).map_err(|source| DecodeError { what, source })
}

/// Encodes a wire message with Go's escaping (these types always serialize).
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_string(message)
        .map(go::escape_html)
        .unwrap_or_default()
        .into_bytes()
}

#[cfg(test)]
mod tests;
