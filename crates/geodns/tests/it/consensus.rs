//! Consensus through the real I/O shell: three monitors (strict auth, keys created on
//! first start) on one in-process bus with membership, a collator storing the outage with
//! its votes in SQLite, official snapshots on every node, forged messages rejected, and
//! cache files written at shutdown and read at the next start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use geodns_bus::wire::WireRole;
use geodns_bus::{Bus, MemoryBus, run_membership, subjects};
use geodns_consensus::engine::Observation;
use geodns_consensus::message::ProposalId;
use geodns_node::consensus::{ConsensusHandle, StatusReport, cache};
use geodns_node::{LiveConfig, Tasks, keys};
use geodns_store::{OutageFilter, OutageStore, SqlStore};
use redis::AsyncCommands as _;
use redis::streams::StreamRangeReply;

use crate::support::{ping_key as key, write};

const MONITORS: [&str; 3] = ["MON-1", "MON-2", "MON-3"];

fn config_text(dir: &Path, id: &str, roles: &str, trusted: &str) -> PathBuf {
    let data = dir.join(id);
    std::fs::create_dir_all(&data).unwrap();
    let text = format!(
        "[node]\nid = \"{id}\"\nroles = [{roles}]\ndata_dir = \"{}\"\n\n\
         [cluster]\nheartbeat = \"1s\"\nactive_window = \"3s\"\npurge_after = \"60s\"\n\n\
         [consensus]\nauth = \"strict\"\ncache_interval = \"1s\"\n\n{trusted}\n\
         [[members]]\nname = \"Amforc\"\nlatitude = 50.1\nlongitude = 8.7\n",
        data.display()
    );
    write(dir, &format!("{id}.toml"), &text)
}

async fn load(path: &Path) -> geodns_core::config::Config {
    crate::support::load_config(path).await
}

struct Node {
    handle: ConsensusHandle,
    cluster: geodns_bus::ClusterHandle,
    live: LiveConfig,
    tasks: Tasks,
}

impl Node {
    async fn stop(&self) {
        self.tasks.stop(Duration::from_secs(10)).await.unwrap();
    }
}

/// A node with membership and consensus, and the collator on `store` when given (its
/// configuration then names the role); other nodes get a store in their data directory.
async fn start<B: Bus>(bus: B, path: &Path, store: Option<SqlStore>) -> Node {
    let config = load(path).await;
    let collating = store.is_some();
    let store = match store {
        Some(store) => store,
        None => {
            let own = geodns::storage::store_config(&config, &Default::default()).unwrap();
            SqlStore::open(own).await.unwrap()
        }
    };
    let me = geodns_node::bus::self_info(&config);
    let live = LiveConfig::new(config);
    let ctx = crate::node::ctx(bus.clone(), &live, store).await;
    let membership = run_membership(bus, me, ctx.cluster.clone(), ctx.shutdown().clone());
    ctx.tasks
        .spawn("membership", async move { membership.await.unwrap() });
    let (tap, tapped) = collating.then(geodns_node::consensus::tap).unzip();
    let handle = geodns_node::consensus::start(&ctx, tap).await.unwrap();
    if let Some(tapped) = tapped {
        geodns_collator::runtime::start(&ctx, &handle, tapped)
            .await
            .unwrap();
    }
    Node {
        handle,
        cluster: ctx.cluster.clone(),
        live,
        tasks: ctx.tasks.clone(),
    }
}

async fn observe_all(nodes: &[Node], ok: bool, round: u32) {
    for (index, node) in nodes.iter().enumerate() {
        let observation = Observation {
            key: key(),
            ok,
            error: if ok {
                String::new()
            } else {
                "100% packet loss".into()
            },
            data: None,
            new_id: ProposalId::parse(&format!("r{round}-n{index}")).unwrap(),
        };
        node.handle.observe(observation).await.unwrap();
    }
}

/// Polls `condition` until it holds; fails after 30 s.
async fn until(what: &str, condition: impl Fn() -> bool) {
    crate::support::until(what, Duration::from_secs(30), condition).await;
}

/// How many ticks a node's consensus task has reported (its status counts them).
fn ticks(node: &Node) -> u64 {
    node.handle.status.lock().unwrap().ticks
}

