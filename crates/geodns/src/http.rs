//! The one outgoing HTTP client configuration (config sources; later checks and alerts).

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
