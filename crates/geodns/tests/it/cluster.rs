//! Membership across real processes: `geodns run` nodes on one nats-server see each other,
//! a graceful stop is forgotten at once (a leave), a killed node turns inactive only after
//! the active window. Bounds are on what the protocol decides, not on how fast a loaded
//! machine runs: each poll here starts a `geodns` process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use geodns_node::clock::Stopwatch;
use geodns_test_support::NatsServer;

use crate::support::{geodns, stderr, stdout, trust_all, write};

/// The fleet of these tests, every node trusted by every other (strict mode).
const FLEET: [(&str, &[&str]); 3] = [
    ("node-a", &["monitor"]),
    ("node-b", &["dns"]),
    ("node-c", &["collator"]),
];

fn node_config(dir: &Path, id: &str, role: &str, nats: &str) -> PathBuf {
    let data = dir.join(id);
    let trusted = trust_all(dir, &FLEET);
    let text = format!(
        "[node]\nid = \"{id}\"\nroles = [\"{role}\"]\ndata_dir = \"{}\"\n\n[bus]\nmode = \"nats\"\nurls = [\"{nats}\"]\n\n\
         [cluster]\nheartbeat = \"1s\"\nactive_window = \"3s\"\npurge_after = \"60s\"\n\n{trusted}",
        data.display()
    );
    write(dir, &format!("{id}.toml"), &text)
}

fn start(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_geodns"))
        .args(["run", "-c", config.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[derive(Debug, serde::Deserialize)]
struct Status {
    node_id: String,
    role: String,
    active: bool,
}

fn status(config: &Path) -> Option<Vec<Status>> {
    let output = geodns(
        &[
            "cluster",
            "status",
            "-c",
            config.to_str().unwrap(),
            "--json",
            "--timeout",
            "1s",
        ],
        &[],
    );
    if !output.status.success() {
        return None;
    }
    Some(
        serde_json::from_str(stdout(&output).trim())
            .unwrap_or_else(|e| panic!("{e}: {}", stdout(&output))),
    )
}

fn sees(config: &Path, node: &str) -> Option<bool> {
    status(config)?
        .into_iter()
        .find(|s| s.node_id == node)
        .map(|s| s.active)
}

fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let watch = Stopwatch::start();
    while watch.elapsed() < limit {
        if condition() {
            return Some(watch.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

struct Killer(Vec<Child>);

impl Drop for Killer {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn nodes_join_leave_and_time_out() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        node_config(dir.path(), "node-a", "monitor", &server.url()),
        node_config(dir.path(), "node-b", "dns", &server.url()),
        node_config(dir.path(), "node-c", "collator", &server.url()),
    );
    // Configured as the README's upgrade steps say (every node listed with its key), each
    // file passes `check-config` without a warning about the trust table.
    for config in [&a, &b, &c] {
        let output = geodns(&["check-config", "-c", config.to_str().unwrap()], &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            !stderr(&output).contains("consensus.nodes"),
            "{}",
            stderr(&output)
        );
    }
    let mut children = Killer(vec![start(&a)]);
    wait_until(Duration::from_secs(20), || status(&a).is_some())
        .expect("node-a answers status requests");

    children.0.push(start(&b));
    wait_until(Duration::from_secs(20), || status(&b).is_some())
        .expect("node-b answers status requests");
    // node-b announced itself as it started, and node-a answers a join with its own.
    wait_until(Duration::from_secs(10), || {
        sees(&a, "node-b") == Some(true) && sees(&b, "node-a") == Some(true)
    })
    .expect("node-a and node-b see each other");
    let view = status(&a).unwrap();
    assert!(
        view.iter()
            .any(|s| s.node_id == "node-b" && s.role == "IBPDns" && s.active),
        "{view:?}"
    );
    assert!(
        view.iter()
            .any(|s| s.node_id == "node-a" && s.role == "IBPMonitor"),
        "a node lists itself: {view:?}"
    );
    // The lone monitor says, when asked, that its official results are frozen.
    let args = ["consensus", "status", "-c", a.to_str().unwrap(), "--json"];
    let output = geodns(&args, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(report["frozen"], true, "{report}");
    assert_eq!(report["active_monitors"], serde_json::json!(["node-a"]));
    let output = geodns(&["consensus", "status", "-c", a.to_str().unwrap()], &[]);
    assert!(
        stdout(&output).contains("FROZEN: too few active monitors"),
        "{}",
        stdout(&output)
    );

    // Graceful stop: node-b says leave, and node-a forgets it. Without the leave it would
    // stay listed (inactive) until purge_after, 60 s; gone within 10 s means the leave.
    let b_child = children.0.remove(1);
    Command::new("kill")
        .args(["-TERM", &b_child.id().to_string()])
        .status()
        .unwrap();
    let output = b_child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    wait_until(Duration::from_secs(10), || sees(&a, "node-b").is_none())
        .expect("node-b forgotten after its leave");

    // Killed: no leave, so node-c stays active until the 3 s window passes.
    children.0.push(start(&c));
    wait_until(Duration::from_secs(20), || sees(&a, "node-c") == Some(true)).expect("node-c joins");
    let killed = children.0.pop().unwrap();
    let mut killed = Killer(vec![killed]);
    killed.0[0].kill().unwrap();
    let _ = killed.0[0].wait();
    let watch = Stopwatch::start();
    let inactive = wait_until(Duration::from_secs(20), || {
        sees(&a, "node-c") == Some(false)
    })
    .expect("node-c becomes inactive, and stays listed: it never said leave");
    // Heard at most one heartbeat (1 s) before the kill, it counts as active for the
    // 3 s window: at least 2 s after the kill. A slow machine only makes this later.
    assert!(
        watch.elapsed() >= Duration::from_millis(1500),
        "a killed node must not turn inactive at once ({inactive:?})"
    );
}

#[test]
fn cluster_status_refuses_the_embedded_bus() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "g.toml", "[node]\nid = \"solo\"\n");
    let output = geodns(&["cluster", "status", "-c", config.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("[bus] mode is embedded"),
        "{}",
        stderr(&output)
    );
}
