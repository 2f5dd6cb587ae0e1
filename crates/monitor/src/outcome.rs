//! What one check run found: passed or failed, why, how long it took, and the check's
//! data (the original's `Data` fields where it had them).

use std::time::Duration;

use serde_json::{Map, Value};

/// Why a check failed, in a few words; the counters group failures by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The member has no address of the family, or the target is incomplete.
    Config,
    /// The TCP connection was refused or could not be made.
    Connect,
    /// The run (or one step of it) did not finish in time.
    Timeout,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// The certificate expires too soon or has expired.
    Expiry,
    /// The protocol (HTTP, WebSocket, JSON-RPC) was spoken wrongly.
    Protocol,
    /// The server answered a JSON-RPC error object.
    RpcError,
    /// The answer was valid but unhealthy (wrong chain, syncing, too few peers, ...).
    Unhealthy,
    /// Pings were lost or too slow.
    Loss,
}

impl Reason {
    /// A stable lower-case name (for counters and JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Config => "config",
            Reason::Connect => "connect",
            Reason::Timeout => "timeout",
            Reason::Tls => "tls",
            Reason::Expiry => "expiry",
            Reason::Protocol => "protocol",
            Reason::RpcError => "rpc_error",
            Reason::Unhealthy => "unhealthy",
            Reason::Loss => "loss",
        }
    }
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `None` when healthy; why not otherwise.
    pub failure: Option<Failure>,
    /// Wall time of the run.
    pub latency: Duration,
    /// Structured data (peers, block numbers, expiry, round trips, ...).
    pub data: Map<String, Value>,
}

impl Outcome {
    /// The outcome of a check's steps: healthy when they all passed, else the first
    /// failure; with the data gathered either way.
    pub fn of(steps: Result<(), Failure>, data: Map<String, Value>) -> Outcome {
        Outcome {
            failure: steps.err(),
            latency: Duration::ZERO,
            data,
        }
    }

    /// Passed.
    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }

    /// The error text (empty when healthy).
    pub fn error(&self) -> &str {
        self.failure
            .as_ref()
            .map_or("", |failure| failure.1.as_str())
    }
}

/// A failed step of a check: the reason and the text, carried with `?` through a check's
/// steps and turned into an [`Outcome`] with whatever data was gathered so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure(pub Reason, pub String);

impl Failure {
    /// A failure of `reason` with `text`.
    pub fn new(reason: Reason, text: impl Into<String>) -> Failure {
        Failure(reason, text.into())
    }
}
