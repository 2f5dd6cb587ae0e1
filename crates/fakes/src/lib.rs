//! Stand-ins for what geodns talks to, for `geodns demo` and the test suites: fake
//! providers on loopback addresses ([`providers`]) that a health check can probe and a
//! caller can break and repair while they run, and GeoIP (MaxMind DB) files written from
//! small tables ([`mmdb`]). Nothing here sends traffic off the machine: providers listen
//! on 127.0.0.0/8, and the GeoIP files only hold addresses as data.
//!
//! Each provider's accept loop runs on a tokio task owned by its handle, which aborts it
//! when dropped.

#![forbid(unsafe_code)]

pub mod mmdb;
pub mod providers;
