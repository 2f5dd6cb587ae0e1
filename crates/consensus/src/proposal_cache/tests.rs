//! Tests of the collator's proposal cache.

#![allow(clippy::unwrap_used)]

use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;

use super::*;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn id(text: &str) -> ProposalId {
    ProposalId::parse(text).unwrap()
}

fn proposal(text: &str) -> Proposal {
    Proposal {
        id: id(text),
        sender: NodeId::parse("M1").unwrap(),
        key: CheckKey {
            kind: CheckKind::Site,
            check: "ping".into(),
            member: MemberId::parse("Amforc").unwrap(),
            domain: String::new(),
            endpoint: String::new(),
            ipv6: false,
        },
        status: false,
        error: "timeout".into(),
        data: None,
        timestamp: at(0),
    }
}

fn vote(proposal: &str, voter: &str, agree: bool) -> Vote {
    Vote {
        proposal: id(proposal),
        voter: NodeId::parse(voter).unwrap(),
        agree,
        timestamp: at(0),
    }
}

#[test]
fn the_first_finalize_takes_the_votes_and_later_ones_do_not_erase_them() {
    let mut cache = ProposalCache::new(CacheLimits::default());
    cache.on_vote(&vote("p", "M2", true), at(0));
    cache.on_proposal(&proposal("p"), at(1));
    cache.on_vote(&vote("p", "M1", true), at(1));
    cache.on_vote(&vote("p", "M3", false), at(2));
    let Popped::Votes(votes) = cache.pop(&id("p"), at(3)) else {
        panic!("votes expected");
    };
    let summary: Vec<(String, bool)> = votes.iter().map(|(n, a)| (n.to_string(), *a)).collect();
    assert_eq!(
        summary,
        [
            ("M1".into(), true),
            ("M2".into(), true),
            ("M3".into(), false)
        ]
    );
    assert_eq!(cache.pop(&id("p"), at(4)), Popped::AlreadyHandled);
    assert_eq!(cache.pop(&id("q"), at(4)), Popped::Unknown);
    assert_eq!(cache.pop(&id("q"), at(4)), Popped::AlreadyHandled);
}

#[test]
fn entries_expire_after_ten_minutes() {
    let mut cache = ProposalCache::new(CacheLimits::default());
    cache.on_proposal(&proposal("old"), at(0));
    cache.on_proposal(&proposal("new"), at(300));
    assert_eq!(cache.expire(at(599)), 0);
    assert_eq!(cache.expire(at(600)), 1);
    assert!(!cache.has_proposal(&id("old")));
    assert!(cache.has_proposal(&id("new")));
    assert_eq!(cache.expire(at(900)), 1);
    assert!(cache.is_empty());
}

#[test]
fn a_flood_of_proposals_and_votes_stays_within_the_bounds() {
    let limits = CacheLimits {
        max_entries: 1_000,
        max_votes: 8,
        ..CacheLimits::default()
    };
    let mut cache = ProposalCache::new(limits);
    for n in 0..100_000 {
        cache.on_proposal(&proposal(&format!("p{n}")), at(n / 100));
        cache.on_vote(&vote("hot", &format!("N{n}"), true), at(n / 100));
    }
    assert_eq!(cache.len(), 1_000);
    assert!(cache.evicted() >= 99_000);
    // The newest proposals are the ones kept.
    assert!(cache.has_proposal(&id("p99999")));
    assert!(!cache.has_proposal(&id("p0")));
}
