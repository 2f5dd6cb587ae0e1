//! Every check type against real servers on 127.0.0.1 (from `geodns-test-support`):
//! healthy and each way of being broken, with the public hostname presented while the
//! connection goes to the member's own address.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use geodns_core::ids::{MemberId, ServiceId};
use geodns_core::model::{
    Check, CheckKind, EthRpcOptions, HttpOptions, PingOptions, Probe, SubstrateRpcOptions,
    TcpOptions, TlsOptions,
};
use geodns_monitor::check::PingMode;
use geodns_monitor::{Env, Outcome, Reason, Target, run};
use geodns_test_support::providers::{
    EthBehaviour, EthNode, HttpEndpoint, Observed, SubstrateBehaviour, SubstrateNode, TcpPorts,
    TestPki, TlsServer, Validity,
};
use url::Url;

const ROOT: &str = "0x29d0d972cd27cbc511e9589fcb7a4506d5eb6a9e8df205f00472e5ab354a4e17";
const HOST: &str = "rpc.test.example";

fn env(ca: Option<&TestPki>) -> Env {
    let now = chrono::DateTime::from_timestamp(0, 0).unwrap()
        + chrono::Duration::from_std(std::time::UNIX_EPOCH.elapsed().unwrap()).unwrap();
    let pem = ca.map(|pki| pki.ca_pem().into_bytes());
    Env::new(pem.as_deref(), Arc::new(move || now)).unwrap()
}

fn target(member: &str, addr: SocketAddr, url: Option<&str>) -> Target {
    let endpoint = url.map(|u| Url::parse(u).unwrap());
    Target {
        member: MemberId::parse(member).unwrap(),
        service: Some(ServiceId::parse("Polkadot").unwrap()),
        domain: HOST.into(),
        endpoint,
        address: Some(addr.ip()),
        ipv6: addr.is_ipv6(),
        port: Some(addr.port()),
        network: Some("Polkadot".into()),
        state_root: Some(ROOT.into()),
    }
}

fn check(kind: CheckKind, probe: Probe) -> Check {
    Check {
        name: probe.type_name().into(),
        kind,
        enabled: true,
        interval: Duration::from_secs(60),
        timeout: Duration::from_secs(10),
        probe,
    }
}

fn failed(outcome: &Outcome, reason: Reason, text: &str) {
    let geodns_monitor::outcome::Failure(found, error) = outcome
        .failure
        .clone()
        .unwrap_or_else(|| panic!("should fail: {outcome:?}"));
    assert_eq!(found, reason, "{error}");
    assert!(error.contains(text), "`{error}` should contain `{text}`");
}

// ---- tcp ----

#[tokio::test]
async fn tcp_accepting_and_refused() {
    let (_server, open) = TcpPorts::accepting().await;
    let tcp = |port| {
        check(
            CheckKind::Site,
            Probe::Tcp(TcpOptions {
                connect_timeout: Duration::from_secs(2),
                port,
            }),
        )
    };
    let env = env(None);
    let ok = run(&tcp(Some(open.port())), &target("A", open, None), &env).await;
    assert!(ok.is_ok(), "{ok:?}");
    let refused = TcpPorts::refused_port();
    let outcome = run(
        &tcp(Some(refused.port())),
        &target("A", refused, None),
        &env,
    )
    .await;
    failed(&outcome, Reason::Connect, "cannot connect");
}

// ---- tls ----

fn tls_check() -> Check {
    check(
        CheckKind::Domain,
        Probe::Tls(TlsOptions {
            connect_timeout: Duration::from_secs(5),
            min_validity: Duration::from_secs(5 * 86_400),
        }),
    )
}

#[tokio::test]
async fn tls_valid_expiring_expired_and_wrong_name() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let env = env(Some(&pki));
    let valid = TlsServer::start(pki.server_config(&[HOST], Validity::VALID)).await;
    let outcome = run(&tls_check(), &target("A", valid.addr(), None), &env).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(
        valid.last_sni().as_deref(),
        Some(HOST),
        "SNI is the public hostname"
    );
    let days = outcome.data["DaysUntilExpiry"].as_i64().unwrap();
    assert!((88..=90).contains(&days), "{days}");

    let soon = TlsServer::start(pki.server_config(&[HOST], Validity::EXPIRING_SOON)).await;
    let outcome = run(&tls_check(), &target("A", soon.addr(), None), &env).await;
    failed(&outcome, Reason::Expiry, "certificate expires in 1 days");

    let expired = TlsServer::start(pki.server_config(&[HOST], Validity::EXPIRED)).await;
    let outcome = run(&tls_check(), &target("A", expired.addr(), None), &env).await;
    failed(&outcome, Reason::Expiry, "certificate expired 3 days ago");

    let wrong = TlsServer::start(pki.server_config(&["other.test.example"], Validity::VALID)).await;
    let outcome = run(&tls_check(), &target("A", wrong.addr(), None), &env).await;
    failed(&outcome, Reason::Tls, "not valid for rpc.test.example");

    // Without the test CA the same valid server is untrusted.
    let outcome = run(
        &tls_check(),
        &target("A", valid.addr(), None),
        &self::env(None),
    )
    .await;
    failed(&outcome, Reason::Tls, "unknown issuer");
}

