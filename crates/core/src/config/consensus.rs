//! `[consensus]`: the agreement policy, vote counts and timing, hysteresis, message
//! authentication and the trusted nodes; and its validation.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::Origin;
use super::validate::Report;
use crate::duration::serde_text;
use crate::ids::NodeId;
use crate::model::NodeRole;

/// How many monitors must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyName {
    /// `floor(active/2)+1` agreeing monitors (the original).
    #[default]
    Majority,
    /// Healthy when more than `healthy_above_percent` % of monitors see it healthy.
    HealthyAbove,
    /// Healthy only while every monitor sees it healthy.
    All,
    /// Healthy while any monitor sees it healthy.
    Any,
}

/// How strictly consensus messages are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthName {
    /// Every message signed by a listed node whose role allows it.
    #[default]
    Strict,
    /// Signed messages must verify; unsigned ones accepted from listed nodes.
    Compat,
    /// No authentication (the original).
    Off,
}

/// One trusted node in `[[consensus.nodes]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedNodeFile {
    /// Node id.
    pub id: NodeId,
    /// Its roles; only monitors may propose, vote and finalize.
    pub roles: Vec<NodeRole>,
    /// Its ed25519 public key, standard base64 (`geodns consensus key` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// `[consensus]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusSection {
    /// Agreement policy.
    #[serde(default)]
    pub policy: PolicyName,
    /// Threshold of `healthy_above`, 0 to 99.
    #[serde(default = "default_percent")]
    pub healthy_above_percent: u8,
    /// Fewest agreeing monitors for any change; default 2. 1 needs `single_node`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_votes: Option<usize>,
    /// This deployment has exactly one monitor, which decides alone (`min_votes` 1).
    #[serde(default)]
    pub single_node: bool,
    /// An undecided proposal is re-examined after this long.
    #[serde(default = "default_timeout", with = "serde_text")]
    pub proposal_timeout: Duration,
    /// Own open proposals are re-sent this often.
    #[serde(default = "default_republish", with = "serde_text")]
    pub republish_interval: Duration,
    /// Timeouts after the first before an undecided proposal fails.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// Failures in a row before this monitor reports a check down.
    #[serde(default = "default_streak")]
    pub fall: u32,
    /// Successes in a row before this monitor reports a check up again.
    #[serde(default = "default_streak")]
    pub rise: u32,
    /// Message authentication.
    #[serde(default)]
    pub auth: AuthName,
    /// This node's ed25519 key (32-byte seed, base64); created on first start if absent.
    /// Relative paths are under `node.data_dir`.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
    /// Official and local results are saved to `data_dir` this often (and on shutdown).
    #[serde(default = "default_cache_interval", with = "serde_text")]
    pub cache_interval: Duration,
    /// How far ahead of this node's clock a message or decision may be dated.
    #[serde(default = "default_max_skew", with = "serde_text")]
    pub max_skew: Duration,
    /// How old a signed bus message may be when it arrives (and how long its id is
    /// remembered against replays).
    #[serde(default = "default_max_message_age", with = "serde_text")]
    pub max_message_age: Duration,
    /// Nodes whose messages are trusted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<TrustedNodeFile>,
}

fn default_max_skew() -> Duration {
    Duration::from_secs(5)
}

fn default_max_message_age() -> Duration {
    Duration::from_secs(120)
}

