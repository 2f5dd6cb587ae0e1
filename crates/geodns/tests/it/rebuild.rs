//! A node that starts with no official cache file rebuilds the official results from the
//! consensus log the collators keep in the database (the latest decision of each check),
//! and one with a cache file keeps its own.

use std::time::Duration;

use geodns_bus::MemoryBus;
use geodns_consensus::results::IpFamily;
use geodns_core::ids::MemberId;
use geodns_store::{SqlStore, StoreConfig};

use crate::collator::{Collator, down_proposal, live_config, wait_for};
use crate::node::{Node, Roles};
use crate::support::{geodns, stderr, write};

const CONSENSUS_ONLY: Roles = Roles {
    monitor: false,
    dns: false,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_node_rebuilds_the_official_results_from_the_consensus_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cluster.db", dir.path().display());
    let store = SqlStore::open(StoreConfig::new(url.clone())).await.unwrap();

    // The collator logs: Amforc down, Rotko down, Rotko up again.
    let collator_dir = dir.path().join("collator");
    std::fs::create_dir_all(&collator_dir).unwrap();
    let live = live_config(&collator_dir, "collator", "").await;
    let collator = Collator::start_on(MemoryBus::new("collator"), store.clone(), live).await;
    let votes = [("m1", true), ("m2", true)];
    let amforc = down_proposal("p-amforc-down");
    let mut rotko = down_proposal("p-rotko-down");
    rotko.key.member = MemberId::parse("Rotko").unwrap();
    let mut rotko_up = rotko.clone();
    rotko_up.id = geodns_consensus::message::ProposalId::parse("p-rotko-up").unwrap();
    rotko_up.status = true;
    for proposal in [&amforc, &rotko, &rotko_up] {
        collator.monitor.propose_and_vote(proposal, &votes).await;
        collator.monitor.finalize(proposal, "m1", true).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for("three decisions and the warm-up", &collator.queue, |r| {
        r.stored >= 4
    })
    .await;
    collator.stop().await;

    let data = dir.path().join("fresh");
    std::fs::create_dir_all(&data).unwrap();
    let text = format!(
        "[node]\nid = \"fresh-node\"\nroles = [\"dns\"]\ndata_dir = \"{}\"\n\
         [storage]\nurl = \"{url}\"\n[consensus]\nsingle_node = true\n\
         [[members]]\nname = \"Amforc\"\nlatitude = 50.1\nlongitude = 8.7\n\
         [[members]]\nname = \"Rotko\"\nlatitude = 40.1\nlongitude = 3.7\n",
        data.display()
    );
    let path = write(dir.path(), "fresh.toml", &text);

    // `geodns cluster history` prints the log from the database.
    let config = path.to_str().unwrap();
    let listed = geodns(&["cluster", "history", "-c", config, "--json"], &[]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let proposals: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["entry"]["proposal"].as_str().unwrap())
        .collect();
    for id in ["p-amforc-down", "p-rotko-down", "p-rotko-up"] {
        assert_eq!(
            proposals.iter().filter(|p| **p == id).count(),
            1,
            "{proposals:?}"
        );
    }
    let table = geodns(&["cluster", "history", "-c", config], &[]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("site|ping|Amforc|||v4") && table.contains("down"),
        "{table}"
    );
    let later = geodns(
        &[
            "cluster",
            "history",
            "-c",
            config,
            "--since",
            "2999-01-01",
            "--json",
        ],
        &[],
    );
    assert_eq!(String::from_utf8(later.stdout).unwrap().trim(), "[]");
    let bad = geodns(
        &["cluster", "history", "-c", config, "--since", "yesterday"],
        &[],
    );
    assert!(
        !bad.status.success() && stderr(&bad).contains("yesterday"),
        "{}",
        stderr(&bad)
    );
    let node = Node::start(MemoryBus::new("fresh-node"), &path, CONSENSUS_ONLY).await;
    let seen = || {
        let official = node.handle.official.borrow();
        official
            .iter()
            .map(|(key, _)| key.member.to_string())
            .collect::<Vec<_>>()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen().contains(&"Rotko".to_owned()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "official: {:?}",
            seen()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let official = node.handle.official.borrow().clone();
    let amforc_entry = official.get(&amforc.key).expect("Amforc decided");
    assert!(!amforc_entry.status, "Amforc is down");
    assert_eq!(amforc_entry.error, "100% packet loss");
    assert!(
        official.get(&rotko.key).expect("Rotko decided").status,
        "the latest decision wins"
    );
    assert!(!official.is_member_online("", &MemberId::parse("Amforc").unwrap(), IpFamily::V4));
    node.stop().await;

    // With a cache file (written at shutdown), the node keeps its own results.
    assert!(data.join(geodns_node::consensus::cache::OFFICIAL).exists());
    let again = Node::start(MemoryBus::new("fresh-node"), &path, CONSENSUS_ONLY).await;
    assert_eq!(
        geodns_collator::runtime::rebuild::rebuild_if_fresh(&data, &again.store, &again.handle)
            .await,
        0
    );
    again.stop().await;
    store.close().await;
}
