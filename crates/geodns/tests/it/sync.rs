//! Official results from a peer prove themselves (strict mode): a DNS-only node refuses a
//! sync reply whose entries carry no signed decision of a trusted monitor, or are dated in
//! the future, even from a sender claiming a trusted id; such replies do not confirm its
//! results, which it reports stale after `max_snapshot_age`; a reply with the monitor's
//! signed decision is adopted.

use std::time::Duration;

use bytes::Bytes;
use chrono::TimeDelta;
use geodns_bus::{Bus, MemoryBus, subjects};
use geodns_consensus::auth::NodeKey;
use geodns_consensus::engine::Proven;
use geodns_consensus::message::{Finalize, Proposal, ProposalId, Vote};
use geodns_consensus::results::ResultEntry;
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;
use geodns_node::consensus::cache;

use crate::dns::{DNS_ONLY, config_text, german_answer, near_is};
use crate::node::Node;
use crate::support::{until, write};

fn near_down_key() -> CheckKey {
    CheckKey {
        kind: CheckKind::Site,
        check: "tcp".into(),
        member: MemberId::parse("Near").unwrap(),
        domain: String::new(),
        endpoint: String::new(),
        ipv6: false,
    }
}

/// Answers every sync request on `bus` with `rows` (as the peer `m1` would) until the
/// returned task is aborted.
fn answer_sync(bus: MemoryBus, rows: Vec<Proven>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut requests = bus.subscribe(subjects::OFFICIAL_SYNC).await.unwrap();
        while let Some(request) = requests.next().await {
            let Some(reply) = request.reply else { continue };
            let body = cache::encode("m1", &rows, geodns_node::clock::now());
            bus.publish(&reply, Bytes::from(body)).await.ok();
        }
    })
}

/// The monitor m1's signed decision that Near is down, decided at `at`.
fn decision(key: &NodeKey, at: chrono::DateTime<chrono::Utc>) -> Proven {
    let proposal = Proposal {
        id: ProposalId::parse("p-near-down").unwrap(),
        sender: NodeId::parse("m1").unwrap(),
        key: near_down_key(),
        status: false,
        error: "connection refused".into(),
        data: None,
        timestamp: at,
    };
    let vote = key.sign(Vote {
        proposal: proposal.id.clone(),
        voter: NodeId::parse("m1").unwrap(),
        agree: true,
        timestamp: at,
    });
    let finalize = key.sign(Finalize {
        proposal,
        sender: NodeId::parse("m1").unwrap(),
        passed: true,
        decided_at: at,
        votes: vec![vote],
    });
    let entry = ResultEntry {
        status: false,
        error: "connection refused".into(),
        data: None,
        at,
    };
    (near_down_key(), entry, Some(finalize))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_or_future_sync_reply_changes_nothing_and_a_proven_one_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let monitor_key = NodeKey::from_seed([11; 32]);
    let storage = format!("sqlite://{}/dns.db", dir.path().display());
    let trusted = format!(
        "\n[[consensus.nodes]]\nid = \"m1\"\nroles = [\"monitor\"]\npublic_key = \"{}\"\n",
        monitor_key.public().to_base64()
    );
    let text = config_text(dir.path(), r#"["dns"]"#, &storage, 9).replace(
        "usage_flush = \"1s\"",
        "usage_flush = \"1s\"\nsync_interval = \"1s\"\nmax_snapshot_age = \"2s\"",
    ) + &trusted;
    let path = write(dir.path(), "dns.toml", &text);
    let bus = MemoryBus::new("dns-it");
    let node = Node::start(bus.clone(), &path, DNS_ONLY).await;

    // A sender claiming to be m1 answers with Near down without m1's signed decision,
    // and Far down dated in the year 9999.
    let now = geodns_node::clock::now();
    let mut far = decision(&monitor_key, now);
    far.0.member = MemberId::parse("Far").unwrap();
    far.1.at = chrono::DateTime::from_timestamp(253_370_764_800, 0).unwrap();
    far.2 = None;
    let (near_key, near_entry, _) = decision(&monitor_key, now);
    let forger = answer_sync(bus.join("m1"), vec![(near_key, near_entry, None), far]);
    until(
        "the forged replies are refused",
        Duration::from_secs(10),
        || node.handle.report().sync_refused >= 4,
    )
    .await;
    assert!(!near_is(&node.handle, false), "Near is not taken down");
    assert!(node.handle.official.borrow().is_empty());
    assert_eq!(
        german_answer(node.dns()),
        "127.0.0.11",
        "Germany still gets Near"
    );
    until(
        "stale: no verified reply confirmed the results",
        Duration::from_secs(10),
        || node.handle.report().stale,
    )
    .await;
    node.stop().await;
    forger.abort();
    let _ = forger.await;

    // The same node, answered with m1's signed decision: adopted, and fresh again.
    let node = Node::start(bus.clone(), &path, DNS_ONLY).await;
    let proven = decision(
        &monitor_key,
        geodns_node::clock::now() - TimeDelta::seconds(1),
    );
    let honest = answer_sync(bus.join("m1"), vec![proven]);
    until(
        "the proven decision is adopted",
        Duration::from_secs(10),
        || near_is(&node.handle, false),
    )
    .await;
    until("Germany gets Far", Duration::from_secs(2), || {
        german_answer(node.dns()) == "127.0.0.12"
    })
    .await;
    until(
        "fresh again: a verified reply confirmed them",
        Duration::from_secs(5),
        || !node.handle.report().stale,
    )
    .await;
    node.stop().await;
    honest.abort();
}

