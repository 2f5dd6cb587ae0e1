//! Runs each case on a fresh database of each backend, and the cases about the store itself.

use std::future::Future;
use std::time::Duration;

use geodns_store::{HealthCheck, SqlStore, StoreConfig};
pub use geodns_test_support::Kind;
use geodns_test_support::TestDatabase;

/// A fresh, migrated store on `kind`, configured by `adjust`.
pub async fn fresh(kind: Kind, adjust: impl FnOnce(&mut StoreConfig)) -> (SqlStore, TestDatabase) {
    let database = TestDatabase::create(kind).await;
    let mut config = database.store_config();
    adjust(&mut config);
    (SqlStore::open(config).await.unwrap(), database)
}

/// Closes the store and drops its database.
pub async fn finish(store: SqlStore, database: TestDatabase) {
    store.close().await;
    database.drop_now().await;
}

/// Runs `case` on a fresh database of `kind`.
pub async fn run<F, Fut>(kind: Kind, case: F)
where
    F: FnOnce(SqlStore, Kind) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, database) = fresh(kind, |_| {}).await;
    case(store.clone(), kind).await;
    finish(store, database).await;
}

/// Runs `case` on a fresh database of `kind` through a store with exactly one connection,
/// so a session setting made by the case applies to every statement the store runs.
pub async fn run_single_connection<F, Fut>(kind: Kind, case: F)
where
    F: FnOnce(SqlStore, Kind) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, database) = fresh(kind, |config| {
        config.pool.max_connections = 1;
        config.pool.min_idle = 1;
    })
    .await;
    case(store.clone(), kind).await;
    finish(store, database).await;
}

pub async fn migrate_twice_applies_nothing(store: SqlStore, _kind: Kind) {
    let report = store.migrate().await.unwrap();
    assert!(report.applied.is_empty(), "{report:?}");
    assert_eq!(report.already, vec![1, 2, 3, 4]);
    assert!(store.pending_migrations().await.unwrap().is_empty());
}

pub async fn health_probe_round_trips(store: SqlStore, _kind: Kind) {
    let took = store.health(Duration::from_secs(5)).await.unwrap();
    assert!(took < Duration::from_secs(5));
    // With every pooled connection taken, the probe cannot start and must time out.
    let mut held = Vec::new();
    for _ in 0..store.pool().options().get_max_connections() {
        held.push(store.pool().acquire().await.unwrap());
    }
    let error = store.health(Duration::from_millis(200)).await.unwrap_err();
    assert_eq!(error.kind(), geodns_store::ErrorKind::Timeout);
    assert_eq!(
        error.to_string(),
        "storage health check: timed out after 200 ms"
    );
    drop(held);
    store.health(Duration::from_secs(5)).await.unwrap();
}
