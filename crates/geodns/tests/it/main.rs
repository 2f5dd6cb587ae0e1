//! Integration tests of the geodns binary and library, in one test binary.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(unreachable_pub, reason = "helpers are shared between test modules")]

mod alert_cuts;
mod alert_outbox;
mod api;
mod check_config;
mod cluster;
mod cluster_tables;
mod collator;
mod compat;
mod consensus;
mod db;
mod demo;
mod dns;
mod faults;
mod flaps;
mod fleet;
mod forgery;
mod import;
mod maintenance;
mod matrix;
mod monitor;
mod nats_auth;
mod nats_permissions;
mod node;
mod observe;
mod outage_order;
mod pdns;
mod probe;
mod rebuild;
mod redaction;
mod reload;
mod repair;
mod scenario;
mod shutdown;
mod support;
mod sync;
mod tidy;
mod token_reload;
mod usage_api;
mod usage_collection;
mod usage_cuts;
mod usage_journal;
mod usage_off;
