//! What every geodns role runs on, and nothing role-specific: the live configuration
//! ([`live::LiveConfig`]), the clock, the bus and store handles ([`NodeCtx`]), one owner
//! for every task and thread ([`tasks::Tasks`]), the metrics registry
//! ([`metrics::Metrics`]), this node's key ([`keys::Keys`]) and bus gate ([`trust`]), atomic files in the data
//! directory ([`fs`]), the one bus request responder ([`bus::answer_requests`]), the
//! values changed at run time ([`runtime_values`]) and the consensus shell around the
//! pure engine ([`consensus`]).
//!
//! Role crates (`geodns-monitor`, `-dns`, `-collator`, `-api`) each have a `runtime`
//! module with one `start(&NodeCtx, …)` that spawns through [`NodeCtx::tasks`]; the
//! binary only loads the configuration and starts them in order.
#![forbid(unsafe_code)]

pub mod bus;
pub mod clock;
pub mod consensus;
mod ctx;
pub mod fs;
pub mod http;
pub mod journal;
pub mod keys;
pub mod live;
pub mod metrics;
pub mod runtime_values;
pub mod slots;
pub mod tasks;
pub mod trust;

pub use ctx::{BusState, NodeCtx};
pub use live::LiveConfig;
pub use tasks::Tasks;
