//! Who may publish on which subject, the bounded label each subject is counted under, and
//! the sender an unsigned message in one of the original's shapes names in its body
//! (compat mode only).

use geodns_core::model::NodeRole;

use crate::subjects;

/// Who may publish a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, signed or not: read-only status requests (`geodns cluster status`).
    Open,
    /// A trusted node, about itself only (membership: the body's node id is the sender).
    Member,
    /// A trusted node with this role.
    Role(NodeRole),
    /// Any trusted node.
    Listed,
    /// Any trusted node, answering the request this subscription made.
    Reply,
}

/// The rule of a subject (replies are [`Rule::Reply`] by how they are subscribed to).
pub fn rule(subject: &str) -> Rule {
    match subject {
        subjects::CLUSTER => Rule::Member,
        subjects::PROPOSE
        | subjects::VOTE
        | subjects::FINALIZE
        | subjects::BATCH
        | subjects::DECIDED => Rule::Role(NodeRole::Monitor),
        subjects::OVERRIDE_UPDATE | subjects::MAINTENANCE_UPDATE => Rule::Role(NodeRole::Api),
        subjects::USAGE_DATA => Rule::Role(NodeRole::Dns),
        subjects::DOWNTIME_DATA => Rule::Role(NodeRole::Monitor),
        _ if is_status(subject) => Rule::Open,
        _ => Rule::Listed,
    }
}

fn is_status(subject: &str) -> bool {
    subject.starts_with("geodns.cluster.status.") || subject.starts_with("geodns.consensus.status.")
}

/// A label for counting refusals: the subject, or its family, so that what remote input
/// chooses (node ids, inboxes) never becomes a label.
pub fn label(subject: &str, reply: bool) -> &'static str {
    const KNOWN: [&str; 13] = [
        subjects::CLUSTER,
        subjects::PROPOSE,
        subjects::VOTE,
        subjects::FINALIZE,
        subjects::BATCH,
        subjects::DECIDED,
        subjects::OVERRIDE_UPDATE,
        subjects::MAINTENANCE_UPDATE,
        subjects::USAGE_REQUEST,
        subjects::USAGE_DATA,
        subjects::DOWNTIME_REQUEST,
        subjects::DOWNTIME_DATA,
        subjects::OFFICIAL_SYNC,
    ];
    if reply {
        return "reply";
    }
    if let Some(known) = KNOWN.iter().find(|known| **known == subject) {
        return known;
    }
    if subject.starts_with("geodns.cluster.status.") {
        "geodns.cluster.status"
    } else if subject.starts_with("geodns.consensus.status.") {
        "geodns.consensus.status"
    } else {
        "other"
    }
}

/// How an unsigned message is treated in compat mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unsigned {
    /// Refused: its shape names no sender, or it is a geodns-only subject (the original
    /// never sends it, and every geodns node signs).
    Refused,
    /// Accepted without a sender: requests in the original's shape, which name none.
    Anonymous,
    /// Accepted if this named sender is listed without a key (and its role allows it).
    Claimed(Option<String>),
}

/// The compat treatment of an unsigned message on `subject` (a reply when `reply`).
pub(crate) fn unsigned(subject: &str, reply: bool, payload: &[u8]) -> Unsigned {
    let field: &[&str] = match subject {
        _ if reply => &["nodeID"],
        subjects::CLUSTER => &["sender", "NodeID"],
        subjects::PROPOSE | subjects::FINALIZE => &["SenderNodeID"],
        subjects::VOTE => &["NodeID"],
        subjects::USAGE_DATA | subjects::DOWNTIME_DATA => &["nodeID"],
        subjects::USAGE_REQUEST | subjects::DOWNTIME_REQUEST => return Unsigned::Anonymous,
        _ => return Unsigned::Refused,
    };
    Unsigned::Claimed(named(payload, field))
}

/// The node id a body names at `path` (a JSON string), for membership's "only about
/// itself" and the compat claim.
pub(crate) fn named(payload: &[u8], path: &[&str]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let mut current = &value;
    for key in path {
        current = current.get(key)?;
    }
    current
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}
