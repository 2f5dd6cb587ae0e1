//! The collator loses no outage: a decision that passes while the database is unreachable
//! (a real MariaDB behind a proxy the test cuts) waits in the retry queue and is stored
//! once, with its votes, when the database returns; a failed finalize that arrives first
//! does not hide the passed one.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use geodns_bus::consensus::{encode_finalize, encode_proposal, encode_vote};
use geodns_bus::{Bus, MemoryBus, subjects};
use geodns_collator::{CollatorQueue, QueueReport};
use geodns_consensus::message::{Finalize, Proposal, ProposalId, Signed, Vote};
use geodns_core::ids::NodeId;
use geodns_node::consensus::ConsensusHandle;
use geodns_node::{LiveConfig, Tasks};
use geodns_store::{OutageStore, SqlStore, StoreConfig};
use geodns_test_support::{Kind, TestDatabase};

use crate::support::{load_config, mysql_behind_proxy, ping_key as key, until, write};

pub(crate) fn node(id: &str) -> NodeId {
    NodeId::parse(id).unwrap()
}

/// A collator's configuration in `dir`, with `extra` TOML appended.
pub(crate) async fn live_config(dir: &std::path::Path, id: &str, extra: &str) -> LiveConfig {
    let text = format!(
        "[node]\nid = \"{id}\"\nroles = [\"collator\"]\ndata_dir = \"{}\"\n\
         [consensus]\nauth = \"off\"\n\
         [monitor]\nminimum_offline = \"0s\"\n\
         {extra}\n\
         [[members]]\nname = \"Amforc\"\nlatitude = 50.1\nlongitude = 8.7\n",
        dir.display()
    );
    LiveConfig::new(load_config(&write(dir, "collator.toml", &text)).await)
}

/// A monitor's messages for one decision: proposal, three votes, finalize(s).
pub(crate) struct Monitor<B = MemoryBus>(pub(crate) B);

impl<B: Bus> Monitor<B> {
    pub(crate) async fn send(&self, subject: &str, payload: Vec<u8>) {
        self.0.publish(subject, Bytes::from(payload)).await.unwrap();
    }

    pub(crate) async fn propose_and_vote(&self, proposal: &Proposal, votes: &[(&str, bool)]) {
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
                timestamp: geodns_node::clock::now(),
            };
            self.send(subjects::VOTE, encode_vote(&Signed::unsigned(vote)))
                .await;
        }
    }

    /// The collator subscribes as it starts: a probe decision (a close of nothing),
    /// repeated until it is stored, shows it is listening.
    pub(crate) async fn until_listening(&self, queue: &CollatorQueue) {
        let mut probe = down_proposal("warm-up");
        probe.status = true;
        // Its own check, so it never closes a test's outage.
        probe.key.member = geodns_core::ids::MemberId::parse("warm-up-probe").unwrap();
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

    pub(crate) async fn finalize(&self, proposal: &Proposal, sender: &str, passed: bool) {
        self.finalize_at(proposal, sender, passed, geodns_node::clock::now())
            .await;
    }

    /// A finalize decided at `at` (each deciding monitor has its own time).
    pub(crate) async fn finalize_at(
        &self,
        proposal: &Proposal,
        sender: &str,
        passed: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let finalize = Finalize {
            proposal: proposal.clone(),
            sender: node(sender),
            passed,
            decided_at: at,
            votes: Vec::new(),
        };
        self.send(
            subjects::FINALIZE,
            encode_finalize(&Signed::unsigned(finalize)),
        )
        .await;
    }
}

/// A running collator on an in-process bus (with its node's consensus shell, an
/// observer), with a monitor to talk to it.
pub(crate) struct Collator {
    pub(crate) queue: CollatorQueue,
    pub(crate) ctx: geodns_node::NodeCtx<MemoryBus>,
    pub(crate) tasks: Tasks,
    pub(crate) handle: ConsensusHandle,
    pub(crate) monitor: Monitor,
}

impl Collator {
    /// Starts it on `store` and its own bus, and waits until it listens.
    async fn start(store: SqlStore, dir: &std::path::Path) -> Collator {
        let bus = MemoryBus::new("collator");
        let live = live_config(dir, "collator", "").await;
        Collator::start_on(bus, store, live).await
    }

    /// Starts it on `bus` (another collator's, to run several) and waits until it
    /// listens.
    pub(crate) async fn start_on(bus: MemoryBus, store: SqlStore, live: LiveConfig) -> Collator {
        let ctx = crate::node::ctx(bus.clone(), &live, store).await;
        let me = geodns_node::bus::self_info(&live.current());
        let membership = geodns_bus::run_membership(
            bus.clone(),
            me,
            ctx.cluster.clone(),
            ctx.shutdown().clone(),
        );
        ctx.tasks
            .spawn("membership", async move { membership.await.unwrap() });
        let (tap, tapped) = geodns_node::consensus::tap();
        let handle = geodns_node::consensus::start(&ctx, Some(tap))
            .await
            .unwrap();
        let queue = geodns_collator::runtime::start(&ctx, &handle, tapped)
            .await
            .unwrap();
        let monitor = Monitor(bus.join("m1"));
        monitor.until_listening(&queue).await;
        Collator {
            queue,
            tasks: ctx.tasks.clone(),
            ctx,
            handle,
            monitor,
        }
    }

    /// Stops it and waits for every task.
    pub(crate) async fn stop(&self) {
        self.tasks.stop(Duration::from_secs(10)).await.unwrap();
    }
}

