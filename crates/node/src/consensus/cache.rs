//! `official.cache.json` and `local.cache.json`: results saved every `cache_interval` and
//! on shutdown, loaded at start; the same JSON answers an official-results sync. Each
//! official row carries the signed finalize that decided it (`finalize`, in the
//! consensus wire format), when known, so a receiver can verify it. Written to a temporary file, synced and renamed, so a
//! crash leaves the old file or the new one, never a torn one. A file that cannot be read
//! is reported and ignored.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use geodns_bus::consensus::{decode_finalize, encode_finalize};
use geodns_consensus::engine::Proven;
use geodns_consensus::results::{ResultEntry, Snapshot};
use geodns_core::ids::MemberId;
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// File name of the official results cache.
pub const OFFICIAL: &str = "official.cache.json";
/// File name of the local results cache.
pub const LOCAL: &str = "local.cache.json";

/// The file: a version, who wrote it when, and one row per check. As a sync reply it
/// may be one page of the sender's results: `next` then names the page to ask for next
/// (absent when this is the last or only one, so small replies read as before).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    version: u32,
    node: String,
    saved_at: DateTime<Utc>,
    results: Vec<Row>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<u32>,
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
    /// The passed finalize that decided it (the consensus wire format), written and read
    /// as the bytes `encode_finalize` makes: no JSON value in between.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finalize: Option<Box<RawValue>>,
}

/// Saves results (with their proofs, for the official ones).
pub fn save(path: &Path, node: &str, rows: &[Proven], now: DateTime<Utc>) -> std::io::Result<()> {
    crate::fs::write_atomically(path, &encode(node, rows, now), false)
}

/// A snapshot's rows without proofs (the local results).
pub fn unproven(snapshot: &Snapshot) -> Vec<Proven> {
    snapshot
        .iter()
        .map(|(key, entry)| (key.clone(), entry.clone(), None))
        .collect()
}

/// The cache file's JSON for `rows`.
pub fn encode(node: &str, rows: &[Proven], now: DateTime<Utc>) -> Vec<u8> {
    let file = CacheFile {
        version: 1,
        node: node.to_owned(),
        saved_at: now,
        results: sorted_rows(rows),
        next: None,
    };
    serde_json::to_vec_pretty(&file).unwrap_or_default()
}

/// Every page of `rows` as sync replies: whole rows, in the file's order, each page
/// filling at most `limit` bytes (a bigger row is a page of its own), with `next` naming
/// the following page (absent on the last). A sync responder keeps them until the results
/// change, so a peer reading page after page costs one encoding.
pub fn encode_pages(node: &str, rows: &[Proven], now: DateTime<Utc>, limit: usize) -> Vec<Vec<u8>> {
    let rows = sorted_rows(rows);
    let mut pages: Vec<Vec<Row>> = vec![Vec::new()];
    let mut size = 0;
    for row in rows {
        let length = serde_json::to_vec(&row).map_or(0, |b| b.len() + 1);
        if let Some(page) = pages.last()
            && !page.is_empty()
            && size + length > limit
        {
            pages.push(Vec::new());
            size = 0;
        }
        size += length;
        if let Some(page) = pages.last_mut() {
            page.push(row);
        }
    }
    let count = pages.len();
    pages
        .into_iter()
        .enumerate()
        .filter_map(|(index, results)| {
            let next = (index + 1 < count)
                .then(|| u32::try_from(index + 1).ok())
                .flatten();
            let file = CacheFile {
                version: 1,
                node: node.to_owned(),
                saved_at: now,
                results,
                next,
            };
            serde_json::to_vec(&file).ok()
        })
        .collect()
}

fn sorted_rows(rows: &[Proven]) -> Vec<Row> {
    let mut results: Vec<Row> = rows
        .iter()
        .map(|(key, entry, proof)| Row {
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
            finalize: proof.as_ref().and_then(|p| {
                let text = String::from_utf8(encode_finalize(p)).ok()?;
                RawValue::from_string(text).ok()
            }),
        })
        .collect();
    results.sort_by(|a, b| order(a).cmp(&order(b)));
    results
}

fn order(row: &Row) -> (&str, &str, &str, &str, &str, bool) {
    (
        &row.member,
        &row.check_type,
        &row.check_name,
        &row.domain,
        &row.endpoint,
        row.ipv6,
    )
}

/// One cached result.
pub type Cached = (CheckKey, ResultEntry);

/// Loads saved results; a missing file is empty. Rows that are not valid are an error
/// naming the row, and the whole file is then ignored by the caller.
pub fn load(path: &Path) -> Result<Vec<Proven>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error.to_string()),
    };
    decode(&bytes)
}

/// Reads results in the cache file's JSON; any invalid row rejects the whole document.
pub fn decode(bytes: &[u8]) -> Result<Vec<Proven>, String> {
    decode_page(bytes).map(|(rows, _)| rows)
}

