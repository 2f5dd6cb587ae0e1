//! Connecting to a member's own address: TCP within a limit, TLS with the public
//! hostname as SNI and full verification, and certificate errors in words an operator
//! reads ("expired 3 days ago", "not valid for rpc.example.net").

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, Error as TlsError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::outcome::{Failure, Reason};

/// A byte stream, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// TCP connect within `limit`.
pub(crate) async fn tcp(addr: SocketAddr, limit: Duration) -> Result<TcpStream, Failure> {
    match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            stream.set_nodelay(true).ok();
            Ok(stream)
        }
        Ok(Err(error)) => Err(Failure::new(
            Reason::Connect,
            format!("cannot connect to {addr}: {error}"),
        )),
        Err(_) => Err(Failure::new(
            Reason::Timeout,
            format!("no TCP connection to {addr} within {limit:?}"),
        )),
    }
}

/// TLS handshake over `stream` with `host` as SNI, within `limit`.
pub(crate) async fn tls(
    config: Arc<rustls::ClientConfig>,
    stream: TcpStream,
    host: &str,
    limit: Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<TlsStream<TcpStream>, Failure> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| Failure::new(Reason::Config, format!("`{host}` is not a TLS server name")))?;
    let handshake = TlsConnector::from(config).connect(name, stream);
    match tokio::time::timeout(limit, handshake).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(error)) => Err(describe(&error, host, now)),
        Err(_) => Err(Failure::new(
            Reason::Timeout,
            format!("no TLS handshake with {host} within {limit:?}"),
        )),
    }
}

/// TCP, then TLS when `secure`: the stream a WebSocket or HTTP exchange runs over.
pub(crate) async fn stream(
    config: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    secure: bool,
    host: &str,
    limit: Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Box<dyn Io>, Failure> {
    let started = tokio::time::Instant::now();
    let tcp = tcp(addr, limit).await?;
    if !secure {
        return Ok(Box::new(tcp));
    }
    let left = limit.saturating_sub(started.elapsed());
    Ok(Box::new(tls(config, tcp, host, left, now).await?))
}

/// A handshake error in words; certificate problems get their own reason.
fn describe(error: &std::io::Error, host: &str, now: chrono::DateTime<chrono::Utc>) -> Failure {
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>());
    let Some(TlsError::InvalidCertificate(certificate)) = tls else {
        return Failure::new(
            Reason::Tls,
            format!("TLS handshake with {host} failed: {error}"),
        );
    };
    let tls = |text: String| Failure::new(Reason::Tls, text);
    match certificate {
        CertificateError::Expired => Failure::new(Reason::Expiry, "certificate has expired"),
        CertificateError::ExpiredContext { not_after, .. } => {
            let expired =
                chrono::DateTime::from_timestamp(not_after.as_secs() as i64, 0).unwrap_or_default();
            let days = (now - expired).num_days().max(0);
            Failure::new(
                Reason::Expiry,
                format!(
                    "certificate expired {days} days ago ({})",
                    expired.format("%Y-%m-%d %H:%M UTC")
                ),
            )
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            tls("certificate is not valid yet".to_owned())
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            tls(format!("certificate is not valid for {host}"))
        }
        CertificateError::UnknownIssuer => {
            tls("certificate is not trusted (unknown issuer)".to_owned())
        }
        CertificateError::Revoked => tls("certificate is revoked".to_owned()),
        other => tls(format!("invalid certificate: {other:?}")),
    }
}

/// `notAfter` of the leaf certificate the server sent.
pub(crate) fn leaf_expiry(
    stream: &TlsStream<TcpStream>,
) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    let leaf: &CertificateDer<'_> = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or_else(|| Failure::new(Reason::Tls, "the server sent no certificate"))?;
    let (_, certificate) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| Failure::new(Reason::Tls, format!("cannot read the certificate: {e}")))?;
    let seconds = certificate.validity().not_after.timestamp();
    chrono::DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| Failure::new(Reason::Tls, "the certificate's expiry is out of range"))
}
