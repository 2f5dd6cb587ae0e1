//! Credentials made in the test for a nats-server that demands them: a certificate
//! authority with a server certificate for 127.0.0.1, and operator-mode NATS JWTs (an
//! operator, an account, a user and the user's `.creds` file), signed like nats-io/jwt v2.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::json;

/// A throw-away certificate authority and a server certificate it signed, valid for
/// `127.0.0.1`, `::1` and `localhost`, written as PEM files into a directory.
#[derive(Debug)]
pub struct TestCa {
    ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl TestCa {
    /// Makes a new CA (ECDSA P-256, ring) and a server certificate; writes `NAME-ca.pem`,
    /// `NAME-server.pem` and `NAME-server-key.pem` into `dir`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("geodns test CA {name}"));
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let server_key = rcgen::KeyPair::generate().expect("server key");
        let names = ["127.0.0.1", "::1", "localhost"].map(String::from).to_vec();
        let mut params = rcgen::CertificateParams::new(names).expect("server names");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "nats-server");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let server = params
            .signed_by(&server_key, &ca)
            .expect("server certificate");

        let write = |file: &str, text: String| {
            let path = dir.join(format!("{name}-{file}"));
            std::fs::write(&path, text).expect("write a PEM file");
            path
        };
        TestCa {
            ca_file: write("ca.pem", ca.pem()),
            cert_file: write("server.pem", server.pem()),
            key_file: write("server-key.pem", server_key.serialize_pem()),
        }
    }

    /// The CA certificate a client must trust.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// nats-server settings that make every client connection TLS with this CA's
    /// server certificate.
    pub fn server_config(&self) -> String {
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  timeout: 2\n}}\n",
            self.cert_file.display(),
            self.key_file.display()
        )
    }
}

/// An NKey user: the seed a client signs with, and the public key the server lists.
#[derive(Debug)]
pub struct NkeyUser {
    /// `SU...`: the client's secret.
    pub seed: String,
    /// `U...`: what nats-server's `authorization { users = [{ nkey: ... }] }` names.
    pub public_key: String,
}

impl NkeyUser {
    /// A new random user key.
    pub fn new() -> NkeyUser {
        let pair = KeyPair::new_user();
        NkeyUser {
            seed: pair.seed().expect("a new key has a seed"),
            public_key: pair.public_key(),
        }
    }
}

impl Default for NkeyUser {
    fn default() -> Self {
        NkeyUser::new()
    }
}

/// Operator mode (decentralised JWT authentication): an operator that signed one account,
/// which signs users. The server trusts the operator and knows the account from a memory
/// resolver; a client proves it is a user with a `.creds` file (user JWT + user seed).
#[derive(Debug)]
pub struct Operator {
    operator_jwt: String,
    account: KeyPair,
    account_jwt: String,
}

impl Operator {
    /// A new operator with one account.
    pub fn new() -> Operator {
        let operator = KeyPair::new_operator();
        let operator_jwt = jwt(
            &operator,
            &operator.public_key(),
            "geodns-test-operator",
            json!({ "type": "operator", "version": 2 }),
        );
        let account = KeyPair::new_account();
        // -1 is "no limit"; a missing limit would be 0 (no connections, no subscriptions).
        let account_jwt = jwt(
            &operator,
            &account.public_key(),
            "geodns-test-account",
            json!({
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1
                },
                "default_permissions": { "pub": {}, "sub": {} },
                "type": "account",
                "version": 2
            }),
        );
        Operator {
            operator_jwt,
            account,
            account_jwt,
        }
    }

    /// nats-server settings: trust this operator, and resolve its account from memory.
    pub fn server_config(&self) -> String {
        format!(
            "operator: \"{}\"\nresolver: MEMORY\nresolver_preload: {{\n  {}: \"{}\"\n}}\n",
            self.operator_jwt,
            self.account.public_key(),
            self.account_jwt
        )
    }

    /// The text of a `.creds` file for a new user of the account.
    pub fn user_creds(&self) -> String {
        let user = KeyPair::new_user();
        let user_jwt = jwt(
            &self.account,
            &user.public_key(),
            "geodns-test-user",
            json!({
                "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                "type": "user", "version": 2
            }),
        );
        let seed = user.seed().expect("a new key has a seed");
        format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n"
        )
    }
}

impl Default for Operator {
    fn default() -> Self {
        Operator::new()
    }
}

/// A NATS JWT: `{"typ":"JWT","alg":"ed25519-nkey"}` and the claims, each base64url without
/// padding, then the issuer's ed25519 signature over `header.claims`. The `jti` only has to
/// be unique (nats-io/jwt derives it from a hash of the claims; the server does not check
/// that), so it is the subject's key.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = json!({
        "jti": subject,
        "iat": crate::unix_seconds(),
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{claims}");
    let signature = issuer.sign(signed.as_bytes()).expect("sign the JWT");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}
