//! Conversions between the consensus crate's typed messages and the original's JSON
//! (`consensus.propose`, `consensus.vote`, `consensus.finalize`), signatures included.
//! Anything that cannot be a valid message is an error naming the field.

use geodns_consensus::message::{self as typed, MessageError, ProposalId, Signature, Signed};
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;

use crate::wire::{self, DecodeError, decode, encode};

/// A consensus message that could not be read: bad JSON or an invalid field.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusDecodeError {
    /// Not the expected JSON.
    #[error(transparent)]
    Json(#[from] DecodeError),
    /// Valid JSON, invalid content.
    #[error("malformed {what} message: {source}")]
    Invalid {
        /// `proposal`, `vote` or `finalize`.
        what: &'static str,
        /// What is wrong.
        #[source]
        source: MessageError,
    },
    /// A batch with an element that cannot be a message (the whole batch is refused).
    #[error("malformed batch: {list}[{index}]: {source}")]
    InBatch {
        /// `proposals`, `votes` or `finalizes`.
        list: &'static str,
        /// The element's place in its list.
        index: usize,
        /// What is wrong.
        #[source]
        source: MessageError,
    },
}

fn field(field: &'static str, reason: impl std::fmt::Display) -> MessageError {
    MessageError::BadField {
        field,
        reason: reason.to_string(),
    }
}

fn node(name: &'static str, text: &str) -> Result<NodeId, MessageError> {
    NodeId::parse(text).map_err(|error| field(name, error))
}

fn signature(text: &Option<String>) -> Result<Option<Signature>, MessageError> {
    text.as_deref().map(Signature::from_base64).transpose()
}

fn check_kind(text: &str) -> Result<CheckKind, MessageError> {
    CheckKind::parse(text).ok_or_else(|| {
        field(
            "CheckType",
            format!("{text:?} is not site, domain or endpoint"),
        )
    })
}

fn proposal_from_wire(message: &wire::Proposal) -> Result<typed::Proposal, MessageError> {
    let key = CheckKey {
        kind: check_kind(&message.check_type)?,
        check: message.check_name.clone(),
        member: MemberId::parse(&message.member_name).map_err(|e| field("MemberName", e))?,
        domain: message.domain_name.clone(),
        endpoint: message.endpoint.clone(),
        ipv6: message.is_ipv6,
    };
    key.validate().map_err(|error| field("check", error))?;
    Ok(typed::Proposal {
        id: ProposalId::parse(&message.id)?,
        sender: node("SenderNodeID", &message.sender_node_id)?,
        key,
        status: message.proposed_status,
        error: message.error_text.clone(),
        data: message.data.clone(),
        timestamp: message.timestamp,
    })
}

fn proposal_to_wire(proposal: &typed::Proposal, signature: Option<&Signature>) -> wire::Proposal {
    wire::Proposal {
        id: proposal.id.to_string(),
        sender_node_id: proposal.sender.to_string(),
        check_type: proposal.key.kind.as_str().to_owned(),
        check_name: proposal.key.check.clone(),
        member_name: proposal.key.member.to_string(),
        domain_name: proposal.key.domain.clone(),
        endpoint: proposal.key.endpoint.clone(),
        proposed_status: proposal.status,
        error_text: proposal.error.clone(),
        data: proposal.data.clone(),
        is_ipv6: proposal.key.ipv6,
        timestamp: proposal.timestamp,
        signature: signature.map(Signature::to_base64),
    }
}

fn invalid(what: &'static str) -> impl Fn(MessageError) -> ConsensusDecodeError {
    move |source| ConsensusDecodeError::Invalid { what, source }
}

/// Reads a `consensus.propose` payload.
pub fn decode_proposal(payload: &[u8]) -> Result<Signed<typed::Proposal>, ConsensusDecodeError> {
    let message: wire::Proposal = decode("proposal", payload)?;
    let proposal = proposal_from_wire(&message).map_err(invalid("proposal"))?;
    let signature = signature(&message.signature).map_err(invalid("proposal"))?;
    Ok(Signed {
        message: proposal,
        signature,
    })
}

fn vote_from_wire(message: &wire::Vote) -> Result<Signed<typed::Vote>, MessageError> {
    if !message.sender_node_id.is_empty() && message.sender_node_id != message.node_id {
        return Err(MessageError::VoterMismatch {
            sender: message.sender_node_id.clone(),
            voter: message.node_id.clone(),
        });
    }
    Ok(Signed {
        message: typed::Vote {
            proposal: ProposalId::parse(&message.proposal_id)?,
            voter: node("NodeID", &message.node_id)?,
            agree: message.agree,
            timestamp: message.timestamp,
        },
        signature: signature(&message.signature)?,
    })
}

fn vote_to_wire(signed: &Signed<typed::Vote>) -> wire::Vote {
    let vote = &signed.message;
    wire::Vote {
        proposal_id: vote.proposal.to_string(),
        sender_node_id: vote.voter.to_string(),
        node_id: vote.voter.to_string(),
        agree: vote.agree,
        timestamp: vote.timestamp,
        signature: signed.signature.as_ref().map(Signature::to_base64),
    }
}

/// Reads a `consensus.vote` payload. `SenderNodeID` and `NodeID` must name the same node.
pub fn decode_vote(payload: &[u8]) -> Result<Signed<typed::Vote>, ConsensusDecodeError> {
    let message: wire::Vote = decode("vote", payload)?;
    vote_from_wire(&message).map_err(invalid("vote"))
}

/// Reads a `consensus.finalize` payload.
pub fn decode_finalize(payload: &[u8]) -> Result<Signed<typed::Finalize>, ConsensusDecodeError> {
    let message: wire::FinalizeMessage = decode("finalize", payload)?;
    finalize_from_wire(&message).map_err(invalid("finalize"))
}

fn finalize_from_wire(
    message: &wire::FinalizeMessage,
) -> Result<Signed<typed::Finalize>, MessageError> {
    // Before libs v0.2.0 the decider was not named; the proposer stands in.
    let sender = match message.sender_node_id.as_str() {
        "" => message.proposal.sender_node_id.as_str(),
        named => named,
    };
    Ok(Signed {
        message: typed::Finalize {
            proposal: proposal_from_wire(&message.proposal)?,
            sender: node("SenderNodeID", sender)?,
            passed: message.passed,
            decided_at: message.decided_at,
            votes: message
                .votes
                .iter()
                .map(vote_from_wire)
                .collect::<Result<_, _>>()?,
        },
        signature: signature(&message.signature)?,
    })
}

/// Writes a `consensus.propose` payload.
pub fn encode_proposal(signed: &Signed<typed::Proposal>) -> Vec<u8> {
    encode(&proposal_to_wire(
        &signed.message,
        signed.signature.as_ref(),
    ))
}

/// Writes a `consensus.vote` payload.
pub fn encode_vote(signed: &Signed<typed::Vote>) -> Vec<u8> {
    encode(&vote_to_wire(signed))
}

/// Writes a `consensus.finalize` payload.
pub fn encode_finalize(signed: &Signed<typed::Finalize>) -> Vec<u8> {
    let finalize = &signed.message;
    encode(&wire::FinalizeMessage {
        proposal: proposal_to_wire(&finalize.proposal, None),
        sender_node_id: finalize.sender.to_string(),
        passed: finalize.passed,
        decided_at: finalize.decided_at,
        votes: finalize.votes.iter().map(vote_to_wire).collect(),
        signature: signed.signature.as_ref().map(Signature::to_base64),
    })
}

mod batch;

pub use batch::{Batch, BatchWriter, decode_batch};

#[cfg(test)]
mod tests;
