//! Writes the fixed world City database (`geodns_test_support::mmdb::world_cities`: ten
//! networks on five continents) to a file, for `scripts/bench-dns` on a machine without
//! MaxMind's test databases.
//!
//! `cargo run -p geodns-test-support --example write_mmdb -- OUT.mmdb`

#![allow(clippy::unwrap_used, reason = "example")]

use std::path::PathBuf;

use geodns_test_support::mmdb::{world_cities, write_city};

fn main() {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .expect("usage: write_mmdb OUT.mmdb")
        .into();
    write_city(&out, &world_cities()).unwrap();
}
