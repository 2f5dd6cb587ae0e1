//! The collator role: the cluster's memory. It turns passed consensus decisions into
//! outage history (once, whatever the repeats and the order in which they arrive), keeps
//! the consensus log a fresh node rebuilds the official state from, plans and stores the
//! hourly usage collection, and sends Matrix alerts that edit themselves on recovery.
//!
//! The logic is pure where it can be (time is an argument) and talks to the database
//! through `geodns-store`'s traits; [`runtime`] runs it on a node: it reads the consensus
//! messages the node's shell accepted, fans usage requests out over the bus and
//! publishes events.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod decision;
pub mod history;
pub mod ordering;
pub mod queue;
pub mod runtime;
pub mod usage;
pub mod writer;

pub use decision::Decision;
pub use queue::{CollatorQueue, QueueReport};
pub use writer::{Change, ChangeKind};
