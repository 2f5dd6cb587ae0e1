//! The query path without sockets: queries built and responses read by hickory-proto (an
//! independent implementation), a generated GeoIP database with clients in seven
//! countries, and official results with members down.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::{IpAddr, Ipv4Addr};

use geodns_consensus::results::{Results, Snapshot};
use geodns_core::config::Config;
use geodns_core::ids::MemberId;
use geodns_core::model::CountryOverrides;
use geodns_dns::answer::{Client, Transport, Worker, answer};
use geodns_dns::serial::SerialBook;
use geodns_dns::view::View;
use geodns_dns::zone::Zones;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};

mod common;

use common::{Fixture, config, down, fixture, view};

fn query(name: &str, kind: RecordType, subnet: Option<&str>) -> Vec<u8> {
    let mut message = Message::new(0x1234, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    if let Some(subnet) = subnet {
        let subnet: ClientSubnet = subnet.parse().unwrap();
        edns.options_mut().insert(EdnsOption::Subnet(subnet));
    }
    message.set_edns(edns);
    message.to_vec().unwrap()
}

fn ask(view: &View, packet: &[u8], from: IpAddr, transport: Transport) -> Option<Message> {
    let mut worker = Worker::default();
    let mut out = Vec::new();
    let client = Client {
        addr: from,
        transport,
        day: 20_000,
    };
    let len = answer(view, packet, client, &mut worker, &mut out)?;
    Some(Message::from_vec(&out[..len]).expect("our response parses"))
}

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A view of `config(extra)` with nothing decided yet (every member healthy).
fn healthy(extra: &str, f: &Fixture) -> View {
    view(
        &config(extra),
        &f.geo,
        &Snapshot::default(),
        &CountryOverrides::new(),
    )
}

/// Asks `view` over UDP from the loopback address; the query must be answered.
fn udp(view: &View, packet: &[u8]) -> Message {
    ask(view, packet, LOCAL, Transport::Udp).expect("an answer")
}

fn addresses(message: &Message) -> Vec<String> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.to_string()),
            RData::AAAA(a) => Some(a.to_string()),
            _ => None,
        })
        .collect()
}

fn first(view: &View, subnet: &str) -> String {
    let response = udp(
        view,
        &query("rpc.geo.example.", RecordType::A, Some(subnet)),
    );
    addresses(&response).join(",")
}

#[test]
fn clients_in_seven_countries_get_their_nearest_member_and_the_subnet_echoed() {
    let f = fixture();
    let config = config("");
    let view = view(
        &config,
        &f.geo,
        &Snapshot::default(),
        &CountryOverrides::new(),
    );
    for (subnet, expected) in [
        ("81.2.69.0/24", "192.0.2.1"),   // DE → Frankfurt
        ("12.0.1.0/24", "192.0.2.2"),    // US → New York
        ("126.0.3.0/24", "192.0.2.3"),   // JP → Tokyo
        ("177.0.0.0/16", "192.0.2.4"),   // BR → São Paulo
        ("1.120.9.0/24", "192.0.2.5"),   // AU → Sydney
        ("41.0.200.0/24", "192.0.2.6"),  // ZA → Johannesburg
        ("175.156.0.0/24", "192.0.2.3"), // SG → Tokyo (5,300 km; Sydney is 6,300)
    ] {
        assert_eq!(first(&view, subnet), expected, "client {subnet}");
    }
    let response = udp(
        &view,
        &query("RPC.Geo.Example.", RecordType::A, Some("12.0.1.0/24")),
    );
    assert!(response.metadata.authoritative);
    assert_eq!(
        response.queries[0].name().to_ascii(),
        "RPC.Geo.Example.",
        "the question's case is echoed"
    );
    assert_eq!(response.answers[0].ttl, 30);
    let Some(EdnsOption::Subnet(echo)) = response.edns.as_ref().unwrap().option(EdnsCode::Subnet)
    else {
        panic!("no ECS echo");
    };
    // The database network is 12.0.0.0/16: the answer holds for all of it.
    assert_eq!((echo.source_prefix(), echo.scope_prefix()), (24, 16));
    assert_eq!(echo.addr().to_string(), "12.0.1.0");
}

