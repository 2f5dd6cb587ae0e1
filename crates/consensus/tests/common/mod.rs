//! What the consensus integration tests share: node ids, times, keys by seed byte, and
//! the check they vote on.

#![allow(clippy::unwrap_used, dead_code)]

use chrono::{DateTime, Utc};
use geodns_consensus::auth::NodeKey;
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;

pub(crate) fn id(name: &str) -> NodeId {
    NodeId::parse(name).unwrap()
}

pub(crate) fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

/// A node key from a seed of 32 `byte`s.
pub(crate) fn key_of(byte: u8) -> NodeKey {
    NodeKey::from_seed([byte; 32])
}

/// The site ping check of member Amforc.
pub(crate) fn check() -> CheckKey {
    CheckKey {
        kind: CheckKind::Site,
        check: "ping".into(),
        member: MemberId::parse("Amforc").unwrap(),
        domain: String::new(),
        endpoint: String::new(),
        ipv6: false,
    }
}