/// Waits until every node's official status of the check is `want`: within the repair
/// interval (the default republish interval, 10 s) of the decision, plus slack for a
/// loaded machine.
async fn wait_official(nodes: &[Node], want: bool) {
    let statuses = || -> Vec<Option<bool>> {
        nodes
            .iter()
            .map(|n| n.handle.official.borrow().get(&key()).map(|e| e.status))
            .collect()
    };
    let what = format!("official status {want} everywhere");
    crate::support::until(&what, Duration::from_secs(30), || {
        statuses().iter().all(|s| *s == Some(want))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_monitors_agree_record_the_outage_and_reject_forgeries() {
    let hub = MemoryBus::new("hub");
    let buses = MONITORS.iter().map(|id| hub.join(id)).collect();
    scenario(buses, hub.join("EVIL"), hub.join("MON-2"), "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_monitors_agree_over_a_real_nats_server() {
    let server = geodns_test_support::NatsServer::start();
    let connect = |id: &'static str| {
        let config = geodns_bus::NatsConfig::new(vec![server.url()]);
        async move {
            let tracker = tokio_util::task::TaskTracker::new();
            geodns_bus::NatsBus::connect(id, &config, &tracker)
                .await
                .unwrap()
        }
    };
    let mut buses = Vec::new();
    for id in MONITORS {
        buses.push(connect(id).await);
    }
    // The collator also publishes to the test Redis, on a stream prefix of its own.
    let url = geodns_test_support::service_url("GEODNS_TEST_REDIS_URL");
    let prefix = format!("geodns-it-consensus-{}", std::process::id());
    let redis =
        format!("[redis]\nurl = \"{url}\"\nstream_prefix = \"{prefix}\"\nstream_max_len = 100\n");
    scenario(buses, connect("EVIL").await, connect("MON-2").await, &redis).await;
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stream = format!("{prefix}:Amforc");
    let entries: StreamRangeReply = raw.xrange_all(&stream).await.unwrap();
    let _: () = raw.del(&stream).await.unwrap();
    let names: Vec<String> = entries
        .ids
        .iter()
        .map(|entry| entry.get::<String>("name").unwrap())
        .collect();
    assert_eq!(names, ["OutageOpened", "OutageClosed"]);
    let signal: serde_json::Value =
        serde_json::from_str(&entries.ids[0].get::<String>("signal").unwrap()).unwrap();
    assert_eq!(signal["check"], "site|ping|Amforc|||v4");
    assert!(signal["votes"].as_object().unwrap().len() >= 2, "{signal}");
}

/// Three monitors (MON-1 also collator) on `buses`; forgeries from `evil`; MON-2 restarts
/// on `again` after shutdown.
async fn scenario<B: Bus>(buses: Vec<B>, evil: B, again: B, redis: &str) {
    let dir = tempfile::tempdir().unwrap();
    // Each node starts trusting nobody (its key file is created on this first start), so
    // it counts only itself and is frozen.
    let roles = |i: usize| {
        if i == 0 {
            "\"monitor\", \"collator\""
        } else {
            "\"monitor\""
        }
    };
    // The collator's `[redis]` section, if any, goes with MON-1's trusted nodes.
    let extra = |i: usize, trusted: &str| {
        if i == 0 {
            format!("{trusted}\n{redis}")
        } else {
            trusted.to_owned()
        }
    };
    let paths: Vec<PathBuf> = MONITORS
        .iter()
        .enumerate()
        .map(|(i, id)| config_text(dir.path(), id, roles(i), &extra(i, "")))
        .collect();
    let store = SqlStore::open(geodns_store::StoreConfig::new(format!(
        "sqlite://{}",
        dir.path().join("geodns.db").display()
    )))
    .await
    .unwrap();
    let mut nodes = Vec::new();
    for (index, (path, bus)) in paths.iter().zip(buses).enumerate() {
        let store = (index == 0).then(|| store.clone());
        nodes.push(start(bus, path, store).await);
    }
    // Membership sees all three, yet consensus counts only the node itself: frozen.
    until("membership sees three monitors", || {
        nodes
            .iter()
            .all(|n| n.cluster.active_ids(&WireRole::Monitor).len() == 3)
    })
    .await;
    let ticked: Vec<u64> = nodes.iter().map(ticks).collect();
    until("a tick after that", || {
        nodes
            .iter()
            .zip(&ticked)
            .all(|(n, before)| ticks(n) > *before)
    })
    .await;
    for node in &nodes {
        let status = node.handle.status.lock().unwrap().clone();
        assert!(
            status.frozen && status.active_monitors.len() == 1,
            "{status:?}"
        );
    }
    // `geodns consensus key` prints each entry; the files list them and are reloaded.
    let mut trusted = String::new();
    for path in &paths {
        trusted.push_str(&keys::trusted_entry(&load(path).await).unwrap());
    }
    for (index, node) in nodes.iter().enumerate() {
        let path = config_text(
            dir.path(),
            MONITORS[index],
            roles(index),
            &extra(index, &trusted),
        );
        let restart_needed = node.live.replace(load(&path).await);
        assert!(restart_needed.is_empty(), "{restart_needed:?}");
    }
    // Trusted now: each counts three monitors.
    until("monitors to count each other", || {
        nodes
            .iter()
            .all(|n| n.handle.status.lock().unwrap().active_monitors.len() == 3)
    })
    .await;

    observe_all(&nodes, false, 1).await;
    wait_official(&nodes, false).await;
    // The collator writes the decision it was handed a moment after it is official.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let outages = loop {
        let outages = store.outages(&OutageFilter::default()).await.unwrap();
        if !outages.is_empty() || tokio::time::Instant::now() > deadline {
            break outages;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(outages.len(), 1, "{outages:?}");
    let votes = &outages[0].votes;
    assert!(
        votes.len() >= 2 && votes.values().all(|agree| *agree),
        "votes {votes:?}"
    );
    assert!(outages[0].end.is_none());

    // Forgeries on the bus: an unsigned vote and a proposal from an unknown node.
    let forged_vote = r#"{"ProposalID":"x","SenderNodeID":"MON-2","NodeID":"MON-2","Agree":true}"#;
    let forged_proposal = r#"{"ID":"y","SenderNodeID":"EVIL","CheckType":"site","CheckName":"ping","MemberName":"Amforc","ProposedStatus":true}"#;
    evil.publish("consensus.vote", Bytes::from(forged_vote))
        .await
        .unwrap();
    evil.publish("consensus.propose", Bytes::from(forged_proposal))
        .await
        .unwrap();
    // MON-2 takes a vote in its own name for the echo of its own message and drops it
    // unverified; the others reject both forgeries.
    let want = |index: usize| if MONITORS[index] == "MON-2" { 1 } else { 2 };
    let rejected =
        |node: &Node| -> u64 { node.handle.status.lock().unwrap().rejected.values().sum() };
    until("the forgeries to be rejected", || {
        nodes
            .iter()
            .enumerate()
            .all(|(i, n)| rejected(n) >= want(i))
    })
    .await;
    for (index, node) in nodes.iter().enumerate() {
        assert_eq!(
            rejected(node),
            want(index),
            "{} rejections",
            MONITORS[index]
        );
    }
    assert!(nodes.iter().all(|n| {
        n.handle
            .official
            .borrow()
            .get(&key())
            .is_some_and(|e| !e.status)
    }));
    // `geodns consensus status` asks the same subject.
    let reply = evil
        .request(
            &subjects::consensus_status("MON-1"),
            Bytes::new(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let report: StatusReport = serde_json::from_slice(&reply.payload).unwrap();
    assert!(report.voter && !report.frozen, "{report:?}");
    assert_eq!(report.active_monitors, MONITORS);
    assert_eq!((report.official, report.official_down), (1, 1));
    assert_eq!(report.rejected.get("unsigned"), Some(&1), "{report:?}");
    assert_eq!(report.rejected.get("unknown_node"), Some(&1), "{report:?}");
    assert!(report.render().contains("state:           deciding"));

    // Recovery: two good results each (hysteresis), the outage closes.
    observe_all(&nodes, true, 2).await;
    observe_all(&nodes, true, 3).await;
    wait_official(&nodes, true).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let outages = store.outages(&OutageFilter::default()).await.unwrap();
        if outages[0].end.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outage never closed: {outages:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Liveness: a monitor that stops says leave, and the others forget it at once rather
    // than after the active window (3 s) or purge_after (60 s): it is gone from their
    // membership, not merely inactive. The two left are still enough (min_votes 2).
    let stopped = nodes.pop().unwrap();
    stopped.stop().await;
    until("MON-3 forgotten after its leave", || {
        nodes[0]
            .cluster
            .status()
            .iter()
            .all(|node| node.node_id != "MON-3")
            && nodes[0].handle.status.lock().unwrap().active_monitors.len() == 2
    })
    .await;
    assert!(!nodes[0].handle.status.lock().unwrap().frozen);

    // Shutdown saves the caches; the next start reads them.
    for node in &nodes {
        node.stop().await;
    }
    let saved = cache::load(&dir.path().join("MON-2").join(cache::OFFICIAL)).unwrap();
    assert_eq!(saved.len(), 1);
    assert!(saved[0].1.status);
    let restarted = start(again, &paths[1], None).await;
    assert_eq!(
        restarted
            .handle
            .official
            .borrow()
            .get(&key())
            .map(|e| e.status),
        Some(true)
    );
    restarted.stop().await;
}

#[test]
fn a_corrupt_or_torn_cache_file_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(cache::OFFICIAL);
    assert!(
        cache::load(&path).unwrap().is_empty(),
        "a missing file is empty"
    );
    std::fs::write(&path, b"{\"version\":1,\"node\":\"x\",\"saved_at\":\"2026-").unwrap();
    let error = cache::load(&path).unwrap_err();
    assert!(error.contains("EOF"), "{error}");
    std::fs::write(&path, br#"{"version":1,"node":"x","saved_at":"2026-01-01T00:00:00Z","results":[{"check_type":"planet","check_name":"c","member":"A","ipv6":false,"status":true,"at":"2026-01-01T00:00:00Z"}]}"#).unwrap();
    let error = cache::load(&path).unwrap_err();
    assert_eq!(
        error,
        "results[0]: check_type \"planet\" is not site, domain or endpoint"
    );
}