#[test]
fn failover_maintenance_and_the_no_healthy_policies() {
    let f = fixture();
    let base = config("");
    let germany = "81.2.69.0/24";
    let official = down(&["Frankfurt"]);
    let view1 = view(&base, &f.geo, &official, &CountryOverrides::new());
    // With Frankfurt down, the next nearest to Germany is New York (6,200 km; Johannesburg
    // is 8,700).
    assert_eq!(first(&view1, germany), "192.0.2.2");
    let all_down = down(&[
        "Frankfurt",
        "NewYork",
        "Tokyo",
        "SaoPaulo",
        "Sydney",
        "Johannesburg",
    ]);
    let nearest = view(&base, &f.geo, &all_down, &CountryOverrides::new());
    assert_eq!(
        first(&nearest, germany),
        "192.0.2.1",
        "nearest regardless of health"
    );
    let config_all = config("no_healthy = \"all\"");
    let all = view(&config_all, &f.geo, &all_down, &CountryOverrides::new());
    assert_eq!(first(&all, germany).split(',').count(), 6);
    let config_none = config("no_healthy = \"none\"");
    let none = view(&config_none, &f.geo, &all_down, &CountryOverrides::new());
    let response = udp(
        &none,
        &query("rpc.geo.example.", RecordType::A, Some(germany)),
    );
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.answers.is_empty());
    assert_eq!(
        response.authorities[0].record_type(),
        RecordType::SOA,
        "NODATA carries the SOA"
    );
    // Maintenance in the official snapshot takes the member out.
    let mut maintenance = Results::new();
    maintenance.set_maintenance([MemberId::parse("Frankfurt").unwrap()].into());
    let view2 = view(
        &base,
        &f.geo,
        &maintenance.snapshot(),
        &CountryOverrides::new(),
    );
    assert_eq!(first(&view2, germany), "192.0.2.2");
}

#[test]
fn clients_without_a_location_use_the_policy_and_ipv6_answers_only_members_with_ipv6() {
    let f = fixture();
    let centroid = healthy("", &f);
    let unknown = udp(&centroid, &query("rpc.geo.example.", RecordType::A, None));
    assert_eq!(
        addresses(&unknown).len(),
        1,
        "a loopback client still gets an answer"
    );
    // The members' centroid lies near 33°N 3°E (Algeria): Frankfurt is the nearest.
    assert_eq!(addresses(&unknown), ["192.0.2.1"]);
    let placed = config("unknown_client = { latitude = -33.0, longitude = 150.0 }");
    let placed = view(
        &placed,
        &f.geo,
        &Snapshot::default(),
        &CountryOverrides::new(),
    );
    let unknown = udp(&placed, &query("rpc.geo.example.", RecordType::A, None));
    assert_eq!(addresses(&unknown), ["192.0.2.5"]);
    let v6 = udp(
        &centroid,
        &query("rpc.geo.example.", RecordType::AAAA, Some("41.0.0.0/16")),
    );
    assert_eq!(
        addresses(&v6),
        ["2001:db8::1"],
        "only Frankfurt and New York have IPv6"
    );
    let k = healthy("answers = 3", &f);
    assert_eq!(first(&k, "81.2.69.0/24"), "192.0.2.1,192.0.2.2,192.0.2.6");
}

