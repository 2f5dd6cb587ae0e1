//! The PowerDNS backend's lookups against the native query path: geo answers with the
//! client's subnet and its scope, static records in PowerDNS's text form, only SOA for
//! a SOA lookup (PowerDNS walks up the name with those), zones with their ids, a whole
//! zone listed, and the lookups counted as usage.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::net::IpAddr;

use common::{config, fixture, view};
use geodns_consensus::results::Snapshot;
use geodns_core::model::CountryOverrides;
use geodns_core::pdns::{Question, Record};
use geodns_dns::answer::Worker;
use geodns_dns::pdns::{list, lookup, zone_id, zones};

fn ask(
    view: &geodns_dns::view::View,
    qname: &str,
    qtype: &str,
    subnet: Option<&str>,
) -> Vec<Record> {
    let mut worker = Worker::default();
    let question = Question {
        qname: qname.to_owned(),
        qtype: qtype.to_owned(),
        client: Some("127.0.0.1".parse().unwrap()),
        subnet: subnet.map(|s| {
            let (ip, len) = s.split_once('/').unwrap();
            (ip.parse::<IpAddr>().unwrap(), len.parse().unwrap())
        }),
    };
    lookup(view, &mut worker, 20_000, &question)
}

/// The fixture's view with every member healthy.
fn healthy() -> geodns_dns::view::View {
    let f = fixture();
    view(
        &config(""),
        &f.geo,
        &Snapshot::default(),
        &CountryOverrides::new(),
    )
}

fn brief(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.qname, r.qtype, r.ttl, r.content))
        .collect()
}

#[test]
fn any_lookups_get_the_geo_answer_for_the_clients_subnet() {
    let view = healthy();
    // PowerDNS passes the client's case; the answer is lower case with the final dot.
    let german = ask(&view, "RPC.Geo.Example.", "ANY", Some("81.2.69.0/24"));
    assert_eq!(
        brief(&german),
        [
            "rpc.geo.example. A 30 192.0.2.1",
            "rpc.geo.example. AAAA 30 2001:db8::1"
        ]
    );
    assert!(german[0].scope_mask > 0, "the subnet chose it");
    assert_eq!(german[0].domain_id, zone_id(&view, "geo.example"));
    let american = ask(&view, "rpc.geo.example", "A", Some("12.0.1.0/24"));
    assert_eq!(brief(&american), ["rpc.geo.example. A 30 192.0.2.2"]);
}

#[test]
fn static_records_are_in_powerdns_text_form() {
    let view = healthy();
    assert_eq!(
        brief(&ask(&view, "deep.sub.geo.example.", "ANY", None)),
        ["deep.sub.geo.example. TXT 3600 \"hello\""]
    );
    // A CNAME alone: its target is PowerDNS's to follow.
    assert_eq!(
        brief(&ask(&view, "www.geo.example.", "ANY", None)),
        ["www.geo.example. CNAME 3600 web.geo.example."]
    );
    let srv = ask(&view, "_rpc._tcp.geo.example.", "ANY", None);
    assert_eq!(srv[0].content, "10 5 443 rpc.geo.example.");
    assert_eq!(srv[0].scope_mask, 0);
    assert!(ask(&view, "nothing.geo.example.", "ANY", None).is_empty());
    assert!(ask(&view, "example.org.", "ANY", None).is_empty());
    assert!(ask(&view, "rpc.geo.example.", "HINFO", None).is_empty());
}

#[test]
fn soa_lookups_answer_only_at_an_apex() {
    let view = healthy();
    assert!(ask(&view, "rpc.geo.example.", "SOA", None).is_empty());
    let soa = ask(&view, "geo.example.", "SOA", None);
    assert_eq!(soa.len(), 1);
    assert_eq!(soa[0].qtype, "SOA");
    assert_eq!(soa[0].content.split(' ').count(), 7, "{}", soa[0].content);

    let all = zones(&view);
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].id, all[0].name.as_str()), (1, "geo.example."));
    assert_eq!(zone_id(&view, "deep.sub.geo.example."), 1);
    assert_eq!(zone_id(&view, "example.org"), -1);
}

