//! A real PowerDNS (Debian's `pdns-server` with `pdns-backend-remote`, HTTP connector as
//! the original's install script writes it) in front of `geodns run`, queried with kdig:
//! the geo answer for a German client follows the official health (Near down → Far),
//! static and negative answers carry the zone's SOA, and names outside the zones are
//! refused.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::dns::kdig;
use crate::fleet::metric;
use crate::observe::FullNode;
use crate::support::free_port;

/// `pdns_server` as a child process, killed on drop.
struct PowerDns {
    child: Child,
    port: u16,
}

impl Drop for PowerDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PowerDns {
    fn start(dir: &Path, backend: &str) -> PowerDns {
        let binary = std::env::var("GEODNS_TEST_PDNS_SERVER").expect(
            "GEODNS_TEST_PDNS_SERVER is not set: run the tests through scripts/test \
             (scripts/services installs pdns-server and pdns-backend-remote)",
        );
        let port = free_port();
        let run = dir.join("pdns");
        std::fs::create_dir_all(&run).unwrap();
        let log = std::fs::File::create(dir.join("pdns.log")).unwrap();
        let connection = format!("http:url={backend}/dns,post=1,post_json=1,timeout=2000");
        let child = Command::new(binary)
            .args([
                "--no-config",
                &format!("--config-dir={}", run.display()),
                &format!("--socket-dir={}", run.display()),
                "--local-address=127.0.0.1",
                &format!("--local-port={port}"),
                "--launch=remote",
                &format!("--remote-connection-string={connection}"),
                "--daemon=no",
                "--guardian=no",
                "--disable-syslog",
                "--write-pid=no",
                // Every query reaches geodns: no packet, query or zone cache.
                "--query-cache-ttl=0",
                "--cache-ttl=0",
                "--negquery-cache-ttl=0",
                "--zone-cache-refresh-interval=0",
                "--edns-subnet-processing=yes",
                // No outbound security-status lookup.
                "--security-poll-suffix=",
                "--loglevel=6",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("pdns_server starts");
        PowerDns { child, port }
    }

    fn address(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn powerdns_in_front_answers_what_geodns_decides() {
    let dir = tempfile::tempdir().unwrap();
    let node = FullNode::start(dir.path()).await;
    let pdns = PowerDns::start(dir.path(), &node.api);
    let log = || std::fs::read_to_string(dir.path().join("pdns.log")).unwrap_or_default();
    let german = ["rpc.geo.example", "A", "+subnet=81.2.69.0/24", "+short"];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let answer = loop {
        let answer = kdig(pdns.address(), &german);
        if !answer.trim().is_empty() {
            break answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "PowerDNS never answered; its log:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Near (Frankfurt) is officially down: Far, as the native server answers.
    assert_eq!(answer.trim(), "127.0.0.12", "{}", log());
    assert_eq!(kdig(node.dns, &german).trim(), "127.0.0.12");

    let full = kdig(
        pdns.address(),
        &["rpc.geo.example", "A", "+subnet=81.2.69.0/24"],
    );
    assert!(full.contains("status: NOERROR"), "{full}");
    assert!(full.contains("Flags: qr aa"), "authoritative: {full}");
    assert!(full.contains("CLIENT-SUBNET: 81.2.69.0/24/"), "{full}");

    let soa = kdig(pdns.address(), &["geo.example", "SOA", "+short"]);
    assert_eq!(soa.split_whitespace().count(), 7, "{soa}");
    let missing = kdig(pdns.address(), &["nothing.geo.example", "A"]);
    assert!(missing.contains("status: NXDOMAIN"), "{missing}");
    assert!(missing.contains("SOA"), "{missing}");
    let outside = kdig(pdns.address(), &["example.org", "A"]);
    assert!(outside.contains("status: REFUSED"), "{outside}");
    let big = kdig(
        pdns.address(),
        &["big.geo.example", "TXT", "+tcp", "+short"],
    );
    assert_eq!(big.lines().count(), 30, "every static TXT: {big}");

    // One client query through PowerDNS is one hit, though PowerDNS asks geodns twice.
    // Hits of yesterday and today, so the test holds across midnight (UTC).
    let client = geodns_node::http::client(Duration::from_secs(5)).unwrap();
    let today = geodns_node::clock::now().date_naive();
    let far = format!(
        "{}/api/requests/member?member=Far&start={}&end={today}",
        node.api,
        today.pred_opt().unwrap()
    );
    let hits = || async {
        let body = crate::observe::get_json(&client, &far)
            .await
            .unwrap_or_default();
        let rows = body.as_array().cloned().unwrap_or_default();
        rows.iter()
            .filter_map(|row| row["requests"].as_i64())
            .sum::<i64>()
    };
    let before = settled(node.api_port).await;
    let hits_before = hits().await;
    let american = ["rpc.geo.example", "A", "+subnet=12.0.1.0/24", "+short"];
    assert_eq!(kdig(pdns.address(), &american).trim(), "127.0.0.12");
    // Both of PowerDNS's lookups were answered before kdig's: once the node collected
    // them and wrote what it holds, the count is final.
    let after = settled(node.api_port).await;
    assert!(
        after >= before + 2,
        "PowerDNS asked {} times",
        after - before
    );
    assert_eq!(hits().await, hits_before + 1, "counted once");
    drop(pdns);
    node.process.stop().await;
}

/// The node's query count once its usage is settled: the count stopped moving over a
/// collection (1 s) and no usage row waits to be written.
async fn settled(api: u16) -> u64 {
    let read = || async {
        let value = |series| async move { metric(api, series).await.unwrap_or(0.0) as u64 };
        (
            value("geodns_dns_queries_total").await,
            value("geodns_usage_rows_pending").await,
        )
    };
    let watch = geodns_node::clock::Stopwatch::start();
    let mut last = read().await;
    loop {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let now = read().await;
        if now == last && now.1 == 0 {
            return now.0;
        }
        assert!(
            watch.elapsed() < Duration::from_secs(30),
            "usage never settled: {now:?}"
        );
        last = now;
    }
}
