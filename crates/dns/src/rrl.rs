//! Response rate limiting for UDP answers, in the manner of BIND's and Knot's RRL: each
//! (client network, response) pair has an account that earns `responses_per_second`
//! credits a second, holds at most one second's worth, owes at most `window` seconds'
//! worth, and pays one credit per response. While it is in debt, responses are dropped,
//! except every `slip`-th one, which goes out truncated (TC=1, the question only) so a
//! real resolver behind a spoofed address retries over TCP, where addresses cannot be
//! spoofed. The network is the packet's source /24 (IPv4) or /56 (IPv6), never the EDNS
//! Client Subnet; the response is its rcode, and for a positive answer its qtype and
//! qname (lower-cased), so errors and NXDOMAINs from one network share one account.
//!
//! The accounts are one table allocated at start: 2^16 words, each packing a 16-bit tag
//! of the key's hash, the second it was last touched, the balance (24 bits: so
//! `responses_per_second × window` is at most 8,000,000) and a counter of limited
//! responses for the slip. A key whose tag
//! differs takes the slot over (no chaining, as NSD). Each decision is one keyed hash of
//! bytes copied to the stack and one compare-and-swap: no allocation, no lock, no
//! system call (the second comes from an atomic a ticker sets).

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::wire::{HEADER, MAX_NAME};

/// Slots in the table (a power of two).
const SLOTS: usize = 1 << 16;

/// What to do with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send,
    /// Send it truncated: the question only, TC=1.
    Slip,
    /// Send nothing.
    Drop,
}

/// The limits (from `[dns.rrl]`); `responses_per_second` 0 is off.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Limits {
    /// Credits earned per second.
    pub responses_per_second: u32,
    /// Seconds of debt an account may run up.
    pub window: u32,
    /// Every `slip`-th limited response is sent truncated (0: none).
    pub slip: u32,
    /// Clients never limited (known resolvers).
    pub exempt: Vec<geodns_core::cidr::Cidr>,
    /// Count what would be limited, limit nothing.
    pub log_only: bool,
}

/// The accounts. Shared by every UDP worker.
pub struct Table {
    slots: Box<[AtomicU64]>,
    keys: std::hash::RandomState,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl Default for Table {
    fn default() -> Self {
        Table {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            keys: std::hash::RandomState::new(),
        }
    }
}

impl Table {
    /// The verdict on `response` (a complete DNS message) to `client` at `second`
    /// (seconds since start), charging its account.
    pub fn decide(&self, limits: &Limits, client: IpAddr, response: &[u8], second: u32) -> Verdict {
        let rate = i64::from(limits.responses_per_second);
        if rate == 0 || limits.exempt.iter().any(|net| net.contains(client)) {
            return Verdict::Send;
        }
        let hash = self.key_hash(client, response);
        let slot = &self.slots[(hash as usize) & (SLOTS - 1)];
        let tag = (hash >> 48) as u16 | 1; // never 0: an empty slot has tag 0
        let now = second as u16;
        let floor = -rate * i64::from(limits.window.max(1));
        let mut old = slot.load(Ordering::Relaxed);
        loop {
            let account = Account::unpack(old);
            let (balance, limited) = if account.tag == tag {
                let earned = i64::from(now.wrapping_sub(account.second)) * rate;
                ((account.balance + earned).min(rate), account.limited)
            } else {
                (rate, 0)
            };
            let balance = (balance.max(floor) - 1).max(-BALANCE_LIMIT);
            let limited = if balance < 0 {
                limited.wrapping_add(1)
            } else {
                limited
            };
            let new = Account {
                tag,
                second: now,
                balance,
                limited,
            };
            match slot.compare_exchange_weak(old, new.pack(), Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return new.verdict(limits.slip),
                Err(actual) => old = actual,
            }
        }
    }

    /// The keyed hash of (client network, rcode, and for a positive answer qtype and
    /// lower-cased qname).
    fn key_hash(&self, client: IpAddr, response: &[u8]) -> u64 {
        let mut hasher = self.keys.build_hasher();
        match geodns_node::slots::network_of(client) {
            IpAddr::V4(net) => hasher.write_u32(u32::from(net)),
            IpAddr::V6(net) => hasher.write_u128(u128::from(net)),
        }
        let rcode = response.get(3).map_or(0, |b| b & 0x0F);
        hasher.write_u8(rcode);
        let answers = response
            .get(6..8)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        if rcode == 0 && answers > 0 {
            let mut name = [0u8; MAX_NAME];
            let length = question_name(response, &mut name);
            hasher.write(&name[..length]);
            let at = HEADER + length;
            if let Some(qtype) = response.get(at..at + 2) {
                hasher.write(qtype);
            }
        }
        hasher.finish()
    }
}

/// The largest balance magnitude a slot holds (24 bits, signed).
pub const BALANCE_LIMIT: i64 = (1 << 23) - 1;

/// One slot's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Account {
    tag: u16,
    second: u16,
    balance: i64,
    /// Limited responses so far (wrapping), for the slip.
    limited: u8,
}

impl Account {
    fn pack(self) -> u64 {
        let balance = (self.balance.clamp(-BALANCE_LIMIT, BALANCE_LIMIT) as u64) & 0xFF_FFFF;
        (u64::from(self.tag) << 48)
            | (u64::from(self.second) << 32)
            | (balance << 8)
            | u64::from(self.limited)
    }

    fn unpack(word: u64) -> Account {
        // Sign-extend the 24-bit balance.
        let balance = ((((word >> 8) & 0xFF_FFFF) as i64) << 40) >> 40;
        Account {
            tag: (word >> 48) as u16,
            second: (word >> 32) as u16,
            balance,
            limited: word as u8,
        }
    }

    fn verdict(self, slip: u32) -> Verdict {
        if self.balance >= 0 {
            Verdict::Send
        } else if slip > 0 && u32::from(self.limited) % slip == 0 {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

/// The question's name (wire form, lower-cased) of `message` copied into `out`; its
/// length (0 when the message has no well-formed question).
fn question_name(message: &[u8], out: &mut [u8; MAX_NAME]) -> usize {
    crate::wire::question_name(message, out).unwrap_or(0)
}

/// Rewrites `response` (of `length` bytes) in place as its truncated form: the header
/// with TC=1 and no records, and the question; returns the new length.
pub fn truncate(response: &mut [u8], length: usize) -> usize {
    let mut name = [0u8; MAX_NAME];
    let name_length = question_name(&response[..length], &mut name);
    let end = if name_length == 0 {
        HEADER
    } else {
        HEADER + name_length + 4
    };
    if end > length || length < HEADER {
        return length.min(HEADER);
    }
    response[2] |= 0x02;
    response[4..6].copy_from_slice(&u16::from(name_length > 0).to_be_bytes());
    response[6..HEADER].fill(0);
    end
}

#[cfg(test)]
mod tests;