/// A lone DNS-only `geodns run` node on NATS, holding m1's signed decision in its cache
/// file: it answers a peer's sync request with it, but never its own, so nothing confirms
/// its results and after `max_snapshot_age` it is not ready (503, `snapshot`) and its
/// official age keeps growing.
#[tokio::test(flavor = "multi_thread")]
async fn a_lone_dns_node_is_not_confirmed_by_its_own_sync_reply() {
    let nats = geodns_test_support::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let monitor_key = NodeKey::from_seed([11; 32]);
    let trusted = crate::support::trust_all(
        dir.path(),
        &[("dns-lone", &["dns", "api"]), ("probe", &["dns"])],
    ) + &format!(
        "[[consensus.nodes]]\nid = \"m1\"\nroles = [\"monitor\"]\npublic_key = \"{}\"\n",
        monitor_key.public().to_base64()
    );
    let (dns, api) = (crate::support::free_port(), crate::support::free_port());
    let node = crate::fleet::NodeFile {
        id: "dns-lone",
        roles: r#"["dns", "api"]"#,
        dns,
        api,
        consensus: "cache_interval = \"1s\"",
    };
    let path = crate::fleet::node_file(dir.path(), &nats.url(), (9, &trusted), &node);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "sync_interval = \"1s\"",
        "sync_interval = \"1s\"\nmax_snapshot_age = \"2s\"",
    );
    std::fs::write(&path, text).unwrap();
    let now = geodns_node::clock::now();
    let held = decision(&monitor_key, now - TimeDelta::seconds(1));
    let data = dir.path().join("dns-lone");
    cache::save(&data.join(cache::OFFICIAL), "dns-lone", &[held], now).unwrap();
    let lone = crate::support::Process::start(&path, &dir.path().join("dns-lone.log"));

    // A listed peer asking gets the held decision: the node does answer sync requests.
    let tracker = tokio_util::task::TaskTracker::new();
    let probe_key = geodns_node::keys::load_or_create(&dir.path().join("probe/node.key"))
        .unwrap()
        .0;
    // It checks what arrives as the lone node's own trust table says.
    let table =
        geodns_bus::envelope::TrustTable::from_config(&crate::support::load_config(&path).await)
            .unwrap();
    let probe =
        crate::fleet::client_trusting(&nats, ("probe", Some(probe_key)), table, &tracker).await;
    let watch = geodns_node::clock::Stopwatch::start();
    let reply = loop {
        match probe
            .request(
                subjects::OFFICIAL_SYNC,
                Bytes::new(),
                Duration::from_secs(2),
            )
            .await
        {
            Ok(reply) => break reply,
            Err(error) => assert!(watch.elapsed() < Duration::from_secs(30), "{error}"),
        }
    };
    assert_eq!(reply.sender.as_deref(), Some("dns-lone"));
    assert!(reply.authenticated, "the reply is signed");
    assert!(String::from_utf8_lossy(&reply.payload).contains("p-near-down"));

    // Its own requests go unanswered by itself: stale, and so not ready.
    let client = geodns_node::http::client(Duration::from_secs(5)).unwrap();
    let url = format!("http://127.0.0.1:{api}/ready");
    let watch = geodns_node::clock::Stopwatch::start();
    loop {
        let response = client.get(&url).send().await;
        if let Ok(response) = response
            && response.status() == 503
        {
            let body = response.text().await.unwrap();
            let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
            let snapshot = ready["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|check| check["name"] == "snapshot")
                .unwrap();
            if snapshot["ok"] == false {
                break;
            }
        }
        assert!(
            watch.elapsed() < Duration::from_secs(20),
            "never reported stale"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let age = crate::fleet::metric(api, "geodns_official_age_seconds")
        .await
        .expect("the official age is reported");
    assert!(age >= 2.0, "official age {age}");
    lone.stop().await;
}
