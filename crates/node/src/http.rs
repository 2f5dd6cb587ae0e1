//! The HTTP client configuration for what a node fetches: configuration sources, ACME
//! texts, GeoIP downloads and Matrix alerts. The monitor's checks build their own clients
//! (pinned to the member's address, with the checks' TLS settings; see
//! `geodns_monitor::check::jsonrpc`).

use std::time::Duration;

/// Builds an HTTP client using rustls with the ring provider (the only crypto provider in
/// the dependency tree) and the operating system's trusted roots.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    // Installing the process-wide default provider is idempotent: a second call returns
    // Err because one is installed already, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("geodns/", env!("CARGO_PKG_VERSION")))
        .build()
}
