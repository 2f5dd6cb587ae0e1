//! `examples/nats-server.conf` on a real nats-server: every flow geodns nodes of each role
//! use works (membership, the consensus subscription, votes from a monitor, official
//! results and status asked and answered, usage gathered, overrides from the API), and a
//! DNS node's vote or override is refused by the server, never delivered, and counted.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use geodns_bus::{Bus, NatsBus, NatsConfig, Subscription, subjects};
use geodns_test_support::NatsServer;
use tokio_util::task::TaskTracker;

/// The example with literal passwords (`<role>-secret`) instead of the server's
/// environment variables, and without its `listen` line (the test server picks a port).
fn example() -> String {
    geodns_test_support::fleet::nats_server_conf()
}

/// A node of `role` (its NATS user) with the id `id`, as `[bus]` of the example connects.
async fn connect(server: &NatsServer, role: &str, id: &str, tracker: &TaskTracker) -> NatsBus {
    let mut config = NatsConfig::new(vec![server.url()]);
    config.user_password = Some((role.to_owned(), format!("{role}-secret")));
    config.inbox_prefix = Some(format!("_INBOX.{role}"));
    config.name = Some(id.to_owned());
    NatsBus::connect(id, &config, tracker).await.unwrap()
}

/// The next message on `subscription` within `wait`, if any.
async fn next(subscription: &mut Subscription, wait: Duration) -> Option<Bytes> {
    tokio::time::timeout(wait, subscription.next())
        .await
        .ok()
        .flatten()
        .map(|m| m.payload)
}

/// Waits until `bus` was refused `what` (the server's error arrives after the publish).
async fn refused(bus: &NatsBus, what: &str) {
    crate::support::until(what, Duration::from_secs(10), || {
        bus.refused().contains_key(what)
    })
    .await;
}

