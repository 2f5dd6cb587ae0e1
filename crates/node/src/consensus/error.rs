//! Why the consensus shell could not start: the key file, the trusted nodes' keys, or a
//! bus subscription. Each names the file, field or subject at fault.

use std::path::PathBuf;

/// Why consensus could not start (or a reloaded trust table was refused).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsensusError {
    /// The key file holds something that is not a 32-byte ed25519 seed in base64.
    #[error("key file {}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key file (or its directory) could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    KeyIo {
        /// `read key file`, `write key file`, `create`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The system had no randomness for a new key.
    #[error("no randomness for a new key: {0}")]
    Randomness(String),
    /// A trusted node's public key is not a valid ed25519 key.
    #[error("consensus.nodes[{index}].public_key: {reason}")]
    TrustedKey {
        /// Position in `[[consensus.nodes]]`.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A start-up task failed to run.
    #[error("consensus start-up task failed: {0}")]
    Task(String),
    /// A bus subscription failed.
    #[error(transparent)]
    Subscribe(#[from] crate::bus::SubscribeError),
}
