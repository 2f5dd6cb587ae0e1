//! Usage counting on the query path: one map per worker, keyed by pointers to shared
//! names and GeoIP records (hashing three pointers, not strings), handed to the flusher
//! whole and turned into the store's rows there.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use geodns_core::ids::NodeId;
use geodns_core::records::{UsageKey, UsageRow};

use crate::geo::{AsnInfo, CityInfo};
use crate::hash::FxHashMap;

/// Member name counted when no member answered (the original's placeholder).
pub const NO_MEMBER: &str = "(none)";

/// One counter's key, compared by pointer.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Days since 1970-01-01 (UTC).
    pub day: i32,
    /// Hostname.
    pub host: Arc<str>,
    /// Member answered with, `(none)` or `override:<CC>`.
    pub member: Arc<str>,
    /// Client's City record.
    pub city: Option<Arc<CityInfo>>,
    /// Client's ASN record.
    pub asn: Option<Arc<AsnInfo>>,
    /// AAAA answer.
    pub ipv6: bool,
}

fn address<T: ?Sized>(value: Option<&Arc<T>>) -> usize {
    value.map_or(0, |v| Arc::as_ptr(v).cast::<u8>() as usize)
}

/// A slot's identity: its day, family and pointers. Looking a hit up by it touches no
/// reference count, so workers never contend on the shared names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotKey {
    day: i32,
    ipv6: bool,
    host: usize,
    member: usize,
    city: usize,
    asn: usize,
}

/// A worker's counters since its last hand-off.
#[derive(Debug, Default)]
pub struct Counts {
    /// Hits per slot.
    pub hits: FxHashMap<SlotKey, (Slot, u64)>,
    /// Queries read (answered or not).
    pub queries: u64,
    /// Responses by rcode (0..=15, 16 = BADVERS).
    pub rcodes: [u64; 17],
    /// Responses truncated (TC set).
    pub truncated: u64,
    /// Geo answers given by a no-healthy-member fallback.
    pub fallback: u64,
    /// Packets dropped unanswered.
    pub dropped: u64,
    /// UDP responses rate-limited: dropped, slipped (sent truncated); in log-only mode
    /// what would have been.
    pub rrl: [u64; 2],
}

impl Counts {
    /// Counts one hit; the names are cloned only the first time a slot is seen.
    pub fn hit(
        &mut self,
        day: i32,
        host: &Arc<str>,
        member: &Arc<str>,
        city: Option<&Arc<CityInfo>>,
        asn: Option<&Arc<AsnInfo>>,
        ipv6: bool,
    ) {
        let key = SlotKey {
            day,
            ipv6,
            host: address(Some(host)),
            member: address(Some(member)),
            city: address(city),
            asn: address(asn),
        };
        let entry = self.hits.entry(key).or_insert_with(|| {
            let slot = Slot {
                day,
                host: host.clone(),
                member: member.clone(),
                city: city.cloned(),
                asn: asn.cloned(),
                ipv6,
            };
            (slot, 0)
        });
        entry.1 += 1;
    }

    /// Adds another worker's counters.
    pub fn merge(&mut self, other: Counts) {
        for (key, (slot, hits)) in other.hits {
            self.hits.entry(key).or_insert((slot, 0)).1 += hits;
        }
        self.queries += other.queries;
        for (mine, theirs) in self.rcodes.iter_mut().zip(other.rcodes) {
            *mine += theirs;
        }
        self.truncated += other.truncated;
        self.fallback += other.fallback;
        self.dropped += other.dropped;
        self.rrl[0] += other.rrl[0];
        self.rrl[1] += other.rrl[1];
    }

    /// Takes the counters, leaving empty ones.
    pub fn take(&mut self) -> Counts {
        std::mem::take(self)
    }
}

/// The date of a day number.
pub fn date(day: i32) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    epoch
        .checked_add_days(Days::new(u64::try_from(day).unwrap_or(0)))
        .unwrap_or(epoch)
}

/// The day number of a date.
pub fn day_of(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (date - epoch).num_days() as i32
}

/// Turns hits into store rows under `node`, summing slots with equal text.
pub fn rows(hits: &FxHashMap<SlotKey, (Slot, u64)>, node: &NodeId) -> BTreeMap<UsageKey, i64> {
    let mut out = BTreeMap::new();
    for (slot, count) in hits.values() {
        let (country_code, country_name) = match &slot.city {
            Some(city) if city.country_code != *b"??" => (
                String::from_utf8_lossy(&city.country_code).into_owned(),
                city.country_name.to_string(),
            ),
            _ => ("??".to_owned(), "Unknown".to_owned()),
        };
        let key = UsageKey {
            date: date(slot.day),
            node: node.clone(),
            domain: slot.host.to_string(),
            member: slot.member.to_string(),
            asn: slot
                .asn
                .as_ref()
                .map(|a| a.asn.to_string())
                .unwrap_or_default(),
            network: slot
                .asn
                .as_ref()
                .map(|a| a.network.to_string())
                .unwrap_or_default(),
            country_code,
            country_name,
            ipv6: slot.ipv6,
        };
        *out.entry(key).or_insert(0) += i64::try_from(*count).unwrap_or(i64::MAX);
    }
    out
}

/// Rows as a list.
pub fn to_rows(map: &BTreeMap<UsageKey, i64>) -> Vec<UsageRow> {
    map.iter()
        .map(|(key, hits)| UsageRow {
            key: key.clone(),
            hits: *hits,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_with_equal_text_but_different_pointers_sum_into_one_row() {
        let node = NodeId::parse("dns-1").unwrap_or_else(|_| unreachable!());
        let day = day_of(NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default());
        let member: Arc<str> = Arc::from(NO_MEMBER);
        let (first, second): (Arc<str>, Arc<str>) =
            (Arc::from("rpc.example.net"), Arc::from("rpc.example.net"));
        let mut counts = Counts::default();
        counts.hit(day, &first, &member, None, None, false);
        counts.hit(day, &first, &member, None, None, false);
        counts.hit(day, &second, &member, None, None, false);
        assert_eq!(counts.hits.len(), 2);
        let rows = rows(&counts.hits, &node);
        assert_eq!(rows.len(), 1);
        let (key, hits) = rows.iter().next().unwrap_or_else(|| unreachable!());
        assert_eq!(*hits, 3);
        assert_eq!(key.country_code, "??");
        assert_eq!(key.country_name, "Unknown");
        assert_eq!(key.date.to_string(), "2026-11-29");
    }
}