#[test]
fn country_overrides_send_a_country_to_a_member_or_an_address() {
    let f = fixture();
    let config = config("");
    let mut overrides = CountryOverrides::new();
    let host = geodns_core::ids::Fqdn::parse("rpc.geo.example").unwrap();
    let de = geodns_core::ids::CountryCode::parse("DE").unwrap();
    let jp = geodns_core::ids::CountryCode::parse("JP").unwrap();
    overrides.entry(host.clone()).or_default().insert(
        de,
        geodns_core::model::CountryOverride::Member(MemberId::parse("Sydney").unwrap()),
    );
    overrides.entry(host).or_default().insert(
        jp,
        geodns_core::model::CountryOverride::Addresses {
            ipv4: Some("198.51.100.7".parse().unwrap()),
            ipv6: None,
        },
    );
    let with = view(&config, &f.geo, &Snapshot::default(), &overrides);
    assert_eq!(first(&with, "81.2.69.0/24"), "192.0.2.5");
    assert_eq!(first(&with, "126.0.0.0/16"), "198.51.100.7");
    // A member override whose member is down falls back to geo routing.
    let sydney_down = view(&config, &f.geo, &down(&["Sydney"]), &overrides);
    assert_eq!(first(&sydney_down, "81.2.69.0/24"), "192.0.2.1");
}

#[test]
fn static_records_negative_answers_and_protocol_rules() {
    let f = fixture();
    let view = healthy("", &f);
    let ask_udp = |name: &str, kind| udp(&view, &query(name, kind, None));
    let cname = ask_udp("www.geo.example.", RecordType::A);
    assert_eq!(cname.answers.len(), 2, "CNAME followed inside the zone");
    assert_eq!(addresses(&cname), ["192.0.2.80"]);
    let to_geo = ask_udp("alias.geo.example.", RecordType::A);
    assert_eq!(
        to_geo.answers.len(),
        2,
        "a CNAME to a geo name gets a geo answer"
    );
    let nx = ask_udp("nothing.geo.example.", RecordType::A);
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.authorities[0].name.to_ascii(), "geo.example.");
    let ent = ask_udp("sub.geo.example.", RecordType::A);
    assert_eq!(
        ent.metadata.response_code,
        ResponseCode::NoError,
        "empty non-terminal is NODATA"
    );
    let nodata = ask_udp("web.geo.example.", RecordType::MX);
    assert_eq!(
        (nodata.metadata.response_code, nodata.answers.len()),
        (ResponseCode::NoError, 0)
    );
    let refused = ask_udp("example.org.", RecordType::A);
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(!refused.metadata.authoritative);
    let any = ask_udp("geo.example.", RecordType::ANY);
    assert_eq!(any.answers[0].record_type(), RecordType::HINFO, "RFC 8482");
    for kind in [RecordType::SOA, RecordType::NS, RecordType::CAA] {
        assert_eq!(ask_udp("geo.example.", kind).answers.len(), 1, "{kind}");
    }
    let soa = ask_udp("geo.example.", RecordType::SOA);
    let RData::SOA(soa) = &soa.answers[0].data else {
        panic!()
    };
    assert_eq!(soa.mname.to_ascii(), "dns-01.geo.example.");
    assert_eq!(
        (soa.refresh, soa.retry, soa.expire, soa.minimum),
        (3600, 600, 1_209_600, 3600)
    );
    assert_eq!(
        ask_udp("_rpc._tcp.geo.example.", RecordType::SRV)
            .answers
            .len(),
        1
    );
    assert_eq!(
        ask_udp("deep.sub.geo.example.", RecordType::TXT)
            .answers
            .len(),
        1
    );
}

