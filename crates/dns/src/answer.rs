//! The query path: query bytes, the client's address and a [`View`] in, response bytes
//! out. Pure and synchronous; it allocates only when a worker's caches and counters grow.

use std::net::IpAddr;
use std::sync::Arc;

use crate::geo::{CityInfo, GeoCache, dot};
use crate::response::{OptOut, Owner, Response, Section, split_rcode};
use crate::usage::Counts;
use crate::view::{FamilyView, Host, Mode, Pick, View};
use crate::wire::{self, HEADER, MAX_NAME, Malformed, Query, Subnet, rcode, rtype};
use crate::zone::Zones;

/// Longest CNAME chain followed inside our zones.
const MAX_CHAIN: usize = 8;
/// Most addresses in one geo answer.
pub const MAX_ANSWERS: usize = 16;
/// TTL of the RFC 8482 answer to ANY.
const ANY_TTL: u32 = 3600;
/// HINFO data of the RFC 8482 answer: CPU "RFC8482", OS "".
const RFC8482: &[u8] = b"\x07RFC8482\x00";

/// A worker's private state: caches and counters; never shared.
#[derive(Debug, Default)]
pub struct Worker {
    /// Decoded GeoIP records.
    pub geo: GeoCache,
    /// Counters since the last hand-off.
    pub counts: Counts,
    lower: Lower,
}

#[derive(Debug)]
struct Lower([u8; MAX_NAME]);

impl Default for Lower {
    fn default() -> Self {
        Lower([0; MAX_NAME])
    }
}

/// How the query arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: responses are limited to the client's payload size.
    Udp,
    /// TCP: up to 65535 bytes.
    Tcp,
}

/// The client as the socket saw it, and today's day number (for usage).
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// Source address.
    pub addr: IpAddr,
    /// Transport.
    pub transport: Transport,
    /// Days since 1970-01-01, UTC.
    pub day: i32,
}

/// Answers `packet` into `out`; `None` when it must not be answered at all.
pub fn answer(
    view: &View,
    packet: &[u8],
    client: Client,
    worker: &mut Worker,
    out: &mut Vec<u8>,
) -> Option<usize> {
    let Worker { geo, counts, lower } = worker;
    counts.queries += 1;
    let query = match wire::parse(packet, &mut lower.0) {
        Ok(query) => query,
        Err(Malformed::Drop) => {
            counts.dropped += 1;
            return None;
        }
        Err(Malformed::Reply {
            rcode,
            question_end,
        }) => {
            counts.rcodes[usize::from(rcode)] += 1;
            return Some(crate::response::error(out, packet, rcode, question_end));
        }
    };
    let limit = match (client.transport, query.edns) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, Some(edns)) => usize::from(edns.payload.min(view.max_payload)),
        (Transport::Udp, None) => 512,
    };
    let mut state = State {
        view,
        query: &query,
        client,
        scope: 0,
    };
    let early = if query.opcode() != 0 {
        Some(rcode::NOTIMP)
    } else if query.edns.is_some_and(|e| e.version > 0) {
        Some(rcode::BADVERS)
    } else if query.qclass != wire::CLASS_IN || matches!(query.qtype, rtype::AXFR | rtype::IXFR) {
        Some(rcode::REFUSED)
    } else {
        None
    };
    let (response, code) = match early {
        Some(code) => (
            Response::start(out, packet, &query, split_rcode(code).0, false),
            code,
        ),
        None => {
            let mut response = Response::start(out, packet, &query, rcode::NOERROR, true);
            let code = state.resolve(&lower.0[..query.name_len], &mut response, geo, counts);
            response.set_rcode(code);
            response.set_authoritative(code != rcode::REFUSED);
            (response, code)
        }
    };
    let opt = query.edns.map(|edns| OptOut {
        payload: view.max_payload,
        dnssec_ok: edns.dnssec_ok,
        extended_rcode: split_rcode(code).1,
        subnet: edns.subnet.map(|s| (s, state.scope)),
    });
    let len = response.finish(opt, limit);
    counts.rcodes[usize::from(code.min(16))] += 1;
    if out.get(2).is_some_and(|flags| flags & 0x02 != 0) {
        counts.truncated += 1;
    }
    Some(len)
}

