//! Cluster membership as a pure table: who was heard when, in which role, and who counts
//! as active. No I/O and no clock: every call takes `now`. The task that feeds it from the
//! bus is `cluster.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::wire::{ClusterMessage, NodeInfo, WireRole};

/// Timing of membership (the original's defaults: 90 s, 10 min, 15 min).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipConfig {
    /// Between heartbeats.
    pub heartbeat: Duration,
    /// A node is active while heard within this window.
    pub active_window: Duration,
    /// A silent node is forgotten after this long.
    pub purge_after: Duration,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        MembershipConfig {
            heartbeat: Duration::from_secs(90),
            active_window: Duration::from_secs(600),
            purge_after: Duration::from_secs(900),
        }
    }
}

/// Entries (node and role) the table holds at most: every node of a large fleet many
/// times over. A join that would grow it further evicts the longest-silent node that is
/// not configured, or is refused.
pub const MAX_ENTRIES: usize = 4096;

/// How often at most a node that is not configured is answered with a join, when nodes
/// are configured (forged joins with ever new ids must not each draw a reply).
const UNKNOWN_REPLY_EVERY: Duration = Duration::from_secs(1);

/// One node in one role, as `cluster status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NodeStatus {
    /// Node id.
    pub node_id: String,
    /// Wire role (`IBPMonitor`, ...).
    pub role: String,
    /// When last heard.
    pub last_heard: DateTime<Utc>,
    /// Heard within the active window.
    pub active: bool,
}

/// What the caller should do after a cluster message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// Nothing.
    None,
    /// A node is new or changed: answer with our own join so it learns about us.
    ReplyJoin,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    info: NodeInfo,
    last_heard: DateTime<Utc>,
    /// What its latest join announced beyond the original's messages.
    features: Vec<String>,
}

/// The membership table of one node.
#[derive(Debug, Clone)]
pub struct Membership {
    config: MembershipConfig,
    self_id: String,
    nodes: BTreeMap<(String, WireRole), Entry>,
    /// The configured node ids (`[[consensus.nodes]]`); empty: every node is welcome.
    known: BTreeSet<String>,
    /// Joins refused because the table was full of configured nodes.
    refused: u64,
    last_unknown_reply: Option<DateTime<Utc>>,
}

impl Membership {
    /// A table for node `self_id`.
    pub fn new(self_id: &str, config: MembershipConfig) -> Self {
        Membership {
            config,
            self_id: self_id.to_owned(),
            nodes: BTreeMap::new(),
            known: BTreeSet::new(),
            refused: 0,
            last_unknown_reply: None,
        }
    }

    /// The configured node ids: kept first when the table is full, and answered at once
    /// (others at most once a second).
    pub fn set_known(&mut self, known: BTreeSet<String>) {
        self.known = known;
    }