#[test]
fn edns_versions_malformed_subnets_and_bad_packets() {
    let f = fixture();
    let view = healthy("", &f);
    let mut packet = query("rpc.geo.example.", RecordType::A, None);
    // OPT's TTL starts 6 bytes from the end of an empty OPT: version is its second byte.
    let len = packet.len();
    packet[len - 5] = 1;
    let badvers = ask(&view, &packet, LOCAL, Transport::Udp).unwrap();
    // 16 is BADVERS in an OPT answer (hickory names the shared code BADSIG).
    assert_eq!(u16::from(badvers.metadata.response_code), 16);
    assert!(badvers.answers.is_empty());
    // A subnet whose address has bits beyond its prefix is ignored and not echoed.
    // /22 sends three address bytes; the last two bits of the third must be zero.
    let mut bad = query("rpc.geo.example.", RecordType::A, Some("81.2.68.0/22"));
    let len = bad.len();
    bad[len - 1] |= 0x01;
    let response = ask(&view, &bad, LOCAL, Transport::Udp).unwrap();
    assert!(
        response
            .edns
            .as_ref()
            .unwrap()
            .option(EdnsCode::Subnet)
            .is_none()
    );
    assert_eq!(addresses(&response).len(), 1);
    // Two questions: FORMERR.
    let mut two = Message::new(7, MessageType::Query, OpCode::Query);
    two.add_query(Query::query(
        Name::from_ascii("a.geo.example.").unwrap(),
        RecordType::A,
    ));
    two.add_query(Query::query(
        Name::from_ascii("b.geo.example.").unwrap(),
        RecordType::A,
    ));
    let formerr = ask(&view, &two.to_vec().unwrap(), LOCAL, Transport::Udp).unwrap();
    assert_eq!(formerr.metadata.response_code, ResponseCode::FormErr);
    // Responses and runts are never answered.
    assert!(ask(&view, &[0u8; 5], LOCAL, Transport::Udp).is_none());
    let mut response_bit = query("rpc.geo.example.", RecordType::A, None);
    response_bit[2] |= 0x80;
    assert!(ask(&view, &response_bit, LOCAL, Transport::Udp).is_none());
}

#[test]
fn random_and_truncated_packets_never_panic_and_every_reply_parses() {
    let f = fixture();
    let view = healthy("", &f);
    let seeds = [
        query("rpc.geo.example.", RecordType::A, Some("81.2.69.0/24")),
        query("www.geo.example.", RecordType::AAAA, None),
        query(
            "nothing.geo.example.",
            RecordType::TXT,
            Some("2a01:4f8::/32"),
        ),
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut worker = Worker::default();
    let mut out = Vec::new();
    let client = Client {
        addr: LOCAL,
        transport: Transport::Udp,
        day: 1,
    };
    for round in 0..20_000 {
        let seed = &seeds[round % seeds.len()];
        let mut packet = seed.clone();
        match next() % 3 {
            0 => packet.truncate((next() as usize) % (seed.len() + 1)),
            1 => {
                for _ in 0..(1 + next() % 4) {
                    let at = (next() as usize) % packet.len();
                    packet[at] = next() as u8;
                }
            }
            _ => packet = (0..(next() % 80)).map(|_| next() as u8).collect(),
        }
        if let Some(len) = answer(&view, &packet, client, &mut worker, &mut out) {
            assert!(len >= 12);
            Message::from_vec(&out[..len])
                .unwrap_or_else(|e| panic!("round {round}: {e}: {packet:?}"));
        }
    }
}

#[test]
fn a_zone_serial_changes_only_when_its_content_changes() {
    let serial = |config: &Config, book: &mut SerialBook, now: u32| {
        let zones = Zones::build(&config.catalog, &Default::default(), book, now);
        zones.zones()[0].serial
    };
    let mut book = SerialBook::default();
    let first = serial(&config(""), &mut book, 1_800_000_000);
    assert_eq!(
        serial(&config(""), &mut book, 1_800_000_100),
        first,
        "same content, same serial"
    );
    let changed = config("").catalog.records.len();
    let mut more = config("");
    more.catalog.records.push(geodns_core::model::StaticRecord {
        name: geodns_core::ids::Fqdn::parse("new.geo.example").unwrap(),
        ttl: 60,
        data: geodns_core::model::RecordData::A("192.0.2.9".parse().unwrap()),
    });
    assert_eq!(more.catalog.records.len(), changed + 1);
    let next = serial(&more, &mut book, 1_800_000_200);
    assert_eq!(
        next, 1_800_000_200,
        "a new record gives a new, larger serial"
    );
    assert!(next > first);
}
