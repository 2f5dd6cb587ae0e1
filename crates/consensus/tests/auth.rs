//! Forged consensus messages against a strict (and a compat) monitor: wrong signatures,
//! unknown nodes, DNS nodes voting, unsigned messages. Each is rejected and counted, and
//! none moves the official state.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use geodns_consensus::auth::{AuthMode, PublicKey, Rejection, Trust, TrustedNode};
use geodns_consensus::engine::{Event, Observation, Outgoing};
use geodns_consensus::message::{Finalize, Proposal, ProposalId, Signature, Signed, Vote};
use geodns_consensus::{Engine, EngineConfig, Input, Output};
use geodns_core::ids::NodeId;

use common::{at, check, id, key_of};

/// Monitors M1 (us), M2, M3 with keys 1, 2, 3; DNS-1 (key 4) is trusted but not a monitor.
/// In compat mode M3 is an original node, listed without a key.
fn trust(mode: AuthMode) -> Trust {
    let mut nodes = BTreeMap::new();
    for (name, byte, monitor) in [
        ("M1", 1, true),
        ("M2", 2, true),
        ("M3", 3, true),
        ("DNS-1", 4, false),
    ] {
        let original = mode == AuthMode::Compat && name == "M3";
        let entry = TrustedNode {
            key: (!original).then(|| key_of(byte).public()),
            monitor,
        };
        nodes.insert(id(name), entry);
    }
    Trust::new(mode, nodes)
}

/// M1 with the official state up and its own result down (so it agrees with "down").
fn monitor(mode: AuthMode) -> Engine {
    let mut engine = Engine::new(
        EngineConfig::new(id("M1"), true),
        trust(mode),
        Some(key_of(1)),
    );
    let monitors: BTreeSet<NodeId> = ["M1", "M2", "M3", "DNS-1", "EVIL"]
        .into_iter()
        .map(id)
        .collect();
    engine.step(Input::Monitors(monitors), at(0));
    let finalize = Finalize {
        proposal: proposal("seed", "M2", true),
        sender: id("M2"),
        passed: true,
        decided_at: at(0),
        votes: vec![
            key_of(2).sign(vote("seed", "M2")),
            key_of(3).sign(vote("seed", "M3")),
        ],
    };
    engine.step(Input::Finalize(key_of(2).sign(finalize)), at(0));
    for n in 0..2 {
        let observation = Observation {
            key: check(),
            ok: false,
            error: "timeout".into(),
            data: None,
            new_id: ProposalId::parse(&format!("own{n}")).unwrap(),
        };
        engine.step(Input::Observed(observation), at(1));
    }
    engine
}

fn proposal(name: &str, sender: &str, status: bool) -> Proposal {
    Proposal {
        id: ProposalId::parse(name).unwrap(),
        sender: id(sender),
        key: check(),
        status,
        error: String::new(),
        data: None,
        timestamp: at(2),
    }
}

fn vote(name: &str, voter: &str) -> Vote {
    Vote {
        proposal: ProposalId::parse(name).unwrap(),
        voter: id(voter),
        agree: true,
        timestamp: at(3),
    }
}

fn rejections(outputs: &[Output]) -> Vec<Rejection> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::Rejected { reason, .. }) => Some(*reason),
            _ => None,
        })
        .collect()
}

fn official_status(engine: &Engine) -> bool {
    engine.official().get(&check()).unwrap().status
}

#[test]
fn strict_mode_rejects_every_forgery_and_counts_it() {
    let mut engine = monitor(AuthMode::Strict);
    let mut tampered = key_of(2).sign(proposal("p1", "M2", false));
    tampered.message.error = "changed after signing".into();
    let cases: Vec<(&str, Input, Rejection)> = vec![
        (
            "unsigned proposal",
            Input::Proposal(Signed::unsigned(proposal("p1", "M2", false))),
            Rejection::Unsigned,
        ),
        (
            "proposal signed by another key",
            Input::Proposal(key_of(3).sign(proposal("p1", "M2", false))),
            Rejection::BadSignature,
        ),
        (
            "proposal changed after signing",
            Input::Proposal(tampered),
            Rejection::BadSignature,
        ),
        (
            "proposal from an unknown node",
            Input::Proposal(key_of(9).sign(proposal("p1", "EVIL", false))),
            Rejection::UnknownNode,
        ),
        (
            "proposal from a DNS node",
            Input::Proposal(key_of(4).sign(proposal("p1", "DNS-1", false))),
            Rejection::NotAMonitor,
        ),
        (
            "vote from a DNS node",
            Input::Vote(key_of(4).sign(vote("p1", "DNS-1"))),
            Rejection::NotAMonitor,
        ),
        (
            "vote forged for M3",
            Input::Vote(key_of(2).sign(vote("p1", "M3"))),
            Rejection::BadSignature,
        ),
        (
            "garbage signature",
            Input::Vote(Signed {
                message: vote("p1", "M3"),
                signature: Some(Signature([7; 64])),
            }),
            Rejection::BadSignature,
        ),
        (
            "finalize from an unknown node",
            Input::Finalize(key_of(9).sign(Finalize {
                proposal: proposal("p9", "M2", false),
                sender: id("EVIL"),
                passed: true,
                decided_at: at(4),
                votes: Vec::new(),
            })),
            Rejection::UnknownNode,
        ),
        (
            "unsigned finalize",
            Input::Finalize(Signed::unsigned(Finalize {
                proposal: proposal("p9", "M2", false),
                sender: id("M2"),
                passed: true,
                decided_at: at(4),
                votes: Vec::new(),
            })),
            Rejection::Unsigned,
        ),
    ];
    let total = cases.len() as u64;
    for (what, input, want) in cases {
        let outputs = engine.step(input, at(5));
        assert_eq!(rejections(&outputs), vec![want], "{what}");
        assert!(
            !outputs
                .iter()
                .any(|o| matches!(o, Output::Publish(_) | Output::Official(_))),
            "{what}: {outputs:?}"
        );
    }
    assert!(official_status(&engine), "the official state did not move");
    assert_eq!(engine.stats().rejected.values().sum::<u64>(), total);
    // A genuine proposal and vote still pass.
    engine.step(
        Input::Proposal(key_of(2).sign(proposal("p1", "M2", false))),
        at(6),
    );
    let outputs = engine.step(Input::Vote(key_of(2).sign(vote("p1", "M2"))), at(6));
    assert!(rejections(&outputs).is_empty());
    assert!(!official_status(&engine));
}

