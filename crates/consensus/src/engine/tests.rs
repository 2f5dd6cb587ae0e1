//! Rule-by-rule tests of the state machine, one node at a time, messages fed by hand.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;

use super::*;
use crate::auth::Trust;
use crate::message::{Finalize, Proposal, Signed, Vote};
use crate::policy::Policy;

pub(super) fn node(name: &str) -> NodeId {
    NodeId::parse(name).unwrap()
}

pub(super) fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::seconds(seconds)
}

pub(super) fn key(member: &str) -> CheckKey {
    CheckKey {
        kind: CheckKind::Endpoint,
        check: "wss".into(),
        member: MemberId::parse(member).unwrap(),
        domain: "rpc.example.net".into(),
        endpoint: "wss://rpc.example.net".into(),
        ipv6: false,
    }
}

fn pid(text: &str) -> ProposalId {
    ProposalId::parse(text).unwrap()
}

/// Monitor `A` of a cluster of `monitors` monitors (`A`, `B`, ...), auth off.
fn engine_with(monitors: usize, tune: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut config = EngineConfig::new(node("A"), true);
    tune(&mut config);
    let mut engine = Engine::new(config, Trust::off(), None);
    engine.step(Input::Monitors(names(monitors)), at(0));
    engine
}

pub(super) fn monitor_a(monitors: usize) -> Engine {
    engine_with(monitors, |_| {})
}

fn names(count: usize) -> BTreeSet<NodeId> {
    (0..count)
        .map(|i| node(&char::from(b'A' + i as u8).to_string()))
        .collect()
}

fn observe(engine: &mut Engine, member: &str, ok: bool, id: &str, t: i64) -> Vec<Output> {
    engine.step(
        Input::Observed(Observation {
            key: key(member),
            ok,
            error: if ok { String::new() } else { "timeout".into() },
            data: None,
            new_id: pid(id),
        }),
        at(t),
    )
}

pub(super) fn proposal(id: &str, from: &str, member: &str, status: bool, t: i64) -> Proposal {
    Proposal {
        id: pid(id),
        sender: node(from),
        key: key(member),
        status,
        error: String::new(),
        data: None,
        timestamp: at(t),
    }
}

fn propose_in(engine: &mut Engine, id: &str, from: &str, status: bool, t: i64) -> Vec<Output> {
    let message = proposal(id, from, "Amforc", status, t);
    engine.step(Input::Proposal(Signed::unsigned(message)), at(t))
}

fn vote_in(engine: &mut Engine, id: &str, from: &str, agree: bool, t: i64) -> Vec<Output> {
    let vote = Vote {
        proposal: pid(id),
        voter: node(from),
        agree,
        timestamp: at(t),
    };
    engine.step(Input::Vote(Signed::unsigned(vote)), at(t))
}

/// A compact view of outputs: `P:id` proposal, `V:id:y|n` vote, `F:id:pass|fail`,
/// `O:status` official change, `L:status` local change, `E:...` events.
fn summary(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .map(|output| match output {
            Output::Publish(Outgoing::Proposal(p)) => format!("P:{}", p.message.id),
            Output::Publish(Outgoing::Vote(v)) => {
                format!(
                    "V:{}:{}",
                    v.message.proposal,
                    if v.message.agree { "y" } else { "n" }
                )
            }
            Output::Publish(Outgoing::Finalize(f)) => format!(
                "F:{}:{}",
                f.message.proposal.id,
                if f.message.passed { "pass" } else { "fail" }
            ),
            Output::Official(change) => format!("O:{}", change.entry.status),
            Output::Local { status, .. } => format!("L:{status}"),
            Output::Event(Event::Decided { passed, .. }) => format!("E:decided:{passed}"),
            Output::Event(Event::Frozen { frozen, .. }) => format!("E:frozen:{frozen}"),
            Output::Event(Event::Maintenance { member, on }) => format!("E:maint:{member}:{on}"),
            Output::Event(Event::Dropped { what }) => format!("E:dropped:{what}"),
            Output::Event(Event::Rejected { reason, .. }) => format!("E:rejected:{reason}"),
            Output::Event(Event::Outdated { .. }) => "E:outdated".to_owned(),
            Output::Event(Event::Copy) => "E:copy".to_owned(),
        })
        .collect()
}

