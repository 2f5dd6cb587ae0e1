//! Trust on the bus, against `geodns run` processes on a real nats-server in strict mode
//! (three monitors, a DNS node with the API, every node listed with its key): forged,
//! unsigned, wrongly signed, wrong-role and replayed messages on each control subject
//! change nothing a real DNS client, the cache files or the node's `/metrics` can see,
//! except the refusal counters; legitimately signed overrides and maintenance still
//! apply; forged leaves of every monitor do not stop a failover; a poisoned sync reply
//! does not reach a fresh DNS-only node.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use geodns_bus::envelope::{Envelope, key_id};
use geodns_bus::{Bus, BusMessage, NatsBus, subjects};
use geodns_node::clock::Stopwatch;
use geodns_test_support::NatsServer;
use tokio_util::task::TaskTracker;

use crate::fleet::{
    FAR, NEAR, NodeFile, capture, client, key_of, leave, node_file, override_set, provider,
    random_key, resend, stays, unsigned, until_answer, until_refused,
};
use crate::support::{Process, free_port, trust_all};

const MONITORS: [&str; 3] = ["MON-1", "MON-2", "MON-3"];
/// The fleet's `max_message_age`: long enough for Near to come back inside it.
const MAX_AGE: Duration = Duration::from_secs(30);

/// The German client's DNS node, the port of its API (for `/metrics`), and the clients
/// the test publishes with.
struct Scene<'a> {
    dir: &'a Path,
    dns: SocketAddr,
    api_port: u16,
    /// Unsigned (and re-sends exactly what it captured).
    raw: NatsBus,
    /// The api node's real key (a legitimate operator change).
    api: NatsBus,
    /// A key nobody lists, claiming to be the api node.
    impostor: NatsBus,
    /// A monitor's real key (stolen): the wrong role for overrides and maintenance.
    monitor: NatsBus,
    /// A node nobody lists.
    stranger: NatsBus,
}

impl Scene<'_> {
    async fn refused(&self, subject: &str, reason: &str) {
        until_refused(self.api_port, subject, reason).await;
    }

    async fn answered(&self, want: &str, limit: Duration) {
        until_answer(self.dns, want, limit, self.dir).await;
    }

    async fn stays_near(&self, span: Duration, what: &str) {
        stays(self.dns, NEAR, span, what).await;
    }
}

async fn publish(bus: &NatsBus, subject: &str, body: &str) {
    bus.publish(subject, Bytes::from(body.to_owned()))
        .await
        .unwrap();
    bus.flush().await.unwrap();
}

