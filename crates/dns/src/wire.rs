//! DNS wire format, only as much as an authoritative server needs: reading a query
//! (header, one question, EDNS with Client Subnet) without allocating, and constants.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Header length.
pub const HEADER: usize = 12;
/// Longest name on the wire, bytes.
pub const MAX_NAME: usize = 255;

/// Record types this server knows by number.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Host information (the RFC 8482 answer to ANY).
    pub const HINFO: u16 = 13;
    /// Mail exchanger.
    pub const MX: u16 = 15;
    /// Text.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Service location.
    pub const SRV: u16 = 33;
    /// EDNS pseudo-record.
    pub const OPT: u16 = 41;
    /// Incremental zone transfer.
    pub const IXFR: u16 = 251;
    /// Zone transfer.
    pub const AXFR: u16 = 252;
    /// Any type.
    pub const ANY: u16 = 255;
    /// Certification authority authorisation.
    pub const CAA: u16 = 257;
}

/// Response codes (the low four bits; BADVERS is extended).
pub mod rcode {
    /// No error.
    pub const NOERROR: u16 = 0;
    /// The query could not be read.
    pub const FORMERR: u16 = 1;
    /// The name does not exist.
    pub const NXDOMAIN: u16 = 3;
    /// Opcode not implemented.
    pub const NOTIMP: u16 = 4;
    /// Not served here.
    pub const REFUSED: u16 = 5;
    /// EDNS version not supported (extended: 16).
    pub const BADVERS: u16 = 16;
}

/// Class IN.
pub const CLASS_IN: u16 = 1;
/// EDNS option code of Client Subnet (RFC 7871).
pub const OPTION_SUBNET: u16 = 8;

/// Why a packet cannot be answered normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Too short for a header, or a response: never answered.
    Drop,
    /// Answer with this code and, when it could be read, the question.
    Reply {
        /// The response code.
        rcode: u16,
        /// End of the question in the packet, if the question was read.
        question_end: Option<usize>,
    },
}

/// An EDNS Client Subnet option from a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    /// The address, bits beyond `source` zero.
    pub addr: IpAddr,
    /// SOURCE PREFIX-LENGTH.
    pub source: u8,
}

/// The EDNS part of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// Largest response the client accepts over UDP (at least 512).
    pub payload: u16,
    /// EDNS version.
    pub version: u8,
    /// DNSSEC OK bit, echoed.
    pub dnssec_ok: bool,
    /// A well-formed Client Subnet option; a malformed one is ignored and not echoed.
    pub subnet: Option<Subnet>,
}

/// A query that can be answered: one question, class and type read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Message id.
    pub id: u16,
    /// The query's flags word (opcode, RD, CD are echoed).
    pub flags: u16,
    /// Question type.
    pub qtype: u16,
    /// Question class.
    pub qclass: u16,
    /// Length of the question name on the wire (ends at `HEADER + name_len`).
    pub name_len: usize,
    /// End of the question section.
    pub question_end: usize,
    /// EDNS, if the query had an OPT record.
    pub edns: Option<Edns>,
}

impl Query {
    /// The opcode (0 = QUERY).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }
}

