//! Fuzzes the DNS query path: any bytes from any client must give either no answer or a
//! well-formed response, never a panic. Run with `cargo +nightly fuzz run answer` from
//! this directory (needs `cargo install cargo-fuzz`).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

use geodns_core::config::{Origin, SourceItems, build, parse_file};
use geodns_dns::answer::{Client, Transport, Worker, answer};
use geodns_dns::geo::GeoDb;
use geodns_dns::serial::SerialBook;
use geodns_dns::view::{Inputs, View};
use geodns_dns::zone::Zones;
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"
[node]
id = "fuzz"
[dns]
zones = ["geo.example"]
[[services]]
name = "S"
type = "substrate_rpc"
endpoints = ["wss://rpc.geo.example"]
[[members]]
name = "A"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8::1"
latitude = 50.0
longitude = 8.0
services = ["S"]
[[records]]
name = "www.geo.example"
type = "CNAME"
content = "rpc.geo.example."
[[records]]
name = "geo.example"
type = "TXT"
content = "hello"
"#;

fn view() -> &'static View {
    static VIEW: OnceLock<View> = OnceLock::new();
    VIEW.get_or_init(|| {
        let origin = Origin("fuzz.toml".into());
        let config = build(parse_file(CONFIG, &origin).expect("parses"), &origin, SourceItems::default())
            .expect("valid");
        let zones = Zones::build(&config.catalog, &Default::default(), &mut SerialBook::default(), 1);
        let inputs = Inputs {
            config: &config,
            official: None,
            runtime_overrides: &Default::default(),
            geo: Arc::new(GeoDb::empty()),
        };
        View::build(Arc::new(zones), &inputs).0
    })
}

fuzz_target!(|data: &[u8]| {
    let mut worker = Worker::default();
    let mut out = Vec::new();
    for transport in [Transport::Udp, Transport::Tcp] {
        let client = Client { addr: IpAddr::V4(Ipv4Addr::LOCALHOST), transport, day: 1 };
        if let Some(len) = answer(view(), data, client, &mut worker, &mut out) {
            assert!(len >= 12 && len <= out.len());
            assert!(transport == Transport::Tcp || len <= 4096);
        }
    }
});
