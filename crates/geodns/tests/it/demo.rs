//! `geodns demo`, as the README's first command runs it (with a short duration and free
//! ports): three monitors vote, the demo breaks the provider nearest Berlin, a real DNS
//! client (`kdig`) sees Berlin's answer move away from it within the printed failover
//! time (under 4 s), the three monitors' votes show in its output, the outage on the
//! status page (in a real browser) and in `/api/downtime/current` with the votes, the provider recovers, and
//! the demo exits cleanly.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::dns::kdig;
use crate::support::free_port;

/// The demo's printed lines so far.
type Lines = Arc<Mutex<Vec<String>>>;

fn wait_line(lines: &Lines, needle: &str, limit: Duration) -> String {
    let watch = geodns_node::clock::Stopwatch::start();
    loop {
        if let Some(line) = lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        assert!(
            watch.elapsed() < limit,
            "no `{needle}` within {limit:?}:\n{}",
            lines.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn berlin(dns: SocketAddr) -> String {
    kdig(
        dns,
        &["rpc.demo.example", "A", "+subnet=192.0.2.0/24", "+short"],
    )
    .trim()
    .to_owned()
}

fn until_berlin_gets(dns: SocketAddr, want: &str, limit: Duration) {
    let watch = geodns_node::clock::Stopwatch::start();
    while berlin(dns) != want {
        assert!(watch.elapsed() < limit, "Berlin still gets {}", berlin(dns));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn get(url: &str) -> String {
    let output = Command::new("curl").args(["-sf", url]).output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_demo_breaks_a_provider_fails_over_within_4_s_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (dns_port, api_port) = (free_port(), free_port());
    let dns: SocketAddr = ([127, 0, 0, 1], dns_port).into();
    let api = format!("http://127.0.0.1:{api_port}");
    let mut demo = Command::new(env!("CARGO_BIN_EXE_geodns"))
        .args([
            "demo",
            "--duration",
            "45s",
            "--first-break",
            "10s",
            "--broken-for",
            "15s",
        ])
        .args([
            "--dns-listen",
            &dns.to_string(),
            "--api-listen",
            &format!("127.0.0.1:{api_port}"),
        ])
        .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Lines = Arc::default();
    let stdout = demo.stdout.take().unwrap();
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let limit = Duration::from_secs(30);
    // What to try is printed first, with the ports asked for.
    wait_line(
        &lines,
        &format!("dig @127.0.0.1 -p {dns_port} rpc.demo.example A +subnet=192.0.2.0/24"),
        limit,
    );
    wait_line(&lines, "decided: Frankfurt is UP (votes: ", limit);
    until_berlin_gets(dns, "127.0.0.21", limit);

    wait_line(&lines, "chaos: BROKE Frankfurt", limit);
    until_berlin_gets(dns, "127.0.0.22", Duration::from_secs(10));
    let failover = wait_line(&lines, "FAILOVER: Berlin no longer gets Frankfurt", limit);
    let seconds: f64 = failover
        .split(", ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{failover}"));
    eprintln!("{failover}");
    assert!(seconds < 4.0, "{failover}");
    // The outage, with every monitor's vote, in the API and on the status page.
    let current = get(&format!("{api}/api/downtime/current"));
    assert!(
        current.contains("\"member_name\":\"Frankfurt\""),
        "{current}"
    );
    // Every monitor votes on the change, as the view shows; the outage keeps the votes
    // that decided it.
    for monitor in ["mon-1", "mon-2", "mon-3"] {
        let vote = format!("vote: {monitor} ");
        let watch = geodns_node::clock::Stopwatch::start();
        while !lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(&vote) && l.contains(" on Frankfurt DOWN"))
        {
            assert!(
                watch.elapsed() < Duration::from_secs(20),
                "no {vote} on Frankfurt DOWN:\n{}",
                lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let status: serde_json::Value =
        serde_json::from_str(&get(&format!("{api}/api/status"))).unwrap();
    let ongoing = &status["ongoing"][0];
    assert_eq!(ongoing["member"], "Frankfurt", "{status}");
    let votes = ongoing["votes"].as_object().unwrap();
    assert!(votes.len() >= 2, "the deciding votes: {ongoing}");
    let page = crate::observe::chromium(dir.path(), &["--dump-dom", &format!("{api}/")]);
    let dom = String::from_utf8_lossy(&page.stdout);
    let outage = dom
        .split("<tr class=\"outage\">")
        .nth(1)
        .unwrap_or_else(|| panic!("{dom}"));
    assert!(outage.contains("<td>Frankfurt</td>"), "{outage}");

    wait_line(&lines, "RECOVERY: Berlin gets Frankfurt again", limit);
    until_berlin_gets(dns, "127.0.0.21", Duration::from_secs(5));
    wait_line(&lines, "demo over: ", Duration::from_secs(40));
    let watch = geodns_node::clock::Stopwatch::start();
    let exit = demo.wait().unwrap();
    reader.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut demo.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(exit.success(), "{exit:?}\n{stderr}");
    assert!(watch.elapsed() < Duration::from_secs(5), "slow exit");
}

/// A port already in use ends the demo at once, naming the node, the port and why.
#[test]
fn a_port_in_use_ends_the_demo_at_once_with_the_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api = taken.local_addr().unwrap().to_string();
    let dns = format!("127.0.0.1:{}", free_port());
    let watch = geodns_node::clock::Stopwatch::start();
    let output = Command::new(env!("CARGO_BIN_EXE_geodns"))
        .args([
            "demo",
            "--duration",
            "60s",
            "--dns-listen",
            &dns,
            "--api-listen",
            &api,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        watch.elapsed() < Duration::from_secs(20),
        "{:?}",
        watch.elapsed()
    );
    assert!(
        stderr.contains(&format!(
            "edge: cannot start Api: cannot listen for the API on {api}"
        )),
        "{stderr}"
    );
}
