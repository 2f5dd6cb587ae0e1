//! One Matrix alert per outage across collators and crashes (a real Synapse, MariaDB), each
//! test closing one window of the in-memory alert path this outbox replaced:
//! - a collator killed with SIGKILL after the outage row committed and before its alert
//!   was kept sends the alert, once, when it is back (the alert is in the row's
//!   transaction);
//! - collator A owes the OFFLINE (its Matrix is down) and collator B records the
//!   recovery: B's ONLINE waits for A's OFFLINE and edits it (one message, not two);
//! - collator A leaves with an OFFLINE owed: collator B claims it once A's heartbeat is
//!   silent for `[collator] alert_takeover`, sends it, and A, back later, sends nothing.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use geodns_bus::NatsBus;
use geodns_consensus::message::Proposal;
use geodns_store::{ClusterStore, OutageStore, SqlStore};
use geodns_test_support::{Kind, NatsServer, TcpProxy, TestDatabase, service_url};
use serde_json::Value;
use tokio_util::task::TaskTracker;

use crate::collator::{Collator, Monitor, down_proposal, wait_for};
use crate::matrix::{User, matrix_section, start, users_and_room};
use crate::support::{Process, database_behind_proxy, until, write};

const VOTES: [(&str, bool); 3] = [("m1", true), ("m2", true), ("m3", false)];

/// The homeserver behind a proxy the test can cut.
async fn matrix_proxy() -> TcpProxy {
    let target: url::Url = service_url("GEODNS_TEST_MATRIX_URL").parse().unwrap();
    let address: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&(
        target.host_str().unwrap(),
        target.port().unwrap(),
    ))
    .unwrap()
    .next()
    .unwrap();
    TcpProxy::start(address).await
}

async fn mariadb() -> (TestDatabase, SqlStore) {
    let database = TestDatabase::create(Kind::MySql).await;
    let store = SqlStore::open(database.store_config()).await.unwrap();
    (database, store)
}

