//! `geodns run` with the API role: `/health`, `/ready` (store, bus and snapshot, each
//! with what it found), `/results` with its source header and `/api/consensus`, served
//! by the real binary; `/ready` turns 503 naming the store when its MariaDB is cut off,
//! and the process still stops cleanly on SIGTERM.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Process, free_port, mysql_behind_proxy, write};

async fn get(
    client: &reqwest::Client,
    url: &str,
) -> Option<(u16, reqwest::header::HeaderMap, Value)> {
    let response = client.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_str(&response.text().await.ok()?).ok()?;
    Some((status, headers, body))
}

#[tokio::test(flavor = "multi_thread")]
async fn run_serves_health_readiness_and_results() {
    let (database, proxy, url) = mysql_behind_proxy().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write(
        dir.path(),
        "geodns.toml",
        &format!(
            "[node]\nid = \"api-test\"\nroles = [\"api\"]\ndata_dir = \"{}\"\n\
             [listen]\napi = \"127.0.0.1:{port}\"\n[storage]\nurl = \"{url}\"\n\
             [[members]]\nname = \"Amforc\"\nlatitude = 50.1\nlongitude = 8.7\n",
            dir.path().display()
        ),
    );
    let node = Process::start(&config, &dir.path().join("node.log"));
    let client = geodns_node::http::client(Duration::from_secs(5)).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while get(&client, &format!("{base}/health")).await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the API never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, headers, body) = get(&client, &format!("{base}/ready")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["store", "bus", "snapshot"]);
    assert_eq!(body["checks"][1]["detail"], "in-process bus");

    let (status, headers, body) = get(&client, &format!("{base}/results")).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(headers["x-ibp-results-source"], "official");
    assert_eq!(body["SiteResults"], serde_json::json!([]));
    let (_, _, consensus) = get(&client, &format!("{base}/api/consensus"))
        .await
        .unwrap();
    assert_eq!(consensus["node"], "api-test");

    // The database goes away: not ready, and the answer says why.
    proxy.cut();
    let (status, _, body) = get(&client, &format!("{base}/ready")).await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false);
    assert_eq!(body["checks"][0]["name"], "store");
    assert_eq!(body["checks"][0]["ok"], false);
    assert!(!body["checks"][0]["detail"].as_str().unwrap().is_empty());
    proxy.restore();

    node.stop().await;
    database.drop_now().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_serves_the_api_over_https_with_the_configured_certificate() {
    use geodns_test_support::providers::{TestPki, Validity};
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let (cert, key) = pki.issue_pem(&["localhost"], Validity::VALID);
    let cert = write(dir.path(), "api.crt", &cert);
    let key = write(dir.path(), "api.key", &key);
    let port = free_port();
    let text = format!(
        "[node]\nid = \"api-tls\"\nroles = [\"api\"]\ndata_dir = \"{}\"\n\
         [listen]\napi = \"127.0.0.1:{port}\"\napi_tls_cert = \"{}\"\napi_tls_key = \"{}\"\n",
        dir.path().display(),
        cert.display(),
        key.display()
    );
    let config = write(dir.path(), "geodns.toml", &text);
    let _node = Process::start(&config, &dir.path().join("node.log"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}/api/health");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Some((200, _, body)) = get(&client, &url).await {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the HTTPS API never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["ssl"], "enabled");
    // Plain HTTP on the same port is not served.
    let plain = geodns_node::http::client(Duration::from_secs(2)).unwrap();
    assert!(
        get(&plain, &format!("http://127.0.0.1:{port}/health"))
            .await
            .is_none()
    );

    // Half a TLS configuration is refused with the key's name.
    let half = write(
        dir.path(),
        "half.toml",
        &text.replace(&format!("api_tls_key = \"{}\"\n", key.display()), ""),
    );
    let checked = crate::support::geodns(&["check-config", "-c", half.to_str().unwrap()], &[]);
    assert!(!checked.status.success());
    assert!(
        crate::support::stderr(&checked).contains("listen.api_tls_cert"),
        "{}",
        crate::support::stderr(&checked)
    );
}
