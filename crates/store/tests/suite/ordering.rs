//! Repeated, late and reordered decisions: each changes the history at most once.

use std::time::Duration;

use chrono::TimeDelta;
use geodns_store::{
    CloseOutcome, ClusterStore, Message, MessageQuery, OpenOutcome, OutageFilter, OutageStore,
    RecordOutcome, SqlStore,
};

use crate::harness::{Kind, finish, fresh};
use crate::outages::{at, check, start};

pub async fn copies_of_a_decision_change_history_once(store: SqlStore, _: Kind) {
    let key = check("Amforc", "polkadot.dotters.network");
    let outage = start(key.clone(), 0);
    let OpenOutcome::Opened { id } = store.open_outage(&outage).await.unwrap() else {
        panic!("first open must open")
    };
    assert!(matches!(
        store.close_outage(&key, at(5)).await.unwrap(),
        CloseOutcome::Closed { .. }
    ));
    // Another collator (or a repeated finalize) replays both decisions afterwards.
    assert_eq!(
        store.open_outage(&outage).await.unwrap(),
        OpenOutcome::AlreadyRecorded { id }
    );
    assert_eq!(
        store.close_outage(&key, at(5)).await.unwrap(),
        CloseOutcome::AlreadyClosed { id }
    );
    let all = store.outages(&OutageFilter::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].end, Some(at(5)));
}

pub async fn a_late_open_does_not_reopen_or_end_newer_history(store: SqlStore, _: Kind) {
    let key = check("Amforc", "polkadot.dotters.network");
    store.open_outage(&start(key.clone(), 0)).await.unwrap();
    store.close_outage(&key, at(5)).await.unwrap();
    let OpenOutcome::Opened { id: newer } =
        store.open_outage(&start(key.clone(), 10)).await.unwrap()
    else {
        panic!("a new outage opens")
    };
    // An open decided at minute 3 arrives now: history is past it.
    assert!(matches!(
        store.open_outage(&start(key.clone(), 3)).await.unwrap(),
        OpenOutcome::Stale { .. }
    ));
    // A close decided at minute 7 (before the newer outage began) must not end it.
    assert_eq!(
        store.close_outage(&key, at(7)).await.unwrap(),
        CloseOutcome::Stale { id: newer }
    );
    assert_eq!(store.current_outages().await.unwrap()[0].id, newer);
    assert_eq!(
        store.outages(&OutageFilter::default()).await.unwrap().len(),
        2
    );
}

pub async fn a_close_before_its_open_records_a_closed_outage(store: SqlStore, _: Kind) {
    let key = check("Amforc", "polkadot.dotters.network");
    assert_eq!(
        store.close_outage(&key, at(5)).await.unwrap(),
        CloseOutcome::NothingToClose
    );
    let outage = start(key.clone(), 1);
    let RecordOutcome::Recorded { id, duration } =
        store.record_closed_outage(&outage, at(5)).await.unwrap()
    else {
        panic!("the closed outage is recorded")
    };
    assert_eq!(duration, Duration::from_secs(240));
    assert_eq!(
        store.record_closed_outage(&outage, at(5)).await.unwrap(),
        RecordOutcome::AlreadyRecorded { id }
    );
    // The open arriving after all is a copy of it; so is the close.
    assert_eq!(
        store.open_outage(&outage).await.unwrap(),
        OpenOutcome::AlreadyRecorded { id }
    );
    assert_eq!(
        store.close_outage(&key, at(5)).await.unwrap(),
        CloseOutcome::AlreadyClosed { id }
    );
    assert!(store.current_outages().await.unwrap().is_empty());
    let all = store.outages(&OutageFilter::default()).await.unwrap();
    assert_eq!(
        (all.len(), all[0].start, all[0].end),
        (1, at(1), Some(at(5)))
    );
    // Another monitor's copy of the open, decided a little later, overlaps it.
    assert_eq!(
        store
            .record_closed_outage(&start(key.clone(), 2), at(6))
            .await
            .unwrap(),
        RecordOutcome::AlreadyRecorded { id }
    );
    let mut backwards = outage.clone();
    backwards.start = at(9);
    assert!(store.record_closed_outage(&backwards, at(5)).await.is_err());
}