struct State<'a> {
    view: &'a View,
    query: &'a Query,
    client: Client,
    /// Client Subnet scope to return: the source prefix when the answer used it.
    scope: u8,
}

impl<'a> State<'a> {
    /// Answers for `name` (lower case, the question's name); returns the rcode.
    fn resolve<'n>(
        &mut self,
        mut name: &'n [u8],
        response: &mut Response<'_>,
        cache: &mut GeoCache,
        counts: &mut Counts,
    ) -> u16
    where
        'a: 'n,
    {
        let zones: &'a Zones = &self.view.zones;
        let qtype = self.query.qtype;
        let mut offset = HEADER as u16;
        for _ in 0..=MAX_CHAIN {
            let Some(node) = zones.node(name) else {
                return match zones.enclosing(name) {
                    Some((zone, _)) => {
                        negative(response, zones, zone, name, offset);
                        rcode::NXDOMAIN
                    }
                    // The question outside our zones is refused; a chain leaving them ends.
                    None if offset == HEADER as u16 => rcode::REFUSED,
                    None => rcode::NOERROR,
                };
            };
            if qtype == rtype::ANY {
                let owner = Owner::Pointer(offset);
                response.record(Section::Answer, owner, rtype::HINFO, ANY_TTL, RFC8482);
                return rcode::NOERROR;
            }
            if let (Some(index), rtype::A | rtype::AAAA) = (node.geo, qtype) {
                let host = &self.view.hosts[index as usize];
                self.geo(host, qtype == rtype::AAAA, offset, response, cache, counts);
                if response.answers() == 0 {
                    negative(response, zones, node.zone, name, offset);
                }
                return rcode::NOERROR;
            }
            if let Some(set) = node.set(qtype) {
                for data in &set.data {
                    response.record(
                        Section::Answer,
                        Owner::Pointer(offset),
                        qtype,
                        set.ttl,
                        data,
                    );
                }
                return rcode::NOERROR;
            }
            let Some(cname) = node.set(rtype::CNAME) else {
                negative(response, zones, node.zone, name, offset);
                return rcode::NOERROR;
            };
            let target: &'n [u8] = &cname.data[0];
            // The target's data starts after the owner pointer and the fixed fields.
            let at = response.position() + 12;
            response.record(
                Section::Answer,
                Owner::Pointer(offset),
                rtype::CNAME,
                cname.ttl,
                target,
            );
            if at > 0x3FFF {
                return rcode::NOERROR;
            }
            offset = at as u16;
            name = target;
        }
        rcode::NOERROR
    }

    fn geo(
        &mut self,
        host: &Host,
        ipv6: bool,
        offset: u16,
        response: &mut Response<'_>,
        cache: &mut GeoCache,
        counts: &mut Counts,
    ) {
        let family = &host.families[usize::from(ipv6)];
        let kind = if ipv6 { rtype::AAAA } else { rtype::A };
        let ip = match self.query.edns.and_then(|e| e.subnet) {
            Some(Subnet { addr, source }) if source > 0 => {
                self.scope = source;
                addr
            }
            _ => self.client.addr,
        };
        let geo = &self.view.geo;
        // The answer holds for the whole database network: a shorter scope lets resolvers
        // share it more widely (RFC 7871 §7.2.1). Only needed when the answer has a scope.
        let (city, network) = geo.city(ip, cache, self.scope > 0);
        if let Some(network) = network {
            self.scope = self.scope.min(network);
        }
        let ttl = self.view.ttl;
        let mut write = |address: &[u8]| {
            response.record(Section::Answer, Owner::Pointer(offset), kind, ttl, address);
        };
        let member = match pick(family, city.as_deref(), self.view.answers) {
            Selection::Nothing => None,
            Selection::Literal(address, label) => {
                write(address);
                Some(label)
            }
            Selection::Nearest(best, found) => {
                for index in &best[..found] {
                    write(&family.candidates[*index].address);
                }
                Some(&family.candidates[best[0]].member)
            }
            Selection::All => {
                family.candidates.iter().for_each(|c| write(&c.address));
                family.candidates.first().map(|c| &c.member)
            }
        };
        if matches!(family.mode, Mode::Nearest | Mode::All) {
            counts.fallback += 1;
        }
        if !self.view.count_usage {
            return;
        }
        let asn = geo.asn(ip, cache);
        let member = member.unwrap_or(&self.view.no_member);
        counts.hit(
            self.client.day,
            &host.name,
            member,
            city.as_ref(),
            asn.as_ref(),
            ipv6,
        );
    }
}

