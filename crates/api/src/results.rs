//! The original monitor's `GET /results` body (reference §8.2): check results grouped by
//! site, domain and endpoint check, one entry per member and family, and the source
//! header `X-IBP-Results-Source: official|local` (official when any official result
//! exists, else local when any local one does, else an empty official set).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use geodns_consensus::results::{ResultEntry, Snapshot};
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;
use serde::Serialize;
use serde_json::{Map, Value};

/// The body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Results {
    /// Site checks, by check name and family.
    pub site_results: Vec<Group>,
    /// Domain checks, by check name, domain and family.
    pub domain_results: Vec<Group>,
    /// Endpoint checks, by check name, domain, URL and family.
    pub endpoint_results: Vec<Group>,
}

/// The results of one check (for one domain or endpoint) in one family.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Group {
    /// Check name.
    pub check_name: String,
    /// Hostname (domain and endpoint checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Endpoint URL (endpoint checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    /// IPv6 family.
    #[serde(rename = "IsIPv6")]
    pub is_ipv6: bool,
    /// One result per member.
    pub results: Vec<MemberResult>,
}

/// One member's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MemberResult {
    /// Up.
    pub status: bool,
    /// Member name.
    pub member_name: String,
    /// Error when down.
    pub error_text: String,
    /// Check data.
    pub data: Map<String, Value>,
    /// IPv6 family.
    #[serde(rename = "IsIPv6")]
    pub is_ipv6: bool,
    /// When checked (local) or decided (official).
    pub checktime: DateTime<Utc>,
}

/// Which results a body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Decided by the cluster.
    Official,
    /// This node's own checks (nothing decided yet).
    Local,
}

impl Source {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Official => "official",
            Source::Local => "local",
        }
    }
}

/// The body and its source, from the official and the local results.
pub fn results(official: &Snapshot, local: &Snapshot) -> (Results, Source) {
    if official.is_empty() && !local.is_empty() {
        (group(local), Source::Local)
    } else {
        (group(official), Source::Official)
    }
}

/// Groups a snapshot's entries, in a stable order (check, domain, endpoint, family,
/// member).
pub fn group(snapshot: &Snapshot) -> Results {
    type GroupKey = (CheckKind, String, String, String, bool);
    let mut groups: BTreeMap<GroupKey, Vec<(&CheckKey, &ResultEntry)>> = BTreeMap::new();
    for (key, entry) in snapshot.iter() {
        let id = (
            key.kind,
            key.check.clone(),
            key.domain.clone(),
            key.endpoint.clone(),
            key.ipv6,
        );
        groups.entry(id).or_default().push((key, entry));
    }
    let mut out = Results {
        site_results: Vec::new(),
        domain_results: Vec::new(),
        endpoint_results: Vec::new(),
    };
    for ((kind, check, domain, endpoint, ipv6), mut entries) in groups {
        entries.sort_by(|a, b| a.0.member.cmp(&b.0.member));
        let results = entries
            .into_iter()
            .map(|(key, entry)| MemberResult {
                status: entry.status,
                member_name: key.member.to_string(),
                error_text: entry.error.clone(),
                data: entry.data.clone().unwrap_or_default(),
                is_ipv6: key.ipv6,
                checktime: entry.at,
            })
            .collect();
        let group = |domain: Option<String>, rpc_url: Option<String>| Group {
            check_name: check.clone(),
            domain,
            rpc_url,
            is_ipv6: ipv6,
            results,
        };
        match kind {
            CheckKind::Site => out.site_results.push(group(None, None)),
            CheckKind::Domain => out.domain_results.push(group(Some(domain), None)),
            CheckKind::Endpoint => out
                .endpoint_results
                .push(group(Some(domain), Some(endpoint))),
        }
    }
    out
}