fn config(dir: &Path, nats: &str, port: u16, node: (&str, &str, u16, u16)) -> std::path::PathBuf {
    let fleet: [(&str, &[&str]); 6] = [
        ("MON-1", &["monitor"]),
        ("MON-2", &["monitor"]),
        ("MON-3", &["monitor"]),
        ("dns-1", &["dns", "api"]),
        ("dns-2", &["dns", "api"]),
        ("api-1", &["api"]),
    ];
    let trusted = trust_all(dir, &fleet);
    let consensus = format!(
        "max_message_age = \"{}s\"\ncache_interval = \"1s\"",
        MAX_AGE.as_secs()
    );
    let (id, roles, dns, api) = node;
    let file = NodeFile {
        id,
        roles,
        dns,
        api,
        consensus: &consensus,
    };
    node_file(dir, nats, (port, &trusted), &file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_control_messages_change_nothing_in_strict_mode() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let near = provider(NEAR, port).await;
    let _far = provider(FAR, port).await;
    let mut running = Vec::new();
    for id in MONITORS {
        let path = config(
            dir.path(),
            &nats.url(),
            port,
            (id, r#"["monitor"]"#, free_port(), free_port()),
        );
        running.push(Process::start(&path, &dir.path().join(format!("{id}.log"))));
    }
    let (dns1, api1) = (free_port(), free_port());
    let path = config(
        dir.path(),
        &nats.url(),
        port,
        ("dns-1", r#"["dns", "api"]"#, dns1, api1),
    );
    running.push(Process::start(&path, &dir.path().join("dns-1.log")));
    let tracker = TaskTracker::new();
    let scene = Scene {
        dir: dir.path(),
        dns: ([127, 0, 0, 1], dns1).into(),
        api_port: api1,
        raw: client(&nats, "intruder", None, &tracker).await,
        api: client(&nats, "api-1", Some(key_of(dir.path(), "api-1")), &tracker).await,
        impostor: client(&nats, "api-1", Some(random_key()), &tracker).await,
        monitor: client(&nats, "MON-1", Some(key_of(dir.path(), "MON-1")), &tracker).await,
        stranger: client(&nats, "api-9", Some(random_key()), &tracker).await,
    };
    scene.answered(NEAR, Duration::from_secs(40)).await;

    overrides(&scene).await;
    maintenance(&scene).await;
    let down = leaves_then_failover(&scene, near).await;
    let _near = provider(NEAR, port).await;
    replayed_finalize(&scene, &down).await;

    let (dns2, api2) = (free_port(), free_port());
    let path = config(
        dir.path(),
        &nats.url(),
        port,
        ("dns-2", r#"["dns", "api"]"#, dns2, api2),
    );
    let fresh = poisoned_sync(&scene, (&path, dns2, api2)).await;
    running.push(fresh);
    for process in running {
        process.stop().await;
    }
}

/// Overrides: unsigned, signed by a key nobody lists, by a monitor (wrong role), by an
/// unlisted node; then the api's own set and clear apply, and the set replayed does not.
async fn overrides(scene: &Scene<'_>) {
    let mut seen = scene
        .raw
        .subscribe(subjects::OVERRIDE_UPDATE)
        .await
        .unwrap();
    let redirect = override_set("198.51.100.66");
    unsigned(
        &scene.raw,
        subjects::OVERRIDE_UPDATE,
        "api-1",
        redirect.clone(),
    )
    .await;
    for bus in [&scene.impostor, &scene.monitor, &scene.stranger] {
        publish(bus, subjects::OVERRIDE_UPDATE, &redirect).await;
    }
    for reason in ["unsigned", "unknown_key", "wrong_role", "unknown_sender"] {
        scene.refused(subjects::OVERRIDE_UPDATE, reason).await;
    }
    scene
        .stays_near(Duration::from_secs(2), "a forged override redirected users")
        .await;

    publish(
        &scene.api,
        subjects::OVERRIDE_UPDATE,
        &override_set("198.51.100.7"),
    )
    .await;
    scene.answered("198.51.100.7", Duration::from_secs(5)).await;
    let set = capture(&mut seen, Duration::from_secs(5), |m| {
        String::from_utf8_lossy(&m.payload).contains("198.51.100.7\"")
    })
    .await;
    let clear = serde_json::json!({"action": "clear", "domain": "rpc.geo.example"});
    publish(&scene.api, subjects::OVERRIDE_UPDATE, &clear.to_string()).await;
    scene.answered(NEAR, Duration::from_secs(5)).await;
    resend(&scene.raw, &set).await;
    scene.refused(subjects::OVERRIDE_UPDATE, "replayed").await;
    scene
        .stays_near(Duration::from_secs(1), "a replayed override applied")
        .await;
    let saved = std::fs::read_to_string(scene.dir.join("dns-1/dns-overrides.json")).unwrap();
    assert!(!saved.contains("198.51.100.66"), "{saved}");
}

/// Maintenance: unsigned, wrongly signed and from a monitor's key change nothing; the
/// api's own on and off apply, and the "on" replayed does not.
async fn maintenance(scene: &Scene<'_>) {
    let mut seen = scene
        .raw
        .subscribe(subjects::MAINTENANCE_UPDATE)
        .await
        .unwrap();
    let change = |on: bool| {
        serde_json::json!({"member": "Near", "maintenance": on, "by": "root"}).to_string()
    };
    unsigned(
        &scene.raw,
        subjects::MAINTENANCE_UPDATE,
        "api-1",
        change(true),
    )
    .await;
    publish(&scene.impostor, subjects::MAINTENANCE_UPDATE, &change(true)).await;
    publish(&scene.monitor, subjects::MAINTENANCE_UPDATE, &change(true)).await;
    for reason in ["unsigned", "unknown_key", "wrong_role"] {
        scene.refused(subjects::MAINTENANCE_UPDATE, reason).await;
    }
    scene
        .stays_near(Duration::from_secs(2), "forged maintenance took Near out")
        .await;

    publish(&scene.api, subjects::MAINTENANCE_UPDATE, &change(true)).await;
    scene.answered(FAR, Duration::from_secs(5)).await;
    // The impostor's message names the same sender: tell the api's apart by its key id.
    let api_key = key_id(&key_of(scene.dir, "api-1").public());
    let on = capture(&mut seen, Duration::from_secs(5), |m| {
        let envelope = m.envelope.as_deref().and_then(Envelope::decode);
        envelope.is_some_and(|e| e.kid == api_key)
            && String::from_utf8_lossy(&m.payload).contains("true")
    })
    .await;
    publish(&scene.api, subjects::MAINTENANCE_UPDATE, &change(false)).await;
    scene.answered(NEAR, Duration::from_secs(5)).await;
    resend(&scene.raw, &on).await;
    scene
        .refused(subjects::MAINTENANCE_UPDATE, "replayed")
        .await;
    scene
        .stays_near(Duration::from_secs(1), "replayed maintenance took Near out")
        .await;
}

/// Forged leaves of every monitor (unsigned, signed with an unknown key, and by a listed
/// node about another), repeated while Near fails: the failover still happens. Returns
/// the captured "Near down" finalize.
async fn leaves_then_failover(scene: &Scene<'_>, near: tokio::task::JoinHandle<()>) -> BusMessage {
    // Between geodns nodes decisions travel batched, on `consensus.decided`.
    let mut finalizes = scene.raw.subscribe(subjects::DECIDED).await.unwrap();
    let forging = {
        let (raw, impostor, api) = (scene.raw.clone(), scene.impostor.clone(), scene.api.clone());
        tokio::spawn(async move {
            loop {
                for id in MONITORS {
                    unsigned(&raw, subjects::CLUSTER, id, leave(id)).await;
                    impostor
                        .publish(subjects::CLUSTER, Bytes::from(leave(id)))
                        .await
                        .ok();
                    api.publish(subjects::CLUSTER, Bytes::from(leave(id)))
                        .await
                        .ok();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    near.abort();
    scene.answered(FAR, Duration::from_secs(30)).await;
    forging.abort();
    let mut heartbeats = scene.raw.subscribe(subjects::CLUSTER).await.unwrap();
    for reason in ["unsigned", "unknown_key", "not_self"] {
        scene.refused(subjects::CLUSTER, reason).await;
    }
    let heartbeat = capture(&mut heartbeats, Duration::from_secs(5), |m| {
        m.sender.as_deref() == Some("MON-2") && m.envelope.is_some()
    })
    .await;
    resend(&scene.raw, &heartbeat).await;
    scene.refused(subjects::CLUSTER, "replayed").await;
    capture(&mut finalizes, Duration::from_secs(5), |m| {
        let body = String::from_utf8_lossy(&m.payload);
        body.contains("\"Passed\":true") && body.contains("\"ProposedStatus\":false")
    })
    .await
}

/// Near is back: the captured "down" decision, sent unsigned, by a node that is not a
/// monitor, replayed inside the age window and after it, changes nothing.
async fn replayed_finalize(scene: &Scene<'_>, down: &BusMessage) {
    let captured = Stopwatch::start();
    scene.answered(NEAR, Duration::from_secs(25)).await;
    assert!(
        captured.elapsed() < MAX_AGE - Duration::from_secs(2),
        "back up too late for this test"
    );
    let body = String::from_utf8_lossy(&down.payload).into_owned();
    unsigned(&scene.raw, subjects::FINALIZE, "MON-1", body.clone()).await;
    publish(&scene.api, subjects::FINALIZE, &body).await;
    resend(&scene.raw, down).await;
    for reason in ["unsigned", "wrong_role"] {
        scene.refused(subjects::FINALIZE, reason).await;
    }
    scene.refused(subjects::DECIDED, "replayed").await;
    scene
        .stays_near(Duration::from_secs(1), "a replayed finalize took Near down")
        .await;
    tokio::time::sleep((MAX_AGE + Duration::from_secs(1)).saturating_sub(captured.elapsed())).await;
    resend(&scene.raw, down).await;
    scene.refused(subjects::DECIDED, "expired").await;
    scene
        .stays_near(Duration::from_secs(2), "an expired finalize took Near down")
        .await;
    let cache = std::fs::read_to_string(scene.dir.join("dns-1/official.cache.json")).unwrap();
    assert!(near_up_in(&cache), "{cache}");
}

/// True when the cache file's Near row is up.
fn near_up_in(cache: &str) -> bool {
    let file: serde_json::Value = serde_json::from_str(cache).unwrap();
    file["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|row| row["member"] == "Near" && row["status"] == true)
}

/// A fresh DNS-only node asks for the official results; an intruder answers first,
/// claiming MON-1, with Near down in the year 9999 (unsigned, and signed with an unknown
/// key). The monitors' answer is the one taken. Returns the fresh node.
async fn poisoned_sync(scene: &Scene<'_>, (path, dns, api): (&Path, u16, u16)) -> Process {
    let poisoned = serde_json::json!({"node": "MON-1", "saved_at": "2026-01-01T00:00:00Z",
        "results": [{"check_type": "site", "check_name": "tcp", "member": "Near", "domain": "",
        "endpoint": "", "ipv6": false, "status": false, "error": "forged",
        "at": "9999-01-01T00:00:00Z"}]})
    .to_string();
    let mut requests = scene.raw.subscribe(subjects::OFFICIAL_SYNC).await.unwrap();
    let answering = {
        let (raw, impostor) = (scene.raw.clone(), scene.impostor.clone());
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                let Some(inbox) = request.reply.clone() else {
                    continue;
                };
                unsigned(&raw, &inbox, "MON-1", poisoned.clone()).await;
                impostor
                    .reply(&request, &inbox, Bytes::from(poisoned.clone()))
                    .await
                    .ok();
            }
        })
    };
    let fresh = Process::start(path, &scene.dir.join("dns-2.log"));
    let answers: SocketAddr = ([127, 0, 0, 1], dns).into();
    until_answer(answers, NEAR, Duration::from_secs(30), scene.dir).await;
    // The forged replies race the monitors' (answered from encoded pages within a
    // millisecond): those that arrive before the request is answered are refused and
    // counted; whatever the order, none is taken (below).
    let watch = geodns_node::clock::Stopwatch::start();
    loop {
        let unsigned = crate::fleet::refused(api, "reply", "unsigned").await;
        let unknown = crate::fleet::refused(api, "reply", "unknown_key").await;
        if unsigned + unknown > 0 {
            break;
        }
        assert!(
            watch.elapsed() < Duration::from_secs(10),
            "no forged reply refused"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stays(
        answers,
        NEAR,
        Duration::from_secs(3),
        "the poisoned sync reached the fresh node",
    )
    .await;
    let cache = std::fs::read_to_string(scene.dir.join("dns-2/official.cache.json")).unwrap();
    assert!(
        !cache.contains("9999-01-01") && near_up_in(&cache),
        "{cache}"
    );
    answering.abort();
    fresh
}
