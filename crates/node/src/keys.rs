//! This node's ed25519 key file, read once at start on a blocking thread (or created on
//! first start: 32 random bytes, base64, mode 0600, written atomically), and the trust
//! table from `[consensus]`, which is computed from the configuration without I/O and so
//! follows every reload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use geodns_consensus::auth::{AuthMode, NodeKey, PublicKey, Trust, TrustedNode};
use geodns_core::config::{AuthName, Config};
use geodns_core::ids::NodeId;
use geodns_core::model::NodeRole;

use crate::consensus::ConsensusError;

/// This node's signing key, loaded once at start: every node signs what it publishes
/// unless `auth = "off"` (where monitors still sign their consensus messages). Cheap to
/// clone.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    own: Option<std::sync::Arc<NodeKey>>,
}

impl Keys {
    /// Loads (or creates) the node's key, on a blocking thread; with `auth = "off"`,
    /// only a monitor has one.
    pub async fn load(config: &Config) -> Result<Keys, ConsensusError> {
        let monitor = config.node.roles.contains(&NodeRole::Monitor);
        if !monitor && config.consensus.auth == AuthName::Off {
            return Ok(Keys::default());
        }
        let path = key_path(config);
        let loaded = tokio::task::spawn_blocking(move || -> Result<NodeKey, ConsensusError> {
            let (key, created) = load_or_create(&path)?;
            tracing::info!(
                path = %path.display(),
                public_key = %key.public().to_base64(),
                created,
                "consensus key"
            );
            Ok(key)
        })
        .await
        .map_err(|error| ConsensusError::Task(error.to_string()))?;
        Ok(Keys {
            own: Some(std::sync::Arc::new(loaded?)),
        })
    }

    /// Keys holding `key` (tests, tools).
    pub fn of(key: NodeKey) -> Keys {
        Keys {
            own: Some(std::sync::Arc::new(key)),
        }
    }

    /// This node's key, if it signs.
    pub fn own(&self) -> Option<&NodeKey> {
        self.own.as_deref()
    }
}

/// Where the key file is: `consensus.key_file`, under `node.data_dir` when relative.
pub fn key_path(config: &Config) -> PathBuf {
    let file = &config.consensus.key_file;
    if file.is_absolute() {
        file.clone()
    } else {
        config.node.data_dir.join(file)
    }
}

/// Reads the key, creating it if the file does not exist. Returns the key and whether
/// it was created now.
pub fn load_or_create(path: &Path) -> Result<(NodeKey, bool), ConsensusError> {
    let bad = |reason: String| ConsensusError::KeyFile {
        path: path.to_owned(),
        reason,
    };
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| ConsensusError::KeyIo {
            action,
            path,
            source,
        }
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| bad(format!("not base64: {e}")))?;
            let seed: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
                bad(format!(
                    "{} bytes, expected a 32-byte ed25519 seed",
                    b.len()
                ))
            })?;
            warn_if_readable_by_others(path);
            Ok((NodeKey::from_seed(seed), false))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| ConsensusError::Randomness(e.to_string()))?;
            let text = base64::engine::general_purpose::STANDARD.encode(seed) + "\n";
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io("create", dir))?;
            }
            crate::fs::write_atomically(path, text.as_bytes(), true)
                .map_err(io("write key file", path))?;
            Ok((NodeKey::from_seed(seed), true))
        }
        Err(error) => Err(io("read key file", path)(error)),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "key file is readable by group or others; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// The trust table of `[consensus]`. Keys were shape-checked by validation; here they
/// must also be valid ed25519 points.
pub fn trust(config: &Config) -> Result<Trust, ConsensusError> {
    Ok(Trust::new(auth_mode(config), trusted_nodes(config)?))
}

fn auth_mode(config: &Config) -> AuthMode {
    geodns_bus::envelope::auth_mode(config.consensus.auth)
}

/// The consensus view of the bus gate's table: one parse of `[[consensus.nodes]]`.
fn trusted_nodes(config: &Config) -> Result<BTreeMap<NodeId, TrustedNode>, ConsensusError> {
    let table = crate::trust::table(config)?;
    let mut nodes = BTreeMap::new();
    for (id, peer) in table.nodes {
        let Ok(id) = NodeId::parse(&id) else {
            continue;
        };
        let trusted = TrustedNode {
            key: peer.key.map(|(key, _)| key),
            monitor: peer.roles.contains(&NodeRole::Monitor),
        };
        nodes.insert(id, trusted);
    }
    Ok(nodes)
}

/// A `[[consensus.nodes]]` entry, as every node's file lists it.
pub fn entry_text(id: &str, roles: &[&str], key: &PublicKey) -> String {
    let roles: Vec<String> = roles.iter().map(|role| format!("\"{role}\"")).collect();
    format!(
        "[[consensus.nodes]]\nid = \"{id}\"\nroles = [{}]\npublic_key = \"{}\"\n",
        roles.join(", "),
        key.to_base64()
    )
}

/// This node's `[[consensus.nodes]]` entry, for the other nodes' configuration.
pub fn trusted_entry(config: &Config) -> Result<String, ConsensusError> {
    let path = key_path(config);
    let (key, created) = load_or_create(&path)?;
    let roles: Vec<&str> = config.node.roles.iter().map(|role| role.as_str()).collect();
    Ok(format!(
        "# {} {}\n{}",
        if created { "created" } else { "read" },
        path.display(),
        entry_text(config.node.id.as_str(), &roles, &key.public())
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use geodns_core::config::{Origin, SourceItems, build, parse_file};

    use super::*;

    fn config(dir: &Path, nodes: &str) -> Config {
        let text = format!(
            "[node]\nid = \"m1\"\nroles = [\"monitor\"]\ndata_dir = \"{}\"\n\
             [consensus]\nauth = \"compat\"\n{nodes}",
            dir.display()
        );
        let origin = Origin("test.toml".to_owned());
        build(
            parse_file(&text, &origin).unwrap(),
            &origin,
            SourceItems::default(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_key_is_created_once_and_its_entry_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::load(&config(dir.path(), "")).await.unwrap();
        let public = keys.own().unwrap().public().to_base64();
        let again = Keys::load(&config(dir.path(), "")).await.unwrap();
        assert_eq!(
            again.own().unwrap().public().to_base64(),
            public,
            "read, not made anew"
        );
        let entry = trusted_entry(&config(dir.path(), "")).unwrap();
        assert!(
            entry.contains(&format!("public_key = \"{public}\"")),
            "{entry}"
        );
        let trusted = config(dir.path(), &entry.replace("# read", "# m1"));
        let table = trust(&trusted).unwrap();
        assert_eq!(table.mode(), AuthMode::Compat);
        let keyless = "[[consensus.nodes]]\nid = \"m2\"\nroles = [\"monitor\"]\n";
        assert!(trust(&config(dir.path(), keyless)).is_ok());
    }
}
