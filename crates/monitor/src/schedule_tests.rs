//! Tests of the schedule: due order, intervals with jitter, rebuilds that keep last runs.

use std::sync::Arc;
use std::time::Duration;

use geodns_core::ids::MemberId;
use geodns_core::model::{Check, CheckKind, Probe, TcpOptions};

use super::*;
use crate::target::Target;

fn item(name: &str, member: &str, interval: u64) -> Item {
    Item {
        check: Arc::new(Check {
            name: name.into(),
            kind: CheckKind::Site,
            enabled: true,
            interval: Duration::from_secs(interval),
            timeout: Duration::from_secs(5),
            probe: Probe::Tcp(TcpOptions {
                connect_timeout: Duration::from_secs(1),
                port: Some(1),
            }),
        }),
        target: Arc::new(Target {
            member: MemberId::parse(member).unwrap(),
            service: None,
            domain: String::new(),
            endpoint: None,
            address: None,
            ipv6: false,
            port: None,
            network: None,
            state_root: None,
        }),
    }
}

#[test]
fn new_items_are_due_at_once_and_then_every_interval() {
    let t0 = Instant::now();
    let mut schedule = Schedule::default();
    schedule.rebuild(vec![item("tcp", "A", 60), item("tcp", "B", 60)], t0);
    assert_eq!(schedule.next_due(), Some(t0));
    let first = schedule.take_due(t0).unwrap();
    let second = schedule.take_due(t0).unwrap();
    assert!(schedule.take_due(t0).is_none(), "both running");
    assert_eq!(schedule.next_due(), None);
    assert!(schedule.finished(&first.key(), t0 + Duration::from_secs(2), 0.0));
    assert_eq!(schedule.next_due(), Some(t0 + Duration::from_secs(60)));
    // Jitter moves the next run by at most a tenth of the interval.
    assert!(schedule.finished(&second.key(), t0 + Duration::from_secs(2), -1.0));
    assert_eq!(schedule.next_due(), Some(t0 + Duration::from_secs(54)));
    assert!(schedule.take_due(t0 + Duration::from_secs(53)).is_none());
    let early = schedule.take_due(t0 + Duration::from_secs(54)).unwrap();
    assert_eq!(early.target.member.as_str(), "B");
}

#[test]
fn a_rebuild_keeps_last_runs_and_drops_removed_items() {
    let t0 = Instant::now();
    let mut schedule = Schedule::default();
    schedule.rebuild(vec![item("tcp", "A", 60), item("tcp", "B", 60)], t0);
    let a = schedule.take_due(t0).unwrap();
    let b = schedule.take_due(t0).unwrap();
    schedule.finished(&a.key(), t0, 0.0);
    // B is still running when the plan changes: A stays, B goes, C arrives.
    let later = t0 + Duration::from_secs(10);
    schedule.rebuild(vec![item("tcp", "A", 60), item("tcp", "C", 60)], later);
    assert_eq!(schedule.len(), 2);
    assert!(
        !schedule.finished(&b.key(), later, 0.0),
        "B's result is dropped"
    );
    let c = schedule.take_due(later).unwrap();
    assert_eq!(c.target.member.as_str(), "C", "only the new item is due");
    assert!(schedule.take_due(later).is_none(), "A keeps its last run");
    assert_eq!(schedule.next_due(), Some(t0 + Duration::from_secs(60)));
    // A shorter interval after a reload applies from A's last start.
    schedule.rebuild(vec![item("tcp", "A", 20), item("tcp", "C", 60)], later);
    assert_eq!(schedule.next_due(), Some(t0 + Duration::from_secs(20)));
}

#[test]
fn the_most_overdue_item_runs_first() {
    let t0 = Instant::now();
    let mut schedule = Schedule::default();
    schedule.rebuild(vec![item("tcp", "A", 30), item("tcp", "B", 10)], t0);
    let a = schedule.take_due(t0).unwrap();
    let b = schedule.take_due(t0).unwrap();
    schedule.finished(&a.key(), t0, 0.0);
    schedule.finished(&b.key(), t0, 0.0);
    let next = schedule.take_due(t0 + Duration::from_secs(40)).unwrap();
    assert_eq!(next.target.member.as_str(), "B");
}
