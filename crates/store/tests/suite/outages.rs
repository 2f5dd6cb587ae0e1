//! Outage cases.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::{CheckKey, OutageStart, Votes};
use geodns_store::{
    CloseOutcome, ClusterStore, ErrorKind, Message, MessageQuery, OpenOutcome, OutageFilter,
    OutageState, OutageStore, SqlStore,
};
use serde_json::json;
use sqlx::{AssertSqlSafe, Row};

use crate::harness::{Kind, finish, fresh};

pub fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, minute, 0).unwrap()
}

pub fn check(member: &str, domain: &str) -> CheckKey {
    CheckKey {
        kind: CheckKind::Endpoint,
        check: "wss".into(),
        member: MemberId::parse(member).unwrap(),
        domain: domain.into(),
        endpoint: format!("wss://{domain}"),
        ipv6: false,
    }
}

pub fn start(key: CheckKey, minute: u32) -> OutageStart {
    let votes: Votes = [
        ("MONITOR-1", true),
        ("MONITOR-2", true),
        ("MONITOR-3", false),
    ]
    .into_iter()
    .map(|(n, a)| (NodeId::parse(n).unwrap(), a))
    .collect();
    OutageStart {
        key,
        start: at(minute),
        error: "Syncing or not enough peers".into(),
        votes,
        data: json!({"PeerCount": 2, "Syncing": true})
            .as_object()
            .unwrap()
            .clone(),
    }
}

pub async fn open_twice_is_a_no_op(store: SqlStore, _: Kind) {
    let outage = start(check("Amforc", "polkadot.dotters.network"), 0);
    let OpenOutcome::Opened { id } = store.open_outage(&outage).await.unwrap() else {
        panic!("first open must open")
    };
    // The same decision again is recognised as such; a later one finds the outage open.
    assert_eq!(
        store.open_outage(&outage).await.unwrap(),
        OpenOutcome::AlreadyRecorded { id }
    );
    assert_eq!(
        store
            .open_outage(&start(outage.key.clone(), 2))
            .await
            .unwrap(),
        OpenOutcome::AlreadyOpen { id }
    );
    assert_eq!(store.current_outages().await.unwrap().len(), 1);
}

pub async fn close_without_open_reports_nothing_to_close(store: SqlStore, _: Kind) {
    let key = check("Amforc", "polkadot.dotters.network");
    assert_eq!(
        store.close_outage(&key, at(5)).await.unwrap(),
        CloseOutcome::NothingToClose
    );
    store.open_outage(&start(key.clone(), 0)).await.unwrap();
    assert!(
        matches!(store.close_outage(&key, at(5)).await.unwrap(), CloseOutcome::Closed { duration, .. } if duration == Duration::from_secs(300))
    );
    assert_eq!(
        store.close_outage(&key, at(6)).await.unwrap(),
        CloseOutcome::NothingToClose
    );
}

pub async fn resolved_outages_stay_visible(store: SqlStore, _: Kind) {
    let key = check("Amforc", "polkadot.dotters.network");
    store.open_outage(&start(key.clone(), 0)).await.unwrap();
    store.close_outage(&key, at(30)).await.unwrap();
    let resolved = store
        .outages(&OutageFilter {
            state: OutageState::Resolved,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].end, Some(at(30)));
    assert!(store.current_outages().await.unwrap().is_empty());
    let summary = store.downtime_summary(at(0), at(59)).await.unwrap();
    assert_eq!(
        (
            summary.total_events,
            summary.resolved_events,
            summary.ongoing_events
        ),
        (1, 1, 0)
    );
    assert_eq!(summary.total_downtime, Duration::from_secs(30 * 60));
}

pub async fn repeat_outage_is_a_new_row(store: SqlStore, _: Kind) {
    let key = check("Amforc", "polkadot.dotters.network");
    let OpenOutcome::Opened { id: first } =
        store.open_outage(&start(key.clone(), 0)).await.unwrap()
    else {
        panic!()
    };
    store.close_outage(&key, at(5)).await.unwrap();
    let OpenOutcome::Opened { id: second } =
        store.open_outage(&start(key.clone(), 10)).await.unwrap()
    else {
        panic!("a new outage after recovery must open a new row")
    };
    assert_ne!(first, second);
    let all = store.outages(&OutageFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![second, first],
        "newest first"
    );
    assert_eq!(all[1].start, at(0), "the first outage keeps its own start");
}

