//! NATS authentication against real nats-server processes configured by the test:
//! user/password, token, NKey, `.creds` (operator mode, JWTs made here) and TLS with a CA
//! made here. Right credentials connect and carry messages; wrong ones fail at once with
//! an error naming the server, and the server's log shows the client did reach it. A
//! server that is not up yet is not an error: the bus connects when it comes.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::path::Path;
use std::time::Duration;
use tokio_util::task::TaskTracker;

use bytes::Bytes;
use geodns_bus::{Bus, BusError, ConnectionState, NatsBus, NatsConfig};
use geodns_test_support::{NatsServer, NkeyUser, Operator, TestCa};
use tokio::time::Instant;

/// Far above what a refusal on 127.0.0.1 takes (milliseconds), far below a hang.
const PROMPT: Duration = Duration::from_secs(2);

fn config(server: &NatsServer) -> NatsConfig {
    let mut config = NatsConfig::new(vec![server.url()]);
    config.reconnect_wait = Duration::from_millis(100);
    config
}

fn with_user(server: &NatsServer, user: &str, password: &str) -> NatsConfig {
    let mut config = config(server);
    config.user_password = Some((user.to_owned(), password.to_owned()));
    config
}

fn with_token(server: &NatsServer, token: &str) -> NatsConfig {
    let mut config = config(server);
    config.token = Some(token.to_owned());
    config
}

fn with_seed(server: &NatsServer, seed: &str) -> NatsConfig {
    let mut config = config(server);
    config.nkey_seed = Some(seed.to_owned());
    config
}

fn with_creds(server: &NatsServer, dir: &Path, name: &str, creds: &str) -> NatsConfig {
    let path = dir.join(name);
    std::fs::write(&path, creds).unwrap();
    let mut config = config(server);
    config.creds_file = Some(path);
    config
}

/// Connects with `config`; the bus must be connected when `connect` returns, and carry a
/// message from itself to itself through the server.
async fn connects(server: &NatsServer, config: &NatsConfig) {
    let started = Instant::now();
    let bus = tokio::time::timeout(
        PROMPT,
        NatsBus::connect("node-a", config, &TaskTracker::new()),
    )
    .await
    .unwrap_or_else(|_| panic!("connect hung with {config:?}"))
    .unwrap_or_else(|e| panic!("{e} with {config:?}\nserver log:\n{}", server.log()));
    assert_eq!(bus.state(), ConnectionState::Connected, "{config:?}");
    let mut echo = bus.subscribe("geodns.test.auth").await.unwrap();
    bus.publish("geodns.test.auth", Bytes::from_static(b"hello"))
        .await
        .unwrap();
    let message = tokio::time::timeout(PROMPT, echo.next())
        .await
        .expect("the message comes back")
        .unwrap();
    assert_eq!(message.payload, Bytes::from_static(b"hello"));
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
}

/// Connects with `config`, which must fail within [`PROMPT`]; returns the error.
async fn refused(config: &NatsConfig) -> BusError {
    let started = Instant::now();
    let result = tokio::time::timeout(
        PROMPT,
        NatsBus::connect("node-a", config, &TaskTracker::new()),
    )
    .await
    .unwrap_or_else(|_| panic!("connect hung instead of failing with {config:?}"));
    let Err(error) = result else {
        panic!("connect succeeded with wrong credentials: {config:?}");
    };
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    error
}

/// Refusals the server has logged so far.
fn refusals_logged(server: &NatsServer) -> usize {
    server.log().matches("authentication error").count()
}

