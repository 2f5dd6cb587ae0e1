//! The proposer order (`proposal_holdoff`) and copies of decided finalize messages
//! (`keep_copies`).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::tests::{at, key, node, proposal, s};
use super::*;
use crate::auth::Trust;
use crate::message::{Finalize, Signed};

const MONITORS: [&str; 3] = ["A", "B", "C"];

fn monitor(name: &str, holdoff: u64) -> Engine {
    let mut config = EngineConfig::new(node(name), true);
    config.proposal_holdoff = Duration::from_secs(holdoff);
    let mut engine = Engine::new(config, Trust::off(), None);
    let all = MONITORS.iter().map(|m| node(m)).collect();
    engine.step(Input::Monitors(all), at(0));
    engine
}

fn observe(engine: &mut Engine, ok: bool, id: &str, t: i64) -> Vec<Output> {
    let observation = Observation {
        key: key("Amforc"),
        ok,
        error: String::new(),
        data: None,
        new_id: ProposalId::parse(id).unwrap(),
    };
    engine.step(Input::Observed(observation), at(t))
}

fn proposals(outputs: &[Output]) -> Vec<Signed<crate::message::Proposal>> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Publish(Outgoing::Proposal(p)) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_change_every_monitor_sees_is_proposed_once_and_voted_on_by_the_others() {
    let mut engines: Vec<Engine> = MONITORS.iter().map(|m| monitor(m, 1)).collect();
    let mut made = Vec::new();
    for (index, engine) in engines.iter_mut().enumerate() {
        let out = observe(engine, true, &format!("p{index}"), 1);
        made.extend(proposals(&out));
    }
    // Exactly one monitor is first for this check, the same on all of them.
    assert_eq!(made.len(), 1, "{made:?}");
    let first = made.pop().unwrap();
    for engine in &mut engines {
        if engine.config().node == first.message.sender {
            continue;
        }
        let out = engine.step(Input::Proposal(first.clone()), at(1));
        assert_eq!(s(out), format!("V:{}:y", first.message.id));
        // Its own turn comes, but the change is proposed already: nothing more.
        assert_eq!(s(engine.step(Input::Tick, at(5))), "");
    }
}

#[test]
fn when_the_first_does_not_propose_the_next_ones_do_in_turn() {
    let mut engines: Vec<Engine> = MONITORS.iter().map(|m| monitor(m, 2)).collect();
    // Find the order: who proposes at once, and who after one and after two hold-offs.
    let mut waiting = Vec::new();
    for (index, engine) in engines.iter_mut().enumerate() {
        if proposals(&observe(engine, true, &format!("p{index}"), 1)).is_empty() {
            waiting.push(index);
        }
    }
    assert_eq!(waiting.len(), 2, "one monitor is first");
    // The first one's proposal is lost. After one hold-off exactly one more proposes.
    let mut proposed_at = Vec::new();
    for t in 2..=6 {
        for &index in &waiting {
            if !proposals(&engines[index].step(Input::Tick, at(t))).is_empty() {
                proposed_at.push(t);
            }
        }
    }
    proposed_at.sort();
    assert_eq!(proposed_at, [3, 5], "second after 2 s, third after 4 s");
}

#[test]
fn without_a_hold_off_every_monitor_proposes_at_once() {
    let mut engines: Vec<Engine> = MONITORS.iter().map(|m| monitor(m, 0)).collect();
    let made: usize = engines
        .iter_mut()
        .enumerate()
        .map(|(index, engine)| proposals(&observe(engine, true, &format!("p{index}"), 1)).len())
        .sum();
    assert_eq!(made, 3);
}

fn finalize(id: &str, from: &str, passed: bool, t: i64) -> Input {
    let mut proposal = proposal(id, "A", "Amforc", false, t);
    proposal.id = ProposalId::parse(id).unwrap();
    Input::Finalize(Signed::unsigned(Finalize {
        proposal,
        sender: node(from),
        passed,
        decided_at: at(t),
        votes: Vec::new(),
    }))
}

#[test]
fn copies_of_a_decided_finalize_are_ignored_unless_kept() {
    let mut config = EngineConfig::new(node("DNS-1"), false);
    config.keep_copies = false;
    let mut dns = Engine::new(config, Trust::off(), None);
    assert_eq!(s(dns.step(finalize("p1", "A", true, 1), at(1))), "O:false");
    assert_eq!(s(dns.step(finalize("p1", "B", true, 1), at(1))), "E:copy");
    assert_eq!(s(dns.step(finalize("p1", "C", false, 1), at(1))), "E:copy");
    assert_eq!(dns.stats().copies, 2);
    assert_eq!(dns.stats().received, 1);
    // A passed finalize still outranks a failed ending here: not a copy.
    assert_eq!(s(dns.step(finalize("p2", "A", false, 2), at(2))), "");
    let passed = s(dns.step(finalize("p2", "B", true, 2), at(2)));
    assert_ne!(passed, "E:copy");
    assert_eq!(dns.stats().received, 3);

    // Kept (a collator on the node logs every monitor's): each is verified and counted.
    let mut kept = Engine::new(EngineConfig::new(node("COL-1"), false), Trust::off(), None);
    kept.step(finalize("p1", "A", true, 1), at(1));
    assert_eq!(s(kept.step(finalize("p1", "B", true, 1), at(1))), "");
    assert_eq!((kept.stats().copies, kept.stats().received), (0, 2));
}
