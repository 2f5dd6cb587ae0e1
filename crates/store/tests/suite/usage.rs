//! Usage counter cases.

use chrono::NaiveDate;
use geodns_core::ids::NodeId;
use geodns_core::records::{UsageKey, UsageRow};
use geodns_store::{ErrorKind, SqlStore, UsageFilter, UsageGroup, UsageStore, WriteMode};

use crate::harness::Kind;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

pub fn key(date: NaiveDate, member: &str, country: &str) -> UsageKey {
    UsageKey {
        date,
        node: NodeId::parse("dns-1").unwrap(),
        domain: "rpc.dotters.network".into(),
        member: member.into(),
        asn: "AS3320".into(),
        network: "Deutsche Telekom AG".into(),
        country_code: country.into(),
        country_name: if country == "DE" {
            "Germany".into()
        } else {
            "Other".into()
        },
        ipv6: false,
    }
}

fn row(key: UsageKey, hits: i64) -> UsageRow {
    UsageRow { key, hits }
}

async fn total(store: &SqlStore) -> i64 {
    store
        .usage_summary(&UsageFilter::between(day(1), day(30)))
        .await
        .unwrap()
        .total_hits
}

pub async fn add_accumulates(store: SqlStore, _: Kind) {
    let rows = vec![row(key(day(20), "Amforc", "DE"), 5)];
    for _ in 0..3 {
        let report = store.write_usage(&rows, WriteMode::Add).await.unwrap();
        assert_eq!((report.written, report.failed.len()), (1, 0));
    }
    assert_eq!(total(&store).await, 15);
}

pub async fn replace_is_idempotent(store: SqlStore, _: Kind) {
    let rows = vec![
        row(key(day(20), "Amforc", "DE"), 147),
        row(key(day(20), "Stake Plus", "DE"), 3),
    ];
    for _ in 0..3 {
        store.write_usage(&rows, WriteMode::Replace).await.unwrap();
    }
    assert_eq!(total(&store).await, 150);
    store
        .write_usage(
            &[row(key(day(20), "Amforc", "DE"), 100)],
            WriteMode::Replace,
        )
        .await
        .unwrap();
    assert_eq!(total(&store).await, 103);
}

/// Cumulative totals from two writers (a DNS node and a collator's older copy): the
/// larger stays, whatever the order, and writing one again changes nothing.
pub async fn max_keeps_the_larger_total(store: SqlStore, _: Kind) {
    let k = key(day(20), "Amforc", "DE");
    for hits in [10, 25, 12, 25, 25] {
        store
            .write_usage(&[row(k.clone(), hits)], WriteMode::Max)
            .await
            .unwrap();
    }
    assert_eq!(total(&store).await, 25);
    store
        .write_usage(&[row(k.clone(), 30), row(k, 28)], WriteMode::Max)
        .await
        .unwrap();
    assert_eq!(
        total(&store).await,
        30,
        "the larger of equal keys in one batch"
    );
}

pub async fn batch_merges_duplicate_keys(store: SqlStore, _: Kind) {
    let k = key(day(21), "Amforc", "DE");
    let report = store
        .write_usage(&[row(k.clone(), 2), row(k.clone(), 3)], WriteMode::Add)
        .await
        .unwrap();
    assert_eq!(report.written, 1);
    assert_eq!(total(&store).await, 5);
    store
        .write_usage(&[row(k.clone(), 7), row(k, 9)], WriteMode::Replace)
        .await
        .unwrap();
    assert_eq!(
        total(&store).await,
        9,
        "the last of equal keys wins in replace mode"
    );
}

