//! The domain model and typed configuration of geodns: members, services, checks, records.
//!
//! This crate does no I/O, reads no clock and runs no async runtime. Its manifest lists
//! none of tokio, sqlx, async-nats or redis, so the absence is enforced by the build.
//! Parsing configuration *text* lives here; fetching that text from files or URLs is the
//! binary's job (`geodns::config_source`).

#![forbid(unsafe_code)]

pub mod cidr;
pub mod config;
pub mod duration;
pub mod geo;
pub mod ibp;
pub mod ids;
pub mod model;
pub mod pdns;
pub mod records;
pub mod secret;