pub(super) fn s(outputs: Vec<Output>) -> String {
    summary(&outputs).join(" ")
}

/// Makes the official state of Amforc `status` through a received finalize.
pub(super) fn set_official(engine: &mut Engine, status: bool, t: i64) {
    let finalize = Finalize {
        proposal: proposal("seed", "B", "Amforc", status, t),
        sender: node("B"),
        passed: true,
        decided_at: at(t),
        votes: Vec::new(),
    };
    engine.step(Input::Finalize(Signed::unsigned(finalize)), at(t));
}

#[test]
fn a_monitor_proposes_when_its_result_differs_from_the_official_one() {
    // No official result yet: the first result is proposed (the original's fresh start).
    let mut fresh = monitor_a(3);
    assert_eq!(
        s(observe(&mut fresh, "Amforc", true, "p1", 1)),
        "L:true P:p1 V:p1:y"
    );

    // Official up, local up: nothing to propose.
    let mut agreeing = monitor_a(3);
    set_official(&mut agreeing, true, 0);
    assert_eq!(s(observe(&mut agreeing, "Amforc", true, "p1", 1)), "L:true");
    assert_eq!(s(observe(&mut agreeing, "Amforc", true, "p2", 2)), "");
}

#[test]
fn hysteresis_needs_fall_failures_in_a_row_before_proposing_down() {
    let mut engine = monitor_a(3);
    set_official(&mut engine, true, 0);
    observe(&mut engine, "Amforc", true, "p0", 1);
    let steps = [
        (false, "p1", ""),
        (true, "p2", ""),
        (false, "p3", ""),
        (false, "p4", "L:false P:p4 V:p4:y"),
    ];
    for (index, (ok, id, want)) in steps.into_iter().enumerate() {
        let got = s(observe(&mut engine, "Amforc", ok, id, 2 + index as i64));
        assert_eq!(got, want, "step {index}");
    }

    // With fall = 1 (the original), one failure is enough.
    let mut original = engine_with(3, |c| {
        c.hysteresis = crate::hysteresis::Hysteresis { fall: 1, rise: 1 }
    });
    set_official(&mut original, true, 0);
    observe(&mut original, "Amforc", true, "p0", 1);
    assert_eq!(
        s(observe(&mut original, "Amforc", false, "p1", 2)),
        "L:false P:p1 V:p1:y"
    );
}

#[test]
fn matching_open_proposals_are_deduplicated_and_republished_after_ten_seconds() {
    let mut engine = monitor_a(3);
    assert_eq!(
        s(observe(&mut engine, "Amforc", true, "p1", 0)),
        "L:true P:p1 V:p1:y"
    );
    // Same status again: no new proposal, the vote is not re-sent either.
    assert_eq!(s(observe(&mut engine, "Amforc", true, "p2", 5)), "");
    // Ten seconds after the broadcast: the same proposal and vote go out again.
    assert_eq!(
        s(observe(&mut engine, "Amforc", true, "p3", 10)),
        "P:p1 V:p1:y"
    );
    assert_eq!(engine.pending().proposals, 1);
    assert_eq!(engine.stats().proposed, 1);
}