#[test]
fn a_zone_lists_soa_first_and_every_name() {
    let view = healthy();
    let mut worker = Worker::default();
    let records = list(&view, &mut worker, 20_000, "geo.example.").unwrap();
    assert_eq!(records[0].qtype, "SOA");
    let names: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r.qname.as_str()).collect();
    for name in [
        "rpc.geo.example.",
        "www.geo.example.",
        "deep.sub.geo.example.",
    ] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    assert!(list(&view, &mut worker, 20_000, "example.org.").is_none());
}

#[test]
fn lookups_count_usage_like_queries() {
    let view = healthy();
    let mut worker = Worker::default();
    let question = Question {
        qname: "rpc.geo.example.".into(),
        qtype: "A".into(),
        client: Some("127.0.0.1".parse().unwrap()),
        subnet: Some(("81.2.69.0".parse().unwrap(), 24)),
    };
    lookup(&view, &mut worker, 20_000, &question);
    let counts = worker.counts.take();
    let hits: u64 = counts.hits.values().map(|(_, n)| n).sum();
    assert_eq!(hits, 1);
    let member = counts.hits.values().next().unwrap().0.member.to_string();
    assert_eq!(member, "Frankfurt");
}

/// Not a test of behaviour: what a PowerDNS lookup costs next to the native query it
/// replaces, measured in one run and printed as ratios.
/// `cargo test --release -p geodns-dns --test pdns -- --ignored --nocapture cost`
#[test]
#[ignore = "a benchmark: prints figures, asserts nothing about time"]
fn cost_of_a_lookup_next_to_a_native_query() {
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
    use hickory_proto::rr::{Name, RecordType};

    let view = healthy();
    let mut message = Message::new(1, MessageType::Query, OpCode::Query);
    let name = Name::from_ascii("rpc.geo.example.").unwrap();
    message.add_query(Query::query(name, RecordType::A));
    let mut edns = Edns::new();
    let subnet = ClientSubnet::new("81.2.69.0".parse().unwrap(), 24, 0);
    edns.options_mut().insert(EdnsOption::Subnet(subnet));
    message.set_edns(edns);
    let packet = message.to_vec().unwrap();
    let question = |qtype: &str| Question {
        qname: "rpc.geo.example.".into(),
        qtype: qtype.into(),
        client: Some("127.0.0.1".parse().unwrap()),
        subnet: Some(("81.2.69.0".parse().unwrap(), 24)),
    };
    let (any, a) = (question("ANY"), question("A"));
    let mut worker = Worker::default();
    let mut out = Vec::new();
    let client = geodns_dns::answer::Client {
        addr: "127.0.0.1".parse().unwrap(),
        transport: geodns_dns::answer::Transport::Udp,
        day: 20_000,
    };
    let rounds = 20_000u32;
    let time = |label: &str, f: &mut dyn FnMut()| {
        for _ in 0..rounds / 10 {
            f();
        }
        let started = tokio::time::Instant::now();
        for _ in 0..rounds {
            f();
        }
        let ns = started.elapsed().as_nanos() as f64 / f64::from(rounds);
        eprintln!("{label:<28} {ns:>9.0} ns");
        ns
    };
    let native = time("native A query", &mut || {
        geodns_dns::answer::answer(&view, &packet, client, &mut worker, &mut out).unwrap();
    });
    let mut backend = Worker::default();
    let lookup_a = time("PowerDNS lookup A", &mut || {
        assert_eq!(lookup(&view, &mut backend, 20_000, &a).len(), 1);
    });
    let lookup_any = time("PowerDNS lookup ANY", &mut || {
        assert_eq!(lookup(&view, &mut backend, 20_000, &any).len(), 2);
    });
    eprintln!(
        "ratios to a native query: lookup A {:.1}x, lookup ANY {:.1}x",
        lookup_a / native,
        lookup_any / native
    );
}