/// Connects with `config`, which the server must refuse, and checks the message.
async fn login_refused(server: &NatsServer, config: &NatsConfig) {
    let before = refusals_logged(server);
    let error = refused(config).await;
    assert_eq!(
        error.to_string(),
        format!(
            "bus: NATS at {} refused the login: authorization violation",
            server.url()
        ),
        "{config:?}"
    );
    // The client did reach the server: the server logged this refusal.
    let deadline = Instant::now() + PROMPT;
    while refusals_logged(server) <= before {
        assert!(
            Instant::now() < deadline,
            "no refusal in:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn user_and_password() {
    let server = NatsServer::start_with_config(
        "authorization {\n  user: geodns\n  password: \"s3cret with spaces & $ign\"\n}",
    );
    connects(
        &server,
        &with_user(&server, "geodns", "s3cret with spaces & $ign"),
    )
    .await;
    login_refused(&server, &with_user(&server, "geodns", "wrong")).await;
    login_refused(&server, &with_user(&server, "nobody", "s3cret")).await;
    login_refused(&server, &config(&server)).await;
}

#[tokio::test]
async fn token() {
    let server = NatsServer::start_with_config("authorization {\n  token: \"t0ken\"\n}");
    connects(&server, &with_token(&server, "t0ken")).await;
    login_refused(&server, &with_token(&server, "t0ken-not")).await;
    login_refused(&server, &config(&server)).await;
}

#[tokio::test]
async fn nkey_seed() {
    let user = NkeyUser::new();
    let server = NatsServer::start_with_config(&format!(
        "authorization {{\n  users: [ {{ nkey: \"{}\" }} ]\n}}",
        user.public_key
    ));
    connects(&server, &with_seed(&server, &user.seed)).await;
    login_refused(&server, &with_seed(&server, &NkeyUser::new().seed)).await;
    // Not a seed at all: a configuration error, found before the server is asked.
    let error = refused(&with_seed(&server, &user.public_key)).await;
    assert!(
        error
            .to_string()
            .starts_with("bus: the NKey seed is not valid: "),
        "{error}"
    );
}

#[tokio::test]
async fn creds_file() {
    let dir = tempfile::tempdir().unwrap();
    let operator = Operator::new();
    let server = NatsServer::start_with_config(&operator.server_config());
    let right = operator.user_creds();
    connects(
        &server,
        &with_creds(&server, dir.path(), "right.creds", &right),
    )
    .await;
    // A user of another operator's account, which this server does not know.
    let foreign = Operator::new().user_creds();
    login_refused(
        &server,
        &with_creds(&server, dir.path(), "foreign.creds", &foreign),
    )
    .await;
    // The JWT of a real user with somebody else's seed: the nonce signature is wrong.
    let seed_line = |creds: &str| {
        creds
            .lines()
            .find(|line| line.starts_with("SU"))
            .unwrap()
            .to_owned()
    };
    let stolen = right.replace(&seed_line(&right), &seed_line(&foreign));
    login_refused(
        &server,
        &with_creds(&server, dir.path(), "stolen.creds", &stolen),
    )
    .await;
    // A file that is not a .creds file.
    let error = refused(&with_creds(&server, dir.path(), "bad.creds", "nothing")).await;
    assert!(
        error.to_string().starts_with("bus: credentials file "),
        "{error}"
    );
}

#[tokio::test]
async fn tls_with_a_ca_made_in_the_test() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "right");
    let other = TestCa::new(dir.path(), "other");
    let server = NatsServer::start_with_config(&format!(
        "{}authorization {{\n  user: geodns\n  password: s3cret\n}}",
        ca.server_config()
    ));
    let tls = |ca_file: Option<&Path>, password: &str| {
        let mut config = with_user(&server, "geodns", password);
        config.tls_ca_file = ca_file.map(Path::to_path_buf);
        config
    };
    connects(&server, &tls(Some(ca.ca_file()), "s3cret")).await;
    // TLS works, then the login is refused.
    login_refused(&server, &tls(Some(ca.ca_file()), "wrong")).await;
    // A certificate from a CA the client does not trust, given or from the system.
    for config in [tls(Some(other.ca_file()), "s3cret"), tls(None, "s3cret")] {
        let error = refused(&config).await.to_string();
        let expected = format!("bus: TLS to NATS at {} failed: ", server.url());
        assert!(error.starts_with(&expected), "{error}");
        assert!(error.contains("UnknownIssuer"), "{error}");
    }
}

#[tokio::test]
async fn a_server_that_is_not_up_yet_is_waited_for_and_nothing_hangs_meanwhile() {
    let mut server = NatsServer::stopped_with_config("");
    let mut config = config(&server);
    config.publish_buffer = 4;
    let started = Instant::now();
    let bus = tokio::time::timeout(
        PROMPT,
        NatsBus::connect("node-a", &config, &TaskTracker::new()),
    )
    .await
    .expect("connect returns while the server is down")
    .expect("an unreachable server is not an error");
    assert_eq!(bus.state(), ConnectionState::Disconnected);
    // Nothing can be flushed while disconnected: flush says so instead of waiting.
    let flushed = tokio::time::timeout(PROMPT, bus.flush())
        .await
        .expect("flush returns while disconnected");
    assert!(flushed.is_err(), "{flushed:?}");
    // Subscribing and publishing are buffered for the connection to come...
    let mut later = bus.subscribe("geodns.test.later").await.unwrap();
    bus.publish("geodns.test.later", Bytes::from_static(b"buffered"))
        .await
        .unwrap();
    // ...until the buffer is full: then a publish fails instead of waiting for a server.
    let mut refused = 0;
    for _ in 0..10 {
        if bus
            .publish("geodns.test.flood", Bytes::from_static(b"x"))
            .await
            .is_err()
        {
            refused += 1;
        }
    }
    assert!(refused >= 6, "{refused} of 10 refused");
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());

    server.restart();
    let message = tokio::time::timeout(Duration::from_secs(10), later.next())
        .await
        .expect("the buffered message arrives once the server is up")
        .unwrap();
    assert_eq!(message.payload, Bytes::from_static(b"buffered"));
    assert_eq!(bus.state(), ConnectionState::Connected);
    bus.flush().await.unwrap();
}