#[test]
fn votes_agree_disagree_or_abstain_on_the_local_result() {
    let cases = [
        // (local result, proposed status, vote)
        (Some(true), true, "V:x:y"),
        (Some(true), false, "V:x:n"),
        (Some(false), false, "V:x:y"),
        (None, false, ""),
    ];
    for (local, status, want) in cases {
        let mut engine = monitor_a(3);
        if let Some(ok) = local {
            set_official(&mut engine, ok, 0);
            observe(&mut engine, "Amforc", ok, "own", 0);
        }
        let got = s(propose_in(&mut engine, "x", "B", status, 1));
        assert_eq!(got, want, "local {local:?} proposed {status}");
    }
}

#[test]
fn a_majority_of_at_least_two_passes_or_fails_a_proposal() {
    let mut engine = monitor_a(3);
    set_official(&mut engine, true, 0);
    observe(&mut engine, "Amforc", false, "own", 0);
    observe(&mut engine, "Amforc", false, "own", 0);
    assert_eq!(s(propose_in(&mut engine, "x", "B", false, 1)), "V:x:y");
    assert_eq!(
        s(vote_in(&mut engine, "x", "B", true, 2)),
        "O:false E:decided:true F:x:pass"
    );
    assert!(!engine.official().get(&key("Amforc")).unwrap().status);
    // A late vote changes nothing. Just after the decision it is merely in flight; a
    // republish interval later its voter evidently missed the finalize, which is sent
    // again, at most once per interval.
    assert_eq!(s(vote_in(&mut engine, "x", "C", false, 3)), "");
    assert_eq!(s(vote_in(&mut engine, "x", "C", false, 12)), "F:x:pass");
    assert_eq!(s(vote_in(&mut engine, "x", "C", false, 13)), "");
    assert_eq!(s(vote_in(&mut engine, "x", "C", false, 22)), "F:x:pass");
    assert!(!engine.official().get(&key("Amforc")).unwrap().status);

    let mut refusing = monitor_a(3);
    set_official(&mut refusing, true, 0);
    observe(&mut refusing, "Amforc", true, "own", 0);
    assert_eq!(s(propose_in(&mut refusing, "x", "B", false, 1)), "V:x:n");
    assert_eq!(
        s(vote_in(&mut refusing, "x", "C", false, 2)),
        "E:decided:false F:x:fail"
    );
    assert!(refusing.official().get(&key("Amforc")).unwrap().status);

    // Each decision came one second after its proposal arrived: the 1000 ms bucket.
    for decided in [&engine, &refusing] {
        let stats = decided.stats();
        let bucket = super::DECISION_BUCKETS_MS.iter().position(|&b| b == 1000);
        assert_eq!(stats.decision_ms.iter().sum::<u64>(), 1);
        assert_eq!(stats.decision_ms[bucket.unwrap()], 1);
        assert_eq!(stats.decision_ms_sum, 1000);
    }
}

#[test]
fn votes_that_arrive_before_their_proposal_are_buffered_then_counted() {
    let mut engine = monitor_a(3);
    observe(&mut engine, "Amforc", false, "own", 0);
    set_official(&mut engine, true, 0);
    assert_eq!(s(vote_in(&mut engine, "x", "C", true, 1)), "");
    assert_eq!(engine.pending().orphan_votes, 1);
    assert_eq!(
        s(propose_in(&mut engine, "x", "B", false, 2)),
        "V:x:y O:false E:decided:true F:x:pass"
    );
    assert_eq!(engine.pending().orphan_votes, 0);

    // Unclaimed early votes are dropped after two minutes.
    vote_in(&mut engine, "y", "C", true, 10);
    engine.step(Input::Tick, at(129));
    assert_eq!(engine.pending().orphan_votes, 1);
    engine.step(Input::Tick, at(130));
    assert_eq!(engine.pending().orphan_votes, 0);
}

