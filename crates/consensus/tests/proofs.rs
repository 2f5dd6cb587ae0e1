//! Official results from a peer prove themselves: an entry is adopted only with the
//! signed finalize that decided it, verified like a live finalize (strict mode); compat
//! also takes entries without one, never a proof that fails.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use geodns_consensus::auth::{AuthMode, Trust, TrustedNode};
use geodns_consensus::engine::{Merged, Proven};
use geodns_consensus::message::{Finalize, Proposal, ProposalId, Signed, Vote};
use geodns_consensus::results::ResultEntry;
use geodns_consensus::{Engine, EngineConfig};

use common::{at, check, id, key_of};

/// A DNS node (an observer) trusting monitors M1..M3 (keys 1..3).
fn observer(mode: AuthMode) -> Engine {
    let mut nodes = BTreeMap::new();
    for (name, byte) in [("M1", 1), ("M2", 2), ("M3", 3)] {
        let entry = TrustedNode {
            key: Some(key_of(byte).public()),
            monitor: true,
        };
        nodes.insert(id(name), entry);
    }
    Engine::new(
        EngineConfig::new(id("DNS-1"), false),
        Trust::new(mode, nodes),
        None,
    )
}

fn vote(voter: &str, signer: u8) -> Signed<Vote> {
    key_of(signer).sign(Vote {
        proposal: ProposalId::parse("p-down").unwrap(),
        voter: id(voter),
        agree: true,
        timestamp: at(2),
    })
}

/// M2's passed finalize of "Amforc down", decided at `at(5)`, with `votes`.
fn finalize(votes: Vec<Signed<Vote>>) -> Signed<Finalize> {
    let proposal = Proposal {
        id: ProposalId::parse("p-down").unwrap(),
        sender: id("M1"),
        key: check(),
        status: false,
        error: "100% packet loss".into(),
        data: None,
        timestamp: at(1),
    };
    key_of(2).sign(Finalize {
        proposal,
        sender: id("M2"),
        passed: true,
        decided_at: at(5),
        votes,
    })
}

fn down(at_seconds: i64) -> ResultEntry {
    ResultEntry {
        status: false,
        error: "100% packet loss".into(),
        data: None,
        at: at(at_seconds),
    }
}

fn merged(changed: usize, unproven: usize) -> Merged {
    Merged {
        changed,
        from_the_future: 0,
        unproven,
    }
}

fn merge(engine: &mut Engine, row: Proven) -> Merged {
    engine.merge_proven([row], at(10))
}

#[test]
fn strict_adopts_a_proven_entry_and_refuses_the_rest() {
    let quorum = || vec![vote("M2", 2), vote("M3", 3)];
    let mut engine = observer(AuthMode::Strict);
    // Without a proof, a proof of another outcome, another time, or forged votes: refused.
    assert_eq!(merge(&mut engine, (check(), down(5), None)), merged(0, 1));
    let mut up = down(5);
    up.status = true;
    let wrong_status = (check(), up, Some(finalize(quorum())));
    assert_eq!(merge(&mut engine, wrong_status), merged(0, 1));
    let wrong_time = (check(), down(4), Some(finalize(quorum())));
    assert_eq!(merge(&mut engine, wrong_time), merged(0, 1));
    let forged = vec![vote("M2", 9), vote("M3", 9)];
    let forged_votes = (check(), down(5), Some(finalize(forged)));
    assert_eq!(merge(&mut engine, forged_votes), merged(0, 1));
    let one_vote = (check(), down(5), Some(finalize(vec![vote("M2", 2)])));
    assert_eq!(merge(&mut engine, one_vote), merged(0, 1), "min_votes is 2");
    assert!(engine.official().get(&check()).is_none());
    // The real decision with its quorum certificate: adopted, and kept as its proof.
    let proven = (check(), down(5), Some(finalize(quorum())));
    assert_eq!(merge(&mut engine, proven), merged(1, 0));
    assert_eq!(
        engine.official().get(&check()).map(|e| e.status),
        Some(false)
    );
    assert!(engine.proof(&check()).is_some());
    let relayed = engine.proven();
    assert_eq!(relayed.len(), 1);
    assert!(
        relayed[0].2.is_some(),
        "a relayed entry carries its proof on"
    );
}

#[test]
fn compat_takes_entries_without_a_proof_but_never_a_bad_one() {
    let mut engine = observer(AuthMode::Compat);
    let forged = vec![vote("M2", 9), vote("M3", 9)];
    assert_eq!(
        merge(&mut engine, (check(), down(5), Some(finalize(forged)))),
        merged(0, 1)
    );
    assert_eq!(merge(&mut engine, (check(), down(5), None)), merged(1, 0));
    assert!(engine.proof(&check()).is_none());
}
