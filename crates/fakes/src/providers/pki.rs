//! A throw-away certificate authority for the fake providers: server certificates for any
//! hostnames with any validity window (valid, about to expire, expired, not yet valid), so
//! the monitor's TLS checks can be tested against every case while connecting to 127.0.0.1.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const SECONDS_PER_DAY: u64 = 86_400;

/// A certificate's validity window as whole days relative to now (negative is the past).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// `notBefore` is now plus this many days (usually negative).
    pub not_before_days: i64,
    /// `notAfter` is now plus this many days (negative for an expired certificate).
    pub not_after_days: i64,
}

impl Validity {
    /// Valid from yesterday for 90 days.
    pub const VALID: Validity = Validity::days(-1, 90);
    /// Valid since yesterday, expires in two days.
    pub const EXPIRING_SOON: Validity = Validity::days(-1, 2);
    /// Was valid from 30 days ago until 3 days ago.
    pub const EXPIRED: Validity = Validity::days(-30, -3);
    /// Becomes valid in 3 days.
    pub const NOT_YET_VALID: Validity = Validity::days(3, 90);

    /// From now + `not_before_days` to now + `not_after_days`.
    pub const fn days(not_before_days: i64, not_after_days: i64) -> Validity {
        Validity {
            not_before_days,
            not_after_days,
        }
    }
}

/// A CA whose certificate is written to `DIR/pki-ca.pem`, and that issues server
/// certificates for the fake providers.
#[derive(Debug)]
pub struct TestPki {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    ca_file: PathBuf,
}

impl TestPki {
    /// Makes a new CA (ECDSA P-256) and writes its certificate to `dir/pki-ca.pem`.
    pub fn new(dir: &Path) -> TestPki {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "geodns test provider CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        let ca_file = dir.join("pki-ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("write the CA certificate");
        TestPki { ca, ca_file }
    }

    /// The CA certificate (PEM) a client must trust.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The CA certificate as PEM text.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The CA certificate as DER, e.g. for a `rustls::RootCertStore`.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    /// A new key and a certificate for `names` (DNS names or IP addresses) signed by this
    /// CA, as `(certificate PEM, PKCS#8 key PEM)`.
    pub fn issue_pem(&self, names: &[&str], validity: Validity) -> (String, String) {
        let (certificate, key) = self.issue(names, validity);
        (certificate.pem(), key.serialize_pem())
    }

    /// A TLS server configuration (ring, TLS 1.2 and 1.3, ALPN `http/1.1`) presenting a new
    /// certificate for `names` signed by this CA. The chain is the leaf alone.
    pub fn server_config(&self, names: &[&str], validity: Validity) -> Arc<rustls::ServerConfig> {
        let (certificate, key) = self.issue(names, validity);
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![certificate.der().clone()], key)
            .expect("a certificate and its key");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    fn issue(&self, names: &[&str], validity: Validity) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let common_name = names.first().cloned().unwrap_or_default();
        let mut params = rcgen::CertificateParams::new(names).expect("server names");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        let now = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(unix_seconds());
        params.not_before = offset_days(now, validity.not_before_days);
        params.not_after = offset_days(now, validity.not_after_days);
        let certificate = params
            .signed_by(&key, &self.ca)
            .expect("server certificate");
        (certificate, key)
    }
}

/// Seconds since the Unix epoch from the system clock (certificates are checked against
/// the real clock, so they are made with it).
fn unix_seconds() -> u64 {
    std::time::UNIX_EPOCH
        .elapsed()
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// `time + days` (negative days go back), without naming the `time` crate rcgen uses.
fn offset_days<T>(time: T, days: i64) -> T
where
    T: std::ops::Add<Duration, Output = T> + std::ops::Sub<Duration, Output = T>,
{
    let span = Duration::from_secs(days.unsigned_abs() * SECONDS_PER_DAY);
    if days < 0 { time - span } else { time + span }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_client::{certificate_error, tls_connect};
    use crate::providers::tls::TlsServer;
    use rustls::CertificateError;

    #[tokio::test]
    async fn each_validity_and_name_is_judged_by_a_verifying_client() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pki = TestPki::new(dir.path());
        assert!(pki.ca_file().exists());
        assert!(pki.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));

        let host = "rpc.test.example";
        for validity in [Validity::VALID, Validity::EXPIRING_SOON] {
            let server = TlsServer::start(pki.server_config(&[host], validity)).await;
            tls_connect(server.addr(), &pki, host)
                .await
                .expect("a valid certificate is accepted");
        }

        let expired = TlsServer::start(pki.server_config(&[host], Validity::EXPIRED)).await;
        let error = tls_connect(expired.addr(), &pki, host).await.unwrap_err();
        assert!(
            matches!(
                certificate_error(&error),
                Some(CertificateError::Expired | CertificateError::ExpiredContext { .. })
            ),
            "{error:?}"
        );

        let early = TlsServer::start(pki.server_config(&[host], Validity::NOT_YET_VALID)).await;
        let error = tls_connect(early.addr(), &pki, host).await.unwrap_err();
        assert!(
            matches!(
                certificate_error(&error),
                Some(CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. })
            ),
            "{error:?}"
        );

        let config = pki.server_config(&["other.test.example"], Validity::VALID);
        let wrong_name = TlsServer::start(config).await;
        let error = tls_connect(wrong_name.addr(), &pki, host)
            .await
            .unwrap_err();
        assert!(
            matches!(
                certificate_error(&error),
                Some(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{error:?}"
        );
    }

    #[test]
    fn issued_pem_is_a_certificate_and_a_key() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pki = TestPki::new(dir.path());
        let (certificate, key) = pki.issue_pem(&["127.0.0.1", "a.test.example"], Validity::VALID);
        assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}
