//! The DNS role as the API's PowerDNS backend: lookups run on the server's current view
//! with its backend worker (`Server::with_backend`), so they count as usage and answer
//! what the native server answers. PowerDNS asks the same `ANY` twice for one query (a
//! delegation check, then the answer): a lookup repeated within a second is answered but
//! not counted again.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

use geodns_core::pdns::{Backend, Question, Record, Zone};

use crate::pdns;
use crate::server::Server;

/// How long a repeated lookup is not counted again.
const REPEAT: TimeDelta = TimeDelta::seconds(1);
/// Lookups remembered at most (the oldest forgotten first), however fast they come.
const REMEMBERED: usize = 10_000;

type LookupKey = (String, String, Option<IpAddr>, Option<(IpAddr, u8)>);

/// The lookups counted in the last [`REPEAT`], oldest first, with the time each key was
/// last counted: every entry leaves after its second (or sooner past
/// [`REMEMBERED`]), so the memory is bounded by the rate of lookups, not their number.
#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<(DateTime<Utc>, LookupKey)>,
    last: HashMap<LookupKey, DateTime<Utc>>,
}

impl Recent {
    /// Forgets what was counted [`REPEAT`] ago or more, and the oldest past the cap.
    fn forget(&mut self, now: DateTime<Utc>) {
        while let Some((at, _)) = self.order.front() {
            if now - *at < REPEAT && self.order.len() < REMEMBERED {
                return;
            }
            if let Some((at, key)) = self.order.pop_front()
                && self.last.get(&key) == Some(&at)
            {
                self.last.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.last.len().max(self.order.len())
    }
}

/// The running DNS server, seen by the API.
#[derive(Debug)]
pub struct DnsBackend {
    server: Arc<Server>,
    recent: Mutex<Recent>,
}

impl DnsBackend {
    /// The backend of `server`.
    pub fn new(server: Arc<Server>) -> DnsBackend {
        DnsBackend {
            server,
            recent: Mutex::default(),
        }
    }

    /// Whether this lookup counts as a client's query (see [`counts`]).
    fn counts(&self, question: &Question, now: DateTime<Utc>) -> bool {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        counts(&mut recent, question, now)
    }
}

/// False for PowerDNS's own lookups (no client: finding the zone) and for a question
/// counted less than [`REPEAT`] ago; remembers the question otherwise.
fn counts(recent: &mut Recent, question: &Question, now: DateTime<Utc>) -> bool {
    if question.client.is_none() {
        return false;
    }
    recent.forget(now);
    let key = (
        question.qname.to_ascii_lowercase(),
        question.qtype.to_ascii_uppercase(),
        question.client,
        question.subnet,
    );
    match recent.last.get(&key) {
        Some(at) if now - *at < REPEAT => false,
        _ => {
            recent.last.insert(key.clone(), now);
            recent.order.push_back((now, key));
            true
        }
    }
}

impl Backend for DnsBackend {
    fn lookup(&self, question: &Question) -> Vec<Record> {
        let count = self.counts(question, geodns_node::clock::now());
        self.server.with_backend(count, |view, worker, day| {
            pdns::lookup(view, worker, day, question)
        })
    }

    fn list(&self, zone: &str) -> Option<Vec<Record>> {
        // A zone transfer is not a client's query: not counted.
        self.server.with_backend(false, |view, worker, day| {
            pdns::list(view, worker, day, zone)
        })
    }

    fn zones(&self) -> Vec<Zone> {
        self.server
            .with_backend(false, |view, _, _| pdns::zones(view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(qname: &str, client: Option<&str>) -> Question {
        Question {
            qname: qname.to_owned(),
            qtype: "ANY".to_owned(),
            client: client.map(|c| c.parse().unwrap()),
            subnet: None,
        }
    }

    #[test]
    fn a_repeat_within_a_second_and_powerdns_own_lookups_are_not_counted() {
        let mut recent = Recent::default();
        let at = |ms: i64| DateTime::UNIX_EPOCH + TimeDelta::milliseconds(ms);
        let one = question("rpc.geo.example.", Some("192.0.2.1"));
        assert!(counts(&mut recent, &one, at(0)));
        // PowerDNS's second lookup for the same query, in another case.
        assert!(!counts(
            &mut recent,
            &question("RPC.geo.example.", Some("192.0.2.1")),
            at(3)
        ));
        assert!(counts(
            &mut recent,
            &question("rpc.geo.example.", Some("192.0.2.2")),
            at(5)
        ));
        assert!(
            counts(&mut recent, &one, at(1000)),
            "a second later: a new query"
        );
        // Finding the zone (no client) is never a client's query.
        assert!(!counts(
            &mut recent,
            &question("rpc.geo.example.", None),
            at(5000)
        ));
    }

    #[test]
    fn the_memory_stays_bounded_by_the_rate_not_the_count() {
        let mut recent = Recent::default();
        let long = "x".repeat(190);
        // 20,000 lookups with distinct 200-byte names, 1,000 a second.
        for i in 0..20_000 {
            let at = DateTime::UNIX_EPOCH + TimeDelta::milliseconds(i);
            let name = format!("{long}{i:08}.example.");
            assert!(counts(&mut recent, &question(&name, Some("192.0.2.1")), at));
            assert!(recent.len() <= 1_000, "{} remembered at {i}", recent.len());
        }
        // As many at once: the cap holds.
        let at = DateTime::UNIX_EPOCH + TimeDelta::seconds(100);
        for i in 0..20_000 {
            let name = format!("{long}{i:08}.example.");
            counts(&mut recent, &question(&name, Some("192.0.2.2")), at);
        }
        assert_eq!(recent.len(), REMEMBERED);
        // A second later they are all gone.
        let later = at + REPEAT;
        assert!(counts(
            &mut recent,
            &question("a.example.", Some("192.0.2.9")),
            later
        ));
        assert_eq!(recent.len(), 1, "the old ones were forgotten");
    }
}