pub async fn filters_select_by_member_domain_window_state(store: SqlStore, _: Kind) {
    let a = check("Amforc", "polkadot.dotters.network");
    let b = check("Stake Plus", "kusama.dotters.network");
    store.open_outage(&start(a.clone(), 0)).await.unwrap();
    store.close_outage(&a, at(10)).await.unwrap();
    store.open_outage(&start(b.clone(), 20)).await.unwrap();
    let by_member = OutageFilter {
        member: Some(MemberId::parse("Stake Plus").unwrap()),
        ..Default::default()
    };
    assert_eq!(store.outages(&by_member).await.unwrap().len(), 1);
    let by_domain = OutageFilter {
        domain: Some("polkadot.dotters.network".into()),
        ..Default::default()
    };
    assert_eq!(store.outages(&by_domain).await.unwrap()[0].key, a);
    let window = |from, to| OutageFilter {
        from: Some(at(from)),
        to: Some(at(to)),
        ..Default::default()
    };
    assert_eq!(
        store.outages(&window(11, 15)).await.unwrap().len(),
        0,
        "ended before, started after"
    );
    assert_eq!(
        store.outages(&window(5, 15)).await.unwrap().len(),
        1,
        "overlaps the first"
    );
    assert_eq!(
        store.outages(&window(25, 59)).await.unwrap().len(),
        1,
        "the open one overlaps any later window"
    );
    let kind = OutageFilter {
        kind: Some(CheckKind::Site),
        ..Default::default()
    };
    assert!(store.outages(&kind).await.unwrap().is_empty());
    let limited = OutageFilter {
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(store.outages(&limited).await.unwrap()[0].key, b);
    let summary = store.downtime_summary(at(0), at(30)).await.unwrap();
    assert_eq!(
        (
            summary.total_events,
            summary.ongoing_events,
            summary.affected_members
        ),
        (2, 1, 2)
    );
    assert_eq!(
        summary.total_downtime,
        Duration::from_secs(20 * 60),
        "10 min resolved + 10 min open, clipped at the window end"
    );
    assert_eq!(summary.average_downtime, Duration::from_secs(10 * 60));
}

pub async fn votes_and_data_round_trip(store: SqlStore, _: Kind) {
    let outage = start(check("Amforc", "polkadot.dotters.network"), 0);
    store.open_outage(&outage).await.unwrap();
    let read = store.current_outages().await.unwrap().remove(0);
    assert_eq!(read.votes, outage.votes);
    assert_eq!(read.data, outage.data);
    assert_eq!(read.error, outage.error);
    assert_eq!(read.start, outage.start);
    assert_eq!(read.key, outage.key);
}

pub async fn flap_rule_drops_short_outages(_: SqlStore, kind: Kind) {
    let (store, database) = fresh(kind, |c| {
        c.drop_outages_shorter_than = Some(Duration::from_secs(120))
    })
    .await;
    let key = check("Amforc", "polkadot.dotters.network");
    store.open_outage(&start(key.clone(), 0)).await.unwrap();
    assert!(matches!(
        store.close_outage(&key, at(1)).await.unwrap(),
        CloseOutcome::Dropped { .. }
    ));
    assert!(
        store
            .outages(&OutageFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    store.open_outage(&start(key.clone(), 10)).await.unwrap();
    assert!(matches!(
        store.close_outage(&key, at(15)).await.unwrap(),
        CloseOutcome::Closed { .. }
    ));
    assert_eq!(
        store.outages(&OutageFilter::default()).await.unwrap().len(),
        1
    );
    finish(store, database).await;
}

pub async fn concurrent_opens_record_one_outage(store: SqlStore, _: Kind) {
    let outage = start(check("Amforc", "polkadot.dotters.network"), 0);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let outage = outage.clone();
            tokio::spawn(async move { store.open_outage(&outage).await.unwrap() })
        })
        .collect();
    let mut opened = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), OpenOutcome::Opened { .. }) {
            opened += 1;
        }
    }
    assert_eq!(opened, 1, "exactly one open wins; alerts are sent once");
    assert_eq!(
        store.outages(&OutageFilter::default()).await.unwrap().len(),
        1
    );
}

