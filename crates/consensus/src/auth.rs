//! Who may say what: the trusted nodes with their ed25519 public keys and roles, the
//! authentication mode, and the check every consensus message passes before it counts.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use geodns_core::ids::NodeId;

use crate::message::{Finalize, Signature, Signed, SigningBytes};

/// How strictly messages are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// As the original: any message from any node counts (single-node and lab use).
    Off,
    /// Mixed clusters: signed messages must verify, unsigned ones are accepted from the
    /// configured node ids (original nodes do not sign).
    Compat,
    /// Every message must be signed by a configured node whose role allows it.
    #[default]
    Strict,
}

impl AuthMode {
    /// Name in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Off => "off",
            AuthMode::Compat => "compat",
            AuthMode::Strict => "strict",
        }
    }
}

/// Why a message was not accepted. Counted per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub enum Rejection {
    /// No signature, and the mode requires one.
    #[error("unsigned")]
    Unsigned,
    /// The signature does not verify with the sender's key.
    #[error("bad signature")]
    BadSignature,
    /// The sender is not in the trusted node list.
    #[error("unknown node")]
    UnknownNode,
    /// The sender is trusted but is not a monitor, so may not propose, vote or finalize.
    #[error("sender is not a monitor")]
    NotAMonitor,
    /// A passed finalize without enough valid agreeing votes of trusted monitors.
    #[error("no quorum certificate")]
    NoQuorum,
}

impl Rejection {
    /// Every reason, for metrics.
    pub const ALL: [Rejection; 5] = [
        Rejection::Unsigned,
        Rejection::BadSignature,
        Rejection::UnknownNode,
        Rejection::NotAMonitor,
        Rejection::NoQuorum,
    ];

    /// Short name for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Unsigned => "unsigned",
            Rejection::BadSignature => "bad_signature",
            Rejection::UnknownNode => "unknown_node",
            Rejection::NotAMonitor => "not_a_monitor",
            Rejection::NoQuorum => "no_quorum",
        }
    }
}

/// A public key in configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("public key {text:?}: {reason}")]
pub struct KeyError {
    /// The key as written.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

/// A node's ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Reads standard base64 of the 32 key bytes.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let error = |reason: String| KeyError {
            text: text.to_owned(),
            reason,
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| error(format!("not base64: {e}")))?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| error(format!("{} bytes, expected 32", b.len())))?;
        VerifyingKey::from_bytes(&array)
            .map(PublicKey)
            .map_err(|_| error("not a valid ed25519 point".to_owned()))
    }

    /// Standard base64 of the 32 key bytes.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.as_bytes())
    }

    /// The 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// True when `signature` is this key's signature of `bytes` (strict verification:
    /// no malleable or small-order signatures).
    pub fn verifies(&self, bytes: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(bytes, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

/// This node's signing key.
#[derive(Clone)]
pub struct NodeKey(SigningKey);

impl NodeKey {
    /// The key of a 32-byte secret seed (the caller supplies the randomness).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        NodeKey(SigningKey::from_bytes(&seed))
    }

    /// The secret seed, for writing the key file.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs raw bytes (the bus envelope's signed bytes).
    pub fn sign_bytes(&self, bytes: &[u8]) -> [u8; 64] {
        self.0.sign(bytes).to_bytes()
    }

    /// Signs a message.
    pub fn sign<M: SigningBytes>(&self, message: M) -> Signed<M> {
        let signature = self.0.sign(&message.signing_bytes());
        Signed {
            message,
            signature: Some(Signature(signature.to_bytes())),
        }
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey(public {})", self.public().to_base64())
    }
}

/// A node the configuration trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedNode {
    /// Its public key; required in strict mode.
    pub key: Option<PublicKey>,
    /// It runs the monitor role, so may propose, vote and finalize.
    pub monitor: bool,
}

/// The trust table and mode: checks every inbound consensus message.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    mode: AuthMode,
    nodes: BTreeMap<NodeId, TrustedNode>,
}

impl Trust {
    /// A trust table.
    pub fn new(mode: AuthMode, nodes: BTreeMap<NodeId, TrustedNode>) -> Self {
        Trust { mode, nodes }
    }

    /// No authentication (the original's behaviour).
    pub fn off() -> Self {
        Trust::new(AuthMode::Off, BTreeMap::new())
    }

    /// The mode.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The configured node, if any.
    pub fn node(&self, id: &NodeId) -> Option<&TrustedNode> {
        self.nodes.get(id)
    }

    /// Accepts or rejects a finalize: its sender as for any message and, for a passed one
    /// in strict mode, its quorum certificate: at least `min_votes` distinct trusted
    /// monitors whose signed votes agree with this very proposal. In compat mode a
    /// certificate is checked when there is one (original nodes send none).
    pub fn check_finalize(
        &self,
        signed: &Signed<Finalize>,
        min_votes: usize,
    ) -> Result<(), Rejection> {
        self.check_finalize_with(signed, min_votes, |_| false)
    }

    /// [`Trust::check_finalize`], taking the certificate's votes for which `verified`
    /// says yes as checked already (this node verified exactly that signed vote before,
    /// under this trust table).
    pub fn check_finalize_with(
        &self,
        signed: &Signed<Finalize>,
        min_votes: usize,
        verified: impl Fn(&Signed<crate::message::Vote>) -> bool,
    ) -> Result<(), Rejection> {
        self.check(signed)?;
        let finalize = &signed.message;
        let required = match self.mode {
            AuthMode::Off => false,
            AuthMode::Compat => !finalize.votes.is_empty(),
            AuthMode::Strict => true,
        };
        if !finalize.passed || !required {
            return Ok(());
        }
        let voters: std::collections::BTreeSet<&NodeId> = finalize
            .votes
            .iter()
            .filter(|vote| {
                vote.message.proposal == finalize.proposal.id
                    && vote.message.agree
                    && (verified(vote) || self.check(*vote).is_ok())
            })
            .map(|vote| &vote.message.voter)
            .collect();
        if voters.len() >= min_votes.max(1) {
            Ok(())
        } else {
            Err(Rejection::NoQuorum)
        }
    }

    /// Accepts or rejects a consensus message (all three kinds are monitor-only).
    pub fn check<M: SigningBytes>(&self, signed: &Signed<M>) -> Result<(), Rejection> {
        if self.mode == AuthMode::Off {
            return Ok(());
        }
        let sender = signed.message.signer();
        let node = self.nodes.get(sender).ok_or(Rejection::UnknownNode)?;
        if !node.monitor {
            return Err(Rejection::NotAMonitor);
        }
        match (&signed.signature, node.key, self.mode) {
            (None, _, AuthMode::Strict) => Err(Rejection::Unsigned),
            // Compat: unsigned only from nodes listed without a key (the original's);
            // a node with a key always signs, so an unsigned message in its name is forged.
            (None, Some(_), _) => Err(Rejection::Unsigned),
            (None, None, _) => Ok(()),
            (Some(_), None, AuthMode::Strict) => Err(Rejection::BadSignature),
            (Some(_), None, _) => Ok(()),
            (Some(signature), Some(PublicKey(key)), _) => {
                let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
                key.verify(&signed.message.signing_bytes(), &signature)
                    .map_err(|_| Rejection::BadSignature)
            }
        }
    }
}
