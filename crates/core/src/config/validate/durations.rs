//! Sane ranges for every duration in the configuration. A value outside its range is an
//! error naming the key and the range, so no later `Instant + Duration` can overflow and
//! no timer is set to a value that only a typo could mean.

use std::time::Duration;

use super::Report;
use crate::config::error::Origin;
use crate::config::file::{CheckFile, ConfigFile};
use crate::duration::format;

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// A duration key, its value and its allowed range (inclusive).
struct Rule {
    path: String,
    value: Duration,
    min: Duration,
    max: Duration,
}

fn rule(path: impl Into<String>, value: Duration, min: Duration, max: Duration) -> Rule {
    Rule {
        path: path.into(),
        value,
        min,
        max,
    }
}

/// Checks every section-level duration of `file`.
pub(super) fn validate_durations(file: &ConfigFile, origin: &Origin, report: &mut Report) {
    let storage = &file.storage;
    let sources = &file.sources;
    let cluster = &file.cluster;
    let consensus = &file.consensus;
    let collator = &file.collator;
    let rules = [
        rule(
            "listen.api_tls_reload",
            file.listen.api_tls_reload,
            SECOND,
            DAY,
        ),
        rule(
            "collator.usage_every",
            collator.usage_every,
            10 * SECOND,
            DAY,
        ),
        rule(
            "collator.log_retention",
            collator.log_retention,
            DAY,
            36500 * DAY,
        ),
        rule(
            "api.header_timeout",
            file.api.header_timeout,
            SECOND,
            MINUTE,
        ),
        rule(
            "api.request_timeout",
            file.api.request_timeout,
            SECOND,
            HOUR,
        ),
        rule(
            "api.connection_lifetime",
            file.api.connection_lifetime,
            SECOND,
            DAY,
        ),
        rule(
            "collator.alert_takeover",
            collator.alert_takeover,
            5 * SECOND,
            7 * DAY,
        ),
        rule(
            "collator.flap_tombstone",
            collator.flap_tombstone,
            MINUTE,
            3650 * DAY,
        ),
        rule(
            "collator.usage_timeout",
            collator.usage_timeout,
            SECOND,
            HOUR,
        ),
        rule(
            "collator.message_retention",
            collator.message_retention,
            MINUTE,
            3650 * DAY,
        ),
        rule(
            "collator.tables_interval",
            collator.tables_interval,
            10 * MS,
            DAY,
        ),
        rule(
            "storage.connect_retry",
            storage.connect_retry,
            Duration::ZERO,
            DAY,
        ),
        rule(
            "storage.max_lifetime",
            storage.max_lifetime,
            SECOND,
            30 * DAY,
        ),
        rule(
            "storage.idle_timeout",
            storage.idle_timeout,
            SECOND,
            30 * DAY,
        ),
        rule(
            "monitor.separation",
            file.monitor.separation,
            Duration::ZERO,
            MINUTE,
        ),
        rule(
            "monitor.minimum_offline",
            file.monitor.minimum_offline,
            Duration::ZERO,
            DAY,
        ),
        rule(
            "sources.reload_interval",
            sources.reload_interval,
            SECOND,
            30 * DAY,
        ),
        rule(
            "sources.fetch_timeout",
            sources.fetch_timeout,
            SECOND,
            10 * MINUTE,
        ),
        rule("cluster.heartbeat", cluster.heartbeat, 100 * MS, HOUR),
        rule(
            "cluster.active_window",
            cluster.active_window,
            200 * MS,
            DAY,
        ),
        rule(
            "cluster.purge_after",
            cluster.purge_after,
            200 * MS,
            30 * DAY,
        ),
        rule(
            "consensus.proposal_timeout",
            consensus.proposal_timeout,
            100 * MS,
            HOUR,
        ),
        rule(
            "consensus.republish_interval",
            consensus.republish_interval,
            100 * MS,
            HOUR,
        ),
        rule(
            "consensus.cache_interval",
            consensus.cache_interval,
            SECOND,
            DAY,
        ),
        rule(
            "consensus.max_skew",
            consensus.max_skew,
            Duration::ZERO,
            MINUTE,
        ),
        rule(
            "consensus.max_message_age",
            consensus.max_message_age,
            SECOND,
            HOUR,
        ),
    ];
    check_all(rules, origin, report);
    if collator.usage_timeout >= collator.usage_every {
        report.error(
            origin,
            "collator.usage_timeout",
            format!(
                "{} is not shorter than collator.usage_every ({}): a collection would still wait when the next is due",
                format(collator.usage_timeout),
                format(collator.usage_every)
            ),
        );
    }
}

/// Checks the durations of the check at `checks[index]`.
pub(super) fn validate_check_durations(
    file: &CheckFile,
    index: usize,
    origin: &Origin,
    report: &mut Report,
) {
    let path = |key: &str| format!("checks[{index}].{key}");
    let mut rules = vec![
        rule(path("interval"), file.interval, SECOND, DAY),
        rule(path("timeout"), file.timeout, MS, 10 * MINUTE),
    ];
    let optional = [
        ("ping_interval", file.ping_interval, MS, MINUTE),
        ("per_ping_timeout", file.per_ping_timeout, MS, MINUTE),
        ("max_latency", file.max_latency, MS, MINUTE),
        ("connect_timeout", file.connect_timeout, MS, 10 * MINUTE),
        ("read_timeout", file.read_timeout, MS, 10 * MINUTE),
        (
            "min_validity",
            file.min_validity,
            Duration::ZERO,
            3650 * DAY,
        ),
    ];
    for (key, value, min, max) in optional {
        if let Some(value) = value {
            rules.push(rule(path(key), value, min, max));
        }
    }
    check_all(rules, origin, report);
}

fn check_all(rules: impl IntoIterator<Item = Rule>, origin: &Origin, report: &mut Report) {
    for rule in rules {
        if rule.value < rule.min || rule.value > rule.max {
            report.error(
                origin,
                rule.path,
                format!(
                    "{} is out of range: use {} to {}",
                    format(rule.value),
                    format(rule.min),
                    format(rule.max)
                ),
            );
        }
    }
}
