//! The PowerDNS remote backend's data, shared by the DNS role (which answers) and the
//! API (which speaks PowerDNS's JSON): a lookup question, a record in PowerDNS's form,
//! a zone, and the one name normalisation both sides use.

use std::net::IpAddr;

use serde::Serialize;

/// What PowerDNS asks in a `lookup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Name asked (any case, final dot optional).
    pub qname: String,
    /// Type mnemonic (`ANY`, `SOA`, `A`, ...).
    pub qtype: String,
    /// The client (`remote` or `real-remote`); `None` for PowerDNS's own lookups.
    pub client: Option<IpAddr>,
    /// The client's subnet (`real-remote`, from EDNS Client Subnet), when narrower than
    /// one address.
    pub subnet: Option<(IpAddr, u8)>,
}

/// One record as PowerDNS reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Type mnemonic.
    pub qtype: String,
    /// Owner, lower case, with the final dot.
    pub qname: String,
    /// Presentation-format data (TXT quoted; names absolute).
    pub content: String,
    /// TTL, seconds.
    pub ttl: u32,
    /// Always true: geodns is authoritative for what it answers.
    pub auth: bool,
    /// The zone's id ([`Zone::id`]), or -1 outside every zone.
    pub domain_id: i64,
    /// How many bits of the client's address chose this record (EDNS Client Subnet
    /// scope); 0 when the client did not matter.
    #[serde(rename = "scopeMask")]
    pub scope_mask: u8,
}

/// A zone, for `getAllDomains` and `getDomainInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Its id: its index among the zones plus one.
    pub id: i64,
    /// Apex, lower case, with the final dot.
    pub name: String,
    /// SOA serial.
    pub serial: u32,
}

/// `name` lower case with the final dot, as PowerDNS writes names.
pub fn absolute(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match lower.ends_with('.') {
        true => lower,
        false => format!("{lower}."),
    }
}

/// What the PowerDNS endpoint asks of the DNS role (implemented by the DNS role's
/// runtime over its running server, used by the API).
pub trait Backend: Send + Sync {
    /// The records at a name (every type for `ANY`).
    fn lookup(&self, question: &Question) -> Vec<Record>;
    /// Every record of a zone, SOA first; `None` for a zone not served.
    fn list(&self, zone: &str) -> Option<Vec<Record>>;
    /// Every zone served.
    fn zones(&self) -> Vec<Zone>;
}
