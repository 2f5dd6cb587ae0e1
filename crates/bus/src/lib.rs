//! Messaging for geodns: the original system's NATS wire messages and typed subjects, a
//! [`Bus`] with a NATS and an in-process implementation, cluster membership, and Redis
//! Streams publishing.

#![forbid(unsafe_code)]

pub mod wire;

mod bus;
mod cluster;
pub mod consensus;
pub mod envelope;
pub mod membership;
mod memory;
mod nats;
pub mod redis;
pub mod subjects;

pub use bus::{
    Bus, BusError, BusMessage, Gathered, NO_RESPONDERS, Outgoing, SENDER_HEADER,
    SUBSCRIPTION_CAPACITY, Subscription,
};
pub use cluster::{Clock, ClusterHandle, SelfInfo, run_membership};
pub use memory::MemoryBus;
pub use nats::{ConnectionState, NatsBus, NatsConfig};
