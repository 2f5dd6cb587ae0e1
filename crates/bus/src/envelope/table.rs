//! Who the gate trusts: the mode, the nodes of `[[consensus.nodes]]` with their roles and
//! keys, this node's own roles, and the freshness window. Built from the configuration
//! without I/O, so it follows every reload.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use geodns_consensus::auth::{AuthMode, KeyError, PublicKey};
use geodns_core::config::{AuthName, Config};
use geodns_core::model::NodeRole;

use super::key_id;

/// One trusted node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its public key and the key's id; `None` for the original's nodes (compat).
    pub key: Option<(PublicKey, [u8; 8])>,
    /// Its roles.
    pub roles: BTreeSet<NodeRole>,
}

/// The trust table and freshness window the gate checks against.
#[derive(Debug, Clone)]
pub struct TrustTable {
    /// The mode.
    pub mode: AuthMode,
    /// Trusted nodes by id.
    pub nodes: BTreeMap<String, Peer>,
    /// This node's own roles (it trusts its own key for them, listed or not).
    pub own_roles: BTreeSet<NodeRole>,
    /// How far in the future a message's timestamp may be, in milliseconds.
    pub max_skew_ms: u64,
    /// How old a message may be, in milliseconds.
    pub max_age_ms: u64,
}

impl TrustTable {
    /// The original's behaviour: everything accepted.
    pub fn off() -> TrustTable {
        TrustTable {
            mode: AuthMode::Off,
            nodes: BTreeMap::new(),
            own_roles: BTreeSet::new(),
            max_skew_ms: 5_000,
            max_age_ms: 120_000,
        }
    }

    /// The table of a configuration; fails on a listed key that is not a valid ed25519
    /// point (validation has checked its shape), naming its index.
    pub fn from_config(config: &Config) -> Result<TrustTable, (usize, KeyError)> {
        let mut nodes = BTreeMap::new();
        for (index, node) in config.consensus.nodes.iter().enumerate() {
            let key = node
                .public_key
                .as_deref()
                .map(PublicKey::from_base64)
                .transpose()
                .map_err(|error| (index, error))?;
            let peer = Peer {
                key: key.map(|key| (key, key_id(&key))),
                roles: node.roles.iter().copied().collect(),
            };
            nodes.insert(node.id.to_string(), peer);
        }
        Ok(TrustTable {
            mode: auth_mode(config.consensus.auth),
            nodes,
            own_roles: config.node.roles.iter().copied().collect(),
            max_skew_ms: millis(config.consensus.max_skew),
            max_age_ms: millis(config.consensus.max_message_age),
        })
    }
}

/// The mode of a configured `auth`.
pub fn auth_mode(name: AuthName) -> AuthMode {
    match name {
        AuthName::Strict => AuthMode::Strict,
        AuthName::Compat => AuthMode::Compat,
        AuthName::Off => AuthMode::Off,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
