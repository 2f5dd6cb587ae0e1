//! The collator role: the cluster's memory. It turns passed consensus decisions into
//! outage history (once, whatever the repeats and the order in which they arrive), keeps
//! the consensus log a fresh node rebuilds the official state from, plans and stores the
//! hourly usage collection, and sends Matrix alerts that edit themselves on recovery.
//!
//! No bus here: the binary decodes consensus messages, fans usage requests out and
//! publishes events; this crate holds the logic, pure where it can be (time is an
//! argument), and talks to the database through `geodns-store`'s traits.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod decision;
pub mod history;
pub mod ordering;
pub mod queue;
pub mod usage;
pub mod writer;

pub use decision::Decision;
pub use queue::{CollatorQueue, QueueReport};
pub use writer::{Change, ChangeKind};
