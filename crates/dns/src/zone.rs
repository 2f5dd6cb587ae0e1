//! The zones as the query path reads them: every owner name (lower-case wire form) with
//! its record sets pre-encoded, the zone apexes with their SOA, empty non-terminals, and
//! which names are geo-routed. Built from the configuration; never changed afterwards.

use std::collections::{BTreeMap, BTreeSet};

use geodns_core::config::Catalog;
use geodns_core::ids::Fqdn;
use geodns_core::model::{RecordData, StaticRecord};
use url::Url;

use crate::hash::FxHashMap;
use crate::serial::SerialBook;
use crate::wire::{encode_name, rtype, suffixes};

/// The original's SOA timers: refresh, retry, expire, minimum.
const DEFAULT_SOA: [u32; 4] = [3600, 600, 1_209_600, 3600];
/// TTL of synthesised SOA and NS records.
const DEFAULT_TTL: u32 = 3600;

/// One record set: a type, a TTL and the encoded data of each record.
#[derive(Debug, Clone)]
pub struct RrSet {
    /// Record type.
    pub kind: u16,
    /// TTL (the smallest configured for the set).
    pub ttl: u32,
    /// Encoded RDATA, one per record.
    pub data: Vec<Box<[u8]>>,
}

/// One owner name.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// Index into [`Zones::zone`].
    pub zone: u32,
    /// Record sets, by type.
    pub sets: Vec<RrSet>,
    /// Index of the geo-routed hostname, if this is one.
    pub geo: Option<u32>,
}

impl Node {
    /// The set of this type.
    pub fn set(&self, kind: u16) -> Option<&RrSet> {
        self.sets.iter().find(|s| s.kind == kind)
    }
}

/// One zone apex.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Apex, lower-case wire form.
    pub apex: Box<[u8]>,
    /// SOA RDATA (serial included).
    pub soa: Box<[u8]>,
    /// TTL of the SOA record in answers.
    pub soa_ttl: u32,
    /// TTL of the SOA in negative answers: min(SOA TTL, SOA minimum) (RFC 2308).
    pub negative_ttl: u32,
    /// The serial in the SOA.
    pub serial: u32,
}

/// Every name served.
#[derive(Debug, Clone, Default)]
pub struct Zones {
    nodes: FxHashMap<Box<[u8]>, Node>,
    apexes: FxHashMap<Box<[u8]>, u32>,
    zones: Vec<Zone>,
    /// Geo-routed hostnames, indexed by [`Node::geo`].
    pub geo_names: Vec<Fqdn>,
    /// Things skipped while building, for the log.
    pub warnings: Vec<String>,
}

impl Zones {
    /// The node at this lower-case wire name.
    pub fn node(&self, name: &[u8]) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// The zone by index.
    pub fn zone(&self, index: u32) -> &Zone {
        &self.zones[index as usize]
    }

