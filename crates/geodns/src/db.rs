//! `geodns db`: apply migrations, check a database, and benchmark usage writes.

use std::time::Duration;

use chrono::NaiveDate;
use geodns_core::ids::NodeId;
use geodns_core::records::{UsageKey, UsageRow};
use geodns_store::{HealthCheck, SqlStore, StoreConfig, StoreError, UsageStore, WriteMode};

use geodns_node::clock::Stopwatch;

/// Applies pending migrations and prints what was done.
pub async fn migrate(config: StoreConfig, out: &mut impl std::io::Write) -> Result<(), StoreError> {
    let store = SqlStore::connect(config.clone()).await?;
    let report = store.migrate().await?;
    let target = describe(&config, &store);
    if report.applied.is_empty() {
        writeln!(
            out,
            "{target}: nothing to apply ({} migrations already applied)",
            report.already.len()
        )
        .ok();
    }
    for (version, description) in &report.applied {
        writeln!(
            out,
            "{target}: applied migration {version:04} {description}"
        )
        .ok();
    }
    store.close().await;
    Ok(())
}

/// Connects, checks the schema is current and runs the write/read/delete probe.
pub async fn check(
    config: StoreConfig,
    timeout: Duration,
    out: &mut impl std::io::Write,
) -> Result<bool, StoreError> {
    let store = SqlStore::connect(config.clone()).await?;
    let target = describe(&config, &store);
    let pending = store.pending_migrations().await?;
    if !pending.is_empty() {
        writeln!(
            out,
            "{target}: schema is behind: {} migration(s) pending; run `geodns db migrate`",
            pending.len()
        )
        .ok();
        store.close().await;
        return Ok(false);
    }
    let took = store.health(timeout).await?;
    writeln!(
        out,
        "{target}: ok (schema current; write/read/delete probe took {:.1} ms)",
        took.as_secs_f64() * 1000.0
    )
    .ok();
    store.close().await;
    Ok(true)
}

fn describe(config: &StoreConfig, store: &SqlStore) -> String {
    format!("{} {}", store.backend().name(), config.url)
}

/// Rows for the benchmark: distinct keys spread like real traffic, on a far-future day
/// (`2199-12-<day>`) so they never mix with real usage and are deleted afterwards.
fn bench_day(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2199, 12, day).expect("benchmark days are valid dates")
}

fn bench_rows(count: usize, day: u32) -> Vec<UsageRow> {
    let date = bench_day(day);
    let node = NodeId::parse("bench-node").expect("a constant, valid node id");
    let countries = [
        ("DE", "Germany"),
        ("US", "United States"),
        ("JP", "Japan"),
        ("BR", "Brazil"),
        ("??", "Unknown"),
    ];
    (0..count)
        .map(|i| {
            let (code, name) = countries[i % countries.len()];
            UsageRow {
                key: UsageKey {
                    date,
                    node: node.clone(),
                    domain: format!("chain-{}.bench.example", i % 50),
                    member: format!("member-{}", i % 13),
                    asn: format!("AS{}", 64_512 + i / 65),
                    network: format!("Network {}", i / 65),
                    country_code: code.to_owned(),
                    country_name: name.to_owned(),
                    ipv6: i % 2 == 1,
                },
                hits: (i % 1000) as i64 + 1,
            }
        })
        .collect()
}

/// Upserts `rows` usage rows in replace mode, batched and one row per statement, and
/// prints rows per second for both.
pub async fn bench(
    config: StoreConfig,
    rows: usize,
    single_rows: usize,
    out: &mut impl std::io::Write,
) -> Result<(), StoreError> {
    let store = SqlStore::open(config.clone()).await?;
    let target = describe(&config, &store);
    store
        .delete_usage_between(bench_day(1), bench_day(31))
        .await?;
    let batched_rows = bench_rows(rows, 30);
    let watch = Stopwatch::start();
    let report = store.write_usage(&batched_rows, WriteMode::Replace).await?;
    let batched = watch.elapsed();
    let single_input = bench_rows(single_rows, 31);
    let watch = Stopwatch::start();
    let single_report = store
        .write_usage_unbatched(&single_input, WriteMode::Replace)
        .await?;
    let single = watch.elapsed();
    store
        .delete_usage_between(bench_day(1), bench_day(31))
        .await?;
    store.close().await;
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    let (batched_rate, single_rate) = (
        rate(report.written, batched),
        rate(single_report.written, single),
    );
    writeln!(out, "{target}").ok();
    writeln!(
        out,
        "  batched (500 rows/statement): {:>9} rows in {:>8.2} s = {:>10.0} rows/s",
        report.written,
        batched.as_secs_f64(),
        batched_rate
    )
    .ok();
    writeln!(
        out,
        "  one row per statement:        {:>9} rows in {:>8.2} s = {:>10.0} rows/s",
        single_report.written,
        single.as_secs_f64(),
        single_rate
    )
    .ok();
    writeln!(
        out,
        "  batched / single: {:.1}x",
        batched_rate / single_rate.max(1e-9)
    )
    .ok();
    if !report.failed.is_empty() || !single_report.failed.is_empty() {
        writeln!(
            out,
            "  failed rows: {} batched, {} single",
            report.failed.len(),
            single_report.failed.len()
        )
        .ok();
    }
    Ok(())
}
