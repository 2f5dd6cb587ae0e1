//! The geodns binary's library half: command line, configuration loading and hot reload,
//! and the wiring of roles. Split from `main.rs` so integration tests drive the same code.
#![forbid(unsafe_code)]

pub mod api;
pub mod bus;
pub mod cli;
pub mod clock;
pub mod collator;
pub mod config_source;
pub mod consensus;
pub mod db;
pub mod dns;
pub mod http;
pub mod import;
pub mod logging;
pub mod maintenance;
pub mod monitor;
pub mod reload;
pub mod run;
mod secrets;
pub mod storage;
pub mod telemetry;