/// NXDOMAIN or NODATA: the zone's SOA in the authority section, owner the apex, written
/// as a pointer into `name` (at `offset` in the message) when it ends with the apex.
fn negative(response: &mut Response<'_>, zones: &Zones, zone: u32, name: &[u8], offset: u16) {
    let zone = zones.zone(zone);
    let at = name.len().checked_sub(zone.apex.len());
    let owner = match at {
        Some(at) if name[at..] == *zone.apex && usize::from(offset) + at <= 0x3FFF => {
            Owner::Pointer(offset + at as u16)
        }
        _ => Owner::Name(&zone.apex),
    };
    response.record(
        Section::Authority,
        owner,
        rtype::SOA,
        zone.negative_ttl,
        &zone.soa,
    );
}

/// What a geo answer holds.
pub(crate) enum Selection<'a> {
    /// No address.
    Nothing,
    /// An override's literal address and its usage label.
    Literal(&'a [u8], &'a Arc<str>),
    /// The nearest candidates (indexes, count), nearest first.
    Nearest([usize; MAX_ANSWERS], usize),
    /// Every candidate.
    All,
}

/// Chooses the answer for a client: a country override, else the nearest candidates the
/// mode allows. Ties keep the earlier candidate (member-name order).
pub(crate) fn pick<'a>(
    family: &'a FamilyView,
    city: Option<&CityInfo>,
    answers: usize,
) -> Selection<'a> {
    if let Some(pick) = city.and_then(|c| family.overrides.get(&c.country_code)) {
        return match pick {
            Pick::Member(index) => {
                let mut best = [0; MAX_ANSWERS];
                best[0] = *index;
                Selection::Nearest(best, 1)
            }
            Pick::Literal { address, label } => Selection::Literal(address, label),
        };
    }
    let healthy_only = match family.mode {
        Mode::Empty => return Selection::Nothing,
        Mode::All => return Selection::All,
        Mode::Healthy => true,
        Mode::Nearest => false,
    };
    let point = city.and_then(|c| c.point).or(family.unknown_point);
    let k = answers.clamp(1, MAX_ANSWERS);
    let mut scores = [f64::NEG_INFINITY; MAX_ANSWERS];
    let mut best = [0usize; MAX_ANSWERS];
    let mut found = 0;
    for (index, candidate) in family.candidates.iter().enumerate() {
        if healthy_only && !candidate.healthy {
            continue;
        }
        // Without any location every candidate ties: the first ones win.
        let score = point.map_or(0.0, |p| dot(&p, &candidate.point));
        if found == k && score <= scores[k - 1] {
            continue;
        }
        let mut slot = found.min(k - 1);
        while slot > 0 && score > scores[slot - 1] {
            scores[slot] = scores[slot - 1];
            best[slot] = best[slot - 1];
            slot -= 1;
        }
        scores[slot] = score;
        best[slot] = index;
        found = (found + 1).min(k);
    }
    if found == 0 {
        Selection::Nothing
    } else {
        Selection::Nearest(best, found)
    }
}
