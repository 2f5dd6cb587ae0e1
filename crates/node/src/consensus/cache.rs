//! `official.cache.json` and `local.cache.json`: results saved every `cache_interval` and
//! on shutdown, loaded at start. Written to a temporary file, synced and renamed, so a
//! crash leaves the old file or the new one, never a torn one. A file that cannot be read
//! is reported and ignored.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use geodns_consensus::results::{ResultEntry, Snapshot};
use geodns_core::ids::MemberId;
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// File name of the official results cache.
pub const OFFICIAL: &str = "official.cache.json";
/// File name of the local results cache.
pub const LOCAL: &str = "local.cache.json";

/// The file: a version, who wrote it when, and one row per check.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    version: u32,
    node: String,
    saved_at: DateTime<Utc>,
    results: Vec<Row>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    check_type: String,
    check_name: String,
    member: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    endpoint: String,
    ipv6: bool,
    status: bool,
    #[serde(default)]
    error: String,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    at: DateTime<Utc>,
}

/// Saves a snapshot's results.
pub fn save(
    path: &Path,
    node: &str,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
) -> std::io::Result<()> {
    crate::fs::write_atomically(path, &encode(node, snapshot, now), false)
}

/// The cache file's JSON for a snapshot (also the reply to an official-results sync).
pub fn encode(node: &str, snapshot: &Snapshot, now: DateTime<Utc>) -> Vec<u8> {
    let mut results: Vec<Row> = snapshot
        .iter()
        .map(|(key, entry)| Row {
            check_type: key.kind.as_str().to_owned(),
            check_name: key.check.clone(),
            member: key.member.to_string(),
            domain: key.domain.clone(),
            endpoint: key.endpoint.clone(),
            ipv6: key.ipv6,
            status: entry.status,
            error: entry.error.clone(),
            data: entry.data.clone(),
            at: entry.at,
        })
        .collect();
    results.sort_by(|a, b| {
        (
            &a.member,
            &a.check_type,
            &a.check_name,
            &a.domain,
            &a.endpoint,
            a.ipv6,
        )
            .cmp(&(
                &b.member,
                &b.check_type,
                &b.check_name,
                &b.domain,
                &b.endpoint,
                b.ipv6,
            ))
    });
    let file = CacheFile {
        version: 1,
        node: node.to_owned(),
        saved_at: now,
        results,
    };
    serde_json::to_vec_pretty(&file).unwrap_or_default()
}

/// One cached result.
pub type Cached = (CheckKey, ResultEntry);

/// Loads saved results; a missing file is empty. Rows that are not valid are an error
/// naming the row, and the whole file is then ignored by the caller.
pub fn load(path: &Path) -> Result<Vec<Cached>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error.to_string()),
    };
    decode(&bytes)
}

/// Reads results in the cache file's JSON; any invalid row rejects the whole document.
pub fn decode(bytes: &[u8]) -> Result<Vec<Cached>, String> {
    let file: CacheFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.version != 1 {
        return Err(format!(
            "version {} is not supported (expected 1)",
            file.version
        ));
    }
    file.results
        .into_iter()
        .enumerate()
        .map(|(index, row)| row_to_entry(row).map_err(|e| format!("results[{index}]: {e}")))
        .collect()
}

fn row_to_entry(row: Row) -> Result<(CheckKey, ResultEntry), String> {
    let kind = CheckKind::parse(&row.check_type).ok_or_else(|| {
        format!(
            "check_type {:?} is not site, domain or endpoint",
            row.check_type
        )
    })?;
    let key = CheckKey {
        kind,
        check: row.check_name,
        member: MemberId::parse(&row.member).map_err(|e| e.to_string())?,
        domain: row.domain,
        endpoint: row.endpoint,
        ipv6: row.ipv6,
    };
    key.validate().map_err(|e| e.to_string())?;
    let entry = ResultEntry {
        status: row.status,
        error: row.error,
        data: row.data,
        at: row.at,
    };
    Ok((key, entry))
}

/// Both cache files of `data_dir`: path, rows or why unreadable, and whether it is the
/// local cache. Blocking.
pub fn read_both(data_dir: &Path) -> Vec<(PathBuf, Result<Vec<Cached>, String>, bool)> {
    [(OFFICIAL, false), (LOCAL, true)]
        .into_iter()
        .map(|(name, local)| {
            let path = data_dir.join(name);
            let loaded = load(&path);
            (path, loaded, local)
        })
        .collect()
}