#[test]
fn an_undecided_proposal_is_retried_three_times_then_fails() {
    let mut engine = monitor_a(3);
    observe(&mut engine, "Amforc", false, "p1", 0);
    let mut log = Vec::new();
    for t in [29, 30, 60, 90, 119, 120] {
        let outputs = engine.step(Input::Tick, at(t));
        let kept: Vec<String> = summary(&outputs)
            .into_iter()
            .filter(|line| !line.starts_with("P:") && !line.starts_with("V:"))
            .collect();
        log.push(format!("{t}:{}", kept.join(",")));
    }
    assert_eq!(
        log,
        [
            "29:",
            "30:",
            "60:",
            "90:",
            "119:",
            "120:E:decided:false,F:p1:fail"
        ]
    );
    assert_eq!(engine.stats().retries, 3);
    assert_eq!(engine.pending().proposals, 0);
}

#[test]
fn one_monitor_alone_is_frozen_unless_single_node_mode_is_configured() {
    // min_votes 2 and one monitor: frozen from the start, nothing passes.
    let mut alone = monitor_a(1);
    assert!(alone.is_frozen());
    assert_eq!(
        s(observe(&mut alone, "Amforc", false, "p1", 0)),
        "L:false P:p1 V:p1:y"
    );
    assert!(alone.official().is_empty());
    // A second monitor joining unfreezes it; its leaving freezes it again.
    assert_eq!(
        s(alone.step(Input::Monitors(names(2)), at(1))),
        "E:frozen:false"
    );
    assert_eq!(
        s(alone.step(Input::Monitors(names(1)), at(2))),
        "E:frozen:true"
    );

    // Single-node mode: min_votes 1.
    let mut single = engine_with(1, |c| c.min_votes = 1);
    assert!(!single.is_frozen());
    assert_eq!(
        s(observe(&mut single, "Amforc", false, "p1", 0)),
        "L:false P:p1 V:p1:y O:false E:decided:true F:p1:pass"
    );
}

#[test]
fn a_monitor_that_leaves_stops_counting_at_once() {
    let mut engine = monitor_a(5);
    set_official(&mut engine, true, 0);
    observe(&mut engine, "Amforc", false, "own", 0);
    observe(&mut engine, "Amforc", false, "own", 0);
    propose_in(&mut engine, "x", "B", false, 1);
    // A and B agree: 2 of 5 is no majority.
    assert_eq!(s(vote_in(&mut engine, "x", "B", true, 2)), "");
    // D and E leave: 2 of 3 is.
    let remaining: BTreeSet<NodeId> = ["A", "B", "C"].into_iter().map(node).collect();
    assert_eq!(
        s(engine.step(Input::Monitors(remaining), at(3))),
        "O:false E:decided:true F:x:pass"
    );
}

#[test]
fn votes_of_nodes_that_are_not_active_monitors_do_not_count() {
    let mut engine = monitor_a(3);
    set_official(&mut engine, true, 0);
    observe(&mut engine, "Amforc", false, "own", 0);
    observe(&mut engine, "Amforc", false, "own", 0);
    propose_in(&mut engine, "x", "B", false, 1);
    assert_eq!(s(vote_in(&mut engine, "x", "DNS-1", true, 2)), "");
    assert_eq!(s(vote_in(&mut engine, "x", "Z", true, 2)), "");
    assert_eq!(
        s(vote_in(&mut engine, "x", "C", true, 2)),
        "O:false E:decided:true F:x:pass"
    );
}

#[test]
fn finalize_messages_apply_passed_proposals_once() {
    let mut engine = monitor_a(3);
    let passed = |id: &str, status: bool, passed: bool| Finalize {
        proposal: proposal(id, "B", "Amforc", status, 1),
        sender: node("B"),
        passed,
        decided_at: at(1),
        votes: Vec::new(),
    };
    let cases = [
        (passed("f1", false, true), "O:false"),
        (passed("f1", false, true), ""),
        (passed("f2", true, false), ""),
        (passed("f3", true, true), "O:true"),
        (passed("f4", true, true), ""),
    ];
    for (index, (finalize, want)) in cases.into_iter().enumerate() {
        let got = s(engine.step(Input::Finalize(Signed::unsigned(finalize)), at(2)));
        assert_eq!(got, want, "finalize {index}");
    }
}

