//! Totals written in replace mode count each query once whatever the store did; the
//! journal brings them back after a crash, a cut last line included.
#![allow(clippy::unwrap_used)]

use super::*;

fn key(day: u32, member: &str) -> UsageKey {
    UsageKey {
        date: NaiveDate::from_ymd_opt(2026, 12, day).unwrap(),
        node: NodeId::parse("dns-1").unwrap(),
        domain: "rpc.example".into(),
        member: member.into(),
        asn: "AS64496".into(),
        network: "Example".into(),
        country_code: "DE".into(),
        country_name: "Germany".into(),
        ipv6: false,
    }
}

fn inc(pairs: &[(UsageKey, i64)]) -> BTreeMap<UsageKey, i64> {
    pairs.iter().cloned().collect()
}

#[test]
fn a_total_is_written_until_the_store_took_its_current_value() {
    let mut totals = Totals::default();
    totals.add(&inc(&[(key(7, "A"), 5)]));
    let first = totals.to_write();
    assert_eq!(first[0].hits, 5);
    // Counted on while the write was in flight: still dirty, with the new total.
    totals.add(&inc(&[(key(7, "A"), 2)]));
    totals.written(&first);
    assert_eq!(totals.to_write()[0].hits, 7);
    // The same write again (an unknown commit outcome, retried) is the same total.
    let again = totals.to_write();
    totals.written(&again);
    totals.written(&again);
    assert!(!totals.has_dirty());
    assert_eq!(totals.unwritten(), (0, 0));
}

#[test]
fn seeding_from_the_store_never_lowers_a_total() {
    let mut totals = Totals::default();
    totals.add(&inc(&[(key(7, "A"), 3)]));
    totals.seed([
        UsageRow {
            key: key(7, "A"),
            hits: 2,
        },
        UsageRow {
            key: key(7, "B"),
            hits: 9,
        },
    ]);
    let rows: BTreeMap<UsageKey, i64> = totals.rows.iter().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(rows[&key(7, "A")], 3, "the journal's larger total stays");
    assert_eq!(rows[&key(7, "B")], 9, "the store's total is taken");
    assert_eq!(
        totals.to_write().len(),
        1,
        "only A is dirty: B is what the store holds"
    );
}

#[test]
fn the_journal_replays_snapshot_then_increments_and_survives_a_cut_line() {
    let mut totals = Totals::default();
    totals.add(&inc(&[(key(6, "A"), 4), (key(7, "A"), 1)]));
    let written = totals.to_write();
    totals.written(&written[..1]);
    let mut journal = totals.snapshot_line();
    let later = inc(&[(key(7, "A"), 10), (key(7, "B"), 1)]);
    totals.add(&later);
    journal.push_str(&Totals::increments_line(&later));
    let (replayed, skipped) = Totals::replay(&journal);
    assert_eq!(skipped, 0);
    assert_eq!(replayed, totals, "same totals, same dirty counters");
    // A crash mid-append: the cut line is skipped, the rest kept.
    let cut = format!("{journal}{}", &Totals::increments_line(&later)[..20]);
    let (replayed, skipped) = Totals::replay(&cut);
    assert_eq!((replayed, skipped), (totals, 1));
}

#[test]
fn pruning_keeps_unwritten_days_and_drops_the_oldest_beyond_the_bound() {
    let mut totals = Totals::default();
    totals.add(&inc(&[
        (key(1, "A"), 1),
        (key(2, "A"), 2),
        (key(7, "A"), 3),
    ]));
    let day_two = vec![UsageRow {
        key: key(2, "A"),
        hits: 2,
    }];
    totals.written(&day_two);
    let keep = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    assert_eq!(totals.prune(keep, 10), Dropped::default());
    assert_eq!(
        totals.len(),
        2,
        "the written old day goes, the unwritten one stays"
    );
    let dropped = totals.prune(keep, 1);
    assert_eq!(
        dropped,
        Dropped {
            unwritten_rows: 1,
            unwritten_hits: 1
        }
    );
    assert_eq!(totals.days().len(), 1);
}
