//! The bus against a real nats-server on 127.0.0.1 (and the in-process bus): publish and
//! subscribe, request, fan-out gather with a silent responder, reconnect after a restart.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeSet;
use std::time::Duration;
use tokio_util::task::TaskTracker;

use bytes::Bytes;
use geodns_bus::{Bus, MemoryBus, NatsBus, NatsConfig, Subscription};
use geodns_test_support::NatsServer;

async fn nats(server: &NatsServer, node: &str) -> NatsBus {
    nats_waiting(server, node, Duration::from_millis(100)).await
}

async fn nats_waiting(server: &NatsServer, node: &str, reconnect_wait: Duration) -> NatsBus {
    let mut config = NatsConfig::new(vec![server.url()]);
    config.reconnect_wait = reconnect_wait;
    let bus = NatsBus::connect(node, &config, &TaskTracker::new())
        .await
        .unwrap();
    bus.flush().await.unwrap();
    bus
}

async fn next(subscription: &mut Subscription) -> geodns_bus::BusMessage {
    tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("a message within 10 s")
        .expect("open")
}

/// Answers every request on `subject` with `node`'s name until the test ends.
async fn responder<B: Bus>(bus: B, subject: &str) {
    let mut requests = bus.subscribe(subject).await.unwrap();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let body = format!("{{\"nodeID\":\"{}\"}}", bus.node_id());
                bus.publish(&reply, Bytes::from(body)).await.unwrap();
            }
        }
    });
}

async fn publish_subscribe<B: Bus>(a: B, b: B, settle: impl std::future::Future<Output = ()>) {
    let mut wildcard = b.subscribe("geodns.test.*").await.unwrap();
    let mut exact = b.subscribe("geodns.test.one").await.unwrap();
    settle.await;
    a.publish("geodns.test.one", Bytes::from_static(b"hello"))
        .await
        .unwrap();
    for subscription in [&mut wildcard, &mut exact] {
        let message = next(subscription).await;
        assert_eq!(message.payload, Bytes::from_static(b"hello"));
        assert_eq!(message.sender.as_deref(), Some(a.node_id()));
        assert_eq!(message.subject, "geodns.test.one");
    }
}

async fn gather_with_a_silent_responder<B: Bus>(
    asker: B,
    b: B,
    c: B,
    settle: impl std::future::Future<Output = ()>,
) {
    responder(b.clone(), "dns.usage.getUsage").await;
    responder(c.clone(), "dns.usage.getUsage").await;
    settle.await;
    let expected: BTreeSet<String> = ["node-b", "node-c", "node-silent"].map(String::from).into();
    let gathered = asker
        .gather(
            "dns.usage.getUsage",
            Bytes::from_static(b"{}"),
            &expected,
            Duration::from_millis(700),
            |_| None,
        )
        .await
        .unwrap();
    assert_eq!(
        gathered.replies.keys().cloned().collect::<Vec<_>>(),
        ["node-b", "node-c"]
    );
    assert_eq!(gathered.missing, BTreeSet::from(["node-silent".to_owned()]));
    let all: BTreeSet<String> = ["node-b", "node-c"].map(String::from).into();
    let quick = asker.gather(
        "dns.usage.getUsage",
        Bytes::from_static(b"{}"),
        &all,
        Duration::from_secs(10),
        |_| None,
    );
    let gathered = tokio::time::timeout(Duration::from_secs(5), quick)
        .await
        .expect("returns as soon as all answered")
        .unwrap();
    assert!(gathered.missing.is_empty());
}

#[tokio::test]
async fn nats_publish_subscribe() {
    let server = NatsServer::start();
    let (a, b) = (nats(&server, "node-a").await, nats(&server, "node-b").await);
    let flush = b.clone();
    publish_subscribe(a, b, async move { flush.flush().await.unwrap() }).await;
}

#[tokio::test]
async fn nats_request_reply() {
    let server = NatsServer::start();
    let (a, b) = (nats(&server, "node-a").await, nats(&server, "node-b").await);
    responder(b.clone(), "geodns.test.ask").await;
    b.flush().await.unwrap();
    let reply = a
        .request("geodns.test.ask", Bytes::new(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        reply.payload,
        Bytes::from_static(b"{\"nodeID\":\"node-b\"}")
    );
    let error = a
        .request(
            "geodns.test.nobody",
            Bytes::new(),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "request on geodns.test.nobody: no responders"
    );
}

#[tokio::test]
async fn nats_gather_names_the_silent_responder() {
    let server = NatsServer::start();
    let (a, b, c) = (
        nats(&server, "node-a").await,
        nats(&server, "node-b").await,
        nats(&server, "node-c").await,
    );
    let (fb, fc) = (b.clone(), c.clone());
    gather_with_a_silent_responder(a, b, c, async move {
        fb.flush().await.unwrap();
        fc.flush().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn nats_reconnects_restores_subscriptions_and_delivers_buffered_messages() {
    let mut server = NatsServer::start();
    // Core NATS delivers to the subscriptions present when a message arrives: the subscriber
    // (100 ms) must be back before the publisher (1.5 s) flushes what it buffered.
    let a = nats_waiting(&server, "node-a", Duration::from_millis(1500)).await;
    let b = nats(&server, "node-b").await;
    let mut subscription = b.subscribe("geodns.test.reconnect").await.unwrap();
    b.flush().await.unwrap();
    server.stop();
    // Wait until the client has noticed, so the next publish is really buffered.
    for _ in 0..100 {
        if a.state() == geodns_bus::ConnectionState::Disconnected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(a.state(), geodns_bus::ConnectionState::Disconnected);
    a.publish(
        "geodns.test.reconnect",
        Bytes::from_static(b"during the outage"),
    )
    .await
    .unwrap();
    server.restart();
    let message = next(&mut subscription).await;
    assert_eq!(message.payload, Bytes::from_static(b"during the outage"));
    a.publish("geodns.test.reconnect", Bytes::from_static(b"after"))
        .await
        .unwrap();
    assert_eq!(
        next(&mut subscription).await.payload,
        Bytes::from_static(b"after")
    );
    assert_eq!(a.state(), geodns_bus::ConnectionState::Connected);
}

#[tokio::test]
async fn memory_bus_publish_subscribe_and_gather() {
    let a = MemoryBus::new("node-a");
    publish_subscribe(a.clone(), a.join("node-b"), async {}).await;
    gather_with_a_silent_responder(a.clone(), a.join("node-b"), a.join("node-c"), async {}).await;
}

#[tokio::test]
async fn a_full_subscription_drops_and_counts_instead_of_growing() {
    let a = MemoryBus::new("node-a");
    let mut slow = a.subscribe("geodns.test.flood").await.unwrap();
    let total = geodns_bus::SUBSCRIPTION_CAPACITY + 100;
    for _ in 0..total {
        a.publish("geodns.test.flood", Bytes::from_static(b"x"))
            .await
            .unwrap();
    }
    assert_eq!(slow.dropped(), 100);
    // Counted on the subscribing node's handle too (for its metrics), not on others.
    assert_eq!(a.dropped(), 100);
    assert_eq!(a.join("node-b").dropped(), 0);
    let mut received = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(50), slow.next()).await {
        received += 1;
    }
    assert_eq!(received, geodns_bus::SUBSCRIPTION_CAPACITY);
}
