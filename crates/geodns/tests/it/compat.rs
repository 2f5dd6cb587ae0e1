//! Compat mode on a real nats-server: two geodns monitors and an original node, listed
//! without a key, which signs nothing (unsigned heartbeats in the original's shape and an
//! agreeing vote on every proposal). It counts as an active monitor, and a decision that
//! needs its vote (`min_votes = 3`) passes: the DNS answer fails over.

use std::net::SocketAddr;
use std::time::Duration;

use geodns_bus::wire::{ClusterMessage, NodeInfo, Proposal, Vote, WireRole, encode};
use geodns_bus::{Bus, subjects};
use geodns_test_support::NatsServer;
use tokio_util::task::TaskTracker;

use crate::fleet::{FAR, NEAR, NodeFile, client, node_file, provider, unsigned, until_answer};
use crate::support::{Process, free_port, geodns, stdout, trust_all};

const ORIGINAL: &str = "orig-3";

/// The original's heartbeat: a join naming itself, no header, no signature.
fn heartbeat() -> String {
    let message = ClusterMessage {
        kind: "join".to_owned(),
        sender: NodeInfo {
            node_id: ORIGINAL.to_owned(),
            public_address: String::new(),
            listen_address: "0.0.0.0".to_owned(),
            listen_port: "0".to_owned(),
            node_role: WireRole::parse("IBPMonitor"),
            last_heard: geodns_node::clock::now(),
        },
        members: None,
        features: Vec::new(),
    };
    String::from_utf8(encode(&message)).unwrap()
}

fn agree(proposal: &Proposal) -> String {
    let vote = Vote {
        proposal_id: proposal.id.clone(),
        sender_node_id: ORIGINAL.to_owned(),
        node_id: ORIGINAL.to_owned(),
        agree: true,
        timestamp: geodns_node::clock::now(),
        signature: None,
    };
    String::from_utf8(encode(&vote)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_monitors_unsigned_votes_count_in_compat_mode() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let near = provider(NEAR, port).await;
    let _far = provider(FAR, port).await;
    let mut trusted = trust_all(
        dir.path(),
        &[("MON-1", &["monitor", "dns"]), ("MON-2", &["monitor"])],
    );
    trusted.push_str(&format!(
        "[[consensus.nodes]]\nid = \"{ORIGINAL}\"\nroles = [\"monitor\"]\n"
    ));
    let consensus = "auth = \"compat\"\nmin_votes = 3\ncache_interval = \"1s\"";
    let dns1 = free_port();
    let nodes = [
        ("MON-1", r#"["monitor", "dns"]"#, dns1),
        ("MON-2", r#"["monitor"]"#, free_port()),
    ];
    let mut running = Vec::new();
    let mut first = None;
    for (id, roles, dns) in nodes {
        let node = NodeFile {
            id,
            roles,
            dns,
            api: free_port(),
            consensus,
        };
        let path = node_file(dir.path(), &nats.url(), (port, &trusted), &node);
        running.push(Process::start(&path, &dir.path().join(format!("{id}.log"))));
        first.get_or_insert(path);
    }
    let dns: SocketAddr = ([127, 0, 0, 1], dns1).into();
    until_answer(dns, NEAR, Duration::from_secs(40), dir.path()).await;

    // The original node: heartbeats every second, an agreeing vote on every proposal.
    let tracker = TaskTracker::new();
    let original = client(&nats, "", None, &tracker).await;
    let mut proposals = original.subscribe(subjects::PROPOSE).await.unwrap();
    let voter = original.clone();
    let voting = tokio::spawn(async move {
        while let Some(message) = proposals.next().await {
            let Ok(proposal) = serde_json::from_slice::<Proposal>(&message.payload) else {
                continue;
            };
            unsigned(&voter, subjects::VOTE, "", agree(&proposal)).await;
        }
    });
    let beating = tokio::spawn(async move {
        loop {
            unsigned(&original, subjects::CLUSTER, "", heartbeat()).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });

    // It is counted as an active monitor.
    let config = first.unwrap();
    let watch = geodns_node::clock::Stopwatch::start();
    loop {
        let args = [
            "consensus",
            "status",
            "-c",
            config.to_str().unwrap(),
            "--node",
            "MON-1",
            "--json",
        ];
        let report = stdout(&geodns(&args, &[]));
        if report.contains(&format!("\"{ORIGINAL}\"")) {
            break;
        }
        assert!(watch.elapsed() < Duration::from_secs(20), "{report}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // While it is active the geodns nodes send the original's one message per proposal,
    // vote and finalize, never batches (every node ticks within a second of its join).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let watcher = client(&nats, "", None, &tracker).await;
    let mut batches = watcher.subscribe(subjects::BATCH).await.unwrap();
    let mut decided = watcher.subscribe(subjects::DECIDED).await.unwrap();

    // Near fails: two geodns monitors agree, the third vote must be the original's.
    near.abort();
    until_answer(dns, FAR, Duration::from_secs(40), dir.path()).await;
    let quiet = Duration::from_millis(200);
    for subscription in [&mut batches, &mut decided] {
        let batch = tokio::time::timeout(quiet, subscription.next()).await;
        assert!(
            batch.is_err(),
            "a batch while an original node is active: {batch:?}"
        );
    }
    voting.abort();
    beating.abort();
    for process in running {
        process.stop().await;
    }
}
