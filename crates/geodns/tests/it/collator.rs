//! The collator loses no outage: a decision that passes while the database is unreachable
//! (a real MariaDB behind a proxy the test cuts) waits in the retry queue and is stored
//! once, with its votes, when the database returns; a failed finalize that arrives first
//! does not hide the passed one.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use geodns::collator::{Wiring, run_collator};
use geodns::consensus::{CollatorQueue, QueueReport};
use geodns::reload::LiveConfig;
use geodns_bus::consensus::{encode_finalize, encode_proposal, encode_vote};
use geodns_bus::{Bus, MemoryBus, subjects};
use geodns_consensus::message::{Finalize, Proposal, ProposalId, Signed, Vote};
use geodns_core::ids::NodeId;
use geodns_store::{OutageStore, SqlStore, StoreConfig};
use geodns_test_support::{Kind, TestDatabase};
use tokio_util::sync::CancellationToken;

use crate::support::{load_config, mysql_behind_proxy, ping_key as key, until, write};

fn node(id: &str) -> NodeId {
    NodeId::parse(id).unwrap()
}

async fn live_config(dir: &std::path::Path) -> LiveConfig {
    let text = format!(
        "[node]\nid = \"collator\"\nroles = [\"collator\"]\ndata_dir = \"{}\"\n\
         [consensus]\nauth = \"off\"\n\
         [[members]]\nname = \"Amforc\"\nlatitude = 50.1\nlongitude = 8.7\n",
        dir.display()
    );
    LiveConfig::new(load_config(&write(dir, "collator.toml", &text)).await)
}

/// A monitor's messages for one decision: proposal, three votes, finalize(s).
struct Monitor(MemoryBus);

impl Monitor {
    async fn send(&self, subject: &str, payload: Vec<u8>) {
        self.0.publish(subject, Bytes::from(payload)).await.unwrap();
    }

    async fn propose_and_vote(&self, proposal: &Proposal, votes: &[(&str, bool)]) {
        self.send(
            subjects::PROPOSE,
            encode_proposal(&Signed::unsigned(proposal.clone())),
        )
        .await;
        for (voter, agree) in votes {
            let vote = Vote {
                proposal: proposal.id.clone(),
                voter: node(voter),
                agree: *agree,
                timestamp: geodns::clock::now(),
            };
            self.send(subjects::VOTE, encode_vote(&Signed::unsigned(vote)))
                .await;
        }
    }

    /// The collator subscribes as it starts: a probe decision (a close of nothing),
    /// repeated until it is stored, shows it is listening.
    async fn until_listening(&self, queue: &CollatorQueue) {
        let mut probe = down_proposal("warm-up");
        probe.status = true;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while queue.report().stored == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the collator never listened"
            );
            self.finalize(&probe, "m1", true).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn finalize(&self, proposal: &Proposal, sender: &str, passed: bool) {
        let finalize = Finalize {
            proposal: proposal.clone(),
            sender: node(sender),
            passed,
            decided_at: geodns::clock::now(),
            votes: Vec::new(),
        };
        self.send(
            subjects::FINALIZE,
            encode_finalize(&Signed::unsigned(finalize)),
        )
        .await;
    }
}

/// A running collator on its own in-process bus, with a monitor to talk to it.
struct Collator {
    queue: CollatorQueue,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), geodns::consensus::ConsensusError>>,
    monitor: Monitor,
}

impl Collator {
    /// Starts it on `store` and waits until it listens.
    async fn start(store: SqlStore, dir: &std::path::Path) -> Collator {
        let live = live_config(dir).await;
        let bus = MemoryBus::new("collator");
        let queue = CollatorQueue::default();
        let shutdown = CancellationToken::new();
        let wiring = Wiring {
            cluster: geodns::bus::cluster_handle(&live.current()),
            official: tokio::sync::watch::channel(std::sync::Arc::default()).1,
            events: None,
        };
        let task = tokio::spawn(run_collator(
            bus.clone(),
            store,
            wiring,
            live,
            queue.clone(),
            shutdown.clone(),
        ));
        let monitor = Monitor(bus.join("m1"));
        monitor.until_listening(&queue).await;
        Collator {
            queue,
            shutdown,
            task,
            monitor,
        }
    }
}

fn down_proposal(id: &str) -> Proposal {
    Proposal {
        id: ProposalId::parse(id).unwrap(),
        sender: node("m1"),
        key: key(),
        status: false,
        error: "100% packet loss".into(),
        data: None,
        timestamp: geodns::clock::now(),
    }
}

async fn wait_for(what: &str, queue: &CollatorQueue, done: impl Fn(&QueueReport) -> bool) {
    let what = format!("{what} (queue: {:?})", queue.report());
    until(&what, Duration::from_secs(60), || done(&queue.report())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decision_made_while_the_database_is_down_is_stored_once_when_it_returns() {
    let (database, proxy, url) = mysql_behind_proxy().await;
    let mut config = StoreConfig::new(url.to_string());
    config.pool.min_idle = 0;
    config.pool.max_connections = 2;
    config.pool.acquire_timeout = Duration::from_secs(1);
    let store = SqlStore::connect(config).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let Collator {
        queue,
        shutdown,
        task: collator,
        monitor,
    } = Collator::start(store, dir.path()).await;

    proxy.cut();
    let proposal = down_proposal("p-during-outage");
    monitor
        .propose_and_vote(&proposal, &[("m1", true), ("m2", true), ("m3", false)])
        .await;
    // Every deciding monitor finalizes; the repeats must not add rows.
    monitor.finalize(&proposal, "m1", true).await;
    monitor.finalize(&proposal, "m2", true).await;
    wait_for("failed writes to be retried", &queue, |r| {
        r.pending == 1 && r.retries >= 2 && r.last_error.is_some()
    })
    .await;

    proxy.restore();
    wait_for("the queue to drain", &queue, |r| {
        r.pending == 0 && r.stored >= 2
    })
    .await;
    let direct = SqlStore::connect(database.store_config()).await.unwrap();
    let open = direct.current_outages().await.unwrap();
    assert_eq!(open.len(), 1, "exactly one outage row: {open:?}");
    let want: BTreeMap<NodeId, bool> =
        [(node("m1"), true), (node("m2"), true), (node("m3"), false)].into();
    assert_eq!(open[0].key, key());
    assert_eq!(open[0].votes, want);
    assert_eq!(open[0].error, "100% packet loss");
    let report = queue.report();
    assert_eq!((report.dropped, report.refused), (0, 0), "{report:?}");

    shutdown.cancel();
    collator.await.unwrap().unwrap();
    direct.close().await;
    database.drop_now().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_finalize_first_does_not_hide_the_passed_one() {
    let database = TestDatabase::create(Kind::Sqlite).await;
    let store = SqlStore::open(database.store_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Collator {
        queue,
        shutdown,
        task: collator,
        monitor,
    } = Collator::start(store.clone(), dir.path()).await;

    let proposal = down_proposal("p-late-pass");
    monitor
        .propose_and_vote(&proposal, &[("m1", true), ("m2", true)])
        .await;
    // m3 timed out and failed the proposal; m1 saw the quorum and passed it.
    monitor.finalize(&proposal, "m3", false).await;
    monitor.finalize(&proposal, "m1", true).await;
    wait_for("the passed decision", &queue, |r| r.stored >= 2).await;
    let open = store.current_outages().await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let want: BTreeMap<NodeId, bool> = [(node("m1"), true), (node("m2"), true)].into();
    assert_eq!(open[0].votes, want);

    shutdown.cancel();
    collator.await.unwrap().unwrap();
    store.close().await;
    database.drop_now().await;
}