fn default_percent() -> u8 {
    50
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_republish() -> Duration {
    Duration::from_secs(10)
}

fn default_retries() -> u32 {
    3
}

fn default_streak() -> u32 {
    2
}

fn default_key_file() -> PathBuf {
    PathBuf::from("node.key")
}

fn default_cache_interval() -> Duration {
    Duration::from_secs(90)
}

impl Default for ConsensusSection {
    fn default() -> Self {
        ConsensusSection {
            policy: PolicyName::default(),
            healthy_above_percent: default_percent(),
            min_votes: None,
            single_node: false,
            proposal_timeout: default_timeout(),
            republish_interval: default_republish(),
            max_retries: default_retries(),
            fall: default_streak(),
            rise: default_streak(),
            auth: AuthName::default(),
            key_file: default_key_file(),
            cache_interval: default_cache_interval(),
            max_skew: default_max_skew(),
            max_message_age: default_max_message_age(),
            nodes: Vec::new(),
        }
    }
}

impl ConsensusSection {
    /// The vote minimum in force: 1 in single-node mode, else `min_votes` or 2.
    pub fn effective_min_votes(&self) -> usize {
        if self.single_node {
            1
        } else {
            self.min_votes.unwrap_or(2)
        }
    }
}

/// Checks `[consensus]`; `embedded_bus` on a monitor adds a warning about a lone monitor;
/// on a fleet bus, what a strict node's trust table lacks is a warning.
pub(super) fn validate_consensus(
    section: &ConsensusSection,
    embedded_bus: bool,
    (node, roles): (&str, &[NodeRole]),
    origin: &Origin,
    report: &mut Report,
) {
    let monitor = roles.contains(&NodeRole::Monitor);
    match (section.min_votes, section.single_node) {
        (Some(0), _) => report.error(origin, "consensus.min_votes", "must be at least 1"),
        (Some(1), false) => report.error(
            origin,
            "consensus.min_votes",
            "1 lets a single monitor change health alone; set consensus.single_node = true to confirm",
        ),
        (Some(n), true) if n != 1 => report.error(
            origin,
            "consensus.min_votes",
            format!("single_node decides with 1 vote; remove min_votes = {n}"),
        ),
        _ => {}
    }
    if section.policy == PolicyName::HealthyAbove && section.healthy_above_percent > 99 {
        report.error(origin, "consensus.healthy_above_percent", "must be 0 to 99");
    }
    if section.fall == 0 || section.rise == 0 {
        report.error(origin, "consensus", "fall and rise must be at least 1");
    }
    let mut seen = std::collections::BTreeSet::new();
    for (index, node) in section.nodes.iter().enumerate() {
        let path = format!("consensus.nodes[{index}]");
        if !seen.insert(&node.id) {
            report.error(origin, &path, format!("node {} is listed twice", node.id));
        }
        match &node.public_key {
            Some(key) if !looks_like_key(key) => report.error(
                origin,
                format!("{path}.public_key"),
                "expected the base64 of a 32-byte ed25519 public key (44 characters)",
            ),
            None if section.auth == AuthName::Strict => report.error(
                origin,
                format!("{path}.public_key"),
                "required with auth = \"strict\"",
            ),
            _ => {}
        }
    }
    if embedded_bus {
        if monitor && !section.single_node {
            report.warn(
                "consensus: with the embedded bus this node is the only monitor; set \
                 consensus.single_node = true or its official results never change"
                    .to_owned(),
            );
        }
    } else if section.auth != AuthName::Off && section.nodes.is_empty() {
        report.warn(format!(
            "consensus: auth = \"{}\" and no [[consensus.nodes]]: messages of other nodes \
             will be rejected",
            match section.auth {
                AuthName::Strict => "strict",
                _ => "compat",
            }
        ));
    } else if section.auth == AuthName::Strict {
        warn_what_the_table_lacks(section, (node, roles), report);
    }
}

/// In strict mode, a DNS node needs the monitors it takes official results from, and the
/// other nodes need this node's own entry, with its roles.
fn warn_what_the_table_lacks(
    section: &ConsensusSection,
    (node, roles): (&str, &[NodeRole]),
    report: &mut Report,
) {
    let listed_monitor = section
        .nodes
        .iter()
        .any(|n| n.roles.contains(&NodeRole::Monitor) && n.id.as_str() != node);
    if roles.contains(&NodeRole::Dns) && !roles.contains(&NodeRole::Monitor) && !listed_monitor {
        report.warn(
            "consensus.nodes: no monitor is listed: in strict mode this DNS node adopts no \
             official results from its peers (list the monitors; `geodns consensus key -c \
             FILE` on each prints its entry)"
                .to_owned(),
        );
    }
    let own = section.nodes.iter().find(|n| n.id.as_str() == node);
    match own {
        None => report.warn(format!(
            "consensus.nodes: this node (`{node}`) is not listed: in strict mode the other \
             nodes refuse everything it publishes (heartbeats, replies{}); add its entry, the \
             same list everywhere (`geodns consensus key -c FILE` prints it)",
            if roles.contains(&NodeRole::Monitor) {
                ", votes"
            } else if roles.contains(&NodeRole::Api) {
                ", overrides, maintenance"
            } else {
                ""
            }
        )),
        Some(entry) => {
            let missing: Vec<&str> = roles
                .iter()
                .filter(|role| !entry.roles.contains(role))
                .map(|role| role.as_str())
                .collect();
            if !missing.is_empty() {
                report.warn(format!(
                    "consensus.nodes: this node's entry lacks its role(s) {}: the other nodes \
                     refuse what it publishes as them",
                    missing.join(", ")
                ));
            }
        }
    }
}

/// Base64 of 32 bytes is 44 characters ending in `=`; the consensus crate checks the
/// point itself when the node starts.
fn looks_like_key(text: &str) -> bool {
    text.len() == 44
        && text.ends_with('=')
        && text[..43]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}
