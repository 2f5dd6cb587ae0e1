//! How long a fresh node's start-up replay of the consensus log takes (what
//! `runtime::rebuild::rebuild_if_fresh` does when `official.cache.json` is missing), and
//! how long a compaction pass reads, for a log of `CHECKS` checks with `PER_DAY`
//! decisions a day for `DAYS` days, on the database at `URL` (a fresh SQLite file by
//! default). Prints figures; fills a database it is given (use an empty one).
//!
//! usage: cargo run --release -p geodns-collator --example log_replay -- [URL] [CHECKS]
//!        [DAYS] [PER_DAY]

#![allow(clippy::print_stdout, reason = "an example that prints its figures")]

use chrono::TimeDelta;
use geodns_collator::history::{self, Entry, TERM};
use geodns_node::clock::{Stopwatch, now};
use geodns_store::{ClusterStore, SqlStore, StoreConfig};
use serde_json::Map;

/// Entries appended per transaction.
const BATCH: u64 = 5_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir()?;
    let url = args
        .first()
        .cloned()
        .unwrap_or_else(|| format!("sqlite://{}/log.db", dir.path().display()));
    let number = |at: usize, default: u64| -> Result<u64, String> {
        args.get(at).map_or(Ok(default), |text| {
            text.parse()
                .map_err(|e| format!("argument {}: {e}", at + 1))
        })
    };
    let (checks, days, per_day) = (number(1, 10_000)?, number(2, 30)?, number(3, 2)?);
    let store = SqlStore::open(StoreConfig::new(url.clone())).await?;
    let total = checks * days * per_day;
    println!(
        "log_replay: {checks} checks x {days} days x {per_day} decisions a day = {total} entries"
    );

    let filling = Stopwatch::start();
    let start = now() - TimeDelta::days(i64::try_from(days)?);
    let step = TimeDelta::seconds(86_400 / i64::try_from(per_day.max(1))?);
    let mut index = store.last_log_index().await?.unwrap_or(0);
    let mut tx = store.begin().await?;
    for n in 0..total {
        let check = n % checks;
        let round = n / checks;
        let decided_at = start + step * i32::try_from(round)?;
        let entry = Entry {
            proposal: format!("replay-{n}"),
            check_type: "site".into(),
            check_name: "ping".into(),
            member: format!("member-{check}"),
            domain: String::new(),
            endpoint: String::new(),
            ipv6: false,
            status: round % 2 == 1,
            error: if round % 2 == 1 {
                String::new()
            } else {
                "100% packet loss".into()
            },
            data: Map::new(),
            decided_at,
            decided_by: "monitor-1".into(),
            votes: [
                ("monitor-1", true),
                ("monitor-2", true),
                ("monitor-3", false),
            ]
            .into_iter()
            .map(|(node, agree)| (node.to_owned(), serde_json::Value::Bool(agree)))
            .collect(),
        };
        index += 1;
        tx.append_log(TERM, index, serde_json::to_value(&entry)?)
            .await?;
        if index % BATCH == 0 {
            tx.commit().await?;
            tx = store.begin().await?;
        }
    }
    tx.commit().await?;
    println!("filled in {:.1} s", filling.elapsed().as_secs_f64());

    let replaying = Stopwatch::start();
    let replayed = history::replay_log(&store).await?;
    println!(
        "start-up replay (history::replay_log, as a fresh node): {} entries read, {} checks rebuilt, in {:.2} s",
        replayed.entries,
        replayed.rows.len(),
        replaying.elapsed().as_secs_f64()
    );

    let compacting = Stopwatch::start();
    let done = history::compact(&store, now() - TimeDelta::days(400)).await?;
    println!(
        "compaction pass (400-day retention): {} entries read, {} deleted, in {:.2} s",
        done.read,
        done.deleted,
        compacting.elapsed().as_secs_f64()
    );
    store.close().await;
    Ok(())
}
