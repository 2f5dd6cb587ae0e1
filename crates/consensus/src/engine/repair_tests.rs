//! Repair after lost messages, across three engines wired by hand: a node that missed the
//! finalize (and the votes) of a decision catches up within one republish interval, and
//! a node that decided a proposal as failed takes another node's passed finalize.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;

use super::*;
use crate::auth::Trust;
use crate::message::{Finalize, Proposal, Signed, Vote};

fn node(name: &str) -> NodeId {
    NodeId::parse(name).unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::seconds(seconds)
}

fn key() -> CheckKey {
    CheckKey {
        kind: CheckKind::Site,
        check: "ping".into(),
        member: MemberId::parse("Amforc").unwrap(),
        domain: String::new(),
        endpoint: String::new(),
        ipv6: false,
    }
}

const NAMES: [&str; 3] = ["A", "B", "C"];

fn cluster() -> Vec<Engine> {
    let monitors: BTreeSet<NodeId> = NAMES.iter().map(|n| node(n)).collect();
    NAMES
        .iter()
        .map(|name| {
            let mut engine = Engine::new(EngineConfig::new(node(name), true), Trust::off(), None);
            engine.step(Input::Monitors(monitors.clone()), at(0));
            engine
        })
        .collect()
}

fn official(engine: &Engine) -> Option<bool> {
    engine.official().get(&key()).map(|entry| entry.status)
}

fn observe(engine: &mut Engine, index: usize, ok: bool, t: i64) -> Vec<Output> {
    engine.step(
        Input::Observed(Observation {
            key: key(),
            ok,
            error: String::new(),
            data: None,
            new_id: ProposalId::parse(&format!("{}-{t}", NAMES[index])).unwrap(),
        }),
        at(t),
    )
}

/// Delivers every published message to the other engines at time `t`, except those
/// `lose(kind, to)` drops; returns how many were dropped.
fn deliver(
    engines: &mut [Engine],
    from: usize,
    outputs: Vec<Output>,
    t: i64,
    lose: &mut impl FnMut(&str, usize) -> bool,
) -> usize {
    let mut dropped = 0;
    let mut queue: Vec<(usize, Outgoing)> = outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Publish(message) => Some((from, message)),
            _ => None,
        })
        .collect();
    while let Some((sender, message)) = queue.pop() {
        for to in (0..engines.len()).filter(|to| *to != sender) {
            let (kind, input) = match &message {
                Outgoing::Proposal(p) => ("proposal", Input::Proposal(p.clone())),
                Outgoing::Vote(v) => ("vote", Input::Vote(v.clone())),
                Outgoing::Finalize(f) => ("finalize", Input::Finalize(f.clone())),
            };
            if lose(kind, to) {
                dropped += 1;
                continue;
            }
            for output in engines[to].step(input, at(t)) {
                if let Output::Publish(reply) = output {
                    queue.push((to, reply));
                }
            }
        }
    }
    dropped
}

#[test]
fn a_node_that_missed_the_finalize_and_the_votes_converges_within_one_interval() {
    let mut engines = cluster();
    // C hears nothing from A and B but their first proposal, and loses the first
    // finalize as well: it cannot decide, and nobody tells it the outcome.
    let mut finalizes_to_c = 0;
    let mut lose = |kind: &str, to: usize| {
        if to != 2 {
            return false;
        }
        match kind {
            "vote" => true,
            "finalize" => {
                finalizes_to_c += 1;
                finalizes_to_c == 1
            }
            _ => false,
        }
    };
    for t in 0..2 {
        for index in 0..3 {
            let outputs = observe(&mut engines[index], index, false, t);
            deliver(&mut engines, index, outputs, t, &mut lose);
        }
    }
    assert_eq!(official(&engines[0]), Some(false), "A and B decided");
    assert_eq!(official(&engines[1]), Some(false));
    assert_eq!(official(&engines[2]), None, "C missed it");
    let decided = 1;
    let mut converged = None;
    for t in 2..60 {
        for index in 0..3 {
            let outputs = engines[index].step(Input::Tick, at(t));
            deliver(&mut engines, index, outputs, t, &mut lose);
        }
        if official(&engines[2]) == Some(false) {
            converged = Some(t);
            break;
        }
    }
    let republish = EngineConfig::new(node("A"), true)
        .republish_interval
        .as_secs() as i64;
    let converged = converged.expect("C never converged");
    assert!(
        converged - decided <= republish,
        "C converged {} s after the decision, more than one republish interval ({republish} s)",
        converged - decided
    );
}

#[test]
fn a_passed_finalize_outranks_a_local_failure() {
    let mut engines = cluster();
    let c = &mut engines[2];
    // C sees the proposal, votes no, and counts B's early "no": it fails the proposal.
    let proposal = Proposal {
        id: ProposalId::parse("x").unwrap(),
        sender: node("A"),
        key: key(),
        status: false,
        error: String::new(),
        data: None,
        timestamp: at(1),
    };
    c.step(
        Input::Observed(Observation {
            key: key(),
            ok: true,
            error: String::new(),
            data: None,
            new_id: ProposalId::parse("own").unwrap(),
        }),
        at(0),
    );
    c.step(Input::Proposal(Signed::unsigned(proposal.clone())), at(1));
    let early_no = Vote {
        proposal: proposal.id.clone(),
        voter: node("B"),
        agree: false,
        timestamp: at(1),
    };
    c.step(Input::Vote(Signed::unsigned(early_no)), at(1));
    assert_eq!(c.stats().failed, 1, "C decided the proposal failed");
    // B caught up and changed its vote; A counted A and B agreeing and passed it.
    let passed = Finalize {
        proposal,
        sender: node("A"),
        passed: true,
        decided_at: at(2),
        votes: Vec::new(),
    };
    c.step(Input::Finalize(Signed::unsigned(passed)), at(2));
    assert_eq!(
        official(c),
        Some(false),
        "the passed decision applies at C too"
    );
}
