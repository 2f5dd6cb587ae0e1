//! What an operator watches, on a real `geodns run` with every role (monitor, DNS,
//! collator, API) and one provider down: `/metrics` parsed by a Prometheus text-format
//! parser with every family the issue lists, counting the queries kdig sent.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::dns::{config_text, kdig};
use crate::support::{Process, free_port, write};

/// A running single node with every role: Near (127.0.0.11) down, Far (127.0.0.12) up,
/// and official results that say so.
pub(crate) struct FullNode {
    pub process: Process,
    pub api: String,
    pub api_port: u16,
    pub dns: SocketAddr,
    _far: tokio::task::JoinHandle<()>,
}

impl FullNode {
    pub(crate) async fn start(dir: &Path) -> FullNode {
        // Far accepts on the check port; nothing listens on Near's.
        let far = tokio::net::TcpListener::bind("127.0.0.12:0").await.unwrap();
        let port = far.local_addr().unwrap().port();
        let far = tokio::spawn(async move {
            loop {
                let _ = far.accept().await;
            }
        });
        let (dns_port, api_port) = (free_port(), free_port());
        let storage = format!("sqlite://{}/node.db", dir.display());
        let text = config_text(
            dir,
            r#"["monitor", "dns", "collator", "api"]"#,
            &storage,
            port,
        )
        .replace(
            "dns = \"127.0.0.1:0\"",
            &format!("dns = \"127.0.0.1:{dns_port}\"\napi = \"127.0.0.1:{api_port}\""),
        );
        // Outage events go to the test Redis, on a stream prefix of this node's own.
        let redis = geodns_test_support::service_url("GEODNS_TEST_REDIS_URL");
        let prefix = format!("geodns-it-observe-{}-{api_port}", std::process::id());
        let text = format!("{text}\n[redis]\nurl = \"{redis}\"\nstream_prefix = \"{prefix}\"\n");
        // PowerDNS (`pdns.rs`) calls the backend from this host.
        let text = format!("{text}\n[api]\npdns = true\n");
        let config = write(dir, "full.toml", &text);
        let process = Process::start(&config, &dir.join("full.log"));
        let node = FullNode {
            process,
            api: format!("http://127.0.0.1:{api_port}"),
            api_port,
            dns: ([127, 0, 0, 1], dns_port).into(),
            _far: far,
        };
        node.until_near_is_down(dir).await;
        node
    }

