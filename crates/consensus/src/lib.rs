//! Consensus on provider health for geodns: the pure propose/vote/finalize state machine
//! ([`Engine`]), agreement policies, per-monitor hysteresis, ed25519 message
//! authentication, the official and local result snapshots, and the collator's proposal
//! cache. No I/O, no clock, no randomness: callers pass `now` and fresh proposal ids.

#![forbid(unsafe_code)]

pub mod auth;
pub mod engine;
pub mod hysteresis;
pub mod message;
pub mod policy;
pub mod proposal_cache;
pub mod results;

pub use engine::{Engine, EngineConfig, Input, Output};
