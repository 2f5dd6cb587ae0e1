//! Tests of the result snapshots and the online predicate.

#![allow(clippy::unwrap_used)]

use super::*;

fn member(name: &str) -> MemberId {
    MemberId::parse(name).unwrap()
}

fn check(kind: CheckKind, member_name: &str, domain: &str, ipv6: bool) -> CheckKey {
    CheckKey {
        kind,
        check: "c".into(),
        member: member(member_name),
        domain: domain.into(),
        endpoint: if kind == CheckKind::Endpoint {
            format!("wss://{domain}/x")
        } else {
            String::new()
        },
        ipv6,
    }
}

fn result(status: bool) -> ResultEntry {
    ResultEntry {
        status,
        error: String::new(),
        data: None,
        at: DateTime::from_timestamp(0, 0).unwrap(),
    }
}

#[test]
fn online_follows_site_then_domain_then_endpoint_results_per_family() {
    let amforc = member("Amforc");
    let mut store = Results::new();
    // Nothing decided yet: permissive, as the original.
    assert!(
        store
            .snapshot()
            .is_member_online("a.example", &amforc, IpFamily::V4)
    );

    store.set(check(CheckKind::Site, "Amforc", "", false), result(true));
    store.set(
        check(CheckKind::Domain, "Amforc", "a.example", false),
        result(true),
    );
    let cases = [
        // (what goes down, domain asked, family, online)
        (
            check(CheckKind::Endpoint, "Amforc", "A.Example", false),
            "a.example",
            IpFamily::V4,
            false,
        ),
        (
            check(CheckKind::Endpoint, "Amforc", "a.example", false),
            "b.example",
            IpFamily::V4,
            true,
        ),
        (
            check(CheckKind::Endpoint, "Amforc", "a.example", false),
            "a.example",
            IpFamily::V6,
            true,
        ),
        (
            check(CheckKind::Domain, "amforc", "a.example", true),
            "a.example",
            IpFamily::V6,
            false,
        ),
        (
            check(CheckKind::Site, "AMFORC", "", false),
            "b.example",
            IpFamily::V4,
            false,
        ),
        (
            check(CheckKind::Site, "Amforc", "", true),
            "a.example",
            IpFamily::V4,
            true,
        ),
        (
            check(CheckKind::Site, "Other", "", false),
            "a.example",
            IpFamily::V4,
            true,
        ),
    ];
    for (index, (down, domain, family, want)) in cases.into_iter().enumerate() {
        let mut store = store.clone();
        store.set(down.clone(), result(false));
        let snapshot = store.snapshot();
        assert_eq!(
            snapshot.is_member_online(domain, &amforc, family),
            want,
            "case {index}"
        );
        // Back up: online again, and the index holds nothing stale.
        store.set(down, result(true));
        assert!(
            store.snapshot().is_member_online(domain, &amforc, family),
            "case {index} up"
        );
    }
}

#[test]
fn readers_keep_their_snapshot_while_the_writer_moves_on() {
    let mut store = Results::new();
    let key = check(CheckKind::Site, "Amforc", "", false);
    store.set(key.clone(), result(true));
    let before = store.snapshot();
    store.set(key.clone(), result(false));
    assert!(before.get(&key).unwrap().status);
    assert!(!store.snapshot().get(&key).unwrap().status);
    assert!(store.snapshot().version() > before.version());
    store.remove(&key);
    assert!(store.snapshot().is_empty());
    assert!(
        store
            .snapshot()
            .is_member_online("x", &member("Amforc"), IpFamily::V4)
    );
}

#[test]
fn maintenance_takes_a_member_out_of_answers_and_reports_changes() {
    let mut store = Results::new();
    let amforc = member("Amforc");
    let changes = store.set_maintenance([amforc.clone()].into());
    assert_eq!(changes, vec![(amforc.clone(), true)]);
    assert!(store.set_maintenance([amforc.clone()].into()).is_empty());
    assert!(
        !store
            .snapshot()
            .is_member_online("a", &amforc, IpFamily::V4)
    );
    assert_eq!(
        store.set_maintenance(BTreeSet::new()),
        vec![(amforc.clone(), false)]
    );
    assert!(
        store
            .snapshot()
            .is_member_online("a", &amforc, IpFamily::V4)
    );
}
