//! Tests of the scheduler task with real sockets on 127.0.0.1: a hanging provider holds
//! one worker until its check's timeout and never delays the others.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use geodns_core::ids::MemberId;
use geodns_core::model::{Check, CheckKind, Probe, TcpOptions, TlsOptions};
use tokio::net::TcpListener;

use super::*;
use crate::outcome::Reason;
use crate::target::Target;

fn env() -> Arc<Env> {
    let fixed = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    Arc::new(Env::new(None, Arc::new(move || fixed)).unwrap())
}

fn target(member: &str, port: u16) -> Arc<Target> {
    Arc::new(Target {
        member: MemberId::parse(member).unwrap(),
        service: None,
        domain: "rpc.test.example".into(),
        endpoint: None,
        address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ipv6: false,
        port: Some(port),
        network: None,
        state_root: None,
    })
}

fn check(name: &str, probe: Probe, timeout: Duration) -> Arc<Check> {
    Arc::new(Check {
        name: name.into(),
        kind: CheckKind::Domain,
        enabled: true,
        interval: Duration::from_secs(3600),
        timeout,
        probe,
    })
}

/// A TLS check whose handshake (against a listener that never accepts) hangs until
/// `timeout`, the check's own limit.
fn hanging_tls(timeout: Duration) -> Arc<Check> {
    let probe = Probe::Tls(TlsOptions {
        connect_timeout: Duration::from_secs(60),
        min_validity: Duration::ZERO,
    });
    check("ssl", probe, timeout)
}

#[tokio::test]
async fn a_hanging_provider_does_not_delay_the_others() {
    // Never accepted: connects complete from the backlog, a TLS handshake never does.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let tls = hanging_tls(Duration::from_secs(3));
    let tcp = check(
        "tcp",
        Probe::Tcp(TcpOptions {
            connect_timeout: Duration::from_secs(1),
            port: None,
        }),
        Duration::from_secs(5),
    );
    let mut items = vec![Item {
        check: tls,
        target: target("Hanging", port),
    }];
    for index in 0..6 {
        items.push(Item {
            check: tcp.clone(),
            target: target(&format!("Fast{index}"), port),
        });
    }
    let (_plan_tx, plan) = watch::channel(Plan {
        items,
        workers: 2,
        separation: Duration::from_millis(20),
    });
    let (tx, mut rx) = mpsc::channel(16);
    let counters = Arc::new(Counters::default());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_scheduler(
        plan,
        env(),
        counters.clone(),
        tx,
        shutdown.clone(),
    ));
    let started = Instant::now();
    for _ in 0..6 {
        let result = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("every fast check ends while the hanging one runs")
            .unwrap();
        assert_eq!(result.item.check.name, "tcp");
        assert!(result.outcome.is_ok(), "{:?}", result.outcome);
    }
    let fast = started.elapsed();
    let hung = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hung.item.target.member.as_str(), "Hanging");
    assert_eq!(
        hung.outcome.failure.as_ref().map(|f| f.0),
        Some(Reason::Timeout)
    );
    assert!(hung.outcome.latency >= Duration::from_secs(3));
    assert!(
        hung.outcome.latency < Duration::from_secs(4),
        "{:?}",
        hung.outcome.latency
    );
    assert!(fast < Duration::from_secs(2), "fast checks took {fast:?}");
    let counted = counters.snapshot();
    assert_eq!(counted["tcp"].ok, 6);
    assert_eq!(counted["tls"].failures.get("timeout"), Some(&1));
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn shutdown_aborts_checks_in_flight() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let tls = hanging_tls(Duration::from_secs(60));
    let (_plan_tx, plan) = watch::channel(Plan {
        items: vec![Item {
            check: tls,
            target: target("Hanging", port),
        }],
        workers: 1,
        separation: Duration::ZERO,
    });
    let (tx, _rx) = mpsc::channel(1);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_scheduler(
        plan,
        env(),
        Arc::default(),
        tx,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("stops at once")
        .unwrap();
}
