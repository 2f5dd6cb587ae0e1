//! Fresh databases per test on each backend, and the cases about the store itself.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use geodns_store::{HealthCheck, SqlStore, StoreConfig};
use sqlx::{AssertSqlSafe, Executor};

/// Which backend a case runs on.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Sqlite,
    MySql,
    Postgres,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the test services with `eval \"$(scripts/services)\"` or run `scripts/test`")
    })
}

fn unique_name() -> String {
    let nanos = std::time::UNIX_EPOCH
        .elapsed()
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "geodns_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 100_000
    )
}

fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.set_path(database);
    parsed.to_string()
}

/// A fresh, migrated database on `kind`; dropped again when the case returns.
pub async fn fresh(kind: Kind, config: impl FnOnce(&mut StoreConfig)) -> (SqlStore, Cleanup) {
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let mut store_config =
                StoreConfig::new(format!("sqlite://{}/test.db", dir.path().display()));
            config(&mut store_config);
            (
                SqlStore::open(store_config).await.unwrap(),
                Cleanup::Dir(dir),
            )
        }
        Kind::MySql | Kind::Postgres => {
            let variable = if matches!(kind, Kind::MySql) {
                "GEODNS_TEST_MYSQL_URL"
            } else {
                "GEODNS_TEST_POSTGRES_URL"
            };
            let admin_url = env_url(variable);
            let name = unique_name();
            let mut admin = StoreConfig::new(admin_url.clone());
            admin.pool.min_idle = 0;
            admin.pool.max_connections = 1;
            admin.connect_retry = Duration::from_secs(5);
            let admin = SqlStore::connect(admin)
                .await
                .unwrap_or_else(|e| panic!("{variable}: {e}"));
            admin
                .pool()
                .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
            let mut store_config = StoreConfig::new(with_database(&admin_url, &name));
            store_config.pool.min_idle = 1;
            store_config.pool.max_connections = 10;
            config(&mut store_config);
            (
                SqlStore::open(store_config).await.unwrap(),
                Cleanup::Database { admin, name },
            )
        }
    }
}

/// What to remove after a case.
pub enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Database { admin: SqlStore, name: String },
}

impl Cleanup {
    pub async fn run(self, store: &SqlStore) {
        store.close().await;
        if let Cleanup::Database { admin, name } = self {
            admin
                .pool()
                .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

/// Runs `case` on a fresh database of `kind`.
pub async fn run<F, Fut>(kind: Kind, case: F)
where
    F: FnOnce(SqlStore, Kind) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, cleanup) = fresh(kind, |_| {}).await;
    case(store.clone(), kind).await;
    cleanup.run(&store).await;
}

pub async fn migrate_twice_applies_nothing(store: SqlStore, _kind: Kind) {
    let report = store.migrate().await.unwrap();
    assert!(report.applied.is_empty(), "{report:?}");
    assert_eq!(report.already, vec![1]);
}

pub async fn health_probe_round_trips(store: SqlStore, _kind: Kind) {
    let took = store.health(Duration::from_secs(5)).await.unwrap();
    assert!(took < Duration::from_secs(5));
    let error = store.health(Duration::ZERO).await.unwrap_err();
    assert_eq!(error.kind(), geodns_store::ErrorKind::Timeout);
}
