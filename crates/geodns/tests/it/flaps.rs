//! A flap stays gone: two collators on one real database (MariaDB and PostgreSQL), the
//! second cut off from it while a provider goes down and comes back within the flap
//! threshold. The first records the outage and deletes it when it ends; when the second
//! reaches the database with its late copies, the flap's tombstone turns them away: no
//! row, and no history change (so no second alert or event) from the second collator.
//! Closes the window where a late open from a lagging collator inserted the flap again.

use std::time::Duration;

use chrono::TimeDelta;
use geodns_bus::MemoryBus;
use geodns_store::{OutageFilter, OutageStore, SqlStore};
use geodns_test_support::Kind;

use crate::collator::{Collator, down_proposal, live_config, wait_for};
use crate::support::database_behind_proxy;

async fn scenario(kind: Kind) {
    let (database, proxy, url) = database_behind_proxy(kind).await;
    let flaps = |config: &mut geodns_store::StoreConfig| {
        config.drop_outages_shorter_than = Some(Duration::from_secs(120));
        config.pool.min_idle = 0;
        config.pool.acquire_timeout = Duration::from_secs(1);
    };
    let mut direct = database.store_config();
    flaps(&mut direct);
    let store = SqlStore::open(direct).await.unwrap();
    let mut behind = geodns_store::StoreConfig::new(url.to_string());
    flaps(&mut behind);
    let lagging = SqlStore::connect(behind).await.unwrap();
    let (dir1, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bus = MemoryBus::new("collator-1");
    let one = Collator::start_on(
        bus.clone(),
        store.clone(),
        live_config(dir1.path(), "collator-1", "").await,
    )
    .await;
    let two = Collator::start_on(
        bus.join("collator-2"),
        lagging,
        live_config(dir2.path(), "collator-2", "").await,
    )
    .await;
    let stored_before = two.queue.report().stored;

    proxy.cut();
    let votes = [("m1", true), ("m2", true), ("m3", false)];
    let t0 = geodns_node::clock::now();
    let (down, mut up) = (down_proposal("p-flap-down"), down_proposal("p-flap-up"));
    up.status = true;
    one.monitor.propose_and_vote(&down, &votes).await;
    one.monitor.finalize_at(&down, "m1", true, t0).await;
    one.monitor.propose_and_vote(&up, &votes).await;
    let back = t0 + TimeDelta::seconds(10);
    one.monitor.finalize_at(&up, "m1", true, back).await;
    wait_for("the flap recorded and deleted", &one.queue, |report| {
        report.pending == 0 && one.queue.history_changes()[2] == 1
    })
    .await;
    assert_eq!(one.queue.history_changes(), [1, 0, 1, 0], "opened, dropped");
    wait_for("the lagging collator holds both", &two.queue, |report| {
        report.pending >= 2
    })
    .await;

    proxy.restore();
    wait_for("the lagging collator stored both", &two.queue, |report| {
        report.pending == 0 && report.stored >= stored_before + 2
    })
    .await;
    assert_eq!(
        two.queue.history_changes(),
        [0, 0, 0, 0],
        "the late copies changed nothing"
    );
    assert!(
        store
            .outages(&OutageFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    for collator in [one, two] {
        collator.stop().await;
    }
    store.close().await;
    database.drop_now().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_open_does_not_bring_back_a_flap_on_mariadb() {
    scenario(Kind::MySql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_open_does_not_bring_back_a_flap_on_postgres() {
    scenario(Kind::Postgres).await;
}
