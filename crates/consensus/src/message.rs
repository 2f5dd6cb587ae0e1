//! The three consensus messages as typed values (the bus converts them to and from the
//! original's JSON), their signatures, and the exact bytes a signature covers.

use std::fmt;

use chrono::{DateTime, Utc};
use geodns_core::ids::NodeId;
use geodns_core::records::CheckKey;
use serde_json::{Map, Value};

/// A proposal's id (a UUID v4 in the original; any 1 to 64 printable ASCII characters here).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProposalId(String);

impl ProposalId {
    /// Validates an id.
    pub fn parse(text: &str) -> Result<Self, MessageError> {
        let printable = text.bytes().all(|b| b.is_ascii_graphic());
        if text.is_empty() || text.len() > 64 || !printable {
            return Err(MessageError::BadProposalId(text.chars().take(80).collect()));
        }
        Ok(ProposalId(text.to_owned()))
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProposalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message that cannot be a consensus message; names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The proposal id is empty, too long or not printable ASCII.
    #[error("proposal id {0:?}: must be 1 to 64 printable ASCII characters")]
    BadProposalId(String),
    /// A vote whose `SenderNodeID` and `NodeID` differ (one node voting as another).
    #[error("vote sender {sender:?} differs from voter {voter:?}")]
    VoterMismatch {
        /// `SenderNodeID`.
        sender: String,
        /// `NodeID`.
        voter: String,
    },
    /// A node id or check field that is not valid.
    #[error("{field}: {reason}")]
    BadField {
        /// Wire field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The signature is not 64 bytes of base64.
    #[error("signature: {0}")]
    BadSignature(String),
}

/// "This check of this member is up (or down)", proposed by one monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// Unique id, chosen by the proposer.
    pub id: ProposalId,
    /// The proposing monitor.
    pub sender: NodeId,
    /// What is checked.
    pub key: CheckKey,
    /// Proposed health: `true` up, `false` down.
    pub status: bool,
    /// Error text of the failing check (empty when up).
    pub error: String,
    /// Check data, if any.
    pub data: Option<Map<String, Value>>,
    /// When proposed (the proposer's clock).
    pub timestamp: DateTime<Utc>,
}

/// One monitor's answer to a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// The proposal voted on.
    pub proposal: ProposalId,
    /// The voting monitor (the wire's `NodeID` and `SenderNodeID`, which must be equal).
    pub voter: NodeId,
    /// Its local result equals the proposed status.
    pub agree: bool,
    /// When voted.
    pub timestamp: DateTime<Utc>,
}

/// A decision on a proposal, broadcast by every monitor that reaches one.
#[derive(Debug, Clone, PartialEq)]
pub struct Finalize {
    /// The decided proposal.
    pub proposal: Proposal,
    /// The deciding monitor.
    pub sender: NodeId,
    /// Passed (apply it) or failed (change nothing).
    pub passed: bool,
    /// When decided.
    pub decided_at: DateTime<Utc>,
    /// The agreeing votes behind a passed decision, each signed by its voter: the
    /// quorum certificate strict nodes check, so one monitor's key alone cannot change
    /// official results. Not covered by the finalize's own signature (each vote carries
    /// its own); empty from original nodes.
    pub votes: Vec<Signed<Vote>>,
}

/// An ed25519 signature over a message's [`SigningBytes`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// Reads the wire form: standard base64 of the 64 signature bytes.
    pub fn from_base64(text: &str) -> Result<Self, MessageError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|error| MessageError::BadSignature(error.to_string()))?;
        let array: [u8; 64] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            MessageError::BadSignature(format!("{} bytes, expected 64", bytes.len()))
        })?;
        Ok(Signature(array))
    }

    /// The wire form: standard base64.
    pub fn to_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", &self.to_base64()[..12])
    }
}

/// A message with the signature it arrived with (or is sent with); `None` when unsigned.
#[derive(Debug, Clone, PartialEq)]
pub struct Signed<M> {
    /// The message.
    pub message: M,
    /// Its sender's signature.
    pub signature: Option<Signature>,
}

impl<M> Signed<M> {
    /// An unsigned message (from an original node, or in `off` mode).
    pub fn unsigned(message: M) -> Self {
        Signed {
            message,
            signature: None,
        }
    }
}

/// What a signature covers: every field of the message, length-prefixed, after a tag
/// naming the message type, so no two different messages share signing bytes.
pub trait SigningBytes {
    /// The bytes to sign or verify.
    fn signing_bytes(&self) -> Vec<u8>;
    /// Who must have signed.
    fn signer(&self) -> &NodeId;
}

struct Writer(Vec<u8>);

impl Writer {
    fn new(tag: &str) -> Self {
        let mut writer = Writer(Vec::with_capacity(256));
        writer.text(tag);
        writer
    }

    fn bytes(&mut self, bytes: &[u8]) {
        let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&length.to_be_bytes());
        self.0.extend_from_slice(bytes);
    }

    fn text(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    fn flag(&mut self, flag: bool) {
        self.0.push(u8::from(flag));
    }

    fn time(&mut self, time: &DateTime<Utc>) {
        self.0.extend_from_slice(&time.timestamp().to_be_bytes());
        self.0
            .extend_from_slice(&time.timestamp_subsec_nanos().to_be_bytes());
    }
}

fn proposal_fields(writer: &mut Writer, proposal: &Proposal) {
    writer.text(proposal.id.as_str());
    writer.text(proposal.sender.as_str());
    writer.text(proposal.key.kind.as_str());
    writer.text(&proposal.key.check);
    writer.text(proposal.key.member.as_str());
    writer.text(&proposal.key.domain);
    writer.text(&proposal.key.endpoint);
    writer.flag(proposal.key.ipv6);
    writer.flag(proposal.status);
    writer.text(&proposal.error);
    match &proposal.data {
        // serde_json writes a map in its own iteration order, which a parsed copy
        // reproduces, so sender and receiver compute the same bytes.
        Some(data) => writer.bytes(&serde_json::to_vec(data).unwrap_or_default()),
        None => writer.bytes(b"null"),
    }
    writer.time(&proposal.timestamp);
}

impl SigningBytes for Proposal {
    fn signing_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::new("geodns/1/propose");
        proposal_fields(&mut writer, self);
        writer.0
    }

    fn signer(&self) -> &NodeId {
        &self.sender
    }
}

impl SigningBytes for Vote {
    fn signing_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::new("geodns/1/vote");
        writer.text(self.proposal.as_str());
        writer.text(self.voter.as_str());
        writer.flag(self.agree);
        writer.time(&self.timestamp);
        writer.0
    }

    fn signer(&self) -> &NodeId {
        &self.voter
    }
}

impl SigningBytes for Finalize {
    fn signing_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::new("geodns/1/finalize");
        proposal_fields(&mut writer, &self.proposal);
        writer.text(self.sender.as_str());
        writer.flag(self.passed);
        writer.time(&self.decided_at);
        writer.0
    }

    fn signer(&self) -> &NodeId {
        &self.sender
    }
}