pub async fn invalid_outages_are_rejected(store: SqlStore, _: Kind) {
    let mut outage = start(check("Amforc", "polkadot.dotters.network"), 0);
    outage.key.check = String::new();
    let error = store.open_outage(&outage).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRecord);
    assert_eq!(
        error.to_string(),
        "invalid outage: check: must not be empty"
    );
    let mut site_without_domain = check("Amforc", "");
    site_without_domain.kind = CheckKind::Domain;
    assert!(
        store
            .close_outage(&site_without_domain, at(1))
            .await
            .is_err()
    );
    assert!(
        store
            .outages(&OutageFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    // Both failures are counted, by kind, on every clone of the handle (for `/metrics`).
    let counts = store.clone().error_counts();
    assert_eq!(counts.get("invalid_record"), Some(&2), "{counts:?}");
    assert_eq!(counts.values().sum::<u64>(), 2, "{counts:?}");
}

/// Stored times never move with the session time zone. The store here has one
/// connection (see `harness::run_single_connection`), so the zone set below is the zone of
/// every statement the store runs; the check that it took is part of the test. Times just
/// before midnight UTC are the next day at +05:30, so a conversion anywhere (a DATETIME
/// column, FROM_UNIXTIME, NOW()) would move a stored value or a window edge by 5.5 hours.
pub async fn times_do_not_move_with_the_session_time_zone(store: SqlStore, kind: Kind) {
    let (set, show, want) = match kind {
        Kind::MySql => (
            "SET time_zone = '+05:30'",
            "SELECT @@session.time_zone AS tz",
            "+05:30",
        ),
        Kind::Postgres => (
            "SET TIME ZONE 'Asia/Kolkata'",
            "SELECT current_setting('TimeZone') AS tz",
            "Asia/Kolkata",
        ),
        // SQLite has no session time zone; the same round trips still run.
        Kind::Sqlite => ("SELECT 1", "SELECT 'none' AS tz", "none"),
    };
    sqlx::query(AssertSqlSafe(set.to_owned()))
        .execute(store.pool())
        .await
        .unwrap();
    let zone: String = sqlx::query(AssertSqlSafe(show.to_owned()))
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get("tz")
        .unwrap();
    assert_eq!(
        zone, want,
        "the session time zone reached the store's connection"
    );

    let begin = Utc.with_ymd_and_hms(2026, 3, 29, 23, 59, 59).unwrap()
        + chrono::Duration::milliseconds(250);
    let end = begin + chrono::Duration::minutes(10);
    let mut outage = start(check("Amforc", "polkadot.dotters.network"), 0);
    outage.start = begin;
    store.open_outage(&outage).await.unwrap();
    store.close_outage(&outage.key, end).await.unwrap();
    let stored: i64 = sqlx::query(AssertSqlSafe(
        "SELECT start_ms FROM member_events".to_owned(),
    ))
    .fetch_one(store.pool())
    .await
    .unwrap()
    .try_get("start_ms")
    .unwrap();
    assert_eq!(stored, begin.timestamp_millis());
    let all = store.outages(&OutageFilter::default()).await.unwrap();
    assert_eq!((all[0].start, all[0].end), (begin, Some(end)));

    // Window edges: one millisecond either side of the outage selects nothing.
    let window = |from, to| OutageFilter {
        from: Some(from),
        to: Some(to),
        ..OutageFilter::default()
    };
    let ms = chrono::Duration::milliseconds(1);
    assert_eq!(
        store
            .outages(&window(begin - ms * 2, begin - ms))
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(store.outages(&window(begin, begin)).await.unwrap().len(), 1);
    assert_eq!(
        store
            .outages(&window(end + ms, end + ms * 2))
            .await
            .unwrap()
            .len(),
        0
    );
    let summary = store.downtime_summary(begin, end).await.unwrap();
    assert_eq!(summary.total_events, 1);

    let message = Message {
        id: "tz-1".into(),
        from: "a".into(),
        to: "b".into(),
        content: b"x".to_vec(),
        timestamp: begin,
    };
    store.store_message(&message).await.unwrap();
    let listed = store
        .messages(&MessageQuery {
            since: Some(begin),
            until: Some(begin),
            ..MessageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(listed, vec![message]);
}
