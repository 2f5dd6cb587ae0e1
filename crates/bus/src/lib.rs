//! Messaging for geodns: the original system's NATS wire messages and typed subjects, a
//! [`Bus`] with a NATS and an in-process implementation, cluster membership, and Redis
//! Streams publishing.

#![forbid(unsafe_code)]

pub mod wire;