pub async fn short_closed_outages_follow_the_flap_rule(_: SqlStore, kind: Kind) {
    let (store, database) = fresh(kind, |c| {
        c.drop_outages_shorter_than = Some(Duration::from_secs(120))
    })
    .await;
    let key = check("Amforc", "polkadot.dotters.network");
    assert!(matches!(
        store
            .record_closed_outage(&start(key, 0), at(1))
            .await
            .unwrap(),
        RecordOutcome::TooShort { .. }
    ));
    assert!(
        store
            .outages(&OutageFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    finish(store, database).await;
}

/// A flap deleted when it ended leaves a tombstone: a late copy of its open (another
/// monitor's finalize, a lagging collator) stores nothing until the tombstone expires, and
/// a late copy of its close is recognised. A flap never stored (its close came first)
/// leaves one too.
pub async fn a_flap_leaves_a_tombstone_a_late_open_cannot_pass(_: SqlStore, kind: Kind) {
    let (store, database) = fresh(kind, |c| {
        c.drop_outages_shorter_than = Some(Duration::from_secs(120));
        c.flap_tombstone = Duration::from_secs(3600);
    })
    .await;
    let none = OutageFilter::default();
    let key = check("Amforc", "polkadot.dotters.network");
    let OpenOutcome::Opened { id } = store.open_outage(&start(key.clone(), 10)).await.unwrap()
    else {
        panic!("first open must open")
    };
    let dropped = store.close_outage(&key, at(11)).await.unwrap();
    assert!(
        matches!(dropped, CloseOutcome::Dropped { .. }),
        "{dropped:?}"
    );
    // The same open again, another monitor's copy decided a little later or earlier.
    for minute in [10, 11, 9] {
        let late = store
            .open_outage(&start(key.clone(), minute))
            .await
            .unwrap();
        assert_eq!(late, OpenOutcome::Tombstoned { id }, "open at {minute}");
    }
    let close = store.close_outage(&key, at(11)).await.unwrap();
    assert_eq!(close, CloseOutcome::AlreadyClosed { id });
    assert!(store.outages(&none).await.unwrap().is_empty());
    // A later outage is a new one.
    assert!(matches!(
        store.open_outage(&start(key.clone(), 20)).await.unwrap(),
        OpenOutcome::Opened { .. }
    ));

    // A flap whose close came first: never stored, tombstoned all the same.
    let other = check("Amforc", "kusama.dotters.network");
    let too_short = store
        .record_closed_outage(&start(other.clone(), 30), at(31))
        .await
        .unwrap();
    assert!(matches!(too_short, RecordOutcome::TooShort { .. }));
    let late = store.open_outage(&start(other.clone(), 30)).await.unwrap();
    assert_eq!(late, OpenOutcome::Tombstoned { id: 0 });

    // Expired (an hour after their ends), the tombstones go; nothing else does.
    assert_eq!(store.expire_tombstones(at(40)).await.unwrap(), 0);
    let expired = at(31) + TimeDelta::hours(1) + TimeDelta::seconds(1);
    assert_eq!(store.expire_tombstones(expired).await.unwrap(), 2);
    assert!(matches!(
        store.open_outage(&start(other, 30)).await.unwrap(),
        OpenOutcome::Opened { .. }
    ));
    assert_eq!(store.outages(&none).await.unwrap().len(), 2);
    finish(store, database).await;
}

pub async fn old_messages_are_pruned(store: SqlStore, _: Kind) {
    for minute in [0, 10, 20] {
        let message = Message {
            id: format!("m{minute}"),
            from: "MONITOR-1".into(),
            to: "consensus.vote".into(),
            content: b"{}".to_vec(),
            timestamp: at(minute),
        };
        store.store_message(&message).await.unwrap();
    }
    assert_eq!(store.prune_messages(at(15)).await.unwrap(), 2);
    let left = store.messages(&MessageQuery::default()).await.unwrap();
    assert_eq!(
        left.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["m20"]
    );
    assert_eq!(
        store
            .prune_messages(at(20) - TimeDelta::milliseconds(1))
            .await
            .unwrap(),
        0
    );
}
