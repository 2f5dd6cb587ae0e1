//! Between the API's questions and the store's: downtime queries to outage filters,
//! request filters to usage filters and groups, the store's buckets and summaries back
//! to the API's shapes, and the readiness check of the official results' age. Pure.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use geodns_core::ids::MemberId;
use geodns_node::consensus::StatusReport;
use geodns_store::{OutageFilter, OutageState, UsageBucket, UsageFilter, UsageGroup, UsageSummary};
use serde_json::{Map, Value};

use crate::Check;
use crate::downtime::DowntimeQuery;
use crate::requests::{DailyHits, Dimension, RequestFilter, RequestTotals};
use crate::stats::{UsageBy, UsageTotal};

/// The most outages `/metrics` counts as open.
const OPEN_LIMIT: u32 = 100_000;

/// The outages still open (for `/metrics`).
pub(super) fn ongoing() -> OutageFilter {
    OutageFilter {
        state: OutageState::Ongoing,
        limit: Some(OPEN_LIMIT),
        ..OutageFilter::default()
    }
}

/// The outage filter of a downtime query; `None` when it names a member no member can
/// be (no outages, without asking the store).
pub(super) fn outage_filter(query: &DowntimeQuery) -> Option<OutageFilter> {
    let member = match query.member.as_deref().map(MemberId::parse) {
        None => None,
        Some(Ok(member)) => Some(member),
        Some(Err(_)) => return None,
    };
    Some(OutageFilter {
        member,
        domain: query.domain.clone(),
        kind: query.kind,
        from: Some(query.from),
        to: Some(query.to),
        state: match query.ongoing {
            None => OutageState::All,
            Some(true) => OutageState::Ongoing,
            Some(false) => OutageState::Resolved,
        },
        limit: Some(query.limit),
    })
}

/// A member's usage between two days, grouped `by`.
pub(super) fn member_usage(
    member: &str,
    (first, last): (NaiveDate, NaiveDate),
    by: UsageBy,
) -> (UsageFilter, UsageGroup) {
    let filter = UsageFilter {
        members: vec![member.to_owned()],
        ..UsageFilter::between(first, last)
    };
    let group = match by {
        UsageBy::Country => UsageGroup::Country,
        UsageBy::Domain => UsageGroup::Domain,
    };
    (filter, group)
}

/// Buckets summed over their days by key (the label kept is the greatest seen), most
/// hits first, then by key.
pub(super) fn sum_by_key(buckets: Vec<UsageBucket>) -> Vec<UsageTotal> {
    let mut sums: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for bucket in buckets {
        let entry = sums.entry(bucket.key).or_default();
        if bucket.label > entry.0 {
            entry.0 = bucket.label;
        }
        entry.1 += bucket.hits;
    }
    let mut totals: Vec<UsageTotal> = sums
        .into_iter()
        .map(|(key, (label, hits))| (key, label, hits))
        .collect();
    totals.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    totals
}

/// The usage filter and group of a request route.
pub(super) fn requests(filter: &RequestFilter, by: Dimension) -> (UsageFilter, UsageGroup) {
    let store_filter = UsageFilter {
        countries: filter.countries.clone(),
        asns: filter.asns.clone(),
        networks: filter.networks.clone(),
        members: filter.members.clone(),
        domains: filter.domains.clone(),
        limit: Some(filter.limit),
        ..UsageFilter::between(filter.from, filter.to)
    };
    let group = match by {
        Dimension::Country => UsageGroup::Country,
        Dimension::Asn => UsageGroup::Asn,
        Dimension::Domain => UsageGroup::Domain,
        Dimension::Member => UsageGroup::Member,
    };
    (store_filter, group)
}

/// A bucket as a request route's row.
pub(super) fn daily_hits(bucket: UsageBucket) -> DailyHits {
    DailyHits {
        date: bucket.date,
        key: bucket.key,
        label: bucket.label,
        hits: bucket.hits,
    }
}