/// A value of one of the collator's metrics (no labels).
fn metric(collator: &Collator, name: &str) -> f64 {
    let text = geodns_node::metrics::encode(&collator.ctx.metrics.families());
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Asserts the room holds exactly one OFFLINE message and one edit of it to ONLINE.
pub(crate) async fn one_message_edited(contact: &User, room: &str) {
    let messages = contact
        .wait_messages(room, 2, Duration::from_secs(90))
        .await;
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let body = |m: &Value| m["content"]["body"].as_str().unwrap_or_default().to_owned();
    assert!(body(&messages[0]).contains("*OFFLINE*"), "{messages:#?}");
    let edit = &messages[1]["content"];
    assert_eq!(
        edit["m.relates_to"]["rel_type"], "m.replace",
        "{messages:#?}"
    );
    assert_eq!(edit["m.relates_to"]["event_id"], messages[0]["event_id"]);
    assert!(
        edit["m.new_content"]["body"]
            .as_str()
            .unwrap()
            .contains("*ONLINE*")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_online_alert_waits_for_the_offline_another_collator_owes_and_edits_it() {
    let (_bot, contact, room) = users_and_room().await;
    let (database, store) = mariadb().await;
    let proxy = matrix_proxy().await;
    proxy.cut();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let down_matrix = matrix_section(&format!("http://{}", proxy.addr()), &room);
    let a = start(&store, dir_a.path(), "collator-a", &down_matrix).await;
    let direct = matrix_section(&service_url("GEODNS_TEST_MATRIX_URL"), &room);
    let b = start(&store, dir_b.path(), "collator-b", &direct).await;

    // A records the outage (and owes its OFFLINE, which it cannot send) ...
    let down = down_proposal("p-owed-down");
    a.monitor.propose_and_vote(&down, &VOTES).await;
    a.monitor.finalize(&down, "m1", true).await;
    wait_for("A stored the outage", &a.queue, |r| r.stored >= 2).await;
    // ... and B, which never saw it open, records the recovery.
    let mut up = down_proposal("p-owed-up");
    up.status = true;
    b.monitor.propose_and_vote(&up, &VOTES).await;
    b.monitor.finalize(&up, "m1", true).await;
    wait_for("B stored the recovery", &b.queue, |r| r.stored >= 2).await;
    assert!(store.current_outages().await.unwrap().is_empty(), "closed");
    // B holds its ONLINE back while the OFFLINE is unsent: nothing is in the room.
    until("B holds an ONLINE alert", Duration::from_secs(30), || {
        metric(&b, "geodns_matrix_alerts_pending") >= 1.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // B's sender passes again
    assert!(
        contact.messages(&room).await.is_empty(),
        "no ONLINE as a message of its own before the OFFLINE"
    );

    proxy.restore();
    one_message_edited(&contact, &room).await;
    a.stop().await;
    b.stop().await;
    store.close().await;
    database.drop_now().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_owed_by_a_collator_that_left_are_sent_once_by_another() {
    let (_bot, contact, room) = users_and_room().await;
    let (database, store) = mariadb().await;
    let proxy = matrix_proxy().await;
    proxy.cut();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let takeover = "[collator]\nalert_takeover = \"5s\"\n";
    let unreachable = matrix_section(&format!("http://{}", proxy.addr()), &room) + takeover;
    let a = start(&store, dir_a.path(), "collator-a", &unreachable).await;
    let down = down_proposal("p-left-down");
    a.monitor.propose_and_vote(&down, &VOTES).await;
    a.monitor.finalize(&down, "m1", true).await;
    wait_for("A stored the outage", &a.queue, |r| r.stored >= 2).await;
    a.stop().await; // A leaves, its OFFLINE unsent.

    let direct = matrix_section(&service_url("GEODNS_TEST_MATRIX_URL"), &room) + takeover;
    let b = start(&store, dir_b.path(), "collator-b", &direct).await;
    contact.wait_offline(&room).await;
    assert_eq!(
        metric(&b, "geodns_matrix_alerts_total{result=\"claimed\"}"),
        1.0
    );
    let mut up = down_proposal("p-left-up");
    up.status = true;
    b.monitor.propose_and_vote(&up, &VOTES).await;
    b.monitor.finalize(&up, "m1", true).await;
    one_message_edited(&contact, &room).await;

    // A comes back, with Matrix: what it owed was claimed, so it sends nothing.
    proxy.restore();
    let back = geodns_node::clock::now();
    let a = start(&store, dir_a.path(), "collator-a", &unreachable).await;
    let beat = || async {
        let bytes = store.state("alerts.alive.collator-a").await.unwrap();
        let ms: i64 = String::from_utf8(bytes.unwrap_or_default())
            .unwrap()
            .parse()
            .unwrap_or(0);
        ms
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while beat().await <= back.timestamp_millis() + 1000 {
        assert!(tokio::time::Instant::now() < deadline, "A's sender runs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(contact.messages(&room).await.len(), 2, "sent once");
    a.stop().await;
    b.stop().await;
    store.close().await;
    database.drop_now().await;
}

/// A collator process on NATS and `storage`, sending alerts through `matrix`.
fn collator_file(dir: &Path, nats: &str, storage: &str, matrix: &str) -> std::path::PathBuf {
    let text = format!(
        "[node]\nid = \"collator-k\"\nroles = [\"collator\"]\ndata_dir = \"{}\"\n\
         [bus]\nmode = \"nats\"\nurls = [\"{nats}\"]\n\
         [storage]\nurl = \"{storage}\"\n\
         [consensus]\nauth = \"off\"\n\
         [monitor]\nminimum_offline = \"0s\"\n\
         {matrix}\n\
         [[members]]\nname = \"Amforc\"\nlatitude = 50.1\nlongitude = 8.7\n",
        dir.display()
    );
    write(dir, "collator.toml", &text)
}

/// Sends `proposal`'s decision until the store shows it (an outage open for a down
/// decision, none for an up one): the collator process may not listen yet, and a repeat
/// of a handled decision changes nothing.
async fn decide_until_stored(monitor: &Monitor<NatsBus>, proposal: &Proposal, store: &SqlStore) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while store.current_outages().await.unwrap().is_empty() != proposal.status {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} is stored",
            proposal.id
        );
        monitor.propose_and_vote(proposal, &VOTES).await;
        monitor.finalize(proposal, "m1", true).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collator_killed_after_the_outage_row_sends_its_alert_once_restarted() {
    let (_bot, contact, room) = users_and_room().await;
    let (database, db_proxy, url) = database_behind_proxy(Kind::MySql).await;
    let store = SqlStore::open(database.store_config()).await.unwrap();
    let nats = NatsServer::start();
    let matrix = matrix_proxy().await;
    matrix.cut();
    let dir = tempfile::tempdir().unwrap();
    let section = matrix_section(&format!("http://{}", matrix.addr()), &room);
    let config = collator_file(dir.path(), &nats.url(), url.as_str(), &section);
    // Where an earlier release kept the alert after the row: the database stops answering
    // there, as if the process died before that write.
    db_proxy.stall_at(b"matrix.pending.collator-k.0");
    let process = Process::start(&config, &dir.path().join("first.log"));
    let tracker = TaskTracker::new();
    let monitor = Monitor(crate::fleet::client(&nats, "m1", None, &tracker).await);
    decide_until_stored(&monitor, &down_proposal("p-killed-down"), &store).await;
    drop(process); // SIGKILL
    assert!(contact.messages(&room).await.is_empty(), "Matrix was down");

    db_proxy.restore();
    matrix.restore();
    let process = Process::start(&config, &dir.path().join("second.log"));
    contact.wait_offline(&room).await;
    let mut up = down_proposal("p-killed-up");
    up.status = true;
    decide_until_stored(&monitor, &up, &store).await;
    one_message_edited(&contact, &room).await;
    process.stop().await;
    tracker.close();
    store.close().await;
    database.drop_now().await;
}
