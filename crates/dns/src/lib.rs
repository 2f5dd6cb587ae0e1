//! The DNS role: an authoritative server that answers every service hostname with the
//! nearest healthy provider for the client, and the zones' static records.
//!
//! The query path is pure and synchronous: [`answer::answer`] turns query bytes, the
//! client's address and an immutable [`view::View`] into response bytes. Everything it
//! reads (zones, pre-encoded records, candidates with their health, country overrides,
//! the mapped GeoIP databases) is built off the query path and swapped in atomically, by
//! the role's runtime on a node ([`runtime`]).
// Mapping the GeoIP files is the one unsafe call (`geo::map`); everything else is safe.
#![deny(unsafe_code)]

pub mod acme;
pub mod answer;
pub mod countries;
pub mod download;
pub mod geo;
pub mod hash;
pub mod pdns;
pub mod response;
pub mod route;
pub mod rrl;
pub mod runtime;
pub mod serial;
pub mod server;
pub mod usage;
pub mod usage_totals;
pub mod view;
pub mod wire;
pub mod zone;
