//! A bare TLS endpoint for certificate checks: it completes handshakes with the
//! certificate it was given, records the SNI each client sent, answers nothing, and closes
//! once the client closes (or after five seconds).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::common::{Observed, Seen, SeenHandle, Serving, accept_tls};
use super::http1::hold_until_closed;

/// How long a connection is held open after the handshake if the client stays.
const HOLD: Duration = Duration::from_secs(5);

/// A running TLS endpoint on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub struct TlsServer {
    serving: Serving,
    seen: SeenHandle,
    /// Completed handshakes (a client that rejected the certificate is not counted).
    handshakes: Arc<AtomicUsize>,
}

impl TlsServer {
    /// Listens on 127.0.0.1:0 and presents `config`'s certificate.
    pub async fn start(config: Arc<rustls::ServerConfig>) -> TlsServer {
        let seen: SeenHandle = Arc::new(Mutex::new(Seen::default()));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let serving = Serving::start({
            let seen = Arc::clone(&seen);
            let handshakes = Arc::clone(&handshakes);
            move |stream| {
                let config = Arc::clone(&config);
                let seen = Arc::clone(&seen);
                let handshakes = Arc::clone(&handshakes);
                async move {
                    let Some(mut tls) = accept_tls(config, stream, &seen).await else {
                        return;
                    };
                    handshakes.fetch_add(1, Ordering::SeqCst);
                    let _ = tokio::time::timeout(HOLD, hold_until_closed(&mut tls)).await;
                    let _ = tls.shutdown().await;
                }
            }
        })
        .await;
        TlsServer {
            serving,
            seen,
            handshakes,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.serving.addr()
    }

    /// How many handshakes completed.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Observed for TlsServer {
    fn seen(&self) -> &SeenHandle {
        &self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::pki::{TestPki, Validity};
    use crate::providers::test_client::tls_connect;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn records_the_sni_and_counts_handshakes() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pki = TestPki::new(dir.path());
        let config = pki.server_config(&["rpc.test.example"], Validity::VALID);
        let server = TlsServer::start(config).await;
        assert_eq!(server.last_sni(), None);

        let mut stream = tls_connect(server.addr(), &pki, "rpc.test.example")
            .await
            .expect("handshake");
        assert_eq!(server.last_sni().as_deref(), Some("rpc.test.example"));
        // The server closes after the client does, so by the end of this read it has
        // finished (and counted) its side of the handshake.
        stream.shutdown().await.expect("close");
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .await
            .expect("the server closes");
        assert!(rest.is_empty(), "the server answers nothing");
        assert_eq!(server.handshakes(), 1);
    }

    #[tokio::test]
    async fn a_rejected_certificate_still_records_the_sni() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pki = TestPki::new(dir.path());
        let config = pki.server_config(&["rpc.test.example"], Validity::EXPIRED);
        let server = TlsServer::start(config).await;
        tls_connect(server.addr(), &pki, "rpc.test.example")
            .await
            .unwrap_err();
        assert_eq!(server.last_sni().as_deref(), Some("rpc.test.example"));
        assert_eq!(server.handshakes(), 0);
    }
}