    /// Joins refused because the table was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    fn is_known(&self, id: &str) -> bool {
        self.known.is_empty() || self.known.contains(id) || id == self.self_id
    }

    /// Makes room for a new entry of `newcomer`: evicts the longest-silent node that is
    /// not configured, or (for a configured newcomer) the longest-silent of all. False
    /// when nothing may go.
    fn make_room(&mut self, newcomer: &str) -> bool {
        let welcome = self.is_known(newcomer);
        let victim = self
            .nodes
            .iter()
            .filter(|((id, _), _)| id != &self.self_id)
            // A node that is not configured may only displace others that are not.
            .filter(|((id, _), _)| welcome || !self.is_known(id))
            // Those that are not configured go first, then the longest silent.
            .min_by_key(|((id, _), entry)| (self.is_known(id), entry.last_heard))
            .map(|(key, _)| key.clone());
        match victim {
            Some(key) => {
                self.nodes.remove(&key);
                true
            }
            None => false,
        }
    }

    /// The timing in force.
    pub fn config(&self) -> MembershipConfig {
        self.config
    }

    /// Applies a join or leave. Our own messages only refresh us.
    pub fn on_message(&mut self, message: &ClusterMessage, now: DateTime<Utc>) -> Reaction {
        let sender = &message.sender;
        let key = (sender.node_id.clone(), sender.node_role.clone());
        if message.kind == "leave" {
            self.nodes.retain(|(id, _), _| id != &sender.node_id);
            return Reaction::None;
        }
        if !self.nodes.contains_key(&key)
            && self.nodes.len() >= MAX_ENTRIES
            && !self.make_room(&sender.node_id)
        {
            self.refused += 1;
            return Reaction::None;
        }
        let mut info = sender.clone();
        info.last_heard = now;
        let previous = self.nodes.insert(
            key,
            Entry {
                info: info.clone(),
                last_heard: now,
                features: message.features.clone(),
            },
        );
        let changed = match previous {
            None => true,
            Some(old) => {
                let mut old_info = old.info;
                old_info.last_heard = now;
                old_info != info
            }
        };
        if !changed || sender.node_id == self.self_id {
            return Reaction::None;
        }
        if self.is_known(&sender.node_id) {
            return Reaction::ReplyJoin;
        }
        let due = self
            .last_unknown_reply
            .is_none_or(|last| elapsed(last, now) >= UNKNOWN_REPLY_EVERY);
        if due {
            self.last_unknown_reply = Some(now);
            Reaction::ReplyJoin
        } else {
            Reaction::None
        }
    }

    /// Any traffic from `node_id` (a vote, a usage reply) refreshes every role it has.
    pub fn heard(&mut self, node_id: &str, now: DateTime<Utc>) {
        for ((id, _), entry) in self.nodes.iter_mut() {
            if id == node_id {
                entry.last_heard = now;
                entry.info.last_heard = now;
            }
        }
    }

    /// Forgets nodes silent for longer than `purge_after`; returns their ids.
    pub fn purge(&mut self, now: DateTime<Utc>) -> Vec<String> {
        let limit = self.config.purge_after;
        let mut gone = Vec::new();
        self.nodes.retain(|(id, _), entry| {
            let keep = elapsed(entry.last_heard, now) <= limit;
            if !keep {
                gone.push(id.clone());
            }
            keep
        });
        gone
    }

    fn is_active(&self, entry: &Entry, now: DateTime<Utc>) -> bool {
        elapsed(entry.last_heard, now) <= self.config.active_window
    }

    /// Active nodes in `role` (the original's `CountActiveMonitors`/`CountActiveDns`).
    pub fn count_active(&self, role: &WireRole, now: DateTime<Utc>) -> usize {
        self.nodes
            .iter()
            .filter(|((_, r), entry)| r == role && self.is_active(entry, now))
            .count()
    }

    /// Whether every active node other than this one announced `feature` in its join
    /// (an original node, or an older geodns, announces none).
    pub fn all_active_have(&self, feature: &str, now: DateTime<Utc>) -> bool {
        self.nodes
            .iter()
            .filter(|((id, _), entry)| *id != self.self_id && self.is_active(entry, now))
            .all(|(_, entry)| entry.features.iter().any(|f| f == feature))
    }

    /// Ids of active nodes in `role`.
    pub fn active_ids(&self, role: &WireRole, now: DateTime<Utc>) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|((_, r), entry)| r == role && self.is_active(entry, now))
            .map(|((id, _), _)| id.clone())
            .collect()
    }

    /// Every known node and role.
    pub fn status(&self, now: DateTime<Utc>) -> Vec<NodeStatus> {
        self.nodes
            .iter()
            .map(|((id, role), entry)| NodeStatus {
                node_id: id.clone(),
                role: role.to_string(),
                last_heard: entry.last_heard,
                active: self.is_active(entry, now),
            })
            .collect()
    }
}

fn elapsed(then: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or(Duration::ZERO)
}

/// Logs a malformed message at most once per sender per minute, and counts them all.
#[derive(Debug, Default)]
pub struct MalformedLog {
    last_logged: BTreeMap<String, DateTime<Utc>>,
    /// Malformed messages seen, in all.
    pub total: u64,
}