#[test]
fn dns_node_votes_do_not_reach_a_quorum_even_when_counted_as_monitors_by_membership() {
    let mut engine = monitor(AuthMode::Strict);
    // DNS-1 and EVIL announced themselves as monitors; strict mode counts only trusted
    // monitors, so the quorum base stays 3.
    assert_eq!(engine.monitors().len(), 3);
    engine.step(
        Input::Proposal(key_of(2).sign(proposal("p1", "M2", false))),
        at(2),
    );
    let outputs = engine.step(Input::Vote(key_of(4).sign(vote("p1", "DNS-1"))), at(3));
    assert_eq!(rejections(&outputs), vec![Rejection::NotAMonitor]);
    assert!(official_status(&engine));
}

#[test]
fn compat_mode_accepts_unsigned_original_nodes_but_not_forgeries() {
    let mut engine = monitor(AuthMode::Compat);
    let cases: Vec<(&str, Input, Vec<Rejection>)> = vec![
        (
            "unsigned proposal in the name of M2, which has a key",
            Input::Proposal(Signed::unsigned(proposal("p0", "M2", false))),
            vec![Rejection::Unsigned],
        ),
        (
            "unsigned proposal from M3, listed without one",
            Input::Proposal(Signed::unsigned(proposal("p1", "M3", false))),
            vec![],
        ),
        (
            "unsigned vote from an unknown node",
            Input::Vote(Signed::unsigned(vote("p1", "EVIL"))),
            vec![Rejection::UnknownNode],
        ),
        (
            "badly signed vote from M2",
            Input::Vote(key_of(3).sign(vote("p1", "M2"))),
            vec![Rejection::BadSignature],
        ),
    ];
    for (what, input, want) in cases {
        assert_eq!(rejections(&engine.step(input, at(4))), want, "{what}");
    }
    assert!(official_status(&engine));
    engine.step(Input::Vote(Signed::unsigned(vote("p1", "M3"))), at(5));
    assert!(
        !official_status(&engine),
        "unsigned vote from configured keyless M3 counts in compat mode"
    );
}

#[test]
fn what_a_monitor_sends_is_signed_and_verifies() {
    let mut engine = monitor(AuthMode::Strict);
    let outputs = engine.step(
        Input::Proposal(key_of(2).sign(proposal("p1", "M2", false))),
        at(2),
    );
    let vote = outputs
        .iter()
        .find_map(|o| match o {
            Output::Publish(Outgoing::Vote(v)) => Some(v.clone()),
            _ => None,
        })
        .unwrap();
    assert!(trust(AuthMode::Strict).check(&vote).is_ok());
    let text = vote.signature.unwrap().to_base64();
    assert_eq!(
        Signature::from_base64(&text).unwrap(),
        vote.signature.unwrap()
    );
    assert!(
        Signature::from_base64("c2hvcnQ=")
            .unwrap_err()
            .to_string()
            .contains("5 bytes, expected 64")
    );
}

#[test]
fn public_keys_parse_from_base64_with_clear_errors() {
    let key = key_of(1).public();
    assert_eq!(PublicKey::from_base64(&key.to_base64()).unwrap(), key);
    let cases = [
        ("not base64!", "not base64"),
        ("AAAA", "3 bytes, expected 32"),
    ];
    for (text, want) in cases {
        let error = PublicKey::from_base64(text).unwrap_err().to_string();
        assert!(error.contains(want), "{text}: {error}");
    }
}