// ---- substrate_rpc ----

fn wss_check(min_peers: u32, read_timeout: Duration) -> Check {
    check(
        CheckKind::Endpoint,
        Probe::SubstrateRpc(SubstrateRpcOptions {
            connect_timeout: Duration::from_secs(5),
            read_timeout,
            min_peers,
            max_block_lag: 10,
        }),
    )
}

async fn substrate(node: &SubstrateNode, env: &Env, member: &str) -> Outcome {
    let url = format!("ws://{HOST}:{}/polkadot", node.addr().port());
    run(
        &wss_check(5, Duration::from_secs(2)),
        &target(member, node.addr(), Some(&url)),
        env,
    )
    .await
}

#[tokio::test]
async fn substrate_healthy_and_every_way_of_being_broken() {
    let node = SubstrateNode::start("Polkadot", ROOT).await;
    let env = env(None);
    let ok = substrate(&node, &env, "A").await;
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(
        node.last_host().as_deref(),
        Some(format!("{HOST}:{}", node.addr().port()).as_str())
    );
    assert_eq!(node.last_path().as_deref(), Some("/polkadot"));
    assert_eq!(ok.data["PeerCount"], 20);
    assert_eq!(ok.data["Syncing"], false);
    let cases = [
        (
            SubstrateBehaviour::Syncing,
            Reason::Unhealthy,
            "Syncing or not enough peers: syncing=true",
        ),
        (
            SubstrateBehaviour::FewPeers,
            Reason::Unhealthy,
            "peers=2 (need 5)",
        ),
        (
            SubstrateBehaviour::WrongChain,
            Reason::Unhealthy,
            "Wrong network: the node serves `Kusama`",
        ),
        (
            SubstrateBehaviour::WrongStateRoot,
            Reason::Unhealthy,
            "Wrong genesis state root",
        ),
        (
            SubstrateBehaviour::RpcError,
            Reason::RpcError,
            "node is overloaded",
        ),
        (
            SubstrateBehaviour::CloseMidSequence,
            Reason::Protocol,
            "chain_getBlockHash",
        ),
        (
            SubstrateBehaviour::HangAfterConnect,
            Reason::Timeout,
            "no answer within 2s",
        ),
    ];
    for (behaviour, reason, text) in cases {
        node.set(behaviour);
        let outcome = substrate(&node, &env, "A").await;
        failed(&outcome, reason, text);
    }
    node.set(SubstrateBehaviour::Healthy);
    assert!(substrate(&node, &env, "A").await.is_ok());
    node.set(SubstrateBehaviour::Stuck);
    substrate(&node, &env, "A").await;
    let outcome = substrate(&node, &env, "A").await;
    failed(&outcome, Reason::Unhealthy, "best block stuck");
}

#[tokio::test]
async fn substrate_lagging_behind_another_provider_fails() {
    let ahead = SubstrateNode::start("Polkadot", ROOT).await;
    let behind = SubstrateNode::start("Polkadot", ROOT).await;
    ahead.set_best(5_000);
    behind.set_best(4_985);
    let env = env(None);
    assert!(substrate(&ahead, &env, "Ahead").await.is_ok());
    let outcome = substrate(&behind, &env, "Behind").await;
    failed(
        &outcome,
        Reason::Unhealthy,
        "15 blocks behind another provider (#5000)",
    );
    behind.set_best(4_995);
    let outcome = substrate(&behind, &env, "Behind").await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(outcome.data["BlockLag"], 5);
}

#[tokio::test]
async fn substrate_over_tls_presents_the_hostname() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let node = SubstrateNode::start_tls(
        "Polkadot",
        ROOT,
        pki.server_config(&[HOST], Validity::VALID),
    )
    .await;
    let url = format!("wss://{HOST}:{}", node.addr().port());
    let outcome = run(
        &wss_check(5, Duration::from_secs(2)),
        &target("A", node.addr(), Some(&url)),
        &env(Some(&pki)),
    )
    .await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(node.last_sni().as_deref(), Some(HOST));
}

// ---- eth_rpc ----

fn eth_check() -> Check {
    check(
        CheckKind::Endpoint,
        Probe::EthRpc(EthRpcOptions {
            connect_timeout: Duration::from_secs(3),
        }),
    )
}

fn eth_target(url: String, addr: SocketAddr, network: &str) -> Target {
    Target {
        network: Some(network.into()),
        state_root: None,
        ..target("A", addr, Some(&url))
    }
}