#[test]
fn a_proposer_that_missed_the_finalize_gets_it_again() {
    let mut engine = monitor_a(3);
    set_official(&mut engine, true, 0);
    observe(&mut engine, "Amforc", false, "own", 0);
    observe(&mut engine, "Amforc", false, "own", 0);
    propose_in(&mut engine, "x", "B", false, 1);
    vote_in(&mut engine, "x", "B", true, 1);
    assert_eq!(s(propose_in(&mut engine, "x", "B", false, 11)), "F:x:pass");
    assert_eq!(s(propose_in(&mut engine, "x", "B", false, 12)), "");
}

#[test]
fn a_duplicated_proposal_is_voted_on_once_and_the_vote_repaired_by_ticks() {
    let mut engine = monitor_a(3);
    observe(&mut engine, "Amforc", true, "own", 0);
    let first = s(propose_in(&mut engine, "x", "B", false, 1));
    assert_eq!(first, "V:x:n");
    // A copy or a re-send of the proposal draws no new vote: repairs are the tick's,
    // every half republish interval (bounded per tick), with the same signed vote.
    assert_eq!(s(propose_in(&mut engine, "x", "B", false, 2)), "");
    assert_eq!(s(propose_in(&mut engine, "x", "B", false, 11)), "");
    // (Its own proposal of the opposite change is re-sent with its vote as well.)
    let mut resent = summary(&engine.step(Input::Tick, at(11)));
    resent.sort();
    assert_eq!(resent, ["P:own", "V:own:y", "V:x:n"]);
    assert_eq!(s(engine.step(Input::Tick, at(12))), "");
}

#[test]
fn members_in_maintenance_are_neither_checked_nor_voted_on() {
    let mut engine = monitor_a(3);
    let members: BTreeSet<MemberId> = [MemberId::parse("Amforc").unwrap()].into();
    assert_eq!(
        s(engine.step(Input::Maintenance(members), at(0))),
        "E:maint:Amforc:true"
    );
    assert_eq!(s(observe(&mut engine, "Amforc", false, "p1", 1)), "");
    assert_eq!(s(propose_in(&mut engine, "x", "B", false, 2)), "");
    assert!(!engine.official().is_member_online(
        "rpc.example.net",
        &MemberId::parse("Amforc").unwrap(),
        crate::results::IpFamily::V4
    ));
    assert_eq!(
        s(engine.step(Input::Maintenance(BTreeSet::new()), at(3))),
        "E:maint:Amforc:false"
    );
}

#[test]
fn bounds_drop_and_count_instead_of_growing() {
    let mut engine = engine_with(3, |c| {
        c.max_proposals = 2;
        c.max_orphan_votes = 1;
    });
    propose_in(&mut engine, "a", "B", false, 0);
    propose_in(&mut engine, "b", "B", false, 0);
    assert_eq!(
        s(propose_in(&mut engine, "c", "B", false, 0)),
        "E:dropped:proposal"
    );
    vote_in(&mut engine, "y", "C", true, 0);
    assert_eq!(s(vote_in(&mut engine, "z", "C", true, 0)), "E:dropped:vote");
    assert_eq!(engine.pending().proposals, 2);
    assert_eq!(engine.pending().orphan_votes, 1);
    assert_eq!(engine.stats().dropped, 2);
}

#[test]
fn threshold_policies_decide_on_health_not_agreement() {
    // Healthy above 50 % of 4: one up vote from B and our own up are not enough for up.
    let mut engine = engine_with(4, |c| c.policy = Policy::HealthyAbove { percent: 50 });
    observe(&mut engine, "Amforc", true, "own", 0);
    set_official(&mut engine, false, 0);
    propose_in(&mut engine, "x", "B", true, 1);
    assert_eq!(s(vote_in(&mut engine, "x", "B", true, 2)), "");
    assert_eq!(
        s(vote_in(&mut engine, "x", "C", true, 2)),
        "O:true E:decided:true F:x:pass"
    );
}

