//! Decisions that must not move the official results back: a replayed (or outdated)
//! passed finalize older than the entry in force, and a synced entry decided in the
//! future.

#![allow(clippy::unwrap_used)]

use super::tests::{at, key, monitor_a, node, proposal, s, set_official};
use super::*;
use crate::message::{Finalize, Signed};

#[test]
fn a_replayed_old_decision_does_not_undo_a_newer_one() {
    let mut engine = monitor_a(3);
    set_official(&mut engine, true, 100);
    let decided = |id: &str, status: bool, t: i64| Finalize {
        proposal: proposal(id, "B", "Amforc", status, t),
        sender: node("B"),
        passed: true,
        decided_at: at(t),
        votes: Vec::new(),
    };
    // Decided long before the entry in force (a captured "down" sent again).
    let replay = engine.step(
        Input::Finalize(Signed::unsigned(decided("old", false, 10))),
        at(200),
    );
    assert_eq!(s(replay), "E:outdated");
    assert_eq!(
        engine.official().get(&key("Amforc")).map(|e| e.status),
        Some(true)
    );
    assert_eq!(engine.stats().outdated, 1);
    // Within the clock allowance of the entry in force: a real, later decision.
    let skewed = engine.step(
        Input::Finalize(Signed::unsigned(decided("new", false, 97))),
        at(200),
    );
    assert_eq!(s(skewed), "O:false");
}

#[test]
fn a_synced_result_decided_in_the_future_is_refused() {
    let mut engine = monitor_a(3);
    let entry = |status: bool, t: i64| crate::results::ResultEntry {
        status,
        error: String::new(),
        data: None,
        at: at(t),
    };
    // 9999-01-01, as a poisoned sync reply would carry: no later decision could beat it.
    let poisoned = engine.merge_official([(key("Amforc"), entry(false, 253_370_764_800))], at(100));
    assert_eq!(
        poisoned,
        crate::engine::Merged {
            changed: 0,
            from_the_future: 1,
            unproven: 0,
        }
    );
    assert!(engine.official().get(&key("Amforc")).is_none());
    // Within the clocks' allowance: adopted.
    let honest = engine.merge_official([(key("Amforc"), entry(false, 104))], at(100));
    assert_eq!(honest.changed, 1);
}
