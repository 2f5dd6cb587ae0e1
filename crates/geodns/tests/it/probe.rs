//! `geodns probe` against real servers on 127.0.0.1 (healthy and broken Substrate nodes,
//! an Ethereum node, HTTPS with valid and expired certificates, TCP, ping), and an
//! unanswered ping inside a network namespace the test creates.

use std::path::Path;

use geodns_test_support::providers::{
    EthNode, HttpEndpoint, Observed, SubstrateBehaviour, SubstrateNode, TcpPorts, TestPki, Validity,
};
use serde_json::Value;

use crate::support::{geodns, stderr, stdout, write};

const ROOT: &str = "0x29d0d972cd27cbc511e9589fcb7a4506d5eb6a9e8df205f00472e5ab354a4e17";

fn probe_json(config: &Path) -> Vec<Value> {
    let path = config.to_str().unwrap();
    let output = geodns(&["probe", "-c", path, "--json"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

/// The row of `check` whose domain or endpoint contains `what`.
fn row<'a>(rows: &'a [Value], check: &str, what: &str) -> &'a Value {
    rows.iter()
        .find(|r| {
            r["check"] == check
                && (r["domain"].as_str().unwrap().contains(what)
                    || r["endpoint"].as_str().unwrap().contains(what))
        })
        .unwrap_or_else(|| panic!("no {check} row for {what}: {rows:#?}"))
}

fn assert_row(rows: &[Value], check: &str, what: &str, ok: bool, error: &str) {
    let row = row(rows, check, what);
    assert_eq!(row["ok"], ok, "{row:#}");
    let text = row["error"].as_str().unwrap();
    assert!(
        text.contains(error),
        "{check} {what}: `{text}` should contain `{error}`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_json_reports_each_check_against_local_servers() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let good = SubstrateNode::start("Polkadot", ROOT).await;
    let bad = SubstrateNode::start("Polkadot", ROOT).await;
    bad.set(SubstrateBehaviour::WrongChain);
    let eth = EthNode::start(1284, "1284").await;
    let web = HttpEndpoint::start_tls(
        200,
        "{\"status\":\"ok\"}",
        pki.server_config(&["web.test.example"], Validity::VALID),
    )
    .await;
    let old = HttpEndpoint::start_tls(
        200,
        "ok",
        pki.server_config(&["old.test.example"], Validity::EXPIRED),
    )
    .await;
    let (_open, open) = TcpPorts::accepting().await;
    let text = format!(
        r#"
[node]
id = "probe"
roles = ["monitor"]
data_dir = "{data}"

[monitor]
ca_file = "{ca}"

[[checks]]
name = "ping"
type = "ping"
count = 2
ping_interval = "100ms"

[[checks]]
name = "tcp"
type = "tcp"
kind = "site"
port = {tcp}

[[checks]]
name = "ssl"
type = "tls"

[[checks]]
name = "wss"
type = "substrate_rpc"
read_timeout = "2s"

[[checks]]
name = "ethrpc"
type = "eth_rpc"

[[checks]]
name = "http"
type = "http"
path = "/health"
json_pointer = "/status"
json_expect = "ok"

[[services]]
name = "Polkadot"
type = "substrate_rpc"
network = "Polkadot"
state_root = "{ROOT}"
endpoints = ["ws://good.test.example:{good}", "ws://bad.test.example:{bad}/"]

[[services]]
name = "Moonbeam"
type = "eth_rpc"
network = "1284"
endpoints = ["http://eth.test.example:{eth}/"]

[[services]]
name = "Web"
type = "http"
endpoints = ["https://web.test.example:{web}/", "https://old.test.example:{old}/"]

[[members]]
name = "Local"
ipv4 = "127.0.0.1"
latitude = 1
longitude = 1
services = ["Polkadot", "Moonbeam", "Web"]
"#,
        data = dir.path().display(),
        ca = pki.ca_file().display(),
        tcp = open.port(),
        good = good.addr().port(),
        bad = bad.addr().port(),
        eth = eth.http_addr().port(),
        web = web.addr().port(),
        old = old.addr().port(),
    );
    let config = write(dir.path(), "probe.toml", &text);
    let rows = probe_json(&config);
    assert_eq!(rows.len(), 12, "{rows:#?}");
    for row in &rows {
        for key in [
            "member",
            "check",
            "kind",
            "domain",
            "endpoint",
            "ipv6",
            "ok",
            "error",
            "latency_ms",
            "data",
        ] {
            assert!(row.get(key).is_some(), "{key} missing in {row}");
        }
    }
    let ping = rows.iter().find(|r| r["check"] == "ping").unwrap();
    assert_eq!(ping["ok"], true, "{ping}");
    eprintln!("ping path: {}", ping["data"]["Method"]);
    assert_eq!(
        rows.iter().find(|r| r["check"] == "tcp").unwrap()["ok"],
        true
    );
    assert_row(&rows, "wss", "good.test.example", true, "");
    assert_row(&rows, "wss", "bad.test.example", false, "Wrong network");
    assert_row(&rows, "ethrpc", "eth.test.example", true, "");
    assert_row(&rows, "http", "web.test.example", true, "");
    assert_row(&rows, "http", "old.test.example", false, "expired");
    assert_row(&rows, "ssl", "web.test.example", true, "");
    assert_row(
        &rows,
        "ssl",
        "old.test.example",
        false,
        "certificate expired 3 days ago",
    );
    // A plain WebSocket server does not speak TLS.
    assert_row(
        &rows,
        "ssl",
        "good.test.example",
        false,
        "TLS handshake with good.test.example failed",
    );
    assert_eq!(
        good.last_host().unwrap(),
        format!("good.test.example:{}", good.addr().port())
    );
    assert_eq!(web.last_sni().as_deref(), Some("web.test.example"));

    // Filters, and the table.
    let path = config.to_str().unwrap();
    let output = geodns(
        &["probe", "-c", path, "--check", "wss", "--member", "local"],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(table.starts_with("MEMBER"), "{table}");
    assert!(table.contains("2 checks, 1 failed"), "{table}");
    let output = geodns(&["probe", "-c", path, "--service", "Nowhere"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no enabled check applies"),
        "{}",
        stderr(&output)
    );
}

/// A ping nobody answers: inside a network namespace made for the test, the member's
/// address is on the far side of a veth pair with nothing behind it.
#[test]
fn an_unanswered_ping_fails_with_full_loss() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[node]\nid = \"probe\"\nroles = [\"monitor\"]\ndata_dir = \"{}\"\n\n\
         [[checks]]\nname = \"ping\"\ntype = \"ping\"\ncount = 2\nper_ping_timeout = \"300ms\"\nfallback_port = 443\n\n\
         [[members]]\nname = \"Silent\"\nipv4 = \"10.77.0.2\"\nlatitude = 1\nlongitude = 1\n",
        dir.path().display()
    );
    let config = write(dir.path(), "silent.toml", &text);
    let script = format!(
        "ip link set lo up && ip link add d0 type veth peer name d1 \
         && ip addr add 10.77.0.1/24 dev d0 && ip link set d0 up && ip link set d1 up && exec '{}' probe -c '{}' --json",
        env!("CARGO_BIN_EXE_geodns"),
        config.display()
    );
    let output = std::process::Command::new("unshare")
        .args(["--net", "sh", "-c", &script])
        .env_remove("GEODNS_CONFIG")
        .output()
        .expect("run unshare");
    assert!(
        output.status.success(),
        "cannot run geodns probe in a new network namespace (needs root or user namespaces): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let ping = &rows[0];
    eprintln!("ping path: {}", ping["data"]["Method"]);
    assert_eq!(ping["ok"], false, "{ping}");
    match ping["data"]["Method"].as_str().unwrap() {
        "icmp" => {
            assert_eq!(ping["error"], "PingCheck: avgRtt=0ms, loss=100%");
            assert_eq!(ping["data"]["PacketLoss"], 100.0);
        }
        _ => assert!(
            ping["error"].as_str().unwrap().contains("10.77.0.2:443"),
            "{ping}"
        ),
    }
}
