//! The fleet scenario on separate processes (test support's `Fleet`: 3 monitors, 2 DNS
//! nodes, a collator with Matrix, an API node; strict trust; the per-role NATS users of
//! `examples/nats-server.conf`; MariaDB): a provider breaks, both DNS nodes answer around
//! it, one outage is stored with three votes and alerted once, the provider is repaired,
//! answers return, the outage closes and the alert is edited. Throughout, a stranger with
//! NATS access sends malformed and forged messages on every subject.
//!
//! What it catches: any break in the loop between processes (a check that no longer
//! reaches consensus, a decision a DNS node does not adopt, a collator that stores or
//! alerts twice or not at all, a recovery that is not applied), and any forged or
//! malformed message that changes an answer, an outage or an alert.

use std::time::Duration;

use bytes::Bytes;
use geodns_bus::{Bus, NatsBus, NatsConfig, subjects};
use geodns_test_support::fleet::{FAR, Fleet, FleetSpec, NEAR};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::matrix::{matrix_section, users_and_room};

/// A fleet named `name` of the defaults (3 monitors, 2 DNS, collator, API on MariaDB).
pub(crate) fn spec(name: &str) -> FleetSpec {
    FleetSpec::new(env!("CARGO_BIN_EXE_geodns"), name)
}

/// The fleet's monitors.
pub(crate) const ALL_MONITORS: [&str; 3] = ["monitor-1", "monitor-2", "monitor-3"];

/// Generous bounds: these tests check what happens, the failover benchmark how fast.
pub(crate) const LIMIT: Duration = Duration::from_secs(45);

/// Near's outages on the API node's status route, `ongoing` or `recent`.
pub(crate) async fn near_outages(fleet: &Fleet, list: &str) -> Option<Vec<Value>> {
    let status = fleet.api_json("/api/status").await?;
    let outages = status[list].as_array()?;
    Some(
        outages
            .iter()
            .filter(|o| o["member"] == "Near")
            .cloned()
            .collect(),
    )
}

/// The monitors that voted for an outage, sorted.
pub(crate) fn voters(outage: &Value) -> Vec<String> {
    outage["votes"]
        .as_object()
        .map(|votes| votes.keys().cloned().collect())
        .unwrap_or_default()
}

/// Breaks Near: both DNS nodes answer Far, and one outage of Near is ongoing, voted by
/// a quorum (2 of 3) of monitors; returns it. (The outage keeps the votes the decision
/// was made with: a third vote arriving after the quorum is not in it.)
pub(crate) async fn break_near(fleet: &Fleet) -> Value {
    fleet.near().fail().await;
    fleet.until_answers(FAR, LIMIT).await;
    let outage = fleet
        .wait_for("one ongoing outage of Near", LIMIT, async |fleet| {
            let ongoing = near_outages(fleet, "ongoing").await?;
            (ongoing.len() == 1).then(|| ongoing[0].clone())
        })
        .await;
    let voters = voters(&outage);
    assert!(
        voters.len() >= 2 && voters.iter().all(|v| v.starts_with("monitor-")),
        "{outage:#}"
    );
    outage
}

/// The monitors the API node counts as active (its consensus status).
pub(crate) async fn active_monitors(fleet: &Fleet) -> Option<Vec<String>> {
    let status = fleet.api_json("/api/consensus").await?;
    let mut active: Vec<String> = status["active_monitors"]
        .as_array()?
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect();
    active.sort();
    Some(active)
}

/// Waits until exactly `want` are the active monitors.
pub(crate) async fn until_active(fleet: &Fleet, want: &[&str]) {
    fleet
        .wait_for(&format!("active monitors {want:?}"), LIMIT, async |fleet| {
            (active_monitors(fleet).await? == want).then_some(())
        })
        .await;
}

