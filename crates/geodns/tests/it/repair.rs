//! Lost consensus messages through the real consensus task: a monitor that loses the
//! votes and the first finalize of a decision catches up within one republish interval,
//! and monitors whose bus subscriptions hold one message each still converge, with the
//! drops shown in `consensus status`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use geodns_bus::{
    Bus, BusError, BusMessage, MemoryBus, Outgoing, Subscription, run_membership, subjects,
};
use geodns_consensus::engine::Observation;
use geodns_consensus::message::ProposalId;
use geodns_node::LiveConfig;
use geodns_node::consensus::ConsensusHandle;

use crate::support::{load_config, ping_key as key, until, write};

const MONITORS: [&str; 3] = ["MON-1", "MON-2", "MON-3"];
/// The republish interval of these tests: the repair interval.
const REPUBLISH: Duration = Duration::from_secs(4);

/// Which messages a [`LossyBus`] loses on their way to its node.
type Lose = Arc<dyn Fn(&BusMessage) -> bool + Send + Sync>;

/// A node on a shared hub whose incoming consensus messages pass a relay that loses what
/// `lose` says, as a network would, into subscriptions of the private hub's capacity;
/// everything else (membership) is the shared hub's.
#[derive(Clone)]
struct LossyBus {
    hub: MemoryBus,
    /// A hub of this node's own: the relay publishes here what gets through.
    private: MemoryBus,
    lose: Lose,
}

impl Bus for LossyBus {
    fn node_id(&self) -> &str {
        self.hub.node_id()
    }

    async fn send(&self, mut message: Outgoing) -> Result<(), BusError> {
        // This node announces no batches (as an original node), so the others send it
        // the original's one message per vote and finalize: what this bus loses.
        if message.subject == subjects::CLUSTER
            && let Ok(mut join) =
                serde_json::from_slice::<geodns_bus::wire::ClusterMessage>(&message.payload)
        {
            join.features.clear();
            message.payload = geodns_bus::wire::encode(&join).into();
        }
        self.hub.send(message).await
    }

    async fn subscribe_raw(&self, subject: &str) -> Result<Subscription, BusError> {
        let consensus = [
            subjects::CONSENSUS,
            subjects::PROPOSE,
            subjects::VOTE,
            subjects::FINALIZE,
        ];
        if !consensus.contains(&subject) {
            return self.hub.subscribe(subject).await;
        }
        let mut upstream = self.hub.subscribe(subject).await?;
        let downstream = self.private.subscribe(subject).await?;
        let (private, lose) = (self.private.clone(), self.lose.clone());
        tokio::spawn(async move {
            while let Some(message) = upstream.next().await {
                if lose(&message) {
                    continue;
                }
                // Relayed under the sender's own id, as a network passes it on.
                let sender = message.sender.as_deref().unwrap_or("relay");
                let relay = private.join(sender);
                let relayed = Outgoing {
                    subject: message.subject,
                    reply: message.reply,
                    payload: message.payload,
                    sender: sender.to_owned(),
                    envelope: message.envelope,
                };
                relay.send(relayed).await.ok();
            }
        });
        Ok(downstream)
    }

    fn new_inbox(&self) -> String {
        self.hub.new_inbox()
    }

    fn dropped(&self) -> u64 {
        self.hub.dropped()
    }
}

struct Node {
    handle: ConsensusHandle,
    tasks: geodns_node::Tasks,
}

async fn start<B: Bus>(bus: B, dir: &Path, id: &str) -> Node {
    let data = dir.join(id);
    std::fs::create_dir_all(&data).unwrap();
    let text = format!(
        "[node]\nid = \"{id}\"\nroles = [\"monitor\"]\ndata_dir = \"{}\"\n\
         [cluster]\nheartbeat = \"1s\"\nactive_window = \"3s\"\npurge_after = \"60s\"\n\
         [consensus]\nauth = \"off\"\nrepublish_interval = \"{}s\"\n\
         [[members]]\nname = \"Amforc\"\nlatitude = 50.1\nlongitude = 8.7\n",
        data.display(),
        REPUBLISH.as_secs()
    );
    let config = load_config(&write(dir, &format!("{id}.toml"), &text)).await;
    let me = geodns_node::bus::self_info(&config);
    let own = geodns::storage::store_config(&config, &Default::default()).unwrap();
    let store = geodns_store::SqlStore::open(own).await.unwrap();
    let live = LiveConfig::new(config);
    let ctx = crate::node::ctx(bus.clone(), &live, store).await;
    let membership = run_membership(bus, me, ctx.cluster.clone(), ctx.shutdown().clone());
    ctx.tasks
        .spawn("membership", async move { membership.await.unwrap() });
    let handle = geodns_node::consensus::start(&ctx, None).await.unwrap();
    Node {
        handle,
        tasks: ctx.tasks.clone(),
    }
}