    /// Every zone.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// The names in one zone (lower-case wire names), in no particular order.
    pub fn names(&self, zone: u32) -> impl Iterator<Item = &[u8]> + '_ {
        self.nodes
            .iter()
            .filter(move |(_, node)| node.zone == zone)
            .map(|(name, _)| &name[..])
    }

    /// The closest enclosing zone of a lower-case wire name and where its apex starts in
    /// the name; `None` when the name is outside every zone.
    pub fn enclosing(&self, name: &[u8]) -> Option<(u32, usize)> {
        suffixes(name).find_map(|at| self.apexes.get(&name[at..]).map(|&zone| (zone, at)))
    }

    /// Builds the zones from the catalogue. TXT records whose content is a URL take their
    /// text from `fetched` (absent until fetched: the name then has no TXT yet). Serials
    /// come from `serials`, which changes one only when its zone's content changed.
    pub fn build(
        catalog: &Catalog,
        fetched: &BTreeMap<Url, String>,
        serials: &mut SerialBook,
        now_unix: u32,
    ) -> Zones {
        let mut zones = Zones::default();
        let apex_names: Vec<&Fqdn> = catalog.zones.iter().collect();
        for (index, apex) in apex_names.iter().enumerate() {
            zones.apexes.insert(wire(apex), index as u32);
        }
        let mut grouped: BTreeMap<(Fqdn, u16), Vec<&StaticRecord>> = BTreeMap::new();
        for record in &catalog.records {
            grouped
                .entry((record.name.clone(), type_code(&record.data)))
                .or_default()
                .push(record);
        }
        for ((name, kind), records) in &grouped {
            zones.add_static(name, *kind, records, fetched, &catalog.hostnames);
        }
        for host in catalog.hostnames.keys() {
            zones.add_geo(host);
        }
        for (index, apex) in apex_names.iter().enumerate() {
            let digest = zones.digest(index as u32);
            let serial = serials.serial(apex.as_str(), digest, now_unix);
            zones.finish_apex(apex, index as u32, serial);
        }
        zones.add_empty_non_terminals();
        zones
    }

    fn zone_of(&self, name: &Fqdn) -> Option<u32> {
        self.enclosing(&wire(name)).map(|(zone, _)| zone)
    }

    fn add_static(
        &mut self,
        name: &Fqdn,
        kind: u16,
        records: &[&StaticRecord],
        fetched: &BTreeMap<Url, String>,
        geo: &BTreeMap<Fqdn, BTreeSet<geodns_core::ids::ServiceId>>,
    ) {
        let Some(zone) = self.zone_of(name) else {
            self.warnings.push(format!(
                "record at `{name}` is outside every zone; not served"
            ));
            return;
        };
        if geo.contains_key(name) && matches!(kind, rtype::A | rtype::AAAA | rtype::CNAME) {
            self.warnings.push(format!(
                "static {} record at geo-routed `{name}` is not served (geo answers win)",
                type_name(kind)
            ));
            return;
        }
        let data: Vec<Box<[u8]>> = records
            .iter()
            .filter_map(|r| rdata(&r.data, fetched))
            .collect();
        let node = self.nodes.entry(wire(name)).or_default();
        node.zone = zone;
        let ttl = records.iter().map(|r| r.ttl).min().unwrap_or(DEFAULT_TTL);
        if !data.is_empty() {
            node.sets.push(RrSet { kind, ttl, data });
        }
    }

    fn add_geo(&mut self, host: &Fqdn) {
        let Some(zone) = self.zone_of(host) else {
            return;
        };
        let index = self.geo_names.len() as u32;
        self.geo_names.push(host.clone());
        let node = self.nodes.entry(wire(host)).or_default();
        node.zone = zone;
        node.geo = Some(index);
    }

    /// A stable digest of everything served in one zone except the serial.
    fn digest(&self, zone: u32) -> u64 {
        let mut names: Vec<(&Box<[u8]>, &Node)> =
            self.nodes.iter().filter(|(_, n)| n.zone == zone).collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        let mut hash = Fnv::default();
        for (name, node) in names {
            hash.add(name);
            hash.add(&[u8::from(node.geo.is_some())]);
            for set in &node.sets {
                hash.add(&set.kind.to_be_bytes());
                hash.add(&set.ttl.to_be_bytes());
                for data in &set.data {
                    hash.add(data);
                }
            }
        }
        hash.0
    }

    /// Adds the SOA (configured or the original's default, with `serial`) and a default
    /// NS when none is configured.
    fn finish_apex(&mut self, apex: &Fqdn, index: u32, serial: u32) {
        let key = wire(apex);
        let node = self.nodes.entry(key.clone()).or_default();
        node.zone = index;
        let configured = node.set(rtype::SOA).map(|s| (s.ttl, s.data[0].clone()));
        let (soa_ttl, mut soa) = configured.unwrap_or_else(|| {
            let mname = encode_name(&format!("dns-01.{apex}"));
            let rname = encode_name(&format!("hostmaster.{apex}"));
            (DEFAULT_TTL, soa_rdata(&mname, &rname, 0, DEFAULT_SOA))
        });
        let at = soa.len() - 20;
        soa[at..at + 4].copy_from_slice(&serial.to_be_bytes());
        node.sets.retain(|s| s.kind != rtype::SOA);
        node.sets.push(RrSet {
            kind: rtype::SOA,
            ttl: soa_ttl,
            data: vec![soa.clone()],
        });
        if node.set(rtype::NS).is_none() {
            node.sets.push(RrSet {
                kind: rtype::NS,
                ttl: DEFAULT_TTL,
                data: vec![encode_name(&format!("dns-01.{apex}")).into()],
            });
        }
        let minimum = u32::from_be_bytes([soa[at + 16], soa[at + 17], soa[at + 18], soa[at + 19]]);
        self.zones.push(Zone {
            apex: key,
            soa,
            soa_ttl,
            negative_ttl: soa_ttl.min(minimum),
            serial,
        });
    }

    /// Names between a zone apex and a deeper name exist without records (RFC 8020):
    /// they answer NODATA, not NXDOMAIN.
    fn add_empty_non_terminals(&mut self) {
        let mut missing = Vec::new();
        for (name, node) in &self.nodes {
            let apex_len = self.zones[node.zone as usize].apex.len();
            for at in suffixes(name).skip(1) {
                if name.len() - at <= apex_len {
                    break;
                }
                if !self.nodes.contains_key(&name[at..]) {
                    missing.push((Box::<[u8]>::from(&name[at..]), node.zone));
                }
            }
        }
        for (name, zone) in missing {
            self.nodes.entry(name).or_insert_with(|| Node {
                zone,
                ..Node::default()
            });
        }
    }
}

