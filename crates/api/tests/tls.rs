//! HTTPS for the API: the router served over TLS with files made by a test CA, asked
//! with reqwest; the certificate replaced on disk is served without a restart; a broken
//! replacement is refused and the running certificate kept.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use geodns_api::tls::{Certificates, TlsState, load};
use geodns_test_support::providers::{TestPki, Validity};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_util::sync::CancellationToken;

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    // Replaced by rename, as a certificate manager does.
    let temporary = dir.join(format!("{name}.new"));
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, &path).unwrap();
    path
}

/// The certificate the server presents.
async fn served(
    address: std::net::SocketAddr,
    ca: CertificateDer<'static>,
) -> CertificateDer<'static> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), stream)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

#[derive(Clone, Default)]
struct Empty(geodns_api::auth::Tokens);

impl geodns_api::Node for Empty {
    fn official(&self) -> Arc<geodns_consensus::results::Snapshot> {
        Arc::default()
    }
    fn local(&self) -> Arc<geodns_consensus::results::Snapshot> {
        Arc::default()
    }
    fn cluster(&self) -> serde_json::Value {
        serde_json::json!([])
    }
    fn consensus(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::UNIX_EPOCH
    }
    fn ssl(&self) -> &'static str {
        "enabled"
    }
    async fn metrics(&self) -> Vec<geodns_node::metrics::Family> {
        Vec::new()
    }
    fn dns(&self) -> Option<std::sync::Arc<dyn geodns_api::pdns::Backend>> {
        None
    }
    async fn routes(&self, _: &[&str]) -> Result<Vec<serde_json::Value>, String> {
        Ok(Vec::new())
    }
    async fn requests(
        &self,
        _: &geodns_api::requests::RequestFilter,
        _: geodns_api::requests::Dimension,
    ) -> Result<Vec<geodns_api::requests::DailyHits>, String> {
        Ok(Vec::new())
    }
    async fn requests_summary(
        &self,
        _: (chrono::NaiveDate, chrono::NaiveDate),
    ) -> Result<geodns_api::requests::RequestTotals, String> {
        Ok(Default::default())
    }
    async fn readiness(&self) -> geodns_api::Readiness {
        geodns_api::Readiness::of(Vec::new())
    }
    fn tokens(&self) -> std::sync::Arc<geodns_api::auth::Tokens> {
        std::sync::Arc::new(self.0.clone())
    }
    async fn outages(
        &self,
        _: &geodns_api::downtime::DowntimeQuery,
    ) -> Result<Vec<geodns_core::records::Outage>, String> {
        Ok(Vec::new())
    }
    fn service_of(&self, _: &str) -> Option<String> {
        None
    }
    async fn member_usage(
        &self,
        _: &str,
        _: (chrono::NaiveDate, chrono::NaiveDate),
        _: geodns_api::stats::UsageBy,
    ) -> Result<Vec<geodns_api::stats::UsageTotal>, String> {
        Ok(Vec::new())
    }
    fn config(&self) -> Arc<geodns_core::config::Config> {
        common::config()
    }
    async fn set_maintenance(
        &self,
        _: &str,
        _: bool,
        _: &str,
    ) -> Result<(), geodns_api::change::ChangeError> {
        Ok(())
    }
    async fn change_override(
        &self,
        _: geodns_api::change::OverrideChange,
        _: &str,
    ) -> Result<(), geodns_api::change::ChangeError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn https_serves_the_files_and_follows_their_replacement() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let (cert_pem, key_pem) = pki.issue_pem(&["localhost"], Validity::VALID);
    let cert = write(dir.path(), "api.crt", &cert_pem);
    let key = write(dir.path(), "api.key", &key_pem);
    let certificates = Certificates::open(&cert, &key).unwrap();
    assert_eq!(certificates.state(), TlsState::Enabled);
    let shutdown = CancellationToken::new();
    tokio::spawn(
        certificates
            .clone()
            .watch(Duration::from_millis(200), shutdown.clone()),
    );
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tasks = geodns_node::Tasks::new(shutdown.clone());
    let address = tcp.local_addr().unwrap();
    let limits = geodns_api::serve::Limits::of(&geodns_core::config::ApiSection::default());
    let slots = geodns_node::slots::Slots::new(limits.caps);
    tokio::spawn(geodns_api::serve::serve(
        tcp,
        Some(certificates.server_config()),
        geodns_api::router(Empty::default()),
        (slots, limits),
        tasks.clone(),
    ));

    let client = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap())
        .resolve("localhost", address)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/api/health", address.port());
    let body: serde_json::Value =
        serde_json::from_str(&client.get(&url).send().await.unwrap().text().await.unwrap())
            .unwrap();
    assert_eq!(
        (body["status"].as_str(), body["ssl"].as_str()),
        (Some("healthy"), Some("enabled"))
    );
    let first = served(address, pki.ca_der()).await;

    // A renewed certificate replaces the files: served without a restart.
    let (renewed_pem, renewed_key) = pki.issue_pem(&["localhost"], Validity::VALID);
    write(dir.path(), "api.key", &renewed_key);
    write(dir.path(), "api.crt", &renewed_pem);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let renewed = loop {
        let now = served(address, pki.ca_der()).await;
        if now != first {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the renewed certificate is never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(certificates.state(), TlsState::Enabled);

    // A broken replacement is refused: the renewed certificate stays in service.
    write(
        dir.path(),
        "api.key",
        "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n",
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while certificates.state() != TlsState::Error {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the broken key is never noticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served(address, pki.ca_der()).await, renewed);
    assert!(client.get(&url).send().await.unwrap().status().is_success());
    shutdown.cancel();
}

#[test]
fn broken_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let (cert_pem, key_pem) = pki.issue_pem(&["localhost"], Validity::VALID);
    let (_, other_key) = pki.issue_pem(&["localhost"], Validity::VALID);
    let cert = write(dir.path(), "api.crt", &cert_pem);
    let key = write(dir.path(), "api.key", &key_pem);
    assert!(load(&cert, &key).is_ok());
    let missing = load(&dir.path().join("nope.crt"), &key)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nope.crt"), "{missing}");
    let not_pem = write(dir.path(), "text.crt", "hello");
    let error = load(&not_pem, &key).unwrap_err().to_string();
    assert!(
        error.contains("text.crt") && error.contains("no certificate"),
        "{error}"
    );
    let mismatched = write(dir.path(), "other.key", &other_key);
    let error = load(&cert, &mismatched).unwrap_err().to_string();
    assert!(error.contains("other.key"), "{error}");
}
