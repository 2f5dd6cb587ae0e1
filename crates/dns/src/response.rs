//! Writes a response straight into a reused buffer: the query's header and question
//! (so the question's case is echoed), records with pre-encoded data, and the OPT record;
//! truncates to the question with TC when the client's limit is exceeded.

use crate::wire::{HEADER, Query, Subnet};

/// Where a record's owner name comes from.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// A compression pointer to a name already in the message.
    Pointer(u16),
    /// An uncompressed wire name.
    Name(&'a [u8]),
}

/// The OPT record of a response.
#[derive(Debug, Clone, Copy)]
pub struct OptOut {
    /// Our UDP payload size.
    pub payload: u16,
    /// DO bit echoed.
    pub dnssec_ok: bool,
    /// Extended rcode bits (BADVERS = 1).
    pub extended_rcode: u8,
    /// Client Subnet to echo, with its scope.
    pub subnet: Option<(Subnet, u8)>,
}

/// A response being written into `out`.
#[derive(Debug)]
pub struct Response<'a> {
    out: &'a mut Vec<u8>,
    question_end: usize,
    counts: [u16; 3],
    section: usize,
}

const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
/// Opcode and RD, copied from the query.
const ECHOED: u16 = 0x7800 | 0x0100;
/// CD, copied from the query.
const FLAG_CD: u16 = 0x0010;

/// Record sections, in the order they must be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Answers.
    Answer = 0,
    /// Authority.
    Authority = 1,
    /// Additional.
    Additional = 2,
}

impl<'a> Response<'a> {
    /// Starts a response to `query` read from `packet`.
    pub fn start(
        out: &'a mut Vec<u8>,
        packet: &[u8],
        query: &Query,
        code: u16,
        authoritative: bool,
    ) -> Self {
        Self::begin(
            out,
            packet,
            query.id,
            query.flags,
            code,
            authoritative,
            Some(query.question_end),
        )
    }

    /// Starts a response to a query that could not be read in full: the question is
    /// copied when `question_end` says where it ends.
    pub fn begin(
        out: &'a mut Vec<u8>,
        packet: &[u8],
        id: u16,
        query_flags: u16,
        code: u16,
        authoritative: bool,
        question_end: Option<usize>,
    ) -> Self {
        out.clear();
        let mut flags = FLAG_QR | (query_flags & (ECHOED | FLAG_CD)) | (code & 0xF);
        if authoritative {
            flags |= FLAG_AA;
        }
        let question = question_end.and_then(|end| packet.get(HEADER..end));
        let [id0, id1] = id.to_be_bytes();
        let [flags0, flags1] = flags.to_be_bytes();
        let qdcount = u8::from(question.is_some());
        out.extend_from_slice(&[id0, id1, flags0, flags1, 0, qdcount, 0, 0, 0, 0, 0, 0]);
        if let Some(question) = question {
            out.extend_from_slice(question);
        }
        let question_end = out.len();
        Response {
            out,
            question_end,
            counts: [0; 3],
            section: 0,
        }
    }

    /// Offset of the next byte written, for pointers to names written next.
    pub fn position(&self) -> usize {
        self.out.len()
    }

    /// Sets the response code (low four bits).
    pub fn set_rcode(&mut self, code: u16) {
        self.out[3] = (self.out[3] & 0xF0) | (code & 0xF) as u8;
    }

    /// Sets or clears the AA flag.
    pub fn set_authoritative(&mut self, authoritative: bool) {
        if authoritative {
            self.out[2] |= (FLAG_AA >> 8) as u8;
        } else {
            self.out[2] &= !((FLAG_AA >> 8) as u8);
        }
    }

    /// Records in the answer section so far.
    pub fn answers(&self) -> u16 {
        self.counts[0]
    }

