//! The geodns binary's library half: the command line, configuration loading (files,
//! URLs, secrets) and hot reload, and `run`, which composes the roles of the role crates
//! on one node. Split from `main.rs` so integration tests drive the same code.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config_source;
pub mod db;
pub mod import;
pub mod logging;
pub mod reload;
pub mod run;
mod secrets;
pub mod storage;