/// Answers every request on `subject` with `body`.
async fn answer(bus: &NatsBus, subject: &str, body: &'static str) {
    let mut requests = bus.subscribe(subject).await.unwrap();
    let responder = bus.clone();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                responder.publish(&reply, Bytes::from(body)).await.unwrap();
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_does_its_part_and_a_dns_node_cannot_vote_or_override() {
    let server = NatsServer::start_with_config(&example());
    let tracker = TaskTracker::new();
    let monitor = connect(&server, "monitor", "mon-1", &tracker).await;
    let dns = connect(&server, "dns", "dns-1", &tracker).await;
    let collator = connect(&server, "collator", "col-1", &tracker).await;
    let api = connect(&server, "api", "api-1", &tracker).await;
    let node = connect(&server, "node", "all-1", &tracker).await;
    let wait = Duration::from_secs(3);

    // What every consensus shell and collator reads.
    let mut at_monitor = monitor.subscribe(subjects::CONSENSUS).await.unwrap();
    let mut at_dns = dns.subscribe(subjects::CONSENSUS).await.unwrap();
    let mut overrides = collator.subscribe(subjects::OVERRIDE_UPDATE).await.unwrap();
    let mut maintenance = node.subscribe(subjects::MAINTENANCE_UPDATE).await.unwrap();

    // A monitor votes: every node reads it.
    monitor
        .publish(subjects::VOTE, Bytes::from_static(b"monitor vote"))
        .await
        .unwrap();
    assert_eq!(
        next(&mut at_dns, wait).await.as_deref(),
        Some(&b"monitor vote"[..])
    );
    assert_eq!(
        next(&mut at_monitor, wait).await.as_deref(),
        Some(&b"monitor vote"[..])
    );
    // And its batches.
    for subject in [subjects::BATCH, subjects::DECIDED] {
        monitor
            .publish(subject, Bytes::from_static(b"monitor batch"))
            .await
            .unwrap();
        assert_eq!(
            next(&mut at_dns, wait).await.as_deref(),
            Some(&b"monitor batch"[..]),
            "{subject}"
        );
        assert_eq!(
            next(&mut at_monitor, wait).await.as_deref(),
            Some(&b"monitor batch"[..])
        );
    }

    // A DNS node's vote and override are refused by the server and reach nobody; its
    // membership message (same connection, just after) does.
    dns.publish(subjects::VOTE, Bytes::from_static(b"forged vote"))
        .await
        .unwrap();
    dns.publish(subjects::DECIDED, Bytes::from_static(b"forged decisions"))
        .await
        .unwrap();
    dns.publish(
        subjects::OVERRIDE_UPDATE,
        Bytes::from_static(b"forged override"),
    )
    .await
    .unwrap();
    dns.publish(subjects::CLUSTER, Bytes::from_static(b"dns heartbeat"))
        .await
        .unwrap();
    refused(&dns, "publish consensus.vote").await;
    refused(&dns, "publish geodns.override.update").await;
    assert_eq!(
        next(&mut at_monitor, wait).await.as_deref(),
        Some(&b"dns heartbeat"[..]),
        "the vote before the heartbeat never arrived"
    );
    // The API's override and maintenance change arrive; the DNS node's never did.
    api.publish(
        subjects::OVERRIDE_UPDATE,
        Bytes::from_static(b"api override"),
    )
    .await
    .unwrap();
    api.publish(
        subjects::MAINTENANCE_UPDATE,
        Bytes::from_static(b"api maintenance"),
    )
    .await
    .unwrap();
    assert_eq!(
        next(&mut overrides, wait).await.as_deref(),
        Some(&b"api override"[..])
    );
    assert_eq!(
        next(&mut maintenance, wait).await.as_deref(),
        Some(&b"api maintenance"[..])
    );

    // Requests and their answers, each on the asker's own reply prefix.
    answer(&monitor, subjects::OFFICIAL_SYNC, "official results").await;
    answer(&dns, subjects::USAGE_REQUEST, "usage rows").await;
    answer(&dns, &subjects::cluster_status("dns-1"), "dns-1 status").await;
    let synced = dns
        .request(subjects::OFFICIAL_SYNC, Bytes::new(), wait)
        .await
        .unwrap();
    assert_eq!(&synced.payload[..], b"official results");
    let usage = collator
        .request(subjects::USAGE_REQUEST, Bytes::new(), wait)
        .await
        .unwrap();
    assert_eq!(&usage.payload[..], b"usage rows");
    let status = api
        .request(&subjects::cluster_status("dns-1"), Bytes::new(), wait)
        .await
        .unwrap();
    assert_eq!(&status.payload[..], b"dns-1 status");

    // Nothing else was refused: only the two forgeries.
    let refusals: BTreeSet<String> = [&monitor, &dns, &collator, &api, &node]
        .iter()
        .flat_map(|bus| bus.refused().into_keys())
        .collect();
    let expected: BTreeSet<String> = [
        "publish consensus.vote",
        "publish consensus.decided",
        "publish geodns.override.update",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(refusals, expected, "server log:\n{}", server.log());
    assert!(
        server.log().contains("Publish Violation"),
        "the server logs the refusal:\n{}",
        server.log()
    );
    tracker.close();
}

/// A node's configuration with the example's user for `role`.
fn node_config(
    dir: &std::path::Path,
    server: &NatsServer,
    id: &str,
    role: &str,
) -> std::path::PathBuf {
    let data = dir.join(id);
    // Strict: every node of the fleet is listed with its key.
    let trusted = crate::support::trust_all(
        dir,
        &[
            ("mon-1", &["monitor"]),
            ("dns-1", &["dns"]),
            ("col-1", &["collator"]),
            ("api-1", &["api"]),
        ],
    );
    let text = format!(
        "[node]\nid = \"{id}\"\nroles = [\"{role}\"]\ndata_dir = \"{}\"\n\n\
         [listen]\ndns = \"127.0.0.1:{}\"\napi = \"127.0.0.1:{}\"\n\n\
         [bus]\nmode = \"nats\"\nurls = [\"{}\"]\nuser = \"{role}\"\npassword = \"{role}-secret\"\n\
         inbox_prefix = \"_INBOX.{role}\"\n\n\
         [cluster]\nheartbeat = \"1s\"\nactive_window = \"3s\"\npurge_after = \"60s\"\n\n{trusted}",
        data.display(),
        crate::support::free_port(),
        crate::support::free_port(),
        server.url(),
    );
    crate::support::write(dir, &format!("{id}.toml"), &text)
}

#[test]
fn nodes_of_every_role_run_under_the_example_with_nothing_refused() {
    let server = NatsServer::start_with_config(&example());
    let dir = tempfile::tempdir().unwrap();
    let nodes = [
        ("mon-1", "monitor"),
        ("dns-1", "dns"),
        ("col-1", "collator"),
        ("api-1", "api"),
    ];
    let mut running = Vec::new();
    for (id, role) in nodes {
        let config = node_config(dir.path(), &server, id, role);
        let mut node = crate::support::RunNode::start(&config);
        node.wait_for_log("NATS bus configured", Duration::from_secs(20));
        running.push((config, node));
    }
    // Every node sees the other three, asked as `geodns cluster status` does, with each
    // role's own user.
    for (config, _) in &running {
        let path = config.to_str().unwrap();
        let watch = geodns_node::clock::Stopwatch::start();
        loop {
            let output = crate::support::geodns(
                &["cluster", "status", "-c", path, "--json", "--timeout", "2s"],
                &[],
            );
            let listed = crate::support::stdout(&output);
            if nodes
                .iter()
                .all(|(id, _)| listed.contains(&format!("\"node_id\":\"{id}\"")))
            {
                break;
            }
            assert!(
                watch.elapsed() < Duration::from_secs(20),
                "{path}: {listed}{}\nserver log:\n{}",
                crate::support::stderr(&output),
                server.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let consensus = crate::support::geodns(
        &[
            "consensus",
            "status",
            "-c",
            running[3].0.to_str().unwrap(),
            "--node",
            "mon-1",
        ],
        &[],
    );
    assert!(
        crate::support::stdout(&consensus).contains("node:            mon-1"),
        "{}",
        crate::support::stderr(&consensus)
    );
    for (_, node) in &mut running {
        node.terminate();
        assert!(
            !node.log().contains("refused this"),
            "a node was refused something:\n{}",
            node.log()
        );
    }
    assert!(
        !server.log().contains("Violation"),
        "the server refused something:\n{}",
        server.log()
    );
}
