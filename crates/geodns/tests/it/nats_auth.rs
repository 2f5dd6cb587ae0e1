//! `geodns run` against nats-server processes that demand credentials, set through the
//! `[bus]` keys: user/password, `credentials_file`, token, `nkey_seed_file`,
//! `nats_creds_file` and `tls_ca_file` (CA made in the test). With the right ones the node
//! joins (`geodns cluster status` sees it, using the same keys) and stops at once on
//! SIGTERM; with wrong ones the start fails within seconds, naming the bus. A node whose
//! server is unreachable, or comes up and refuses its login, still stops within 3 s of
//! SIGTERM.

use std::path::{Path, PathBuf};
use std::time::Duration;

use geodns_node::clock::Stopwatch;
use geodns_test_support::{NatsServer, NkeyUser, Operator, TestCa};

use crate::support::{RunNode, geodns, stderr, stdout, write};

/// What the issue asks: a node stops within 3 s of SIGTERM, whatever its bus is doing.
const STOP_LIMIT: Duration = Duration::from_secs(3);
/// Generous for a start that fails on its first connection attempt (milliseconds on
/// 127.0.0.1, plus loading the configuration and opening SQLite), far below a hang.
const START_FAILS_WITHIN: Duration = Duration::from_secs(10);

const USER_PASSWORD: &str = "authorization {\n  user: geodns\n  password: s3cret\n}\n";

/// A node's configuration with `bus` (extra `[bus]` lines) in `dir/id.toml`.
fn node_config(dir: &Path, id: &str, server: &NatsServer, bus: &str) -> PathBuf {
    let data = dir.join(id);
    std::fs::create_dir_all(&data).unwrap();
    let text = format!(
        "[node]\nid = \"{id}\"\nroles = [\"monitor\"]\ndata_dir = \"{}\"\n\n\
         [bus]\nmode = \"nats\"\nurls = [\"{}\"]\n{bus}\n\n\
         [cluster]\nheartbeat = \"1s\"\nactive_window = \"3s\"\npurge_after = \"60s\"\n",
        data.display(),
        server.url()
    );
    write(dir, &format!("{id}.toml"), &text)
}

/// Whether `geodns cluster status` with `config` lists `node`, and its error otherwise.
fn cluster_status(config: &Path, node: &str) -> Result<bool, String> {
    let args = ["cluster", "status", "-c", config.to_str().unwrap()];
    let output = geodns(&[&args[..], &["--json", "--timeout", "1s"]].concat(), &[]);
    if !output.status.success() {
        return Err(stderr(&output));
    }
    Ok(stdout(&output).contains(&format!("\"node_id\":\"{node}\"")))
}