    /// Appends a record; sections must come in order (a late answer is dropped).
    pub fn record(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        kind: u16,
        ttl: u32,
        rdata: &[u8],
    ) {
        let index = section as usize;
        if index < self.section || rdata.len() > usize::from(u16::MAX) {
            return;
        }
        self.section = index;
        match owner {
            Owner::Pointer(offset) => self.out.extend_from_slice(&(0xC000 | offset).to_be_bytes()),
            Owner::Name(name) => self.out.extend_from_slice(name),
        }
        self.out.extend_from_slice(&kind.to_be_bytes());
        self.out
            .extend_from_slice(&crate::wire::CLASS_IN.to_be_bytes());
        self.out.extend_from_slice(&ttl.to_be_bytes());
        self.out
            .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.out.extend_from_slice(rdata);
        self.counts[index] = self.counts[index].saturating_add(1);
    }

    /// Adds the OPT record (if any), truncates to the question with TC set when the
    /// message exceeds `limit`, writes the counts; returns the length.
    pub fn finish(self, opt: Option<OptOut>, limit: usize) -> usize {
        let Response {
            out,
            question_end,
            mut counts,
            ..
        } = self;
        let opt_len = opt.map_or(0, |o| {
            11 + o.subnet.map_or(0, |(s, _)| 8 + subnet_bytes(&s))
        });
        if out.len() + opt_len > limit {
            out.truncate(question_end);
            counts = [0; 3];
            out[2] |= (FLAG_TC >> 8) as u8;
        }
        if let Some(opt) = opt {
            write_opt(out, &opt);
            counts[2] += 1;
        }
        let [a0, a1] = counts[0].to_be_bytes();
        let [n0, n1] = counts[1].to_be_bytes();
        let [r0, r1] = counts[2].to_be_bytes();
        if let Some(header) = out.get_mut(6..12) {
            header.copy_from_slice(&[a0, a1, n0, n1, r0, r1]);
        }
        out.len()
    }
}

fn subnet_bytes(subnet: &Subnet) -> usize {
    usize::from(subnet.source).div_ceil(8)
}

fn write_opt(out: &mut Vec<u8>, opt: &OptOut) {
    // Root owner, type OPT, our payload size, extended rcode, version 0, DO.
    let [p0, p1] = opt.payload.to_be_bytes();
    let flags = if opt.dnssec_ok { 0x80 } else { 0 };
    let mut record = [0, 0, 41, p0, p1, opt.extended_rcode, 0, flags, 0, 0, 0];
    let Some((subnet, scope)) = opt.subnet else {
        out.extend_from_slice(&record);
        return;
    };
    let bytes = subnet_bytes(&subnet);
    let [l0, l1] = ((8 + bytes) as u16).to_be_bytes();
    record[9..11].copy_from_slice(&[l0, l1]);
    out.extend_from_slice(&record);
    let (family, octets): (u8, [u8; 16]) = match subnet.addr {
        std::net::IpAddr::V4(v4) => {
            let mut all = [0; 16];
            all[..4].copy_from_slice(&v4.octets());
            (1, all)
        }
        std::net::IpAddr::V6(v6) => (2, v6.octets()),
    };
    let [o0, o1] = ((4 + bytes) as u16).to_be_bytes();
    out.extend_from_slice(&[0, 8, o0, o1, 0, family, subnet.source, scope]);
    out.extend_from_slice(&octets[..bytes]);
}

/// A bare error response for a packet that could not be read as a query.
pub fn error(out: &mut Vec<u8>, packet: &[u8], code: u16, question_end: Option<usize>) -> usize {
    let word = |at: usize| {
        packet
            .get(at..at + 2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (id, flags) = (word(0), word(2));
    Response::begin(out, packet, id, flags, code, false, question_end).finish(None, usize::MAX)
}

/// The rcode's low bits and the OPT's extended bits.
pub fn split_rcode(code: u16) -> (u16, u8) {
    (code & 0xF, (code >> 4) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::rcode;

    #[test]
    fn badvers_splits_into_extended_bits() {
        assert_eq!(split_rcode(rcode::BADVERS), (0, 1));
        assert_eq!(split_rcode(rcode::REFUSED), (5, 0));
    }
}
