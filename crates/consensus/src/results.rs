//! Result stores: the latest status of every site, domain and endpoint check, per member
//! and IP family, as copy-on-write snapshots. Readers hold an `Arc<Snapshot>` and never
//! block the writer; the writer's next change copies only if a reader still holds the
//! old snapshot.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use geodns_core::ids::MemberId;
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;
use serde_json::{Map, Value};

/// One check's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultEntry {
    /// Up (`true`) or down.
    pub status: bool,
    /// Error text when down.
    pub error: String,
    /// Check data.
    pub data: Option<Map<String, Value>>,
    /// When checked (local) or decided (official).
    pub at: DateTime<Utc>,
}

/// IP family of an answer or a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// IPv4 (A records).
    V4,
    /// IPv6 (AAAA records).
    V6,
}

impl IpFamily {
    /// The family of a check's `ipv6` flag.
    pub fn of(ipv6: bool) -> Self {
        if ipv6 { IpFamily::V6 } else { IpFamily::V4 }
    }
}

/// An immutable set of results plus the members in maintenance, with an index that
/// answers [`Snapshot::is_member_online`] without scanning.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    entries: HashMap<CheckKey, ResultEntry>,
    maintenance: BTreeSet<MemberId>,
    /// Down site checks per (lower-case member, family).
    down_sites: HashMap<(String, IpFamily), u32>,
    /// Down domain and endpoint checks per (lower-case member, lower-case domain, family).
    down_domains: HashMap<(String, String, IpFamily), u32>,
    version: u64,
}

impl Snapshot {
    /// The result of one check.
    pub fn get(&self, key: &CheckKey) -> Option<&ResultEntry> {
        self.entries.get(key)
    }

    /// Every result, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&CheckKey, &ResultEntry)> {
        self.entries.iter()
    }

    /// Number of results.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No results at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Members in maintenance.
    pub fn maintenance(&self) -> &BTreeSet<MemberId> {
        &self.maintenance
    }

    /// Increases with every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// May DNS answer `domain` with `member` in this family? No when the member is in
    /// maintenance; otherwise no when any of its site checks is down (any check name),
    /// else when any domain or endpoint check of this hostname is down; else yes. Names
    /// compare case-insensitively. An empty snapshot (nothing decided yet) answers yes,
    /// as the original does, so a fresh cluster serves before its first decisions.
    pub fn is_member_online(&self, domain: &str, member: &MemberId, family: IpFamily) -> bool {
        if self.maintenance.contains(member) {
            return false;
        }
        if self.entries.is_empty() || (self.down_sites.is_empty() && self.down_domains.is_empty()) {
            return true;
        }
        let member = member.as_str().to_lowercase();
        if self.down_sites.contains_key(&(member.clone(), family)) {
            return false;
        }
        !self
            .down_domains
            .contains_key(&(member, domain.to_lowercase(), family))
    }

    fn index(&mut self, key: &CheckKey, entry: &ResultEntry, delta: i32) {
        if entry.status {
            return;
        }
        let member = key.member.as_str().to_lowercase();
        let family = IpFamily::of(key.ipv6);
        let adjust = |count: &mut u32| *count = count.saturating_add_signed(delta);
        match key.kind {
            CheckKind::Site => {
                let slot = (member, family);
                adjust(self.down_sites.entry(slot.clone()).or_default());
                if self.down_sites.get(&slot) == Some(&0) {
                    self.down_sites.remove(&slot);
                }
            }
            CheckKind::Domain | CheckKind::Endpoint => {
                let slot = (member, key.domain.to_lowercase(), family);
                adjust(self.down_domains.entry(slot.clone()).or_default());
                if self.down_domains.get(&slot) == Some(&0) {
                    self.down_domains.remove(&slot);
                }
            }
        }
    }
}

/// The writer's side of a result store.
#[derive(Debug, Clone, Default)]
pub struct Results {
    current: Arc<Snapshot>,
}

impl Results {
    /// An empty store.
    pub fn new() -> Self {
        Results::default()
    }

    /// The current snapshot: a reference-count bump.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current)
    }

    /// Reads one result.
    pub fn get(&self, key: &CheckKey) -> Option<&ResultEntry> {
        self.current.entries.get(key)
    }

    /// Sets one result; returns the previous one.
    pub fn set(&mut self, key: CheckKey, entry: ResultEntry) -> Option<ResultEntry> {
        let snapshot = Arc::make_mut(&mut self.current);
        snapshot.index(&key, &entry, 1);
        let previous = snapshot.entries.insert(key.clone(), entry);
        if let Some(previous) = &previous {
            snapshot.index(&key, previous, -1);
        }
        snapshot.version += 1;
        previous
    }

    /// Removes one result.
    pub fn remove(&mut self, key: &CheckKey) -> Option<ResultEntry> {
        if !self.current.entries.contains_key(key) {
            return None;
        }
        let snapshot = Arc::make_mut(&mut self.current);
        let previous = snapshot.entries.remove(key);
        if let Some(previous) = &previous {
            snapshot.index(key, previous, -1);
        }
        snapshot.version += 1;
        previous
    }

    /// Replaces the set of members in maintenance; returns who entered (`true`) and who
    /// left (`false`) it.
    pub fn set_maintenance(&mut self, members: BTreeSet<MemberId>) -> Vec<(MemberId, bool)> {
        let current = &self.current.maintenance;
        let mut changes: Vec<(MemberId, bool)> = members
            .difference(current)
            .map(|member| (member.clone(), true))
            .collect();
        changes.extend(
            current
                .difference(&members)
                .map(|member| (member.clone(), false)),
        );
        if !changes.is_empty() {
            let snapshot = Arc::make_mut(&mut self.current);
            snapshot.maintenance = members;
            snapshot.version += 1;
        }
        changes
    }

    /// Is this member in maintenance?
    pub fn in_maintenance(&self, member: &MemberId) -> bool {
        self.current.maintenance.contains(member)
    }
}

#[cfg(test)]
mod tests;