fn official(node: &Node) -> Option<bool> {
    node.handle.official.borrow().get(&key()).map(|e| e.status)
}

async fn observe(nodes: &[Node], ok: bool, round: u32) {
    for (index, node) in nodes.iter().enumerate() {
        let observation = Observation {
            key: key(),
            ok,
            error: String::new(),
            data: None,
            new_id: ProposalId::parse(&format!("r{round}-n{index}")).unwrap(),
        };
        node.handle.observe(observation).await.unwrap();
    }
}

async fn all_see_three(nodes: &[Node]) {
    until("every monitor sees three", Duration::from_secs(30), || {
        nodes
            .iter()
            .all(|n| n.handle.status.lock().unwrap().active_monitors.len() == 3)
    })
    .await;
}

async fn stop(nodes: Vec<Node>) {
    for node in nodes {
        node.tasks.stop(Duration::from_secs(10)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_finalize_is_repaired_within_one_republish_interval() {
    let dir = tempfile::tempdir().unwrap();
    let hub = MemoryBus::new("hub");
    let finalizes = Arc::new(AtomicUsize::new(0));
    let seen = finalizes.clone();
    // MON-3 gets no vote at all, so it can never decide alone, and loses the first
    // finalize: only the repair can tell it the outcome.
    let lose: Lose = Arc::new(move |message: &BusMessage| {
        message.subject == subjects::VOTE
            || (message.subject == subjects::FINALIZE && seen.fetch_add(1, Ordering::SeqCst) == 0)
    });
    let mut nodes = Vec::new();
    for id in &MONITORS[..2] {
        nodes.push(start(hub.join(id), dir.path(), id).await);
    }
    let lossy = LossyBus {
        hub: hub.join("MON-3"),
        private: MemoryBus::new("MON-3"),
        lose,
    };
    nodes.push(start(lossy, dir.path(), "MON-3").await);
    all_see_three(&nodes).await;

    observe(&nodes, false, 1).await;
    observe(&nodes, false, 2).await;
    until("MON-1 and MON-2 decide", Duration::from_secs(30), || {
        nodes[..2].iter().all(|n| official(n) == Some(false))
    })
    .await;
    let decided = tokio::time::Instant::now();
    until("MON-3 catches up", Duration::from_secs(30), || {
        official(&nodes[2]) == Some(false)
    })
    .await;
    let took = decided.elapsed();
    assert!(
        finalizes.load(Ordering::SeqCst) >= 2,
        "a finalize was lost and another came"
    );
    // One republish interval, plus a tick of the engine and a little scheduling.
    assert!(
        took <= REPUBLISH + Duration::from_secs(2),
        "MON-3 caught up {took:?} after the others, more than one republish interval ({REPUBLISH:?})"
    );
    stop(nodes).await;
}

/// On one thread, a relay forwards every message it has queued before the consensus task
/// runs: three monitors proposing and voting at once overflow one-message subscriptions.
#[tokio::test(flavor = "current_thread")]
async fn monitors_with_one_message_subscriptions_converge_and_report_the_drops() {
    let dir = tempfile::tempdir().unwrap();
    let hub = MemoryBus::new("hub");
    let mut nodes = Vec::new();
    for id in MONITORS {
        let bus = LossyBus {
            hub: hub.join(id),
            private: MemoryBus::with_capacity(id, 1),
            lose: Arc::new(|_: &BusMessage| false),
        };
        nodes.push(start(bus, dir.path(), id).await);
    }
    all_see_three(&nodes).await;
    for (round, ok) in [(1, false), (2, false), (3, true), (4, true)] {
        observe(&nodes, ok, round).await;
        if round % 2 == 0 {
            until("every monitor agrees", Duration::from_secs(60), || {
                nodes.iter().all(|n| official(n) == Some(ok))
            })
            .await;
        }
    }
    // The status is refreshed every tick.
    until(
        "the drops to show in consensus status",
        Duration::from_secs(10),
        || {
            nodes
                .iter()
                .any(|n| n.handle.status.lock().unwrap().bus_dropped > 0)
        },
    )
    .await;
    let report = nodes[0].handle.status.lock().unwrap().render();
    assert!(report.contains("dropped by the bus"), "{report}");
    stop(nodes).await;
}