    async fn until_near_is_down(&self, dir: &Path) {
        let client = geodns_node::http::client(Duration::from_secs(2)).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let consensus = get_json(&client, &format!("{}/api/consensus", self.api)).await;
            if consensus.is_some_and(|c| c["official_down"].as_u64() >= Some(1)) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Near never went officially down; log:\n{}",
                std::fs::read_to_string(dir.join("full.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub(crate) async fn get_json(client: &reqwest::Client, url: &str) -> Option<Value> {
    let response = client.get(url).send().await.ok()?;
    serde_json::from_str(&response.text().await.ok()?).ok()
}

/// Every family point 1 of the issue lists, by name.
const FAMILIES: [&str; 28] = [
    "geodns_outages_open",
    "geodns_store_connections",
    "geodns_dns_queries_total",
    "geodns_dns_responses_total",
    "geodns_dns_answers_total",
    "geodns_usage_flushes_total",
    "geodns_usage_rows_written_total",
    "geodns_check_attempts_total",
    "geodns_check_failures_total",
    "geodns_check_duration_seconds",
    "geodns_consensus_proposals_total",
    "geodns_consensus_votes_total",
    "geodns_consensus_decisions_total",
    "geodns_consensus_decision_seconds",
    "geodns_consensus_frozen",
    "geodns_consensus_rejected_messages_total",
    "geodns_bus_connected",
    "geodns_bus_dropped_messages_total",
    "geodns_store_errors_total",
    "geodns_matrix_alerts_total",
    "geodns_redis_events_total",
    "geodns_official_results",
    "geodns_official_age_seconds",
    "geodns_collator_decisions_total",
    "geodns_usage_collections_total",
    "geodns_usage_last_collection_timestamp_seconds",
    "geodns_node_roles",
    "geodns_usage_rows_pending",
];

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref buckets) => {
                buckets.last().map_or(0.0, |b| b.count)
            }
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_and_count_what_the_node_did() {
    let dir = tempfile::tempdir().unwrap();
    let node = FullNode::start(dir.path()).await;
    for _ in 0..5 {
        let answer = kdig(
            node.dns,
            &["rpc.geo.example", "A", "+subnet=81.2.69.0/24", "+short"],
        );
        assert_eq!(answer.trim(), "127.0.0.12", "Near is down: Far answers");
    }
    let nx = kdig(node.dns, &["nothing.geo.example", "A"]);
    assert!(nx.contains("NXDOMAIN"), "{nx}");

    let client = geodns_node::http::client(Duration::from_secs(5)).unwrap();
    let url = format!("{}/metrics", node.api);
    // The DNS counters are collected every 5 s: wait for this test's queries.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (text, scrape) = loop {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = response.text().await.unwrap();
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("valid text format");
        // Every worker's counters: a worker that missed a collection under load reports
        // in the next one.
        let answered = value(&scrape, "geodns_dns_answers_total", &[("member", "Far")]);
        let queries = value(&scrape, "geodns_dns_queries_total", &[]);
        let nx = value(
            &scrape,
            "geodns_dns_responses_total",
            &[("rcode", "NXDOMAIN")],
        );
        if answered >= 5.0 && queries >= 6.0 && nx >= 1.0 {
            break (text, scrape);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the 6 queries never showed:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for family in FAMILIES {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{text}"
        );
    }
    assert!(value(&scrape, "geodns_dns_queries_total", &[]) >= 6.0);
    assert!(
        value(
            &scrape,
            "geodns_dns_responses_total",
            &[("rcode", "NXDOMAIN")]
        ) >= 1.0
    );
    assert!(
        value(
            &scrape,
            "geodns_dns_responses_total",
            &[("rcode", "NOERROR")]
        ) >= 5.0
    );
    // Near's TCP check fails (nothing listens), Far's passes.
    assert!(value(&scrape, "geodns_check_attempts_total", &[("type", "tcp")]) >= 2.0);
    assert!(value(&scrape, "geodns_check_failures_total", &[("type", "tcp")]) >= 1.0);
    assert!(value(&scrape, "geodns_check_duration_seconds", &[("type", "tcp")]) >= 2.0);
    // A single node decides alone: its proposals passed and were timed.
    assert!(value(&scrape, "geodns_consensus_proposals_total", &[]) >= 1.0);
    assert!(
        value(
            &scrape,
            "geodns_consensus_decisions_total",
            &[("outcome", "passed")]
        ) >= 1.0
    );
    assert!(value(&scrape, "geodns_consensus_decision_seconds", &[]) >= 1.0);
    assert_eq!(value(&scrape, "geodns_consensus_frozen", &[]), 0.0);
    assert_eq!(
        value(&scrape, "geodns_official_results", &[("status", "down")]),
        1.0
    );
    assert_eq!(value(&scrape, "geodns_bus_connected", &[]), 1.0);
    assert_eq!(value(&scrape, "geodns_node_roles", &[("role", "dns")]), 1.0);
    // The collator stored Near's outage.
    assert!(
        value(
            &scrape,
            "geodns_collator_decisions_total",
            &[("result", "stored")]
        ) >= 1.0,
        "{}",
        std::fs::read_to_string(dir.path().join("full.log")).unwrap_or_default()
    );
    assert!(value(&scrape, "geodns_usage_flushes_total", &[("result", "ok")]) >= 1.0);
    assert_eq!(value(&scrape, "geodns_outages_open", &[]), 1.0, "Near's");
    // Near's outage went to the Redis stream.
    assert!(
        value(
            &scrape,
            "geodns_redis_events_total",
            &[("result", "published")]
        ) >= 1.0,
        "{text}"
    );
    assert!(value(&scrape, "geodns_store_connections", &[("state", "max")]) >= 1.0);
    node.process.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_show_in_the_request_routes_once_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let node = FullNode::start(dir.path()).await;
    for _ in 0..3 {
        let answer = kdig(
            node.dns,
            &["rpc.geo.example", "A", "+subnet=81.2.69.0/24", "+short"],
        );
        assert_eq!(answer.trim(), "127.0.0.12");
    }
    let client = geodns_node::http::client(Duration::from_secs(5)).unwrap();
    // Flushed every second (`usage_flush`), collected every 5 s at most.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let members = loop {
        let url = format!("{}/api/requests/member?member=Far", node.api);
        let body = get_json(&client, &url).await.unwrap_or_default();
        if body[0]["requests"].as_i64() >= Some(3) {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never counted: {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let today = geodns_node::clock::now().date_naive().to_string();
    assert_eq!(
        members,
        serde_json::json!([{"date": today, "member": "Far", "requests": 3}])
    );
    let url = format!("{}/api/requests/service?service=Polkadot", node.api);
    let services = get_json(&client, &url).await.unwrap();
    assert_eq!(services[0]["service"], "Polkadot");
    assert_eq!(services[0]["domain"], "rpc.geo.example");
    // The test GeoIP database puts 81.2.69.0/24 in Germany.
    let url = format!("{}/api/requests/country?country=de", node.api);
    let countries = get_json(&client, &url).await.unwrap();
    assert_eq!(countries[0]["country"], "DE", "{countries}");
    assert_eq!(countries[0]["requests"], 3, "{countries}");
    let summary = get_json(&client, &format!("{}/api/requests/summary", node.api))
        .await
        .unwrap();
    assert_eq!(summary["total_requests"], 3);
    assert_eq!(summary["unique_members"], 1);
    node.process.stop().await;
}

/// Headless Chromium with everything that could reach beyond this machine turned off
/// (and every host name but 127.0.0.1 unresolvable).
pub(crate) fn chromium(dir: &Path, args: &[&str]) -> std::process::Output {
    let binary = std::env::var("GEODNS_TEST_CHROMIUM").expect(
        "GEODNS_TEST_CHROMIUM is not set: run the tests through scripts/test \
         (scripts/services installs chromium)",
    );
    std::process::Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--disable-breakpad",
            "--no-pings",
            "--metrics-recording-only",
            "--safebrowsing-disable-auto-update",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--hide-scrollbars",
            // A phone's screen.
            "--window-size=412,1600",
            // Long enough for the page's first fetch of /api/status to render.
            "--virtual-time-budget=5000",
            &format!("--user-data-dir={}", dir.join("chromium").display()),
        ])
        .args(args)
        .output()
        .expect("chromium runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_shows_the_outage_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let node = FullNode::start(dir.path()).await;
    let page = format!("{}/", node.api);
    let dump = chromium(dir.path(), &["--dump-dom", &page]);
    let dom = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    // The outage row, rendered by the page's script from /api/status.
    let outage = dom
        .split("<tr class=\"outage\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no outage row in the page:\n{dom}"));
    let row = outage.split("</tr>").next().unwrap();
    assert!(row.contains("<td>Near</td>"), "{row}");
    assert!(row.contains("tcp (site)"), "{row}");
    assert!(row.contains("vote-yes"), "the vote is shown: {row}");
    let near = dom
        .split("<span class=\"member\" data-member=\"Near\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no health for Near:\n{dom}"));
    assert!(
        near.starts_with("Near<span class=\"pill down\" title=\"v4 down\">v4 down</span>"),
        "Near's IPv4 health is down: {near}"
    );
    assert!(dom.contains("node dns-it"), "{dom}");

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let screenshot = chromium(
        dir.path(),
        &[&format!("--screenshot={}", shot.display()), &page],
    );
    assert!(
        screenshot.status.success(),
        "{}",
        String::from_utf8_lossy(&screenshot.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    eprintln!("status page screenshot: {}", shot.display());
    node.process.stop().await;
}