pub async fn invalid_rows_are_reported_and_the_rest_written(store: SqlStore, _: Kind) {
    let good = row(key(day(22), "Amforc", "DE"), 4);
    let empty_member = row(key(day(22), "", "DE"), 1);
    let negative = row(key(day(22), "Dwellir", "DE"), -3);
    let ancient = row(
        key(
            NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(),
            "Dwellir",
            "DE",
        ),
        1,
    );
    let report = store
        .write_usage(&[empty_member, good, negative, ancient], WriteMode::Add)
        .await
        .unwrap();
    assert_eq!(report.written, 1);
    let reasons: Vec<String> = report.failed.iter().map(|f| f.error.to_string()).collect();
    assert_eq!(
        reasons,
        [
            "invalid usage row: member: must not be empty",
            "invalid usage row: hits: -3 is negative",
            "invalid usage row: date: 1970-01-01 is outside 2000-01-01..=2199-12-31",
        ]
    );
    assert!(
        report
            .failed
            .iter()
            .all(|f| f.error.kind() == ErrorKind::InvalidRecord)
    );
    assert_eq!(total(&store).await, 4);
}

pub async fn large_batches_span_chunks(store: SqlStore, _: Kind) {
    let rows: Vec<UsageRow> = (0..1_234)
        .map(|i| row(key(day(1 + i % 28), &format!("member-{i}"), "DE"), 2))
        .collect();
    let report = store.write_usage(&rows, WriteMode::Replace).await.unwrap();
    assert_eq!((report.written, report.failed.len()), (1_234, 0));
    assert_eq!(total(&store).await, 2_468);
    let summary = store
        .usage_summary(&UsageFilter::between(day(1), day(30)))
        .await
        .unwrap();
    assert_eq!(summary.members, 1_234);
}