fn wire(name: &Fqdn) -> Box<[u8]> {
    encode_name(name.as_str()).into()
}

/// FNV-1a, for zone digests (stable across runs and builds, unlike `DefaultHasher`).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn add(&mut self, bytes: &[u8]) {
        for byte in bytes.iter().chain(&[0xFF]) {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

fn soa_rdata(mname: &[u8], rname: &[u8], serial: u32, timers: [u32; 4]) -> Box<[u8]> {
    let mut out = Vec::with_capacity(mname.len() + rname.len() + 20);
    out.extend_from_slice(mname);
    out.extend_from_slice(rname);
    out.extend_from_slice(&serial.to_be_bytes());
    for timer in timers {
        out.extend_from_slice(&timer.to_be_bytes());
    }
    out.into()
}

/// The wire type of a record.
pub fn type_code(data: &RecordData) -> u16 {
    match data {
        RecordData::A(_) => rtype::A,
        RecordData::Aaaa(_) => rtype::AAAA,
        RecordData::Cname(_) => rtype::CNAME,
        RecordData::Ns(_) => rtype::NS,
        RecordData::Mx { .. } => rtype::MX,
        RecordData::Txt(_) | RecordData::TxtFromUrl(_) => rtype::TXT,
        RecordData::Caa { .. } => rtype::CAA,
        RecordData::Srv { .. } => rtype::SRV,
        RecordData::Soa { .. } => rtype::SOA,
    }
}

fn type_name(kind: u16) -> &'static str {
    match kind {
        rtype::A => "A",
        rtype::AAAA => "AAAA",
        _ => "CNAME",
    }
}

/// Encodes a record's data; `None` for a URL TXT not fetched yet.
fn rdata(data: &RecordData, fetched: &BTreeMap<Url, String>) -> Option<Box<[u8]>> {
    let name = |n: &Fqdn| encode_name(n.as_str());
    let bytes = match data {
        RecordData::A(ip) => ip.octets().to_vec(),
        RecordData::Aaaa(ip) => ip.octets().to_vec(),
        RecordData::Cname(target) | RecordData::Ns(target) => name(target),
        RecordData::Mx {
            preference,
            exchange,
        } => [&preference.to_be_bytes()[..], &name(exchange)].concat(),
        RecordData::Txt(text) => txt(text),
        RecordData::TxtFromUrl(url) => txt(fetched.get(url)?),
        RecordData::Caa { flags, tag, value } => {
            let mut out = vec![*flags, tag.len() as u8];
            out.extend_from_slice(tag.as_bytes());
            out.extend_from_slice(value.as_bytes());
            out
        }
        RecordData::Srv {
            priority,
            weight,
            port,
            target,
        } => [
            &priority.to_be_bytes()[..],
            &weight.to_be_bytes(),
            &port.to_be_bytes(),
            &name(target),
        ]
        .concat(),
        RecordData::Soa {
            mname,
            rname,
            refresh,
            retry,
            expire,
            minimum,
        } => soa_rdata(
            &name(mname),
            &name(rname),
            0,
            [*refresh, *retry, *expire, *minimum],
        )
        .into_vec(),
    };
    Some(bytes.into())
}

/// TXT data: the text in character-strings of at most 255 bytes.
fn txt(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return vec![0];
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 255 + 1);
    for chunk in bytes.chunks(255) {
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
    out
}
