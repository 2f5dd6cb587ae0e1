//! The node's counters for `/metrics`: one handle, made in `run` and passed to the roles,
//! that each role fills (the monitor's check counters, the DNS totals, the alert outbox,
//! Redis deliveries), and `families`, which turns them, the consensus report, the bus
//! and the store's error counts into Prometheus families.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use geodns_api::metrics::Family;
use geodns_collator::alerts::outbox::Outbox;
use geodns_dns::usage::Counts;
use geodns_monitor::Counters;

use crate::consensus::status::StatusReport;

/// Handles on every role's counters; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Telemetry(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    checks: OnceLock<Arc<Counters>>,
    outbox: OnceLock<Outbox>,
    dns: Mutex<DnsTotals>,
    redis_published: AtomicU64,
    redis_failed: AtomicU64,
}

/// What the DNS role counted since start.
#[derive(Debug, Clone, Default)]
pub struct DnsTotals {
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
    /// Answers by member (or `override:<CC>`, `(none)`), by family.
    pub answers: BTreeMap<(String, bool), u64>,
    /// Usage flushes the store took, and those it refused.
    pub flushes: [u64; 2],
    /// Usage rows written.
    pub rows_written: u64,
    /// Usage rows waiting for the next flush.
    pub rows_pending: usize,
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

impl Telemetry {
    /// The monitor's check counters.
    pub fn set_checks(&self, counters: Arc<Counters>) {
        let _ = self.0.checks.set(counters);
    }

    /// The collator's Matrix outbox.
    pub fn set_outbox(&self, outbox: Outbox) {
        let _ = self.0.outbox.set(outbox);
    }