pub async fn queries_group_and_filter(store: SqlStore, _: Kind) {
    let mut v6 = key(day(10), "Amforc", "US");
    v6.ipv6 = true;
    v6.asn = "AS15169".into();
    v6.network = "Google".into();
    let rows = vec![
        row(key(day(10), "Amforc", "DE"), 10),
        row(key(day(10), "Stake Plus", "DE"), 5),
        row(v6, 7),
        row(key(day(11), "Amforc", "DE"), 1),
        row(key(day(12), "Amforc", "DE"), 100),
    ];
    store.write_usage(&rows, WriteMode::Add).await.unwrap();
    let filter = UsageFilter::between(day(10), day(11));
    let countries = store.usage(&filter, UsageGroup::Country).await.unwrap();
    let flat: Vec<(String, String, String, i64)> = countries
        .iter()
        .map(|b| (b.date.to_string(), b.key.clone(), b.label.clone(), b.hits))
        .collect();
    assert_eq!(
        flat,
        [
            ("2026-11-10".into(), "DE".into(), "Germany".into(), 15),
            ("2026-11-10".into(), "US".into(), "Other".into(), 7),
            ("2026-11-11".into(), "DE".into(), "Germany".into(), 1),
        ]
    );
    let members = store.usage(&filter, UsageGroup::Member).await.unwrap();
    assert_eq!(
        members
            .iter()
            .filter(|b| b.key == "Amforc")
            .map(|b| b.hits)
            .sum::<i64>(),
        18
    );
    let asns = store
        .usage(
            &UsageFilter {
                asns: vec!["AS15169".into()],
                ..filter.clone()
            },
            UsageGroup::Asn,
        )
        .await
        .unwrap();
    assert_eq!(asns.len(), 1);
    assert_eq!(
        (asns[0].key.as_str(), asns[0].label.as_str(), asns[0].hits),
        ("AS15169", "Google", 7)
    );
    let only = UsageFilter {
        members: vec!["Stake Plus".into()],
        countries: vec!["DE".into()],
        ..filter.clone()
    };
    let domains = store.usage(&only, UsageGroup::Domain).await.unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(
        (domains[0].key.as_str(), domains[0].hits),
        ("rpc.dotters.network", 5)
    );
    let nothing = UsageFilter {
        domains: vec!["none.example".into()],
        ..filter
    };
    assert!(
        store
            .usage(&nothing, UsageGroup::Country)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn filters_take_lists_network_substrings_and_a_limit(store: SqlStore, _: Kind) {
    let mut google = key(day(10), "Amforc", "US");
    google.asn = "AS15169".into();
    google.network = "Google 100%_Fiber".into();
    let rows = vec![
        row(key(day(10), "Amforc", "DE"), 10),
        row(key(day(10), "Stake Plus", "DE"), 5),
        row(key(day(10), "Dwellir", "FR"), 3),
        row(google, 7),
    ];
    store.write_usage(&rows, WriteMode::Add).await.unwrap();
    let all = UsageFilter::between(day(10), day(10));
    let hits = |buckets: Vec<geodns_store::UsageBucket>| -> Vec<(String, i64)> {
        buckets.into_iter().map(|b| (b.key, b.hits)).collect()
    };
    let two = UsageFilter {
        members: vec!["Amforc".into(), "Dwellir".into()],
        ..all.clone()
    };
    let members = store.usage(&two, UsageGroup::Member).await.unwrap();
    assert_eq!(
        hits(members),
        [("Amforc".into(), 17), ("Dwellir".into(), 3)]
    );
    // A network name matches by substring in any case; `%` and `_` are literal.
    for (pattern, want) in [("google", 7), ("100%_f", 7), ("TELEKOM", 18), ("1000%", 0)] {
        let filter = UsageFilter {
            networks: vec![pattern.into()],
            ..all.clone()
        };
        let total: i64 = store
            .usage(&filter, UsageGroup::Country)
            .await
            .unwrap()
            .iter()
            .map(|b| b.hits)
            .sum();
        assert_eq!(total, want, "{pattern}");
    }
    let first = UsageFilter {
        limit: Some(2),
        ..all
    };
    let members = store.usage(&first, UsageGroup::Member).await.unwrap();
    assert_eq!(
        hits(members),
        [("Amforc".into(), 17), ("Stake Plus".into(), 5)],
        "most hits first, at most two"
    );
}

pub async fn summary_counts(store: SqlStore, _: Kind) {
    let empty = store
        .usage_summary(&UsageFilter::between(day(1), day(30)))
        .await
        .unwrap();
    assert_eq!(empty.total_hits, 0);
    let mut other = key(day(3), "Dwellir", "NG");
    other.domain = "polkadot.dotters.network".into();
    other.asn = String::new();
    store
        .write_usage(
            &[row(key(day(3), "Amforc", "DE"), 2), row(other, 3)],
            WriteMode::Add,
        )
        .await
        .unwrap();
    let summary = store
        .usage_summary(&UsageFilter::between(day(1), day(30)))
        .await
        .unwrap();
    assert_eq!(
        (
            summary.total_hits,
            summary.countries,
            summary.asns,
            summary.members,
            summary.domains
        ),
        (5, 2, 1, 2, 2),
        "the empty ASN is not counted"
    );
}

pub async fn concurrent_writers_end_with_the_exact_sum(store: SqlStore, _: Kind) {
    const WRITERS: i64 = 8;
    const ROUNDS: i64 = 25;
    let keys: Vec<UsageKey> = (0..20)
        .map(|i| key(day(15), &format!("member-{i}"), "DE"))
        .collect();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        let mut keys = keys.clone();
        // Different orders per writer: the store must still not deadlock or lose updates.
        keys.rotate_left(writer as usize);
        tasks.push(tokio::spawn(async move {
            for _ in 0..ROUNDS {
                let rows: Vec<UsageRow> = keys.iter().map(|k| row(k.clone(), 1)).collect();
                let report = store.write_usage(&rows, WriteMode::Add).await.unwrap();
                assert!(
                    report.failed.is_empty(),
                    "{:?}",
                    report.failed.first().map(|f| f.error.to_string())
                );
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(total(&store).await, WRITERS * ROUNDS * 20);
    let per_member = store
        .usage(&UsageFilter::between(day(15), day(15)), UsageGroup::Member)
        .await
        .unwrap();
    assert_eq!(per_member.len(), 20);
    assert!(
        per_member.iter().all(|b| b.hits == WRITERS * ROUNDS),
        "{per_member:?}"
    );
}

pub async fn hostile_strings_round_trip(store: SqlStore, _: Kind) {
    let names = [
        "O'Brien; DROP TABLE requests; --",
        "Zürich 東京 🚀",
        "back\\slash \"quoted\" %_?",
    ];
    let rows: Vec<UsageRow> = names.iter().map(|n| row(key(day(5), n, "DE"), 1)).collect();
    let report = store.write_usage(&rows, WriteMode::Add).await.unwrap();
    assert_eq!(report.written, 3);
    let members = store
        .usage(&UsageFilter::between(day(5), day(5)), UsageGroup::Member)
        .await
        .unwrap();
    let mut found: Vec<&str> = members.iter().map(|b| b.key.as_str()).collect();
    found.sort_unstable();
    let mut expected = names.to_vec();
    expected.sort_unstable();
    assert_eq!(found, expected);
    let one = UsageFilter {
        members: vec![names[0].into()],
        ..UsageFilter::between(day(5), day(5))
    };
    assert_eq!(store.usage_summary(&one).await.unwrap().total_hits, 1);
}

/// A trigger makes the database refuse one row; the batch falls back to row-by-row, the
/// refused row is reported with the database's reason and every other row is written.
pub async fn a_refused_row_does_not_lose_the_rest(store: SqlStore, kind: Kind) {
    use sqlx::{AssertSqlSafe, Executor};
    let trigger = match kind {
        Kind::Sqlite => "CREATE TRIGGER poison BEFORE INSERT ON requests WHEN NEW.member_name = 'poison' \
                         BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            .to_owned(),
        Kind::MySql => "CREATE TRIGGER poison BEFORE INSERT ON requests FOR EACH ROW BEGIN \
                        IF NEW.member_name = 'poison' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned row'; END IF; END"
            .to_owned(),
        Kind::Postgres => "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                           IF NEW.member_name = 'poison' THEN RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql; \
                           CREATE TRIGGER poison BEFORE INSERT ON requests FOR EACH ROW EXECUTE FUNCTION poison()"
            .to_owned(),
    };
    store.pool().execute(AssertSqlSafe(trigger)).await.unwrap();
    let mut rows: Vec<UsageRow> = (0..10)
        .map(|i| row(key(day(8), &format!("member-{i}"), "DE"), 1))
        .collect();
    rows.insert(4, row(key(day(8), "poison", "DE"), 1));
    let report = store.write_usage(&rows, WriteMode::Add).await.unwrap();
    assert_eq!(report.written, 10);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].row.key.member, "poison");
    assert_eq!(report.failed[0].error.kind(), ErrorKind::Database);
    assert!(
        report.failed[0].error.to_string().contains("poisoned row"),
        "{}",
        report.failed[0].error
    );
    assert_eq!(total(&store).await, 10);
}

/// Totals per counter key (what `dns.usage.getUsage` answers with): summed over nodes, or
/// one node's rows only; IPv4 and IPv6 apart.
pub async fn totals_sum_over_nodes_or_keep_one_node(store: SqlStore, _: Kind) {
    let mut other = key(day(3), "Stake Plus", "DE");
    other.node = NodeId::parse("dns-2").unwrap();
    let mut v6 = key(day(3), "Stake Plus", "DE");
    v6.ipv6 = true;
    let rows = [
        row(key(day(3), "Stake Plus", "DE"), 5),
        row(other, 7),
        row(v6, 2),
    ];
    store.write_usage(&rows, WriteMode::Add).await.unwrap();
    let all = store
        .usage_totals(&UsageFilter::between(day(1), day(30)))
        .await
        .unwrap();
    let hits: Vec<(bool, i64)> = all.iter().map(|t| (t.ipv6, t.hits)).collect();
    assert_eq!(hits, [(false, 12), (true, 2)]);
    assert_eq!(
        (all[0].member.as_str(), all[0].asn.as_str()),
        ("Stake Plus", "AS3320")
    );
    let mine = UsageFilter {
        nodes: vec!["dns-2".into()],
        ..UsageFilter::between(day(1), day(30))
    };
    let mine = store.usage_totals(&mine).await.unwrap();
    assert_eq!(mine.iter().map(|t| t.hits).collect::<Vec<_>>(), [7]);
}
