//! Integration tests of the geodns binary and library, in one test binary.

mod check_config;
mod import;
mod reload;
mod support;
