//! The signed envelope every geodns node puts on what it publishes, in NATS headers so
//! the JSON body stays what the original's nodes read: sender, key id, timestamp,
//! message id, the request a reply answers, and an ed25519 signature over all of them,
//! the subject, the reply subject and a SHA-256 of the payload. The [`Gate`] seals what a
//! node publishes and admits (verifies, authorises, de-duplicates) what it receives.
//!
//! Pure: no I/O, no clock (every check takes `now` in unix milliseconds).

use base64::Engine as _;
use geodns_consensus::auth::PublicKey;
use sha2::{Digest as _, Sha256};

mod gate;
mod replay;
mod rules;
mod table;

pub use gate::{Gate, Refusal, Sealed};
pub use replay::Replay;
pub use rules::{Rule, label, rule};
pub use table::{Peer, TrustTable, auth_mode};

/// Header carrying the envelope (the sender is in [`crate::SENDER_HEADER`]).
pub const ENVELOPE_HEADER: &str = "Geodns-Envelope";

/// Domain separator of the signed bytes: a signature made for anything else never
/// verifies here.
const DOMAIN: &[u8] = b"geodns-ctl/v1\0";

/// A message id: 8 bytes chosen at random when the node starts, then an 8-byte counter,
/// so one node's ids rise in the order it publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; 16]);

impl MessageId {
    /// The start-up prefix.
    pub fn boot(&self) -> u64 {
        u64::from_be_bytes(self.0[..8].try_into().unwrap_or_default())
    }

    /// The counter.
    pub fn counter(&self) -> u64 {
        u64::from_be_bytes(self.0[8..].try_into().unwrap_or_default())
    }

    fn of(boot: u64, counter: u64) -> MessageId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&boot.to_be_bytes());
        bytes[8..].copy_from_slice(&counter.to_be_bytes());
        MessageId(bytes)
    }
}

/// The first 8 bytes of the SHA-256 of a public key: names the key a message was
/// signed with.
pub fn key_id(key: &PublicKey) -> [u8; 8] {
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let mut kid = [0u8; 8];
    kid.copy_from_slice(&digest[..8]);
    kid
}

/// An envelope as carried in [`ENVELOPE_HEADER`]:
/// `v1 <kid hex> <ts ms> <id hex> <re hex or -> <signature base64>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The signing key's id.
    pub kid: [u8; 8],
    /// When it was sealed, unix milliseconds.
    pub ts: u64,
    /// The message id.
    pub id: MessageId,
    /// On a reply: the id of the request it answers.
    pub re: Option<MessageId>,
    /// ed25519 signature of [`signed_bytes`].
    pub signature: [u8; 64],
}

/// Longest envelope header accepted (a valid one is about 170 bytes).
const MAX_HEADER: usize = 256;

impl Envelope {
    /// The header text.
    pub fn encode(&self) -> String {
        let re = self.re.map_or_else(|| "-".to_owned(), |re| hex(&re.0));
        format!(
            "v1 {} {} {} {re} {}",
            hex(&self.kid),
            self.ts,
            hex(&self.id.0),
            base64::engine::general_purpose::STANDARD.encode(self.signature)
        )
    }

    /// Reads the header text; `None` when it is not a well-formed v1 envelope.
    pub fn decode(text: &str) -> Option<Envelope> {
        if text.len() > MAX_HEADER {
            return None;
        }
        let mut parts = text.split(' ');
        if parts.next()? != "v1" {
            return None;
        }
        let kid = unhex::<8>(parts.next()?)?;
        let ts = parts.next()?.parse().ok()?;
        let id = MessageId(unhex::<16>(parts.next()?)?);
        let re = match parts.next()? {
            "-" => None,
            re => Some(MessageId(unhex::<16>(re)?)),
        };
        let signature: [u8; 64] = base64::engine::general_purpose::STANDARD
            .decode(parts.next()?)
            .ok()?
            .try_into()
            .ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Envelope {
            kid,
            ts,
            id,
            re,
            signature,
        })
    }
}

/// What the signature covers, in this order, each variable-length field prefixed with its
/// length: the domain, subject, reply subject (empty without one), sender, key id,
/// timestamp, message id, the answered request's id (zeros on a request) and the
/// payload's SHA-256. Signing the subject keeps a signed maintenance message from being
/// replayed as an override; signing `re`, a reply from answering another request.
pub fn signed_bytes(
    (subject, reply): (&str, Option<&str>),
    sender: &str,
    envelope: &Envelope,
    payload: &[u8],
) -> Vec<u8> {
    let reply = reply.unwrap_or("");
    let mut bytes = Vec::with_capacity(
        DOMAIN.len() + 12 + subject.len() + reply.len() + sender.len() + 8 + 8 + 32 + 32,
    );
    bytes.extend_from_slice(DOMAIN);
    for field in [subject, reply, sender] {
        let length = u32::try_from(field.len()).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(field.as_bytes());
    }
    bytes.extend_from_slice(&envelope.kid);
    bytes.extend_from_slice(&envelope.ts.to_be_bytes());
    bytes.extend_from_slice(&envelope.id.0);
    bytes.extend_from_slice(&envelope.re.map_or([0u8; 16], |re| re.0));
    let digest: [u8; 32] = Sha256::digest(payload).into();
    bytes.extend_from_slice(&digest);
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests;