pub(crate) fn down_proposal(id: &str) -> Proposal {
    Proposal {
        id: ProposalId::parse(id).unwrap(),
        sender: node("m1"),
        key: key(),
        status: false,
        error: "100% packet loss".into(),
        data: None,
        timestamp: geodns_node::clock::now(),
    }
}

pub(crate) async fn wait_for(
    what: &str,
    queue: &CollatorQueue,
    done: impl Fn(&QueueReport) -> bool,
) {
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
    let collator = Collator::start(store, dir.path()).await;
    let (queue, monitor) = (&collator.queue, &collator.monitor);

    proxy.cut();
    let proposal = down_proposal("p-during-outage");
    monitor
        .propose_and_vote(&proposal, &[("m1", true), ("m2", true), ("m3", false)])
        .await;
    // Every deciding monitor finalizes; the repeats must not add rows.
    monitor.finalize(&proposal, "m1", true).await;
    monitor.finalize(&proposal, "m2", true).await;
    wait_for("failed writes to be retried", queue, |r| {
        r.pending == 1 && r.retries >= 2 && r.last_error.is_some()
    })
    .await;

    proxy.restore();
    wait_for("the queue to drain", queue, |r| {
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

    collator.stop().await;
    direct.close().await;
    database.drop_now().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_finalize_first_does_not_hide_the_passed_one() {
    let database = TestDatabase::create(Kind::Sqlite).await;
    let store = SqlStore::open(database.store_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let collator = Collator::start(store.clone(), dir.path()).await;
    let (queue, monitor) = (&collator.queue, &collator.monitor);

    let proposal = down_proposal("p-late-pass");
    monitor
        .propose_and_vote(&proposal, &[("m1", true), ("m2", true)])
        .await;
    // m3 timed out and failed the proposal; m1 saw the quorum and passed it.
    monitor.finalize(&proposal, "m3", false).await;
    monitor.finalize(&proposal, "m1", true).await;
    wait_for("the passed decision", queue, |r| r.stored >= 2).await;
    let open = store.current_outages().await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let want: BTreeMap<NodeId, bool> = [(node("m1"), true), (node("m2"), true)].into();
    assert_eq!(open[0].votes, want);

    collator.stop().await;
    store.close().await;
    database.drop_now().await;
}

/// Decisions queued while the database is unreachable survive a restart of the
/// collator: they are journaled before they are queued and queued again at start, and
/// stored once when the database is back. Closes the window where a restart during a
/// database outage lost every decision waiting in the in-memory queue.
#[tokio::test(flavor = "multi_thread")]
async fn decisions_queued_during_a_database_outage_survive_a_restart() {
    let (database, proxy, url) = mysql_behind_proxy().await;
    let config = || {
        let mut config = StoreConfig::new(url.to_string());
        config.pool.min_idle = 0;
        config.pool.acquire_timeout = Duration::from_secs(1);
        config
    };
    let dir = tempfile::tempdir().unwrap();
    let collator = Collator::start(SqlStore::connect(config()).await.unwrap(), dir.path()).await;
    let (queue, monitor) = (&collator.queue, &collator.monitor);
    proxy.cut();
    let votes = [("m1", true), ("m2", true), ("m3", false)];
    let (down, mut up) = (down_proposal("p-r-down"), down_proposal("p-r-up"));
    up.status = true;
    // In the past: a decision dated after its arrival is recorded when it arrived.
    let t0 = geodns_node::clock::now() - chrono::TimeDelta::minutes(5);
    monitor.propose_and_vote(&down, &votes).await;
    monitor.finalize_at(&down, "m1", true, t0).await;
    monitor.propose_and_vote(&up, &votes).await;
    let back = t0 + chrono::TimeDelta::seconds(90);
    monitor.finalize_at(&up, "m1", true, back).await;
    wait_for("both decisions queued", queue, |r| r.pending >= 2).await;
    collator.stop().await;

    proxy.restore();
    let restarted = Collator::start(SqlStore::connect(config()).await.unwrap(), dir.path()).await;
    wait_for("the journaled decisions stored", &restarted.queue, |r| {
        r.pending == 0 && r.stored >= 3
    })
    .await;
    let direct = SqlStore::connect(database.store_config()).await.unwrap();
    let outages = direct
        .outages(&geodns_store::OutageFilter::default())
        .await
        .unwrap();
    assert_eq!(outages.len(), 1, "one outage, stored once: {outages:?}");
    let ms = |at: chrono::DateTime<chrono::Utc>| at.timestamp_millis();
    assert_eq!(
        (ms(outages[0].start), outages[0].end.map(ms)),
        (ms(t0), Some(ms(back)))
    );
    let logged = geodns_collator::history::read(&direct, 1).await.unwrap();
    let mut proposals: Vec<String> = logged
        .into_iter()
        .map(|(_, entry)| entry.unwrap().proposal)
        .filter(|p| p.starts_with("p-r-"))
        .collect();
    proposals.sort();
    assert_eq!(proposals, ["p-r-down", "p-r-up"], "each logged once");
    let journal = dir.path().join(geodns_collator::runtime::journal::FILE);
    until("the journal emptied", Duration::from_secs(10), || {
        std::fs::metadata(&journal).is_ok_and(|m| m.len() == 0)
    })
    .await;

    restarted.stop().await;
    direct.close().await;
    database.drop_now().await;
}
