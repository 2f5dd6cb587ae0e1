//! The DNS role as the API's PowerDNS backend: lookups run on the server's current view
//! with its backend worker (`Server::with_backend`), so they count as usage and answer
//! what the native server answers.

use std::sync::Arc;

use geodns_api::pdns::{Backend, Question, Record, Zone};
use geodns_dns::pdns::{self, TextRecord};
use geodns_dns::server::Server;

/// The running DNS server, seen by the API.
#[derive(Debug, Clone)]
pub struct DnsBackend(pub Arc<Server>);

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
        let question = pdns::Question {
            qname: question.qname.clone(),
            qtype: question.qtype.clone(),
            client: question.client,
            subnet: question.subnet,
        };
        let records = self
            .0
            .with_backend(|view, worker, day| pdns::lookup(view, worker, day, &question));
        records.into_iter().map(record).collect()
    }

    fn list(&self, zone: &str) -> Option<Vec<Record>> {
        let records = self
            .0
            .with_backend(|view, worker, day| pdns::list(view, worker, day, zone))?;
        Some(records.into_iter().map(record).collect())
    }

    fn zones(&self) -> Vec<Zone> {
        self.0.with_backend(|view, _, _| {
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