fn u16_at(packet: &[u8], at: usize) -> Option<u16> {
    let bytes = packet.get(at..at + 2)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

fn u32_at(packet: &[u8], at: usize) -> Option<u32> {
    let bytes = packet.get(at..at + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Reads a query. The question name is copied in lower case into `lower` (at most
/// [`MAX_NAME`] bytes); the caller echoes the original bytes.
pub fn parse(packet: &[u8], lower: &mut [u8; MAX_NAME]) -> Result<Query, Malformed> {
    let (Some(id), Some(flags)) = (u16_at(packet, 0), u16_at(packet, 2)) else {
        return Err(Malformed::Drop);
    };
    if packet.len() < HEADER || flags & 0x8000 != 0 {
        return Err(Malformed::Drop);
    }
    let formerr = |question_end| Malformed::Reply {
        rcode: rcode::FORMERR,
        question_end,
    };
    let count = |at| u16_at(packet, at).unwrap_or(0);
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    if qd != 1 {
        return Err(formerr(None));
    }
    let name_len = question_name(packet, lower).ok_or(formerr(None))?;
    let at = HEADER + name_len;
    let (Some(qtype), Some(qclass)) = (u16_at(packet, at), u16_at(packet, at + 2)) else {
        return Err(formerr(None));
    };
    let question_end = at + 4;
    let mut query = Query {
        id,
        flags,
        qtype,
        qclass,
        name_len,
        question_end,
        edns: None,
    };
    let mut at = question_end;
    for _ in 0..(u32::from(an) + u32::from(ns)) {
        at = skip_record(packet, at)
            .ok_or(formerr(Some(question_end)))?
            .0;
    }
    for _ in 0..ar {
        let (next, owner_root, rtype) =
            skip_record(packet, at).ok_or(formerr(Some(question_end)))?;
        if rtype == rtype::OPT {
            if query.edns.is_some() || !owner_root {
                return Err(formerr(Some(question_end)));
            }
            query.edns = Some(read_opt(packet, at + 1).ok_or(formerr(Some(question_end)))?);
        }
        at = next;
    }
    Ok(query)
}

/// Reads the question name (no compression allowed: nothing precedes it to point at)
/// and copies it into `lower` in lower case. Length bytes are below 64, so lower-casing
/// the whole wire name only changes letters.
pub(crate) fn question_name(packet: &[u8], lower: &mut [u8; MAX_NAME]) -> Option<usize> {
    let mut at = HEADER;
    loop {
        let len = usize::from(*packet.get(at)?);
        if len > 63 {
            return None;
        }
        at += 1 + len;
        if at - HEADER > MAX_NAME {
            return None;
        }
        if len == 0 {
            break;
        }
    }
    let name = packet.get(HEADER..at)?;
    let copy = &mut lower[..name.len()];
    copy.copy_from_slice(name);
    copy.make_ascii_lowercase();
    Some(name.len())
}

/// Skips a name that may be compressed; returns the offset after it and whether it was
/// the root name.
fn skip_name(packet: &[u8], mut at: usize) -> Option<(usize, bool)> {
    let start = at;
    loop {
        let len = *packet.get(at)?;
        match len {
            0 => return Some((at + 1, at == start)),
            1..=63 => at += 1 + usize::from(len),
            0xC0..=0xFF => {
                packet.get(at + 1)?;
                return Some((at + 2, false));
            }
            _ => return None,
        }
        if at - start > MAX_NAME {
            return None;
        }
    }
}

/// Skips one resource record; returns the offset after it, whether its owner is the
/// root, and its type.
fn skip_record(packet: &[u8], at: usize) -> Option<(usize, bool, u16)> {
    let (at, root) = skip_name(packet, at)?;
    let rtype = u16_at(packet, at)?;
    let rdlen = usize::from(u16_at(packet, at + 8)?);
    let end = at + 10 + rdlen;
    (end <= packet.len()).then_some((end, root, rtype))
}

/// Reads an OPT record whose fixed part starts at `at` (after the root owner).
fn read_opt(packet: &[u8], at: usize) -> Option<Edns> {
    let payload = u16_at(packet, at + 2)?.max(512);
    let ttl = u32_at(packet, at + 4)?;
    let rdlen = usize::from(u16_at(packet, at + 8)?);
    let options = packet.get(at + 10..at + 10 + rdlen)?;
    let mut edns = Edns {
        payload,
        version: (ttl >> 16) as u8,
        dnssec_ok: ttl & 0x8000 != 0,
        subnet: None,
    };
    let mut rest = options;
    while !rest.is_empty() {
        let code = u16_at(rest, 0)?;
        let len = usize::from(u16_at(rest, 2)?);
        let data = rest.get(4..4 + len)?;
        if code == OPTION_SUBNET && edns.subnet.is_none() {
            edns.subnet = read_subnet(data);
        }
        rest = &rest[4 + len..];
    }
    Some(edns)
}

/// A Client Subnet option's data, or `None` when it breaks RFC 7871 §6 (unknown family,
/// prefix too long, address length not matching the prefix, bits set beyond it, or a
/// non-zero scope in a query).
pub fn read_subnet(data: &[u8]) -> Option<Subnet> {
    let family = u16_at(data, 0)?;
    let source = *data.get(2)?;
    let scope = *data.get(3)?;
    let address = data.get(4..)?;
    let max = match family {
        1 => 32,
        2 => 128,
        _ => return None,
    };
    let bytes = usize::from(source).div_ceil(8);
    if source > max || scope != 0 || address.len() != bytes {
        return None;
    }
    if let Some(last) = address.last() {
        let used = source % 8;
        if used != 0 && last & (0xFFu8 >> used) != 0 {
            return None;
        }
    }
    let addr = if family == 1 {
        let mut octets = [0u8; 4];
        octets[..bytes].copy_from_slice(address);
        IpAddr::V4(Ipv4Addr::from(octets))
    } else {
        let mut octets = [0u8; 16];
        octets[..bytes].copy_from_slice(address);
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    Some(Subnet { addr, source })
}

/// Encodes a presentation-format name (no trailing dot needed) to lower-case wire form.
pub fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let bytes = label.as_bytes();
        out.push(bytes.len().min(63) as u8);
        out.extend(bytes.iter().take(63).map(u8::to_ascii_lowercase));
    }
    out.push(0);
    out
}

/// Offsets of each label start in a wire name (the suffixes), root excluded.
pub fn suffixes(name: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let len = usize::from(*name.get(at)?);
        if len == 0 {
            return None;
        }
        let here = at;
        at += 1 + len;
        Some(here)
    })
}
