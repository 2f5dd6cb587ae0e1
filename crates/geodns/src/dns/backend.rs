//! The DNS role as the API's PowerDNS backend: lookups run on the server's current view
//! with its backend worker (`Server::with_backend`), so they count as usage and answer
//! what the native server answers. PowerDNS asks the same `ANY` twice for one query (a
//! delegation check, then the answer): a lookup repeated within a second is answered but
//! not counted again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

use geodns_api::pdns::{Backend, Question, Record, Zone};
use geodns_dns::pdns::{self, TextRecord};
use geodns_dns::server::Server;

/// How long a repeated lookup is not counted again.
const REPEAT: TimeDelta = TimeDelta::seconds(1);
/// Remembered lookups before the old ones are forgotten.
const REMEMBERED: usize = 10_000;

type LookupKey = (String, String, Option<IpAddr>, Option<(IpAddr, u8)>);

/// The running DNS server, seen by the API.
#[derive(Debug)]
pub struct DnsBackend {
    server: Arc<Server>,
    recent: Mutex<HashMap<LookupKey, DateTime<Utc>>>,
}

impl DnsBackend {
    /// The backend of `server`.
    pub fn new(server: Arc<Server>) -> DnsBackend {
        DnsBackend {
            server,
            recent: Mutex::default(),
        }
    }

    /// False when the same question was counted less than [`REPEAT`] ago.
    fn counts(&self, question: &Question, now: DateTime<Utc>) -> bool {
        let key = (
            question.qname.to_ascii_lowercase(),
            question.qtype.to_ascii_uppercase(),
            question.client,
            question.subnet,
        );
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() >= REMEMBERED {
            recent.retain(|_, at| now - *at < REPEAT);
        }
        match recent.get(&key) {
            Some(at) if now - *at < REPEAT => false,
            _ => {
                recent.insert(key, now);
                true
            }
        }
    }
}

fn record(text: TextRecord) -> Record {
    Record {
        qtype: text.qtype,
        qname: text.qname,
        content: text.content,
        ttl: text.ttl,
        auth: true,
        domain_id: text.domain_id,
        scope_mask: text.scope,
    }
}

impl Backend for DnsBackend {
    fn lookup(&self, question: &Question) -> Vec<Record> {
        let count = self.counts(question, crate::clock::now());
        let question = pdns::Question {
            qname: question.qname.clone(),
            qtype: question.qtype.clone(),
            client: question.client,
            subnet: question.subnet,
        };
        let records = self.server.with_backend(count, |view, worker, day| {
            pdns::lookup(view, worker, day, &question)
        });
        records.into_iter().map(record).collect()
    }

    fn list(&self, zone: &str) -> Option<Vec<Record>> {
        // A zone transfer is not a client's query: not counted.
        let records = self.server.with_backend(false, |view, worker, day| {
            pdns::list(view, worker, day, zone)
        })?;
        Some(records.into_iter().map(record).collect())
    }

    fn zones(&self) -> Vec<Zone> {
        self.server.with_backend(false, |view, _, _| {
            pdns::zones(view)
                .into_iter()
                .map(|zone| Zone {
                    id: zone.id,
                    name: zone.name,
                    serial: zone.serial,
                })
                .collect()
        })
    }
}