#[tokio::test]
async fn eth_over_http_and_websocket() {
    let node = EthNode::start(1284, "1284").await;
    let env = env(None);
    let http = eth_target(
        format!("http://{HOST}:{}/rpc", node.http_addr().port()),
        node.http_addr(),
        "1284",
    );
    let ws = eth_target(
        format!("ws://{HOST}:{}", node.ws_addr().port()),
        node.ws_addr(),
        "0x504",
    );
    for target in [&http, &ws] {
        let outcome = run(&eth_check(), target, &env).await;
        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(outcome.data["chainIdDec"], 1284);
    }
    assert!(node.http_requests() > 0);
    assert_eq!(node.ws_connections(), 1);
    let cases = [
        (EthBehaviour::Syncing, Reason::Unhealthy, "syncing"),
        (
            EthBehaviour::WrongChain,
            Reason::Unhealthy,
            "Wrong network: chain id 1285",
        ),
        (
            EthBehaviour::RpcError,
            Reason::RpcError,
            "eth_chainId: RPC error",
        ),
    ];
    for (behaviour, reason, text) in cases {
        node.set(behaviour);
        for target in [&http, &ws] {
            failed(&run(&eth_check(), target, &env).await, reason, text);
        }
    }
    node.set(EthBehaviour::HttpStatus(503));
    failed(
        &run(&eth_check(), &http, &env).await,
        Reason::Protocol,
        "HTTP status 503",
    );
    assert_eq!(
        node.last_host().as_deref(),
        Some(format!("{HOST}:{}", node.http_addr().port()).as_str())
    );
}

// ---- http ----

fn http_check(options: HttpOptions) -> Check {
    check(CheckKind::Endpoint, Probe::Http(options))
}

fn http_options() -> HttpOptions {
    HttpOptions {
        connect_timeout: Duration::from_secs(2),
        path: "/health".into(),
        expect_status: 200,
        body_contains: None,
        json_pointer: None,
    }
}

#[tokio::test]
async fn http_status_body_and_json_pointer() {
    let server = HttpEndpoint::start(200, r#"{"status":"ok","peers":12}"#).await;
    let env = env(None);
    let target = target(
        "A",
        server.addr(),
        Some(&format!("http://{HOST}:{}/", server.addr().port())),
    );
    assert!(
        run(&http_check(http_options()), &target, &env)
            .await
            .is_ok()
    );
    assert_eq!(server.last_path().as_deref(), Some("/health"));
    let contains = HttpOptions {
        body_contains: Some("\"ok\"".into()),
        ..http_options()
    };
    assert!(run(&http_check(contains), &target, &env).await.is_ok());
    let pointer = HttpOptions {
        json_pointer: Some(("/peers".into(), Some("12".into()))),
        ..http_options()
    };
    assert!(run(&http_check(pointer), &target, &env).await.is_ok());
    let wrong = HttpOptions {
        json_pointer: Some(("/status".into(), Some("degraded".into()))),
        ..http_options()
    };
    failed(
        &run(&http_check(wrong), &target, &env).await,
        Reason::Unhealthy,
        "`/status` is `ok`, expected `degraded`",
    );
    let missing = HttpOptions {
        body_contains: Some("healthy".into()),
        ..http_options()
    };
    failed(
        &run(&http_check(missing), &target, &env).await,
        Reason::Unhealthy,
        "does not contain `healthy`",
    );
    server.set(503, "down");
    failed(
        &run(&http_check(http_options()), &target, &env).await,
        Reason::Unhealthy,
        "HTTP status 503, expected 200",
    );
    server.set_hang(true);
    let outcome = run(&http_check(http_options()), &target, &env).await;
    failed(&outcome, Reason::Timeout, "");
}

// ---- ping ----

fn ping_check() -> Check {
    check(
        CheckKind::Site,
        Probe::Ping(PingOptions {
            count: 3,
            interval: Duration::from_millis(50),
            per_ping_timeout: Duration::from_millis(500),
            ttl: 64,
            size: 32,
            max_packet_loss: 5.0,
            max_latency: Duration::from_millis(800),
            fallback_port: 0,
        }),
    )
}

#[tokio::test]
async fn ping_loopback_says_which_path_ran() {
    let env = env(None);
    let (_server, open) = TcpPorts::accepting().await;
    let mut check = ping_check();
    if let Probe::Ping(options) = &mut check.probe {
        options.fallback_port = open.port();
    }
    let outcome = run(
        &check,
        &target("A", SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 0), None),
        &env,
    )
    .await;
    assert!(outcome.is_ok(), "{outcome:?}");
    match env.ping_mode() {
        PingMode::Icmp(socket) => {
            eprintln!("ping path: ICMP ({socket} socket)");
            assert_eq!(outcome.data["Method"], "icmp");
            assert_eq!(outcome.data["PacketLoss"], 0.0);
        }
        PingMode::TcpFallback(why) => {
            eprintln!("ping path: TCP fallback ({why})");
            assert_eq!(outcome.data["Method"], "tcp-fallback");
        }
    }
}