#[test]
fn non_voters_only_apply_finalized_decisions() {
    let mut dns = Engine::new(EngineConfig::new(node("DNS-1"), false), Trust::off(), None);
    assert!(!dns.is_frozen());
    assert_eq!(s(observe(&mut dns, "Amforc", false, "p1", 0)), "");
    assert_eq!(s(propose_in(&mut dns, "x", "B", false, 1)), "");
    assert_eq!(s(vote_in(&mut dns, "x", "B", true, 1)), "");
    set_official(&mut dns, false, 2);
    assert!(!dns.official().get(&key("Amforc")).unwrap().status);
    assert_eq!(dns.pending().proposals, 0);
    assert_eq!(dns.pending().orphan_votes, 0);
}

#[test]
fn a_node_still_acting_on_a_moot_proposal_gets_it_closed() {
    // B and C both proposed "down"; C's passed here first, which ends B's as moot.
    let mut engine = monitor_a(3);
    set_official(&mut engine, true, 0);
    observe(&mut engine, "Amforc", false, "own", 0);
    observe(&mut engine, "Amforc", false, "own", 0);
    propose_in(&mut engine, "b", "B", false, 1);
    let c = proposal("c", "C", "Amforc", false, 1);
    engine.step(Input::Proposal(Signed::unsigned(c)), at(1));
    assert_eq!(
        s(vote_in(&mut engine, "c", "C", true, 2)),
        "O:false E:decided:true F:c:pass"
    );
    assert_eq!(engine.pending().proposals, 0, "b ended as moot");
    // B re-sends its proposal (its official state may differ): it gets a finalize that
    // closes b without applying it, so B proposes afresh.
    let outputs = propose_in(&mut engine, "b", "B", false, 12);
    let closing = outputs.iter().find_map(|o| match o {
        Output::Publish(Outgoing::Finalize(f)) => Some(f.message.clone()),
        _ => None,
    });
    let closing = closing.unwrap();
    assert_eq!((closing.proposal.id.as_str(), closing.passed), ("b", false));
    assert_eq!(closing.sender.as_str(), "A");
}

#[test]
fn a_proposal_whose_proposer_went_quiet_is_relayed() {
    let mut engine = monitor_a(3);
    observe(&mut engine, "Amforc", true, "own", 0);
    // B's proposal; A disagrees, so it stays open.
    propose_in(&mut engine, "x", "B", false, 1);
    let relayed = |outputs: Vec<Output>| summary(&outputs).contains(&"P:x".to_owned());
    assert!(!relayed(engine.step(Input::Tick, at(20))));
    // B re-sent it at 15: not quiet yet at 30.
    propose_in(&mut engine, "x", "B", false, 15);
    assert!(!relayed(engine.step(Input::Tick, at(30))));
    // Quiet for two republish intervals: relayed once, then again two intervals later.
    assert!(relayed(engine.step(Input::Tick, at(35))));
    assert!(!relayed(engine.step(Input::Tick, at(45))));
    assert!(relayed(engine.step(Input::Tick, at(55))));
}

#[test]
fn absurd_durations_in_the_configuration_do_not_overflow() {
    let mut engine = engine_with(3, |c| {
        c.proposal_timeout = std::time::Duration::MAX;
        c.republish_interval = std::time::Duration::MAX;
        c.proposal_ttl = std::time::Duration::MAX;
        c.orphan_vote_ttl = std::time::Duration::MAX;
    });
    observe(&mut engine, "Amforc", false, "p1", 0);
    propose_in(&mut engine, "x", "B", true, 1);
    vote_in(&mut engine, "y", "C", true, 2);
    engine.step(Input::Tick, at(3));
    assert_eq!(engine.pending().proposals, 2);
}
