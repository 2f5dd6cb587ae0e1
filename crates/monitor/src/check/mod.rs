//! The check types behind one trait, [`Probe`], and what they share ([`Env`]): the TLS
//! trust roots, the ICMP mode found at start, the best blocks seen per service, and the
//! wall clock. [`run`] runs one check against one target within the check's timeout.

mod chain;
mod connect;
mod eth;
mod http;
mod jsonrpc;
mod ping;
mod substrate;
mod tcp;
mod tls;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use geodns_core::model::{Check, Probe as ProbeConfig};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde_json::{Map, Value};

pub use chain::ChainHeads;
use ping::PingClients;
pub use ping::PingMode;

use crate::outcome::{Failure, Outcome, Reason};
use crate::target::Target;

/// The wall clock, from the binary (this crate reads none).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Why the checks' shared environment could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// The extra CA file is not PEM certificates.
    #[error("the CA file holds no usable certificate: {0}")]
    CaFile(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// What every check run shares.
pub struct Env {
    tls: Arc<rustls::ClientConfig>,
    ping: PingMode,
    ping_clients: PingClients,
    heads: Mutex<ChainHeads>,
    clock: Clock,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("ping", &self.ping)
            .finish_non_exhaustive()
    }
}

impl Env {
    /// Trusts the public web roots plus the certificates in `extra_ca_pem`; finds out
    /// whether ICMP can be used (see [`PingMode`]).
    pub fn new(extra_ca_pem: Option<&[u8]>, clock: Clock) -> Result<Env, EnvError> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = extra_ca_pem {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|e| EnvError::CaFile(e.to_string()))?;
            if certs.is_empty() {
                return Err(EnvError::CaFile("no `BEGIN CERTIFICATE` block".into()));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| EnvError::CaFile(e.to_string()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Env {
            tls: Arc::new(tls),
            ping: PingMode::detect(),
            ping_clients: PingClients::default(),
            heads: Mutex::new(ChainHeads::default()),
            clock,
        })
    }

    /// How ping checks run on this machine.
    pub fn ping_mode(&self) -> &PingMode {
        &self.ping
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

/// One check type: runs against a target and says what it found. Implemented by each
/// probe's options (`geodns_core::model::TlsOptions`, ...).
pub trait Probe: Send + Sync {
    /// Runs once; `Err` is the first step that failed. Whatever the steps learn goes into
    /// `data`, passed or failed. The caller bounds the whole run by the check's timeout.
    fn probe(
        &self,
        target: &Target,
        env: &Env,
        data: &mut Map<String, Value>,
    ) -> impl Future<Output = Result<(), Failure>> + Send;
}

/// Runs `check` against `target` once, within the check's timeout, and times it.
pub async fn run(check: &Check, target: &Target, env: &Env) -> Outcome {
    let started = tokio::time::Instant::now();
    let mut data = Map::new();
    let steps = async {
        if target.address.is_none() {
            return Err(Failure::new(Reason::Config, "No IPv4 or IPv6 configured"));
        }
        match &check.probe {
            ProbeConfig::Ping(options) => options.probe(target, env, &mut data).await,
            ProbeConfig::Tcp(options) => options.probe(target, env, &mut data).await,
            ProbeConfig::Tls(options) => options.probe(target, env, &mut data).await,
            ProbeConfig::SubstrateRpc(options) => options.probe(target, env, &mut data).await,
            ProbeConfig::EthRpc(options) => options.probe(target, env, &mut data).await,
            ProbeConfig::Http(options) => options.probe(target, env, &mut data).await,
        }
    };
    let steps = tokio::time::timeout(check.timeout, steps)
        .await
        .unwrap_or_else(|_| {
            Err(Failure::new(
                Reason::Timeout,
                format!(
                    "no result within the check's timeout of {:?}",
                    check.timeout
                ),
            ))
        });
    let mut outcome = Outcome::of(steps, data);
    outcome.latency = started.elapsed();
    outcome
}

/// The member's address at `port`.
fn socket(target: &Target, port: Option<u16>) -> Result<SocketAddr, Failure> {
    let address: IpAddr = target
        .address
        .ok_or_else(|| Failure::new(Reason::Config, "No IPv4 or IPv6 configured"))?;
    let port = port.or(target.port).ok_or_else(|| {
        Failure::new(Reason::Config, "no port: the target has no URL; set `port`")
    })?;
    Ok(SocketAddr::new(address, port))
}