impl MalformedLog {
    /// Records one; true if it should be logged now.
    pub fn record(&mut self, sender: &str, now: DateTime<Utc>) -> bool {
        self.total += 1;
        let due = self
            .last_logged
            .get(sender)
            .is_none_or(|last| elapsed(*last, now) >= Duration::from_secs(60));
        if due {
            self.last_logged.insert(sender.to_owned(), now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::wire::go_zero_time;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
    }

    fn join(id: &str, role: WireRole) -> ClusterMessage {
        ClusterMessage {
            kind: "join".into(),
            sender: NodeInfo {
                node_id: id.into(),
                public_address: String::new(),
                listen_address: "0.0.0.0".into(),
                listen_port: "0".into(),
                node_role: role,
                last_heard: go_zero_time(),
            },
            members: None,
            features: Vec::new(),
        }
    }

    #[test]
    fn newcomers_get_a_reply_and_count_while_heard() {
        let mut table = Membership::new("me", MembershipConfig::default());
        assert_eq!(
            table.on_message(&join("m1", WireRole::Monitor), at(0)),
            Reaction::ReplyJoin
        );
        assert_eq!(
            table.on_message(&join("m1", WireRole::Monitor), at(90)),
            Reaction::None,
            "a heartbeat is not news"
        );
        assert_eq!(
            table.on_message(&join("me", WireRole::Monitor), at(0)),
            Reaction::None
        );
        assert_eq!(table.count_active(&WireRole::Monitor, at(100)), 2);
        assert_eq!(
            table.count_active(&WireRole::Monitor, at(90 + 601)),
            0,
            "both silent for over 10 min"
        );
        assert_eq!(table.count_active(&WireRole::Dns, at(0)), 0);
    }

    #[test]
    fn traffic_refreshes_and_silence_purges() {
        let mut table = Membership::new("me", MembershipConfig::default());
        table.on_message(&join("m1", WireRole::Monitor), at(0));
        table.on_message(&join("d1", WireRole::Dns), at(0));
        table.heard("m1", at(800));
        assert_eq!(table.purge(at(901)), vec!["d1".to_owned()]);
        assert_eq!(table.status(at(901)).len(), 1);
        assert!(table.status(at(901))[0].active);
    }

    #[test]
    fn leave_removes_every_role_at_once() {
        let mut table = Membership::new("me", MembershipConfig::default());
        table.on_message(&join("n1", WireRole::Monitor), at(0));
        table.on_message(&join("n1", WireRole::Dns), at(0));
        let mut leave = join("n1", WireRole::Monitor);
        leave.kind = "leave".into();
        table.on_message(&leave, at(1));
        assert!(table.status(at(1)).is_empty());
    }

    #[test]
    fn the_table_stays_bounded_and_keeps_configured_nodes() {
        let mut table = Membership::new("me", MembershipConfig::default());
        table.set_known(["m1".to_owned(), "m2".to_owned()].into());
        table.on_message(&join("m1", WireRole::Monitor), at(0));
        // A flood of joins with new ids: the table never grows past its bound, only the
        // first new id a second is answered, and the configured monitor stays.
        let mut replies = 0;
        for i in 0..(MAX_ENTRIES + 100) {
            let id = format!("forged-{i}");
            let second = i64::try_from(i / 1000).unwrap() + 1;
            if table.on_message(&join(&id, WireRole::Monitor), at(second)) == Reaction::ReplyJoin {
                replies += 1;
            }
        }
        assert!(table.status(at(10)).len() <= MAX_ENTRIES);
        assert!(replies <= 6, "{replies} replies to forged joins");
        assert!(table.status(at(10)).iter().any(|n| n.node_id == "m1"));
        // A configured node still gets in, and an answer, with the table full.
        let reply = table.on_message(&join("m2", WireRole::Monitor), at(10));
        assert_eq!(reply, Reaction::ReplyJoin);
        assert!(table.status(at(10)).iter().any(|n| n.node_id == "m2"));
        assert_eq!(table.refused(), 0, "room was made by evicting forged ids");
    }

    #[test]
    fn with_nothing_configured_every_newcomer_is_answered() {
        let mut table = Membership::new("me", MembershipConfig::default());
        for id in ["a", "b", "c"] {
            let reply = table.on_message(&join(id, WireRole::Dns), at(0));
            assert_eq!(reply, Reaction::ReplyJoin);
        }
    }

    #[test]
    fn malformed_messages_are_logged_once_a_minute_per_sender() {
        let mut log = MalformedLog::default();
        assert!(log.record("a", at(0)));
        assert!(!log.record("a", at(30)));
        assert!(log.record("b", at(30)));
        assert!(log.record("a", at(61)));
        assert_eq!(log.total, 4);
    }
}