/// [`decode`], and the page a sync reply says to ask for next.
pub fn decode_page(bytes: &[u8]) -> Result<(Vec<Proven>, Option<u32>), String> {
    let file: CacheFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.version != 1 {
        return Err(format!(
            "version {} is not supported (expected 1)",
            file.version
        ));
    }
    let rows = file
        .results
        .into_iter()
        .enumerate()
        .map(|(index, row)| row_to_entry(row).map_err(|e| format!("results[{index}]: {e}")))
        .collect::<Result<_, _>>()?;
    Ok((rows, file.next))
}

fn row_to_entry(row: Row) -> Result<Proven, String> {
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
    let proof = match row.finalize {
        None => None,
        Some(raw) => {
            Some(decode_finalize(raw.get().as_bytes()).map_err(|e| format!("finalize: {e}"))?)
        }
    };
    Ok((key, entry, proof))
}

/// Both cache files of `data_dir`: path, rows or why unreadable, and whether it is the
/// local cache. Blocking.
pub fn read_both(data_dir: &Path) -> Vec<(PathBuf, Result<Vec<Proven>, String>, bool)> {
    [(OFFICIAL, false), (LOCAL, true)]
        .into_iter()
        .map(|(name, local)| {
            let path = data_dir.join(name);
            let loaded = load(&path);
            (path, loaded, local)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use geodns_consensus::auth::NodeKey;
    use geodns_consensus::message::{Finalize, Proposal, ProposalId};
    use geodns_core::ids::NodeId;

    use super::*;

    #[test]
    fn a_proof_travels_with_its_row_and_still_verifies() {
        let key = CheckKey {
            kind: CheckKind::Site,
            check: "ping".into(),
            member: MemberId::parse("Amforc").unwrap(),
            domain: String::new(),
            endpoint: String::new(),
            ipv6: false,
        };
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let signer = NodeKey::from_seed([7; 32]);
        let proof = signer.sign(Finalize {
            proposal: Proposal {
                id: ProposalId::parse("p-1").unwrap(),
                sender: NodeId::parse("m1").unwrap(),
                key: key.clone(),
                status: false,
                error: "down".into(),
                data: None,
                timestamp: at,
            },
            sender: NodeId::parse("m1").unwrap(),
            passed: true,
            decided_at: at,
            votes: Vec::new(),
        });
        let entry = ResultEntry {
            status: false,
            error: "down".into(),
            data: None,
            at,
        };
        let rows = vec![(key.clone(), entry.clone(), Some(proof.clone()))];
        let back = decode(&encode("n", &rows, at)).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!((&back[0].0, &back[0].1), (&key, &entry));
        let decoded = back[0].2.as_ref().unwrap();
        assert_eq!(decoded.message.decided_at, at);
        let trusted = geodns_consensus::auth::TrustedNode {
            key: Some(signer.public()),
            monitor: true,
        };
        let nodes = [(NodeId::parse("m1").unwrap(), trusted)].into();
        let trust =
            geodns_consensus::auth::Trust::new(geodns_consensus::auth::AuthMode::Strict, nodes);
        assert!(
            trust.check(decoded).is_ok(),
            "the signature survives the trip"
        );
        // A row without a proof (a file written before proofs) still reads.
        let plain = decode(&encode("n", &[(key, entry, None)], at)).unwrap();
        assert!(plain[0].2.is_none());
    }

    /// 2,000 rows in pages of at most 64 KiB: every row comes back once, in order, and
    /// every page fits; one small page carries no `next` (it reads as before paging).
    #[test]
    fn a_sync_reply_comes_in_pages_that_fit() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let rows: Vec<Proven> = (0..2_000)
            .map(|i| {
                let key = CheckKey {
                    kind: CheckKind::Domain,
                    check: "rpc".into(),
                    member: MemberId::parse(&format!("m{:03}", i % 100)).unwrap(),
                    domain: format!("h{i:04}.example.net"),
                    endpoint: String::new(),
                    ipv6: false,
                };
                let entry = ResultEntry {
                    status: i % 3 != 0,
                    error: "x".repeat(i % 200),
                    data: None,
                    at,
                };
                (key, entry, None)
            })
            .collect();
        let limit = 64 * 1024;
        let encoded = encode_pages("n", &rows, at, limit);
        let (mut page, mut back, mut pages) = (0, Vec::new(), 0);
        loop {
            let bytes = encoded[usize::try_from(page).unwrap()].clone();
            assert!(
                bytes.len() <= limit + 200,
                "page {page}: {} bytes",
                bytes.len()
            );
            let (got, next) = decode_page(&bytes).unwrap();
            back.extend(got);
            pages += 1;
            match next {
                Some(next) => page = next,
                None => break,
            }
        }
        assert!(pages > 5, "{pages} pages");
        assert_eq!(encoded.len(), pages, "the last page names no next one");
        let mut want: Vec<CheckKey> = rows.iter().map(|r| r.0.clone()).collect();
        want.sort_by(|a, b| (a.member.as_str(), &a.domain).cmp(&(b.member.as_str(), &b.domain)));
        let got: Vec<CheckKey> = back.into_iter().map(|r| r.0).collect();
        assert_eq!(got, want);

        let one = encode_pages("n", &rows[..3], at, limit).remove(0);
        assert!(!String::from_utf8(one).unwrap().contains("\"next\""));
    }
}