/// With `right` the node joins, answers status, and stops within [`STOP_LIMIT`] of
/// SIGTERM; with `wrong` `geodns run` exits 1 quickly with `expected` in its error, and
/// `geodns cluster status` says the same.
fn right_and_wrong(server: &NatsServer, dir: &Path, right: &str, wrong: &str, expected: &str) {
    let config = node_config(dir, "right", server, right);
    let mut node = RunNode::start(&config);
    node.wait_for_log("NATS bus configured", Duration::from_secs(20));
    let watch = Stopwatch::start();
    while cluster_status(&config, "right") != Ok(true) {
        assert!(
            watch.elapsed() < Duration::from_secs(10),
            "the node did not answer: {:?}\nnode log:\n{}\nserver log:\n{}",
            cluster_status(&config, "right"),
            node.log(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = node.terminate();
    assert!(took < STOP_LIMIT, "stopped {took:?} after SIGTERM");

    let config = node_config(dir, "wrong", server, wrong);
    let mut node = RunNode::start(&config);
    let Some((status, took)) = node.wait_exit(START_FAILS_WITHIN) else {
        panic!(
            "still running {START_FAILS_WITHIN:?} with wrong credentials:\n{}",
            node.log()
        );
    };
    assert_eq!(status.code(), Some(1), "{}", node.log());
    assert!(node.log().contains(expected), "{took:?}\n{}", node.log());
    let error = cluster_status(&config, "right").unwrap_err();
    assert!(error.contains(expected), "{error}");
}

fn refused(server: &NatsServer) -> String {
    format!(
        "bus: NATS at {} refused the login: authorization violation",
        server.url()
    )
}

#[test]
fn user_and_password() {
    let server = NatsServer::start_with_config(USER_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let right = "user = \"geodns\"\npassword = \"s3cret\"";
    let wrong = "user = \"geodns\"\npassword = \"wrong\"";
    right_and_wrong(&server, dir.path(), right, wrong, &refused(&server));
}

#[test]
fn credentials_file() {
    let server = NatsServer::start_with_config(USER_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let right = write(dir.path(), "right.secret", "geodns:s3cret\n");
    let wrong = write(dir.path(), "wrong.secret", "geodns:wrong\n");
    let key = |path: &Path| format!("credentials_file = \"{}\"", path.display());
    right_and_wrong(
        &server,
        dir.path(),
        &key(&right),
        &key(&wrong),
        &refused(&server),
    );
}

#[test]
fn token() {
    let server = NatsServer::start_with_config("authorization {\n  token: \"t0ken\"\n}");
    let dir = tempfile::tempdir().unwrap();
    let (right, wrong) = ("token = \"t0ken\"", "token = \"t0ken-not\"");
    right_and_wrong(&server, dir.path(), right, wrong, &refused(&server));
}

#[test]
fn nkey_seed_file() {
    let user = NkeyUser::new();
    let server = NatsServer::start_with_config(&format!(
        "authorization {{\n  users: [ {{ nkey: \"{}\" }} ]\n}}",
        user.public_key
    ));
    let dir = tempfile::tempdir().unwrap();
    let right = write(dir.path(), "right.nk", &format!("{}\n", user.seed));
    let wrong = write(dir.path(), "wrong.nk", &NkeyUser::new().seed);
    let key = |path: &Path| format!("nkey_seed_file = \"{}\"", path.display());
    right_and_wrong(
        &server,
        dir.path(),
        &key(&right),
        &key(&wrong),
        &refused(&server),
    );
}

#[test]
fn nats_creds_file() {
    let operator = Operator::new();
    let server = NatsServer::start_with_config(&operator.server_config());
    let dir = tempfile::tempdir().unwrap();
    let right = write(dir.path(), "right.creds", &operator.user_creds());
    let wrong = write(dir.path(), "wrong.creds", &Operator::new().user_creds());
    let key = |path: &Path| format!("nats_creds_file = \"{}\"", path.display());
    right_and_wrong(
        &server,
        dir.path(),
        &key(&right),
        &key(&wrong),
        &refused(&server),
    );
}

#[test]
fn tls_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "right");
    let other = TestCa::new(dir.path(), "other");
    let server = NatsServer::start_with_config(&format!("{}{USER_PASSWORD}", ca.server_config()));
    let key = |ca: &TestCa| {
        format!(
            "user = \"geodns\"\npassword = \"s3cret\"\ntls_ca_file = \"{}\"",
            ca.ca_file().display()
        )
    };
    let expected = format!("bus: TLS to NATS at {} failed: ", server.url());
    right_and_wrong(&server, dir.path(), &key(&ca), &key(&other), &expected);
}

#[test]
fn a_node_whose_bus_is_unreachable_or_refuses_it_later_stops_within_3_s_of_sigterm() {
    let mut server = NatsServer::stopped_with_config(USER_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let wrong = "user = \"geodns\"\npassword = \"wrong\"";

    // Nothing listens: the node runs, its bus trying in the background.
    let config = node_config(dir.path(), "unreachable", &server, wrong);
    let mut node = RunNode::start(&config);
    node.wait_for_log("NATS bus configured", Duration::from_secs(20));
    let took = node.terminate();
    assert!(
        took < STOP_LIMIT,
        "unreachable: stopped {took:?} after SIGTERM\n{}",
        node.log()
    );

    // The server comes up after the node and refuses its login at every retry.
    let config = node_config(dir.path(), "refused", &server, wrong);
    let mut node = RunNode::start(&config);
    node.wait_for_log("NATS bus configured", Duration::from_secs(20));
    server.restart();
    node.wait_for_log("authorization violation", Duration::from_secs(10));
    let took = node.terminate();
    assert!(
        took < STOP_LIMIT,
        "refused: stopped {took:?} after SIGTERM\n{}",
        node.log()
    );
}
