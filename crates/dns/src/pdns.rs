//! Lookups for the PowerDNS remote backend: a `(qname, qtype, client)` question is asked
//! of the native query path ([`crate::answer::answer`]) as ordinary DNS queries, one per
//! record type the name has, and the records it answers at that name come back as
//! PowerDNS's text records. So PowerDNS in front gets exactly what a client of the
//! native server gets: the same zones, geo choice, overrides, health and usage counting.
//!
//! PowerDNS almost always asks `ANY` (and filters itself), so `ANY` asks every type the
//! name has (A and AAAA for a geo-routed hostname); it then counts a client's query
//! under both families of a dual-stack hostname, because PowerDNS does not say which one
//! its client asked for. The cost, printed by the ignored `cost_of_a_lookup…` test in
//! `tests/pdns.rs`: about 16 native queries' worth per `ANY` lookup.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};

use geodns_core::pdns::{Question, Record, Zone, absolute};

use crate::answer::{Client, Transport, Worker, answer};
use crate::view::View;
use crate::wire::encode_name;

/// The types an `ANY` lookup asks, in answer order.
const EVERY_TYPE: [RecordType; 9] = [
    RecordType::SOA,
    RecordType::NS,
    RecordType::CNAME,
    RecordType::A,
    RecordType::AAAA,
    RecordType::MX,
    RecordType::TXT,
    RecordType::SRV,
    RecordType::CAA,
];

/// Every zone served.
pub fn zones(view: &View) -> Vec<Zone> {
    view.zones
        .zones()
        .iter()
        .enumerate()
        .map(|(index, zone)| Zone {
            id: index as i64 + 1,
            name: text_name(&zone.apex),
            serial: zone.serial,
        })
        .collect()
}

/// The id of the zone `name` is in (the closest enclosing apex), or -1.
pub fn zone_id(view: &View, name: &str) -> i64 {
    view.zones
        .enclosing(&encode_name(name))
        .map_or(-1, |(zone, _)| i64::from(zone) + 1)
}

/// The records at `question.qname` of `question.qtype` (every type for `ANY`), answered
/// by the native query path; what it counts stays in `worker`.
pub fn lookup(view: &View, worker: &mut Worker, day: i32, question: &Question) -> Vec<Record> {
    let qname = absolute(&question.qname);
    let Ok(name) = Name::from_ascii(&qname) else {
        return Vec::new();
    };
    let types: Vec<RecordType> = match question.qtype.trim().to_ascii_uppercase().as_str() {
        "ANY" => types_at(view, &qname),
        other => match other.parse::<RecordType>() {
            Ok(kind) if EVERY_TYPE.contains(&kind) => vec![kind],
            _ => return Vec::new(),
        },
    };
    let client = question
        .client
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let mut records = Vec::new();
    for kind in types {
        let packet = query(&name, kind, question.subnet);
        for record in ask(view, worker, day, client, &packet) {
            // Only what is at the name itself: a CNAME's target is PowerDNS's to follow.
            let at_name = record.qname == qname;
            let wanted = record.qtype == kind.to_string() || record.qtype == "CNAME";
            if at_name && wanted && !records.contains(&record) {
                records.push(record);
            }
        }
    }
    let id = zone_id(view, &qname);
    for record in &mut records {
        record.domain_id = id;
    }
    records
}

/// The types an `ANY` lookup asks at `qname`: those it has (with A and AAAA when it is a
/// geo-routed hostname, and SOA at an apex), so a lookup asks two or three queries,
/// not nine. A name geodns does not have needs none: its answer would be empty.
fn types_at(view: &View, qname: &str) -> Vec<RecordType> {
    let wire = encode_name(qname);
    let mut types = Vec::new();
    if let Some((_, 0)) = view.zones.enclosing(&wire) {
        types.push(RecordType::SOA);
    }
    if let Some(node) = view.zones.node(&wire) {
        for set in &node.sets {
            let kind = RecordType::from(set.kind);
            if EVERY_TYPE.contains(&kind) && !types.contains(&kind) {
                types.push(kind);
            }
        }
        if node.geo.is_some() {
            for kind in [RecordType::A, RecordType::AAAA] {
                if !types.contains(&kind) {
                    types.push(kind);
                }
            }
        }
    }
    types
}

/// Every record of `zone`, SOA first (for `list`); `None` when geodns does not serve it.
pub fn list(view: &View, worker: &mut Worker, day: i32, zone: &str) -> Option<Vec<Record>> {
    let apex = absolute(zone);
    let (index, 0) = view.zones.enclosing(&encode_name(&apex))? else {
        return None;
    };
    let mut names: Vec<String> = view
        .zones
        .names(index)
        .map(text_name)
        .filter(|name| *name != apex)
        .collect();
    names.sort();
    names.insert(0, apex);
    let mut records = Vec::new();
    for name in names {
        let question = Question {
            qname: name,
            qtype: "ANY".to_owned(),
            client: None,
            subnet: None,
        };
        records.extend(lookup(view, worker, day, &question));
    }
    Some(records)
}

fn query(name: &Name, kind: RecordType, subnet: Option<(IpAddr, u8)>) -> Vec<u8> {
    let mut message = Message::new(0, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(name.clone(), kind));
    let mut edns = Edns::new();
    edns.set_max_payload(u16::MAX);
    if let Some((address, prefix)) = subnet {
        let subnet = ClientSubnet::new(address, prefix, 0);
        edns.options_mut().insert(EdnsOption::Subnet(subnet));
    }
    message.set_edns(edns);
    message.to_vec().unwrap_or_default()
}

/// Asks the native path over "TCP" (no size limit) and reads the answer section back.
fn ask(view: &View, worker: &mut Worker, day: i32, addr: IpAddr, packet: &[u8]) -> Vec<Record> {
    let client = Client {
        addr,
        transport: Transport::Tcp,
        day,
    };
    let mut out = Vec::new();
    let Some(len) = answer(view, packet, client, worker, &mut out) else {
        return Vec::new();
    };
    let Ok(response) = Message::from_vec(&out[..len]) else {
        tracing::error!("the query path answered a PowerDNS lookup with a bad packet");
        return Vec::new();
    };
    let scope = match response
        .edns
        .as_ref()
        .and_then(|e| e.option(EdnsCode::Subnet))
    {
        Some(EdnsOption::Subnet(subnet)) => subnet.scope_prefix(),
        _ => 0,
    };
    response
        .answers
        .iter()
        .map(|record| Record {
            qname: record.name.to_ascii().to_ascii_lowercase(),
            qtype: record.record_type().to_string(),
            content: content(&record.data),
            ttl: record.ttl,
            auth: true,
            domain_id: -1,
            scope_mask: match record.record_type() {
                RecordType::A | RecordType::AAAA => scope,
                _ => 0,
            },
        })
        .collect()
}

/// Presentation format as PowerDNS reads it: TXT strings quoted and escaped.
fn content(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|part| {
                let text = String::from_utf8_lossy(part);
                format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// A lower-case wire name as text with the final dot (labels are letters, digits, `-`,
/// `_` and `*` in served zones).
fn text_name(wire: &[u8]) -> String {
    let mut text = String::new();
    let mut at = 0;
    while let Some(&len) = wire.get(at) {
        if len == 0 {
            break;
        }
        let label = wire
            .get(at + 1..at + 1 + usize::from(len))
            .unwrap_or_default();
        text.push_str(&String::from_utf8_lossy(label));
        text.push('.');
        at += 1 + usize::from(len);
    }
    if text.is_empty() {
        text.push('.');
    }
    text
}