    /// Counts one Redis event delivery.
    pub fn redis(&self, ok: bool) {
        let counter = match ok {
            true => &self.0.redis_published,
            false => &self.0.redis_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds what the DNS workers counted since the last collection.
    pub fn dns_counts(&self, counts: &Counts) {
        let mut dns = self.dns();
        dns.queries += counts.queries;
        for (total, add) in dns.rcodes.iter_mut().zip(counts.rcodes) {
            *total += add;
        }
        dns.truncated += counts.truncated;
        dns.fallback += counts.fallback;
        dns.dropped += counts.dropped;
        for (slot, hits) in counts.hits.values() {
            *dns.answers
                .entry((slot.member.to_string(), slot.ipv6))
                .or_default() += hits;
        }
    }

    /// Counts one usage flush.
    pub fn dns_flush(&self, flush: Flush) {
        let mut dns = self.dns();
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

    fn dns(&self) -> std::sync::MutexGuard<'_, DnsTotals> {
        self.0.dns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the families are made of, besides the telemetry handle.
#[derive(Debug)]
pub struct Sources<'a> {
    /// The consensus report.
    pub report: &'a StatusReport,
    /// Bus connected, its state's name, messages dropped.
    pub bus: (bool, String, u64),
    /// Store errors by kind.
    pub store_errors: BTreeMap<&'static str, u64>,
    /// Store pool: open, idle, most.
    pub pool: (u32, usize, u32),
    /// Outages open now (none when the store could not say).
    pub open_outages: Option<usize>,
    /// Roles this node runs.
    pub roles: Vec<&'static str>,
}

/// Every family, in a stable order. Families of roles this node does not run are
/// present with no samples (except the role-independent ones), so dashboards see the
/// same names everywhere.
pub fn families(telemetry: &Telemetry, sources: &Sources<'_>) -> Vec<Family> {
    let mut all = vec![node_info(sources)];
    all.extend(dns_families(&telemetry.dns()));
    all.extend(check_families(telemetry.0.checks.get()));
    all.extend(consensus_families(sources.report));
    all.extend(bus_and_store(sources));
    all.extend(delivery_families(telemetry, sources.report));
    all
}

fn node_info(sources: &Sources<'_>) -> Family {
    let mut family = Family::gauge(
        "geodns_node_roles",
        "The roles this node runs (1 per role).",
    );
    for role in &sources.roles {
        family.push(&[("role", role)], 1.0);
    }
    family
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
    ]
}

fn check_families(counters: Option<&Arc<Counters>>) -> Vec<Family> {
    let mut attempts = Family::counter("geodns_check_attempts_total", "Checks run, by type.");
    let mut failures = Family::counter(
        "geodns_check_failures_total",
        "Failed checks, by type and reason.",
    );
    let mut latency = Family::histogram(
        "geodns_check_duration_seconds",
        "How long checks took, by type.",
    );
    let bounds: Vec<f64> = geodns_monitor::counters::LATENCY_BUCKETS_MS
        .iter()
        .map(|ms| *ms as f64 / 1e3)
        .collect();
    let snapshot = counters.map(|c| c.snapshot()).unwrap_or_default();
    for (kind, counts) in &snapshot {
        attempts.push(&[("type", kind)], counts.attempts as f64);
        for (reason, count) in &counts.failures {
            failures.push(&[("type", kind), ("reason", reason)], *count as f64);
        }
        let sum = counts.latency_ms_sum / 1e3;
        latency.observe(&[("type", kind)], &bounds, &counts.latency_buckets, sum);
    }
    vec![attempts, failures, latency]
}

fn consensus_families(report: &StatusReport) -> Vec<Family> {
    let mut rejected = Family::counter(
        "geodns_consensus_rejected_messages_total",
        "Consensus messages rejected, by reason (malformed: could not be read).",
    );
    for (reason, count) in &report.rejected {
        rejected.push(&[("reason", reason)], *count as f64);
    }
    rejected.push(&[("reason", "malformed")], report.malformed as f64);
    let mut latency = Family::histogram(
        "geodns_consensus_decision_seconds",
        "Time from a proposal reaching this node to its decision here.",
    );
    let bounds: Vec<f64> = geodns_consensus::engine::DECISION_BUCKETS_MS
        .iter()
        .map(|ms| *ms as f64 / 1e3)
        .collect();
    if !report.decision_ms.is_empty() {
        let sum = report.decision_ms_sum as f64 / 1e3;
        latency.observe(&[], &bounds, &report.decision_ms, sum);
    }
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    vec![
        Family::counter(
            "geodns_consensus_proposals_total",
            "Proposals this node made.",
        )
        .sample(&[], report.proposed as f64),
        Family::counter("geodns_consensus_votes_total", "Votes this node sent.")
            .sample(&[], report.votes_sent as f64),
        Family::counter(
            "geodns_consensus_messages_received_total",
            "Proposals, votes and finalize messages accepted.",
        )
        .sample(&[], report.received as f64),
        Family::counter("geodns_consensus_decisions_total", "Decisions made here.")
            .sample(&[("outcome", "passed")], report.passed as f64)
            .sample(&[("outcome", "failed")], report.failed as f64),
        latency,
        Family::counter(
            "geodns_consensus_official_changes_total",
            "Official result changes applied.",
        )
        .sample(&[], report.applied as f64),
        rejected,
        Family::gauge(
            "geodns_consensus_frozen",
            "1 when too few monitors are active to change official results.",
        )
        .sample(&[], flag(report.frozen)),
        Family::gauge("geodns_consensus_open_proposals", "Proposals in flight.")
            .sample(&[], report.open_proposals as f64),
        Family::gauge(
            "geodns_official_results",
            "Official results held, by status.",
        )
        .sample(
            &[("status", "up")],
            (report.official - report.official_down.min(report.official)) as f64,
        )
        .sample(&[("status", "down")], report.official_down as f64),
        Family::gauge(
            "geodns_official_age_seconds",
            "Seconds since the official results were last confirmed.",
        )
        .sample(&[], report.official_age_secs as f64),
    ]
}

fn bus_and_store(sources: &Sources<'_>) -> Vec<Family> {
    let (connected, state, dropped) = &sources.bus;
    let mut errors = Family::counter(
        "geodns_store_errors_total",
        "Failed store operations, by kind.",
    );
    // Every kind has a sample from the start.
    for kind in geodns_store::ErrorKind::ALL.map(geodns_store::ErrorKind::as_str) {
        let count = sources.store_errors.get(kind).copied().unwrap_or(0);
        errors.push(&[("kind", kind)], count as f64);
    }
    vec![
        Family::gauge(
            "geodns_bus_connected",
            "1 when the bus is connected, with its state.",
        )
        .sample(
            &[("state", state.as_str())],
            if *connected { 1.0 } else { 0.0 },
        ),
        Family::counter(
            "geodns_bus_dropped_messages_total",
            "Bus messages dropped because this node's consumer was behind.",
        )
        .sample(&[], *dropped as f64),
        errors,
        pool(sources.pool),
        {
            let mut open = Family::gauge(
                "geodns_outages_open",
                "Outages in the store not over yet (absent when the store cannot say).",
            );
            if let Some(count) = sources.open_outages {
                open.push(&[], count as f64);
            }
            open
        },
    ]
}

fn pool((open, idle, most): (u32, usize, u32)) -> Family {
    let open = open as usize;
    Family::gauge(
        "geodns_store_connections",
        "Store pool connections: idle, busy, and the most the pool opens.",
    )
    .sample(&[("state", "idle")], idle as f64)
    .sample(&[("state", "busy")], open.saturating_sub(idle) as f64)
    .sample(&[("state", "max")], f64::from(most))
}

fn delivery_families(telemetry: &Telemetry, report: &StatusReport) -> Vec<Family> {
    let mut matrix = Family::counter(
        "geodns_matrix_alerts_total",
        "Matrix alerts by result (sent, retried, refused, dropped).",
    );
    let mut waiting = Family::gauge(
        "geodns_matrix_alerts_pending",
        "Matrix alerts not sent yet.",
    );
    if let Some(outbox) = telemetry.0.outbox.get() {
        let queue = outbox.report();
        for (result, count) in [
            ("sent", queue.stored),
            ("retried", queue.retries),
            ("refused", queue.refused),
            ("dropped", queue.dropped),
        ] {
            matrix.push(&[("result", result)], count as f64);
        }
        waiting.push(&[], queue.pending as f64);
    }
    let mut outages = Family::counter(
        "geodns_collator_decisions_total",
        "Outage decisions the collator stored, retried, refused or dropped.",
    );
    if let Some(queue) = &report.collator {
        for (result, count) in [
            ("stored", queue.stored),
            ("retried", queue.retries),
            ("refused", queue.refused),
            ("dropped", queue.dropped),
        ] {
            outages.push(&[("result", result)], count as f64);
        }
    }
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed) as f64;
    vec![
        matrix,
        waiting,
        Family::counter(
            "geodns_redis_events_total",
            "Outage events published to Redis Streams, by result.",
        )
        .sample(
            &[("result", "published")],
            load(&telemetry.0.redis_published),
        )
        .sample(&[("result", "failed")], load(&telemetry.0.redis_failed)),
        outages,
    ]
}
