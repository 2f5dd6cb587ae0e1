//! The collator's metric families: outage decisions stored, retried, refused or dropped,
//! Matrix alerts, events published to Redis Streams, and usage collections.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use geodns_node::metrics::{Family, Source};

use crate::CollatorQueue;
use crate::alerts::outbox::Outbox;

/// Redis event deliveries, published and failed. Cheap to clone; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Deliveries(Arc<[AtomicU64; 2]>);

impl Deliveries {
    /// Counts one Redis event delivery.
    pub fn redis(&self, ok: bool) {
        self.0[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    fn load(&self, index: usize) -> f64 {
        self.0[index].load(Ordering::Relaxed) as f64
    }
}

/// What the collator counts.
#[derive(Debug)]
pub(super) struct CollatorFamilies {
    pub(super) queue: CollatorQueue,
    pub(super) outbox: Option<Outbox>,
    pub(super) deliveries: Deliveries,
}

impl Source for CollatorFamilies {
    fn families(&self) -> Vec<Family> {
        let mut matrix = Family::counter(
            "geodns_matrix_alerts_total",
            "Matrix alerts by result (sent, retried, refused, claimed from a silent collator).",
        );
        let mut waiting = Family::gauge(
            "geodns_matrix_alerts_pending",
            "Matrix alerts not sent yet.",
        );
        if let Some(outbox) = &self.outbox {
            let report = outbox.report();
            for (result, count) in [
                ("sent", report.sent),
                ("retried", report.retries),
                ("refused", report.refused),
                ("claimed", report.claimed),
            ] {
                matrix.push(&[("result", result)], count as f64);
            }
            waiting.push(&[], report.pending as f64);
        }
        let mut outages = Family::counter(
            "geodns_collator_decisions_total",
            "Outage decisions the collator stored, retried, refused or dropped.",
        );
        let queue = self.queue.report();
        for (result, count) in [
            ("stored", queue.stored),
            ("retried", queue.retries),
            ("refused", queue.refused),
            ("dropped", queue.dropped),
        ] {
            outages.push(&[("result", result)], count as f64);
        }
        let mut history = Family::counter(
            "geodns_collator_history_changes_total",
            "Changes of outage history this collator's writes made (each alerts once).",
        );
        for (change, count) in crate::queue::HISTORY_CHANGES
            .iter()
            .zip(self.queue.history_changes())
        {
            history.push(&[("change", change)], count as f64);
        }
        let [complete, incomplete] = self.queue.collections();
        let last = queue
            .last_collection
            .and_then(|run| run.at)
            .map_or(0.0, |at| at.timestamp_millis() as f64 / 1000.0);
        vec![
            matrix,
            waiting,
            Family::counter(
                "geodns_redis_events_total",
                "Outage events published to Redis Streams, by result.",
            )
            .sample(&[("result", "published")], self.deliveries.load(0))
            .sample(&[("result", "failed")], self.deliveries.load(1)),
            outages,
            history,
            Family::counter(
                "geodns_usage_collections_total",
                "Usage collections by result (complete: every DNS node stored; incomplete).",
            )
            .sample(&[("result", "complete")], complete as f64)
            .sample(&[("result", "incomplete")], incomplete as f64),
            Family::gauge(
                "geodns_usage_last_collection_timestamp_seconds",
                "When the last usage collection ran (Unix time; 0: not yet).",
            )
            .sample(&[], last),
        ]
    }
}
