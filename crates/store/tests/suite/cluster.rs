//! Cluster state cases: messages, state, node state, consensus log, routes, runtime
//! config, transactions.

use chrono::{TimeZone, Utc};
use geodns_core::ids::NodeId;
use geodns_store::{ClusterStore, ErrorKind, Message, MessageQuery, SqlStore};
use serde_json::json;

use crate::harness::Kind;

fn message(id: &str, from: &str, to: &str, second: u32) -> Message {
    Message {
        id: id.into(),
        from: from.into(),
        to: to.into(),
        content: format!("payload of {id} \u{1F680}").into_bytes(),
        timestamp: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, second).unwrap(),
    }
}

pub async fn messages_store_read_list(store: SqlStore, _: Kind) {
    for (id, from, to, second) in [
        ("m1", "node-a", "node-b", 1),
        ("m2", "node-b", "node-a", 2),
        ("m3", "node-a", "node-c", 3),
    ] {
        store
            .store_message(&message(id, from, to, second))
            .await
            .unwrap();
    }
    assert_eq!(
        store.message("m2").await.unwrap(),
        Some(message("m2", "node-b", "node-a", 2))
    );
    assert_eq!(store.message("nope").await.unwrap(), None);
    let duplicate = store
        .store_message(&message("m1", "x", "y", 9))
        .await
        .unwrap_err();
    assert_eq!(duplicate.kind(), ErrorKind::Conflict);
    let from_a = store
        .messages(&MessageQuery {
            from: Some("node-a".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        from_a.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["m1", "m3"]
    );
    let window = MessageQuery {
        since: Some(Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 2).unwrap()),
        to: Some("node-a".into()),
        ..Default::default()
    };
    assert_eq!(store.messages(&window).await.unwrap().len(), 1);
    let limited = store
        .messages(&MessageQuery {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
    let empty_id = store
        .store_message(&message("", "a", "b", 1))
        .await
        .unwrap_err();
    assert_eq!(
        empty_id.to_string(),
        "invalid cluster record: id: must not be empty"
    );
}

pub async fn state_prefix_is_case_sensitive_and_literal(store: SqlStore, _: Kind) {
    for (key, value) in [
        ("a/1", "one"),
        ("a/2", "two"),
        ("A/3", "three"),
        ("a%x", "pct"),
        ("a_y", "under"),
        ("ab", "ab"),
    ] {
        store.store_state(key, value.as_bytes()).await.unwrap();
    }
    store.store_state("a/2", b"TWO").await.unwrap();
    assert_eq!(store.state("a/2").await.unwrap(), Some(b"TWO".to_vec()));
    let listed = store.states_with_prefix("a/").await.unwrap();
    assert_eq!(
        listed,
        vec![
            ("a/1".to_owned(), b"one".to_vec()),
            ("a/2".to_owned(), b"TWO".to_vec())
        ]
    );
    assert_eq!(
        store.states_with_prefix("a%").await.unwrap().len(),
        1,
        "% is not a wildcard"
    );
    assert_eq!(
        store.states_with_prefix("a_").await.unwrap().len(),
        1,
        "_ is not a wildcard"
    );
    assert_eq!(
        store.states_with_prefix("A").await.unwrap().len(),
        1,
        "prefixes are case-sensitive"
    );
    assert!(store.delete_state("a/1").await.unwrap());
    assert!(!store.delete_state("a/1").await.unwrap());
    assert_eq!(store.state("a/1").await.unwrap(), None);
}

pub async fn node_state_must_be_an_object(store: SqlStore, _: Kind) {
    let node = NodeId::parse("MONITOR-1").unwrap();
    let error = store
        .put_node_state(&node, json!([1, 2]))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid node state: node state: must be a JSON object, got an array"
    );
    store
        .put_node_state(&node, json!({"status": "active", "peers": 3}))
        .await
        .unwrap();
    store
        .put_node_state(&node, json!({"status": "draining"}))
        .await
        .unwrap();
    assert_eq!(
        store.node_state(&node).await.unwrap().unwrap()["status"],
        "draining"
    );
    assert_eq!(store.node_states().await.unwrap().len(), 1);
}

pub async fn consensus_log_is_unique_per_term_and_index(store: SqlStore, _: Kind) {
    assert_eq!(store.last_log_index().await.unwrap(), None);
    for index in 1..=5 {
        store
            .append_log(1, index, json!({"command": "set", "index": index}))
            .await
            .unwrap();
    }
    let duplicate = store.append_log(1, 3, json!({})).await.unwrap_err();
    assert_eq!(duplicate.kind(), ErrorKind::Conflict);
    store
        .append_log(2, 3, json!({"command": "overwrite"}))
        .await
        .unwrap();
    assert_eq!(store.last_log_index().await.unwrap(), Some(5));
    let range = store.logs(2, 3).await.unwrap();
    let keys: Vec<(u64, u64)> = range.iter().map(|e| (e.term, e.index)).collect();
    assert_eq!(keys, [(1, 2), (1, 3), (2, 3)]);
    assert_eq!(range[0].entry, json!({"command": "set", "index": 2}));
    assert_eq!(
        store
            .append_log(1, u64::MAX, json!({}))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidRecord
    );
    // Compaction deletes by index (every term), and nothing else.
    assert_eq!(store.delete_logs(&[2, 3, 42]).await.unwrap(), 3);
    let left: Vec<u64> = store
        .logs(1, 5)
        .await
        .unwrap()
        .iter()
        .map(|e| e.index)
        .collect();
    assert_eq!(left, [1, 4, 5]);
    assert_eq!(store.delete_logs(&[]).await.unwrap(), 0);
}

pub async fn routes_and_runtime_config(store: SqlStore, _: Kind) {
    store
        .put_route("node-eu", json!({"via": "node-a", "latency_ms": 40}))
        .await
        .unwrap();
    assert_eq!(
        store.route("node-eu").await.unwrap().unwrap()["via"],
        "node-a"
    );
    assert_eq!(
        store
            .put_route("node-x", json!("direct"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidRecord
    );
    assert_eq!(store.routes().await.unwrap().len(), 1);
    assert!(store.delete_route("node-eu").await.unwrap());
    assert!(store.routes().await.unwrap().is_empty());
    store
        .put_runtime_config("timeouts", json!({"proposal": "30s"}))
        .await
        .unwrap();
    store.put_runtime_config("retries", json!(3)).await.unwrap();
    assert_eq!(
        store.runtime_config("retries").await.unwrap(),
        Some(json!(3))
    );
    let all = store.runtime_configs().await.unwrap();
    assert_eq!(
        all.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["retries", "timeouts"]
    );
}

pub async fn transactions_commit_roll_back_and_drop(store: SqlStore, _: Kind) {
    let node = NodeId::parse("MONITOR-1").unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.store_message(&message("t1", "a", "b", 1)).await.unwrap();
    tx.store_state("k", b"v").await.unwrap();
    tx.put_node_state(&node, json!({"s": 1})).await.unwrap();
    tx.append_log(1, 1, json!({"x": 1})).await.unwrap();
    tx.put_route("d", json!({"r": 1})).await.unwrap();
    tx.put_runtime_config("c", json!(true)).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.message("t1").await.unwrap().is_some());
    assert_eq!(store.last_log_index().await.unwrap(), Some(1));

    let mut tx = store.begin().await.unwrap();
    tx.store_state("rolled", b"back").await.unwrap();
    assert!(tx.delete_state("k").await.unwrap());
    tx.rollback().await.unwrap();
    assert_eq!(store.state("rolled").await.unwrap(), None);
    assert_eq!(store.state("k").await.unwrap(), Some(b"v".to_vec()));

    {
        let mut tx = store.begin().await.unwrap();
        tx.store_state("dropped", b"x").await.unwrap();
        tx.append_log(1, 2, json!({})).await.unwrap();
        // Dropped without commit.
    }
    assert_eq!(store.state("dropped").await.unwrap(), None);
    assert_eq!(store.last_log_index().await.unwrap(), Some(1));

    let mut tx = store.begin().await.unwrap();
    let error = tx.append_log(1, 1, json!({})).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Conflict);
}