#[test]
fn a_reloaded_trust_table_and_rules_take_effect_at_once() {
    let only_m2: BTreeMap<NodeId, TrustedNode> = BTreeMap::from([(
        id("M2"),
        TrustedNode {
            key: Some(key_of(2).public()),
            monitor: true,
        },
    )]);
    let config = EngineConfig::new(id("M1"), true);
    let mut engine = Engine::new(
        config.clone(),
        Trust::new(AuthMode::Strict, only_m2),
        Some(key_of(1)),
    );
    let everyone: BTreeSet<NodeId> = ["M1", "M2", "M3", "DNS-1"].into_iter().map(id).collect();
    engine.step(Input::Monitors(everyone.clone()), at(0));
    assert_eq!(engine.monitors().len(), 2);
    let outputs = engine.step(Input::Vote(key_of(3).sign(vote("p", "M3"))), at(1));
    assert_eq!(rejections(&outputs), vec![Rejection::UnknownNode]);

    // M3 added to the configuration: its votes count, and so does it.
    engine.reconfigure(config.clone(), trust(AuthMode::Strict), at(2));
    engine.step(Input::Monitors(everyone), at(3));
    assert_eq!(engine.monitors().len(), 3);
    let outputs = engine.step(Input::Vote(key_of(3).sign(vote("p", "M3"))), at(4));
    assert!(rejections(&outputs).is_empty());

    // min_votes raised above the active monitors: frozen, and said so.
    let mut stricter = config;
    stricter.min_votes = 4;
    let outputs = engine.reconfigure(stricter, trust(AuthMode::Strict), at(5));
    let frozen = outputs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::Frozen { frozen: true, .. })));
    assert!(frozen && engine.is_frozen(), "{outputs:?}");
}

/// A passed finalize for `p` from M2, signed by M2, with these votes.
fn finalize_with(votes: Vec<Signed<Vote>>) -> Input {
    Input::Finalize(key_of(2).sign(Finalize {
        proposal: proposal("p", "M2", false),
        sender: id("M2"),
        passed: true,
        decided_at: at(4),
        votes,
    }))
}

#[test]
fn strict_mode_needs_a_quorum_certificate_to_change_official_results() {
    let disagree = |voter: &str, key: u8| {
        let mut vote = vote("p", voter);
        vote.agree = false;
        key_of(key).sign(vote)
    };
    let cases: Vec<(&str, Vec<Signed<Vote>>)> = vec![
        ("no votes: a stolen key alone", vec![]),
        ("one vote", vec![key_of(2).sign(vote("p", "M2"))]),
        (
            "the same voter twice",
            vec![
                key_of(2).sign(vote("p", "M2")),
                key_of(2).sign(vote("p", "M2")),
            ],
        ),
        (
            "a forged second vote",
            vec![
                key_of(2).sign(vote("p", "M2")),
                key_of(2).sign(vote("p", "M3")),
            ],
        ),
        (
            "a vote for another proposal",
            vec![
                key_of(2).sign(vote("p", "M2")),
                key_of(3).sign(vote("q", "M3")),
            ],
        ),
        (
            "a disagreeing vote",
            vec![key_of(2).sign(vote("p", "M2")), disagree("M3", 3)],
        ),
        (
            "a DNS node's vote",
            vec![
                key_of(2).sign(vote("p", "M2")),
                key_of(4).sign(vote("p", "DNS-1")),
            ],
        ),
    ];
    for (what, votes) in cases {
        let mut engine = monitor(AuthMode::Strict);
        let outputs = engine.step(finalize_with(votes), at(5));
        assert_eq!(rejections(&outputs), vec![Rejection::NoQuorum], "{what}");
        assert!(
            official_status(&engine),
            "{what}: the official state did not move"
        );
    }
    // Two agreeing trusted monitors: applied.
    let mut engine = monitor(AuthMode::Strict);
    let votes = vec![
        key_of(2).sign(vote("p", "M2")),
        key_of(3).sign(vote("p", "M3")),
    ];
    let outputs = engine.step(finalize_with(votes), at(5));
    assert!(rejections(&outputs).is_empty(), "{outputs:?}");
    assert!(!official_status(&engine));
    // Compat mode takes an original node's finalize, which carries no votes.
    let mut compat = monitor(AuthMode::Compat);
    compat.step(finalize_with(Vec::new()), at(5));
    assert!(!official_status(&compat));
}

#[test]
fn a_decision_here_carries_its_certificate() {
    let mut engine = monitor(AuthMode::Strict);
    engine.step(
        Input::Proposal(key_of(2).sign(proposal("p", "M2", false))),
        at(2),
    );
    let outputs = engine.step(Input::Vote(key_of(2).sign(vote("p", "M2"))), at(3));
    let finalize = outputs
        .iter()
        .find_map(|o| match o {
            Output::Publish(Outgoing::Finalize(f)) => Some(f.clone()),
            _ => None,
        })
        .unwrap();
    let voters: Vec<&str> = finalize
        .message
        .votes
        .iter()
        .map(|v| v.message.voter.as_str())
        .collect();
    assert_eq!(voters, ["M1", "M2"]);
    assert!(trust(AuthMode::Strict).check_finalize(&finalize, 2).is_ok());
}
