//! The alert outbox: an outage change and the alert it owes are stored together, once per
//! outage however many writers record it; the ONLINE alert sees what became of its
//! OFFLINE; a departed owner's alerts are claimed once; sent alerts of outages that are
//! over are pruned.

use std::time::Duration;

use geodns_store::{
    AlertKind, AlertStore, CloseOutcome, Offline, OpenOutcome, OutageStore, OwedAlert,
    RecordOutcome, SqlStore,
};

use crate::harness::{Kind, finish, fresh};
use crate::outages::{at, check, start};

fn owed(owner: &str, payload: &str) -> OwedAlert {
    OwedAlert {
        owner: owner.to_owned(),
        payload: payload.to_owned(),
        at: at(0),
    }
}

pub async fn an_outage_owes_one_alert_of_each_kind(store: SqlStore, _: Kind) {
    let key = check("Amforc", "polkadot.dotters.network");
    let outage = start(key.clone(), 0);
    let OpenOutcome::Opened { id } = store
        .open_outage_alerting(&outage, Some(&owed("collator-a", "down")))
        .await
        .unwrap()
    else {
        panic!("opens")
    };
    // Another collator records the same decision: it owes nothing.
    assert_eq!(
        store
            .open_outage_alerting(&outage, Some(&owed("collator-b", "down again")))
            .await
            .unwrap(),
        OpenOutcome::AlreadyRecorded { id }
    );
    assert!(
        store
            .owed_alerts("collator-b", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let pending = store.owed_alerts("collator-a", 10).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let offline = &pending[0];
    assert_eq!(
        (offline.outage, offline.kind, offline.payload.as_str()),
        (id, AlertKind::Offline, "down")
    );
    assert_eq!((offline.start, offline.end), (at(0), None));
    assert_eq!(offline.offline, Offline::None);

    // The recovery, recorded by collator B, waits for A's OFFLINE.
    assert!(matches!(
        store
            .close_outage_alerting(&key, at(5), Some(&owed("collator-b", "up")))
            .await
            .unwrap(),
        CloseOutcome::Closed { .. }
    ));
    let online = store.owed_alerts("collator-b", 10).await.unwrap();
    assert_eq!(online.len(), 1);
    assert_eq!(
        (online[0].kind, online[0].end, &online[0].offline),
        (AlertKind::Online, Some(at(5)), &Offline::Unsent)
    );
    let sent = |kind, owner: &'static str, event: Option<&'static str>| {
        store.mark_alert_sent((id, kind), owner, event, at(6))
    };
    assert!(
        sent(AlertKind::Offline, "collator-a", Some("$offline"))
            .await
            .unwrap()
    );
    assert!(
        !sent(AlertKind::Offline, "collator-a", Some("$again"))
            .await
            .unwrap(),
        "once"
    );
    let online = store.owed_alerts("collator-b", 10).await.unwrap();
    assert_eq!(
        online[0].offline,
        Offline::Sent(Some("$offline".to_owned()))
    );
    assert!(
        !sent(AlertKind::Online, "collator-a", None).await.unwrap(),
        "B's, not A's"
    );
    assert!(
        sent(AlertKind::Online, "collator-b", Some("$edit"))
            .await
            .unwrap()
    );
    assert!(
        store
            .owed_alerts("collator-b", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.alert_owners().await.unwrap().is_empty());
}

pub async fn recorded_and_dropped_outages_owe_an_online_alert(_: SqlStore, kind: Kind) {
    let (store, database) = fresh(kind, |c| {
        c.drop_outages_shorter_than = Some(Duration::from_secs(120))
    })
    .await;
    let key = check("Amforc", "polkadot.dotters.network");
    let RecordOutcome::Recorded { id, .. } = store
        .record_closed_outage_alerting(&start(key.clone(), 0), at(5), Some(&owed("c", "over")))
        .await
        .unwrap()
    else {
        panic!("records")
    };
    // A flap owes nothing when it is never stored.
    let other = check("Amforc", "kusama.dotters.network");
    assert!(matches!(
        store
            .record_closed_outage_alerting(
                &start(other.clone(), 0),
                at(1),
                Some(&owed("c", "flap"))
            )
            .await
            .unwrap(),
        RecordOutcome::TooShort { .. }
    ));
    // A flap that was announced owes its recovery (the OFFLINE message is edited).
    store
        .open_outage_alerting(&start(other.clone(), 10), Some(&owed("c", "flap down")))
        .await
        .unwrap();
    let CloseOutcome::Dropped { id: flap, .. } = store
        .close_outage_alerting(&other, at(11), Some(&owed("c", "flap up")))
        .await
        .unwrap()
    else {
        panic!("drops the flap")
    };
    let pending = store.owed_alerts("c", 10).await.unwrap();
    let seen: Vec<_> = pending
        .iter()
        .map(|a| (a.outage, a.kind, a.payload.as_str(), a.offline.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (id, AlertKind::Online, "over", Offline::None),
            (flap, AlertKind::Offline, "flap down", Offline::None),
            (flap, AlertKind::Online, "flap up", Offline::Unsent),
        ]
    );
    assert_eq!((pending[0].start, pending[0].end), (at(0), Some(at(5))));
    finish(store, database).await;
}

pub async fn a_departed_owners_alerts_are_claimed_once(store: SqlStore, _: Kind) {
    let key = check("Amforc", "polkadot.dotters.network");
    let OpenOutcome::Opened { id } = store
        .open_outage_alerting(&start(key, 0), Some(&owed("collator-a", "down")))
        .await
        .unwrap()
    else {
        panic!("opens")
    };
    assert_eq!(store.alert_owners().await.unwrap(), ["collator-a"]);
    let (b, c) = tokio::join!(
        store.claim_alerts("collator-a", "collator-b"),
        store.claim_alerts("collator-a", "collator-c"),
    );
    let (b, c) = (b.unwrap(), c.unwrap());
    assert_eq!(b + c, 1, "claimed once: B {b}, C {c}");
    let winner = if b == 1 { "collator-b" } else { "collator-c" };
    assert_eq!(store.alert_owners().await.unwrap(), [winner]);
    assert!(
        !store
            .mark_alert_sent((id, AlertKind::Offline), "collator-a", Some("$late"), at(1))
            .await
            .unwrap(),
        "the departed owner cannot send it any more"
    );
    assert_eq!(store.owed_alerts(winner, 10).await.unwrap().len(), 1);
}

pub async fn sent_alerts_are_pruned_once_their_outage_is_over(store: SqlStore, _: Kind) {
    let key = check("Amforc", "polkadot.dotters.network");
    let OpenOutcome::Opened { id } = store
        .open_outage_alerting(&start(key.clone(), 0), Some(&owed("c", "down")))
        .await
        .unwrap()
    else {
        panic!("opens")
    };
    let later = at(59);
    store
        .mark_alert_sent((id, AlertKind::Offline), "c", Some("$e"), at(1))
        .await
        .unwrap();
    assert_eq!(
        store.prune_sent_alerts(later).await.unwrap(),
        0,
        "still open"
    );
    store
        .close_outage_alerting(&key, at(5), Some(&owed("c", "up")))
        .await
        .unwrap();
    assert_eq!(
        store.prune_sent_alerts(later).await.unwrap(),
        0,
        "ONLINE unsent"
    );
    assert_eq!(
        store.owed_alerts("c", 10).await.unwrap()[0].offline,
        Offline::Sent(Some("$e".into()))
    );
    store
        .mark_alert_sent((id, AlertKind::Online), "c", Some("$edit"), at(6))
        .await
        .unwrap();
    assert_eq!(
        store.prune_sent_alerts(at(0)).await.unwrap(),
        0,
        "too recent"
    );
    assert_eq!(store.prune_sent_alerts(later).await.unwrap(), 2);
    // Carried over from an older release: owed once.
    let span = (at(0), Some(at(5)));
    assert!(
        store
            .owe_alert((id, AlertKind::Online), span, &owed("c", "old"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .owe_alert((id, AlertKind::Online), span, &owed("d", "old"))
            .await
            .unwrap()
    );
    assert_eq!(store.owed_alerts("c", 10).await.unwrap().len(), 1);
}