/// Repairs Near: both DNS nodes answer Near again, and Near has exactly one outage in
/// the last day, closed; returns it.
pub(crate) async fn repair_near(fleet: &Fleet) -> Value {
    fleet.near().repair().await;
    fleet.until_answers(NEAR, LIMIT).await;
    fleet
        .wait_for("Near's one outage closed", LIMIT, async |fleet| {
            let recent = near_outages(fleet, "recent").await?;
            let ongoing = near_outages(fleet, "ongoing").await?;
            (ongoing.is_empty() && recent.len() == 1 && !recent[0]["end"].is_null())
                .then(|| recent[0].clone())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_provider_is_answered_around_stored_once_alerted_once_and_restored() {
    let (_bot, contact, room) = users_and_room().await;
    let mut spec = spec("scenario");
    spec.collator_extra = matrix_section(
        &geodns_test_support::service_url("GEODNS_TEST_MATRIX_URL"),
        &room,
    )
    .replace("amforc", "near");
    let fleet = Fleet::start(spec).await;
    let noise = Noise::start(&fleet).await;
    let tracker = TaskTracker::new();
    let mut decided = listen(&fleet, &tracker).await;

    until_active(&fleet, &ALL_MONITORS).await;
    break_near(&fleet).await;
    // Every node here reads batches: the decision travelled in a `consensus.decided`
    // batch (what DNS nodes subscribe to), with its quorum certificate.
    let watch = geodns_node::clock::Stopwatch::start();
    loop {
        let message = tokio::time::timeout(LIMIT, decided.next()).await;
        let message = message.ok().flatten().expect("a decided batch");
        let Ok(batch) = geodns_bus::consensus::decode_batch(&message.payload) else {
            continue; // the stranger's noise
        };
        let near_down = batch.finalizes.iter().any(|f| {
            let f = &f.message;
            let near = f.proposal.key.member.as_str() == "Near";
            f.passed && !f.proposal.status && near && f.votes.len() >= 2
        });
        if near_down {
            break;
        }
        assert!(
            watch.elapsed() < LIMIT,
            "no batched decision that Near is down"
        );
    }
    tracker.close();
    let alerts = contact.wait_messages(&room, 1, LIMIT).await;
    assert_eq!(alerts.len(), 1, "one OFFLINE alert: {alerts:#?}");

    repair_near(&fleet).await;
    crate::alert_outbox::one_message_edited(&contact, &room).await;

    // The noise reached the nodes and was refused (counted by the API node, which
    // follows these subjects), never applied: the answers and the one outage above.
    for (subject, reasons) in [
        (subjects::MAINTENANCE_UPDATE, &["unsigned"][..]),
        (subjects::PROPOSE, &["unsigned"]),
        (subjects::CLUSTER, &["unsigned"]),
        (subjects::PROPOSE, &["unknown_key", "bad_signature"]),
        (subjects::BATCH, &["unsigned"]),
        (subjects::DECIDED, &["unsigned"]),
        (subjects::BATCH, &["unknown_key", "bad_signature"]),
        (
            subjects::MAINTENANCE_UPDATE,
            &["unknown_key", "bad_signature"],
        ),
    ] {
        let mut counted = 0.0;
        for reason in reasons {
            let series = format!(
                "geodns_bus_messages_refused_total{{subject=\"{subject}\",reason=\"{reason}\"}}"
            );
            counted += fleet.metric(&series).await.unwrap_or(0.0);
        }
        let all = fleet.metrics().await;
        let refused: Vec<&str> = all
            .lines()
            .filter(|l| l.contains("refused_total{"))
            .collect();
        assert!(
            counted > 0.0,
            "{subject} {reasons:?} not counted: {refused:#?}"
        );
    }
    noise.stop().await;
    fleet.finish().await;
}

/// `consensus.decided` as the NATS user `node` receives it.
async fn listen(fleet: &Fleet, tracker: &TaskTracker) -> geodns_bus::Subscription {
    let mut config = NatsConfig::new(vec![fleet.nats.url()]);
    config.user_password = Some(("node".to_owned(), "node-secret".to_owned()));
    config.inbox_prefix = Some("_INBOX.node".to_owned());
    let bus = NatsBus::connect("listener", &config, tracker)
        .await
        .unwrap();
    bus.subscribe(subjects::DECIDED).await.unwrap()
}

/// A stranger on the bus (the NATS user `node`, which may publish every subject) sending,
/// every 200 ms on every subject, random bytes, cut-off JSON, and well-formed messages
/// that would redirect users if accepted: an override of the European client to Far,
/// Near in maintenance, a leave of monitor-2, and a proposal and vote that Near is down,
/// signed with a key no node trusts, as monitor-1.
pub(crate) struct Noise {
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Noise {
    pub(crate) async fn start(fleet: &Fleet) -> Noise {
        let tracker = TaskTracker::new();
        let mut config = NatsConfig::new(vec![fleet.nats.url()]);
        config.user_password = Some(("node".to_owned(), "node-secret".to_owned()));
        config.inbox_prefix = Some("_INBOX.node".to_owned());
        let raw = NatsBus::connect("stranger", &config, &tracker)
            .await
            .unwrap();
        let key = crate::fleet::random_key();
        let clock: geodns_bus::Clock = std::sync::Arc::new(geodns_node::clock::now);
        let gate = geodns_bus::envelope::Gate::new(
            ("monitor-1", Some(key)),
            geodns_bus::envelope::TrustTable::off(),
            crate::fleet::rand_boot(),
            clock,
        );
        let impostor = NatsBus::connect("monitor-1", &config, &tracker)
            .await
            .unwrap()
            .with_gate(std::sync::Arc::new(gate));
        let stop = CancellationToken::new();
        let token = stop.clone();
        tracker.spawn(async move {
            while !token.is_cancelled() {
                send_noise(&raw, &impostor).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Noise { stop, tracker }
    }

    pub(crate) async fn stop(self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

const SUBJECTS: [&str; 13] = [
    subjects::CLUSTER,
    subjects::PROPOSE,
    subjects::VOTE,
    subjects::FINALIZE,
    subjects::BATCH,
    subjects::DECIDED,
    subjects::USAGE_REQUEST,
    subjects::USAGE_DATA,
    subjects::DOWNTIME_REQUEST,
    subjects::DOWNTIME_DATA,
    subjects::MAINTENANCE_UPDATE,
    subjects::OVERRIDE_UPDATE,
    subjects::OFFICIAL_SYNC,
];

async fn send_noise(raw: &NatsBus, impostor: &NatsBus) {
    let mut junk = [0u8; 64];
    getrandom::fill(&mut junk).unwrap();
    let redirect = json!({"action": "set", "domain": "rpc.geo.example", "countryCode": "GB",
        "override": {"ipv4": FAR}})
    .to_string();
    let maintenance = json!({"member": "Near", "maintenance": true, "by": "root"}).to_string();
    let down = proposal_down();
    for subject in SUBJECTS {
        let _ = raw.publish(subject, Bytes::copy_from_slice(&junk)).await;
        let _ = raw
            .publish(
                subject,
                Bytes::from_static(b"{\"id\": \"p-1\", \"sender\":"),
            )
            .await;
    }
    let unsigned = [
        (subjects::OVERRIDE_UPDATE, redirect.clone()),
        (subjects::MAINTENANCE_UPDATE, maintenance.clone()),
        (subjects::CLUSTER, crate::fleet::leave("monitor-2")),
        (subjects::PROPOSE, down.clone()),
    ];
    for (subject, body) in unsigned {
        // Naming monitor-1 in the sender header, as anyone with NATS access can.
        let _ = raw
            .send(geodns_bus::Outgoing {
                subject: subject.to_owned(),
                reply: None,
                payload: Bytes::from(body),
                sender: "monitor-1".to_owned(),
                envelope: None,
            })
            .await;
    }
    let batch = format!("{{\"proposals\":[{down}]}}");
    for (subject, body) in [
        (subjects::OVERRIDE_UPDATE, redirect),
        (subjects::MAINTENANCE_UPDATE, maintenance),
        (subjects::PROPOSE, down),
        (subjects::BATCH, batch),
    ] {
        let _ = impostor.publish(subject, Bytes::from(body)).await;
    }
    let _ = impostor.flush().await;
}

/// A proposal that Near's TCP check is down, signed as monitor-1 with a key no node trusts.
fn proposal_down() -> String {
    use geodns_consensus::message::{Proposal, ProposalId};
    use geodns_core::ids::{MemberId, NodeId};
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).unwrap();
    let proposal = Proposal {
        id: ProposalId::parse(&format!("forged-{}", u64::from_be_bytes(id))).unwrap(),
        sender: NodeId::parse("monitor-1").unwrap(),
        key: geodns_core::records::CheckKey {
            kind: geodns_core::model::CheckKind::Site,
            check: "tcp".into(),
            member: MemberId::parse("Near").unwrap(),
            domain: String::new(),
            endpoint: String::new(),
            ipv6: false,
        },
        status: false,
        error: "forged".into(),
        data: None,
        timestamp: geodns_node::clock::now(),
    };
    let signed = crate::fleet::random_key().sign(proposal);
    String::from_utf8(geodns_bus::consensus::encode_proposal(&signed)).unwrap()
}
