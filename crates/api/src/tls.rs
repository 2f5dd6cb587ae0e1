//! HTTPS for the API: a certificate chain and key from PEM files, checked for a change
//! every `reload` and swapped in without a restart (a broken replacement is refused and
//! the running certificate kept). Handshakes are made by the accept loop
//! (`crate::serve`), each in its connection's task with a time limit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_util::sync::CancellationToken;

/// Why a certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no usable PEM item.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key does not suit the certificate or rustls.
    #[error("the key in {path} cannot be used: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Reads a certificate chain and its key.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let pem = |path: &Path, reason: String| TlsError::Pem {
        path: path.to_owned(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| pem(cert, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(pem(cert, "holds no certificate".to_owned()));
    }
    let private = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| pem(key, format!("no PEM private key: {e}")))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| TlsError::Key {
            path: key.to_owned(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::Key {
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(certified)
}

/// What `/api/health` reports as `ssl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsState {
    /// Plain HTTP.
    Disabled,
    /// Serving the current files.
    Enabled,
    /// The last reload failed; the earlier certificate is still served.
    Error,
}

impl TlsState {
    /// `enabled`, `disabled` or `error`, as the original answered.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsState::Disabled => "disabled",
            TlsState::Enabled => "enabled",
            TlsState::Error => "error",
        }
    }
}

/// The certificate served now, swapped by [`Certificates::watch`].
#[derive(Debug)]
pub struct Certificates {
    current: ArcSwap<CertifiedKey>,
    state: AtomicU8,
    cert: PathBuf,
    key: PathBuf,
}

impl Certificates {
    /// Loads the files (a start with broken files fails).
    pub fn open(cert: &Path, key: &Path) -> Result<Arc<Certificates>, TlsError> {
        Ok(Arc::new(Certificates {
            current: ArcSwap::from_pointee(load(cert, key)?),
            state: AtomicU8::new(1),
            cert: cert.to_owned(),
            key: key.to_owned(),
        }))
    }

    /// Enabled, or the last reload failed.
    pub fn state(&self) -> TlsState {
        if self.state.load(Ordering::Relaxed) == 1 {
            TlsState::Enabled
        } else {
            TlsState::Error
        }
    }

    /// A server configuration that serves the current certificate.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|_| rustls::ServerConfig::builder())
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Checks the files every `every` until `shutdown`; a changed pair is loaded and
    /// swapped in, a broken one logged and refused.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut seen = self.modified().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let now = self.modified().await;
            if now == seen {
                continue;
            }
            let (cert, key) = (self.cert.clone(), self.key.clone());
            let loaded = tokio::task::spawn_blocking(move || load(&cert, &key)).await;
            match loaded {
                Ok(Ok(certified)) => {
                    self.current.store(Arc::new(certified));
                    self.state.store(1, Ordering::Relaxed);
                    seen = now;
                    tracing::info!(cert = %self.cert.display(), "API certificate reloaded");
                }
                Ok(Err(error)) => {
                    self.state.store(2, Ordering::Relaxed);
                    tracing::warn!(%error, "the new API certificate is refused; the running one stays");
                }
                Err(error) => tracing::warn!(%error, "API certificate reload failed"),
            }
        }
    }

    async fn modified(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        let time = async |path: &Path| {
            tokio::fs::metadata(path)
                .await
                .and_then(|m| m.modified())
                .ok()
        };
        (time(&self.cert).await, time(&self.key).await)
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
