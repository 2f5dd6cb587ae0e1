//! What the DNS role counted since start (queries, rcodes, answers by member and family,
//! usage flushes), as the node's metric families.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use geodns_node::metrics::{Family, Source};

use crate::usage::Counts;

/// The DNS role's totals. Cheap to clone; clones share them.
#[derive(Debug, Clone, Default)]
pub struct DnsCounters(Arc<Mutex<DnsTotals>>);

/// What the DNS role counted since start.
#[derive(Debug, Clone, Default)]
pub(crate) struct DnsTotals {
    /// Queries read.
    pub queries: u64,
    /// Responses by rcode.
    pub rcodes: [u64; 17],
    /// Truncated responses.
    pub truncated: u64,
    /// Answers given with no healthy member.
    pub fallback: u64,
    /// Packets dropped unanswered.
    pub dropped: u64,
    /// UDP responses rate-limited (dropped, slipped).
    pub rrl: [u64; 2],
    /// Answers by member (or `override:<CC>`, `(none)`), by family.
    pub answers: BTreeMap<(String, bool), u64>,
    /// Usage flushes the store took, and those it refused.
    pub flushes: [u64; 2],
    /// Usage rows written.
    pub rows_written: u64,
    /// Usage rows waiting for the next flush.
    pub rows_pending: usize,
    /// Hits the store had not taken when the node stopped.
    pub hits_unwritten: u64,
}

/// What a usage flush did.
#[derive(Debug, Clone, Copy)]
pub enum Flush {
    /// The store took the batch; `written` rows, `kept` left for the next flush.
    Done {
        /// Rows written.
        written: u64,
        /// Rows kept.
        kept: usize,
    },
    /// The store refused the batch; `kept` rows wait.
    Failed {
        /// Rows kept.
        kept: usize,
    },
}

impl DnsCounters {
    /// Adds what the DNS workers counted since the last collection.
    pub fn add(&self, counts: &Counts) {
        let mut dns = self.totals();
        dns.queries += counts.queries;
        for (total, add) in dns.rcodes.iter_mut().zip(counts.rcodes) {
            *total += add;
        }
        dns.truncated += counts.truncated;
        dns.fallback += counts.fallback;
        dns.dropped += counts.dropped;
        dns.rrl[0] += counts.rrl[0];
        dns.rrl[1] += counts.rrl[1];
        for (slot, hits) in counts.hits.values() {
            *dns.answers
                .entry((slot.member.to_string(), slot.ipv6))
                .or_default() += hits;
        }
    }

    /// Counts one usage flush.
    pub fn flush(&self, flush: Flush) {
        let mut dns = self.totals();
        match flush {
            Flush::Done { written, kept } => {
                dns.flushes[0] += 1;
                dns.rows_written += written;
                dns.rows_pending = kept;
            }
            Flush::Failed { kept } => {
                dns.flushes[1] += 1;
                dns.rows_pending = kept;
            }
        }
    }

    /// Sets the usage rows waiting for a write (after a collection).
    pub fn pending(&self, rows: usize) {
        self.totals().rows_pending = rows;
    }

    /// Counts usage the store did not take before the node stopped.
    pub fn unwritten(&self, rows: usize, hits: i64) {
        let mut dns = self.totals();
        dns.rows_pending = rows;
        dns.hits_unwritten += u64::try_from(hits).unwrap_or(0);
    }

    fn totals(&self) -> std::sync::MutexGuard<'_, DnsTotals> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Source for DnsCounters {
    fn families(&self) -> Vec<Family> {
        dns_families(&self.totals())
    }
}

const RCODES: [&str; 17] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
    "BADVERS",
];

fn dns_families(dns: &DnsTotals) -> Vec<Family> {
    let mut rcodes = Family::counter("geodns_dns_responses_total", "DNS responses by rcode.");
    for (name, count) in RCODES.iter().zip(dns.rcodes) {
        if count > 0 || *name == "NOERROR" {
            rcodes.push(&[("rcode", name)], count as f64);
        }
    }
    let mut answers = Family::counter(
        "geodns_dns_answers_total",
        "Address answers by the member answered with (override:<CC> for a literal override, (none) when no member could answer) and family.",
    );
    for ((member, ipv6), hits) in &dns.answers {
        let family = if *ipv6 { "ipv6" } else { "ipv4" };
        answers.push(&[("member", member), ("family", family)], *hits as f64);
    }
    let [ok, failed] = dns.flushes;
    vec![
        Family::counter(
            "geodns_dns_queries_total",
            "DNS queries read (UDP and TCP).",
        )
        .sample(&[], dns.queries as f64),
        rcodes,
        answers,
        Family::counter(
            "geodns_dns_truncated_total",
            "DNS responses truncated (TC).",
        )
        .sample(&[], dns.truncated as f64),
        Family::counter(
            "geodns_dns_fallback_answers_total",
            "Answers given with no healthy member ([dns] no_healthy).",
        )
        .sample(&[], dns.fallback as f64),
        Family::counter(
            "geodns_dns_dropped_total",
            "DNS packets dropped unanswered.",
        )
        .sample(&[], dns.dropped as f64),
        Family::counter(
            "geodns_dns_rrl_total",
            "UDP responses rate-limited ([dns.rrl]): dropped, or slipped (sent truncated); with log_only, what would have been.",
        )
        .sample(&[("action", "dropped")], dns.rrl[0] as f64)
        .sample(&[("action", "slipped")], dns.rrl[1] as f64),
        Family::counter("geodns_usage_flushes_total", "Usage flushes by result.")
            .sample(&[("result", "ok")], ok as f64)
            .sample(&[("result", "failed")], failed as f64),
        Family::counter("geodns_usage_rows_written_total", "Usage rows written.")
            .sample(&[], dns.rows_written as f64),
        Family::gauge(
            "geodns_usage_rows_pending",
            "Usage rows waiting for the next flush.",
        )
        .sample(&[], dns.rows_pending as f64),
        Family::counter(
            "geodns_usage_hits_unwritten_total",
            "Hits the store had not taken when the node stopped (logged; lost).",
        )
        .sample(&[], dns.hits_unwritten as f64),
    ]
}
