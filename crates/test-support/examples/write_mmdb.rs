//! Writes a City database for `scripts/bench-dns` and `scripts/dns-memory` on a machine
//! without MaxMind's test databases: the fixed world fixture
//! (`geodns_test_support::mmdb::world_cities`: ten networks on five continents), or with
//! `--synthetic N` that plus N distinct IPv4 /24 networks (a record each), to reach the
//! size of a real GeoLite2-City file.
//!
//! `cargo run -p geodns-test-support --example write_mmdb -- OUT.mmdb [--synthetic N]`

#![allow(clippy::unwrap_used, reason = "example")]

use std::path::PathBuf;

use geodns_test_support::mmdb::{CityEntry, world_cities, write_city};

fn main() {
    let mut args = std::env::args_os().skip(1);
    let out: PathBuf = args
        .next()
        .expect("usage: write_mmdb OUT.mmdb [--synthetic N]")
        .into();
    let synthetic: usize = match (args.next(), args.next()) {
        (Some(flag), Some(n)) if flag == "--synthetic" => n.to_string_lossy().parse().unwrap(),
        _ => 0,
    };
    let mut entries = world_cities();
    // /24s from 20.0.0.0 up: outside the fixture's networks.
    for index in 0..synthetic {
        let (a, b, c) = (20 + index / 65_536, (index / 256) % 256, index % 256);
        let network: &'static str = Box::leak(format!("{a}.{b}.{c}.0/24").into_boxed_str());
        // Names as long as a real record's (GeoLite2 has eight languages): about 60 MB for 1M.
        let country: &'static str = Box::leak(
            format!("Country {index:07} of a synthetic database, name padding ...")
                .into_boxed_str(),
        );
        entries.push(CityEntry {
            network,
            latitude: -60.0 + (index % 12_000) as f64 / 100.0,
            longitude: -180.0 + (index % 36_000) as f64 / 100.0,
            country_code: "ZZ",
            country_name: country,
        });
    }
    write_city(&out, &entries).unwrap();
}
