//! Maintenance and a country override set through the API of one `geodns run` process
//! reach a DNS node in another over a real nats-server and change its answers within a
//! second; the changes are kept in the shared MariaDB, once each under one key, so they
//! survive a restart of both and a fresh node reads them; `geodns override clear` and
//! `geodns maintenance off` (the commands) undo them the same way, and a wrong token
//! changes nothing.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use geodns_store::{ClusterStore as _, SqlStore};
use geodns_test_support::{Kind, NatsServer, TestDatabase};

use crate::dns::{config_text, german_answer};
use crate::support::{Process, free_port, trust_all, write};

const TOKEN: &str = "root-token-for-the-maintenance-test";

/// Runs a `geodns` change command against the API at `url` with the token in `token`.
fn cli(words: &[&str], config: &Path, url: &str, token: &Path) -> std::process::Output {
    let mut args = words.to_vec();
    args.extend(["-c", config.to_str().unwrap(), "--url", url]);
    args.extend(["--token-file", token.to_str().unwrap()]);
    crate::support::geodns(&args, &[])
}

/// Waits until the German client's answer is `want`; returns how long it took.
async fn until_answer(dns: SocketAddr, want: &str, limit: Duration, logs: &Path) -> Duration {
    let watch = geodns_node::clock::Stopwatch::start();
    loop {
        let answer = tokio::task::spawn_blocking(move || german_answer(dns))
            .await
            .unwrap();
        if answer == want {
            return watch.elapsed();
        }
        if watch.elapsed() >= limit {
            panic!(
                "still `{answer}` after {limit:?}, want {want}{}",
                logs_of(logs)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The nodes' logs, for a failure message.
fn logs_of(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "log") {
            let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
            text.push_str(&format!("\n--- {}\n{log}", entry.path().display()));
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn api_maintenance_and_overrides_reach_a_dns_node_within_a_second_and_survive_restarts() {
    let nats = NatsServer::start();
    let database = TestDatabase::create(Kind::MySql).await;
    let dir = tempfile::tempdir().unwrap();
    let (dns_port, api_port) = (free_port(), free_port());
    let digest: String = geodns_api::auth::Tokens::digest(TOKEN)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // Both nodes trust each other: the DNS node takes maintenance and overrides only
    // from a node with the api role.
    let trusted = trust_all(
        dir.path(),
        &[("dns-node", &["dns"]), ("api-node", &["api"])],
    );
    let extra = format!(
        "\n[bus]\nmode = \"nats\"\nurls = [\"{}\"]\n[api]\nroot_token_sha256 = \"{digest}\"\n{trusted}",
        nats.url()
    );
    let node = |name: &str, roles: &str| {
        let data = dir.path().join(name);
        let text = config_text(&data, roles, &database.url, 9)
            .replace("id = \"dns-it\"", &format!("id = \"{name}\""))
            .replace(
                "dns = \"127.0.0.1:0\"",
                &format!("dns = \"127.0.0.1:{dns_port}\"\napi = \"127.0.0.1:{api_port}\""),
            );
        write(
            dir.path(),
            &format!("{name}.toml"),
            &format!("{text}{extra}"),
        )
    };
    let dns_config = node("dns-node", r#"["dns"]"#);
    let api_config = node("api-node", r#"["api"]"#);
    let dns: SocketAddr = ([127, 0, 0, 1], dns_port).into();
    let log = |name: &str| dir.path().join(format!("{name}.log"));

    let dns_node = Process::start(&dns_config, &log("dns-1"));
    let api_node = Process::start(&api_config, &log("api-1"));
    until_answer(dns, "127.0.0.11", Duration::from_secs(30), dir.path()).await;
    let client = geodns_node::http::client(Duration::from_secs(5)).unwrap();
    let url = format!("http://127.0.0.1:{api_port}/api/members/Near/maintenance");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let response = loop {
        let sent = client
            .put(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(r#"{"maintenance": true}"#)
            .send()
            .await;
        if let Ok(response) = sent {
            break response;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the API never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        response.status().as_u16(),
        200,
        "{}",
        response.text().await.unwrap()
    );
    let took = until_answer(dns, "127.0.0.12", Duration::from_secs(1), dir.path()).await;
    eprintln!("maintenance visible in DNS answers {took:?} after the API answered");

    // A country override the same way: Germany gets a literal address.
    let override_url = format!("http://127.0.0.1:{api_port}/api/overrides/rpc.geo.example/DE");
    let response = client
        .put(&override_url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"ipv4": "198.51.100.7"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    until_answer(dns, "198.51.100.7", Duration::from_secs(1), dir.path()).await;

    // Both processes restart: both changes are still there from the first answer on.
    dns_node.stop().await;
    api_node.stop().await;
    let dns_node = Process::start(&dns_config, &log("dns-2"));
    let api_node = Process::start(&api_config, &log("api-2"));
    until_answer(dns, "198.51.100.7", Duration::from_secs(30), dir.path()).await;

    // A node that never saw either change (a new data directory, started after them)
    // reads both from the store, where each is saved once, under one key.
    let fresh_port = free_port();
    let fresh_config = {
        let text = config_text(
            &dir.path().join("fresh-node"),
            r#"["dns"]"#,
            &database.url,
            9,
        )
        .replace("id = \"dns-it\"", "id = \"fresh-node\"")
        .replace(
            "dns = \"127.0.0.1:0\"",
            &format!("dns = \"127.0.0.1:{fresh_port}\""),
        );
        write(dir.path(), "fresh-node.toml", &format!("{text}{extra}"))
    };
    let fresh_node = Process::start(&fresh_config, &log("fresh"));
    let fresh: SocketAddr = ([127, 0, 0, 1], fresh_port).into();
    until_answer(fresh, "198.51.100.7", Duration::from_secs(30), dir.path()).await;
    let store = SqlStore::connect(database.store_config()).await.unwrap();
    assert_eq!(
        store.runtime_config("maintenance").await.unwrap(),
        Some(serde_json::json!({"Near": true}))
    );
    assert_eq!(
        store.runtime_config("maintenance_overrides").await.unwrap(),
        None
    );
    store.close().await;
    fresh_node.stop().await;

    // The commands take them back, through the API.
    let token_file = write(dir.path(), "token", TOKEN);
    let api_url = format!("http://127.0.0.1:{api_port}");
    let clear = cli(
        &["override", "clear", "rpc.geo.example"],
        &api_config,
        &api_url,
        &token_file,
    );
    assert!(clear.status.success(), "{}", crate::support::stderr(&clear));
    until_answer(dns, "127.0.0.12", Duration::from_secs(1), dir.path()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        german_answer(dns),
        "127.0.0.12",
        "Near is still in maintenance"
    );
    let off = cli(
        &["maintenance", "off", "Near"],
        &api_config,
        &api_url,
        &token_file,
    );
    assert!(off.status.success(), "{}", crate::support::stderr(&off));
    until_answer(dns, "127.0.0.11", Duration::from_secs(1), dir.path()).await;
    let wrong = write(dir.path(), "wrong", "not-the-token");
    let refused = cli(
        &["maintenance", "on", "Near"],
        &api_config,
        &api_url,
        &wrong,
    );
    assert!(!refused.status.success());
    assert!(
        crate::support::stderr(&refused).contains("401"),
        "{}",
        crate::support::stderr(&refused)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        german_answer(dns),
        "127.0.0.11",
        "a refused change changes nothing"
    );
    dns_node.stop().await;
    api_node.stop().await;
    database.drop_now().await;
}
