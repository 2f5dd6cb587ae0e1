//! NATS subjects: the original system's, as constants, and builders for the per-node ones.

/// Join, heartbeat and leave messages.
pub const CLUSTER: &str = "consensus.cluster";
/// Proposals.
pub const PROPOSE: &str = "consensus.propose";
/// Votes.
pub const VOTE: &str = "consensus.vote";
/// Decisions.
pub const FINALIZE: &str = "consensus.finalize";
/// geodns extension: proposals and votes of one monitor, many in one message
/// (`geodns_bus::consensus::Batch`).
pub const BATCH: &str = "consensus.batch";
/// geodns extension: finalize messages of one monitor, many in one message; what a node
/// that only applies decisions subscribes to, with [`FINALIZE`].
pub const DECIDED: &str = "consensus.decided";
/// Proposals, votes and decisions (and membership) on one subscription, in the order
/// each sender published them.
pub const CONSENSUS: &str = "consensus.*";
/// Usage requests to DNS nodes.
pub const USAGE_REQUEST: &str = "dns.usage.getUsage";
/// Usage broadcasts (replies to requests without an inbox).
pub const USAGE_DATA: &str = "dns.usage.usageData";
/// Downtime requests to monitors.
pub const DOWNTIME_REQUEST: &str = "monitor.stats.getDowntime";
/// Downtime broadcasts.
pub const DOWNTIME_DATA: &str = "monitor.stats.downtimeData";
/// geodns extension: a member's maintenance set or cleared at run time (API or command);
/// every node applies it.
pub const MAINTENANCE_UPDATE: &str = "geodns.maintenance.update";
/// Country override commands for DNS nodes.
pub const OVERRIDE_UPDATE: &str = "geodns.override.update";
/// geodns extension: request the official results (anti-entropy); any node holding
/// some answers with its cache file's JSON.
pub const OFFICIAL_SYNC: &str = "geodns.official.sync";

/// Membership status of one node (geodns only; original nodes do not answer).
pub fn cluster_status(node_id: &str) -> String {
    format!("geodns.cluster.status.{node_id}")
}

/// Consensus status of one node (geodns only).
pub fn consensus_status(node_id: &str) -> String {
    format!("geodns.consensus.status.{node_id}")
}

/// True if `subject` matches `pattern` with NATS wildcards (`*` one token, `>` the rest).
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut pattern_tokens = pattern.split('.');
    let mut subject_tokens = subject.split('.');
    loop {
        match (pattern_tokens.next(), subject_tokens.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(p), Some(s)) if p == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("consensus.*", "consensus.vote"));
        assert!(!matches("consensus.*", "consensus.vote.x"));
        assert!(matches("consensus.>", "consensus.vote.x"));
        assert!(!matches("consensus.>", "consensus"));
        assert!(matches(PROPOSE, PROPOSE));
        assert!(!matches(PROPOSE, VOTE));
        assert_eq!(cluster_status("dns-1"), "geodns.cluster.status.dns-1");
    }
}