/// The store's summary as `/api/requests/summary` answers it.
pub(super) fn request_totals(summary: UsageSummary) -> RequestTotals {
    RequestTotals {
        requests: summary.total_hits,
        countries: summary.countries,
        asns: summary.asns,
        members: summary.members,
        domains: summary.domains,
    }
}

/// The stored routes (`host/CC` → route) of `countries`.
pub(super) fn routes_of(
    stored: Vec<(String, Map<String, Value>)>,
    countries: &[&str],
) -> Vec<Value> {
    stored
        .into_iter()
        .filter(|(destination, _)| {
            let country = destination.rsplit('/').next().unwrap_or_default();
            countries.contains(&country)
        })
        .map(|(_, route)| Value::Object(route))
        .collect()
}

/// The readiness check of the official results' age (`limit`: `[dns] max_snapshot_age`).
pub(super) fn snapshot_check(report: &StatusReport, limit: Duration) -> Check {
    Check {
        name: "snapshot".into(),
        ok: !report.stale,
        detail: if report.stale {
            format!(
                "official results are {} s old, more than [dns] max_snapshot_age ({} s)",
                report.official_age_secs,
                limit.as_secs()
            )
        } else {
            format!(
                "official results confirmed {} s ago",
                report.official_age_secs
            )
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::DateTime;
    use serde_json::json;

    use super::*;

    fn bucket(day: u32, key: &str, label: &str, hits: i64) -> UsageBucket {
        UsageBucket {
            date: NaiveDate::from_ymd_opt(2026, 12, day).unwrap(),
            key: key.into(),
            label: label.into(),
            hits,
        }
    }

    #[test]
    fn downtime_queries_become_outage_filters() {
        let query = DowntimeQuery {
            from: DateTime::UNIX_EPOCH,
            to: DateTime::UNIX_EPOCH,
            member: Some("Near".into()),
            domain: Some("rpc.geo.example".into()),
            kind: None,
            ongoing: Some(false),
            limit: 10,
        };
        let filter = outage_filter(&query).unwrap();
        assert_eq!(filter.member.unwrap().as_str(), "Near");
        assert_eq!(filter.state, OutageState::Resolved);
        assert_eq!(filter.limit, Some(10));
        let nobody = DowntimeQuery {
            member: Some(String::new()),
            ..query
        };
        assert!(
            outage_filter(&nobody).is_none(),
            "no member has an empty name"
        );
    }

    #[test]
    fn member_usage_is_summed_over_days_most_hits_first() {
        let totals = sum_by_key(vec![
            bucket(1, "DE", "Germany", 5),
            bucket(2, "US", "United States", 7),
            bucket(2, "DE", "Germany", 4),
            bucket(3, "FR", "", 2),
            bucket(4, "FR", "France", 2),
        ]);
        assert_eq!(
            totals,
            [
                ("DE".to_owned(), "Germany".to_owned(), 9),
                ("US".to_owned(), "United States".to_owned(), 7),
                ("FR".to_owned(), "France".to_owned(), 4),
            ]
        );
    }

    #[test]
    fn routes_are_picked_by_country() {
        let route = |host: &str| json!({"host": host}).as_object().unwrap().clone();
        let stored = vec![
            ("a.example/DE".to_owned(), route("a")),
            ("a.example/US".to_owned(), route("b")),
        ];
        assert_eq!(routes_of(stored, &["US"]), [json!({"host": "b"})]);
    }

    #[test]
    fn a_stale_snapshot_is_not_ready_and_says_why() {
        let mut report = StatusReport {
            official_age_secs: 700,
            ..StatusReport::default()
        };
        assert!(snapshot_check(&report, Duration::from_secs(600)).ok);
        report.stale = true;
        let check = snapshot_check(&report, Duration::from_secs(600));
        assert!(!check.ok);
        assert_eq!(
            check.detail,
            "official results are 700 s old, more than [dns] max_snapshot_age (600 s)"
        );
    }
}
