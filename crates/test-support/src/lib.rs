//! Test helpers shared by the crates' test suites: fresh, throw-away databases on each
//! backend. The MariaDB and PostgreSQL servers are the ones `scripts/services` starts
//! (`GEODNS_TEST_MYSQL_URL`, `GEODNS_TEST_POSTGRES_URL`); a missing one is a test failure
//! with a message saying how to start it, never a silent pass. Also nats-server processes
//! (plain, or with authorization and TLS from credentials made in the test), Redis; and,
//! re-exported from `geodns-fakes`, fake providers and GeoIP files.

#![forbid(unsafe_code)]

pub mod fleet;
mod nats;
mod nats_auth;
mod proxy;
mod redis;

pub use geodns_fakes::{mmdb, providers};
pub use nats::NatsServer;
pub use nats_auth::{NkeyUser, Operator, TestCa};
pub use proxy::TcpProxy;
pub use redis::RedisCluster;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use geodns_store::{SqlStore, StoreConfig};
use sqlx::{AssertSqlSafe, Executor, Row};

/// A database backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SQLite file in a temporary directory.
    Sqlite,
    /// MariaDB/MySQL (`GEODNS_TEST_MYSQL_URL`).
    MySql,
    /// PostgreSQL (`GEODNS_TEST_POSTGRES_URL`).
    Postgres,
}

impl Kind {
    /// All three.
    pub const ALL: [Kind; 3] = [Kind::Sqlite, Kind::MySql, Kind::Postgres];
}

/// Test databases older than this are dropped by the next run (left by a panicking test).
const STALE_AFTER_SECS: u64 = 3600;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The URL of a test service, or a panic saying how to start it.
pub fn service_url(variable: &str) -> String {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{variable} is not set: start the test services with `eval \"$(scripts/services)\"`, or run `scripts/test`"
        ),
    }
}

fn unix_seconds() -> u64 {
    std::time::UNIX_EPOCH
        .elapsed()
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A throw-away database. Call [`TestDatabase::drop_now`] at the end of a test; one left
/// behind by a panic is dropped by a later run once it is an hour old.
#[derive(Debug)]
pub struct TestDatabase {
    /// Connect here.
    pub url: String,
    kind: Kind,
    name: String,
    admin_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Creates an empty database on `kind`.
    pub async fn create(kind: Kind) -> TestDatabase {
        let name = format!(
            "geodns_test_{}_{}_{}",
            unix_seconds(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let variable = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}/{name}.db", dir.path().display());
                return TestDatabase {
                    url,
                    kind,
                    name,
                    admin_url: None,
                    _dir: Some(dir),
                };
            }
            Kind::MySql => "GEODNS_TEST_MYSQL_URL",
            Kind::Postgres => "GEODNS_TEST_POSTGRES_URL",
        };
        let admin_url = service_url(variable);
        let admin = admin(&admin_url).await;
        drop_stale(&admin, kind).await;
        admin
            .pool()
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("service URL parses");
        url.set_path(&name);
        TestDatabase {
            url: url.to_string(),
            kind,
            name,
            admin_url: Some(admin_url),
            _dir: None,
        }
    }

    /// A fresh, migrated database of `kind` (MariaDB or PostgreSQL), reached through a
    /// [`TcpProxy`]: the URL points at the proxy (PostgreSQL without TLS, so the proxy
    /// sees the statements a test cuts after).
    pub async fn behind_proxy(kind: Kind) -> (TestDatabase, TcpProxy, url::Url) {
        use std::net::ToSocketAddrs;
        assert!(kind != Kind::Sqlite, "a SQLite file cannot be proxied");
        let database = TestDatabase::create(kind).await;
        SqlStore::open(database.store_config())
            .await
            .expect("migrate the test database")
            .close()
            .await;
        let mut url = url::Url::parse(&database.url).expect("test database URL");
        let default_port = if kind == Kind::Postgres { 5432 } else { 3306 };
        let server = (
            url.host_str().expect("host").to_owned(),
            url.port().unwrap_or(default_port),
        )
            .to_socket_addrs()
            .expect("resolve the database host")
            .next()
            .expect("an address");
        let proxy = TcpProxy::start(server).await;
        url.set_port(Some(proxy.addr().port()))
            .expect("a URL with a port");
        if kind == Kind::Postgres {
            url.query_pairs_mut().append_pair("sslmode", "disable");
        }
        (database, proxy, url)
    }

    /// Store settings for this database with a small pool.
    pub fn store_config(&self) -> StoreConfig {
        let mut config = StoreConfig::new(self.url.clone());
        config.pool.min_idle = 1;
        config.pool.max_connections = 10;
        config.connect_retry = Duration::from_secs(5);
        config
    }

    /// Drops the database (a no-op for SQLite: its directory goes with `self`).
    pub async fn drop_now(self) {
        if let Some(admin_url) = &self.admin_url {
            let admin = admin(admin_url).await;
            let force = if self.kind == Kind::Postgres {
                " WITH (FORCE)"
            } else {
                ""
            };
            admin
                .pool()
                .execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {}{force}",
                    self.name
                )))
                .await
                .expect("drop test database");
            admin.close().await;
        }
    }
}

async fn admin(url: &str) -> SqlStore {
    let mut config = StoreConfig::new(url);
    config.pool.min_idle = 0;
    config.pool.max_connections = 1;
    config.connect_retry = Duration::from_secs(5);
    let shown = config.url.to_string();
    SqlStore::connect(config)
        .await
        .unwrap_or_else(|e| panic!("test database server at {shown}: {e}"))
}

async fn drop_stale(admin: &SqlStore, kind: Kind) {
    let list = match kind {
        Kind::MySql => {
            "SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE 'geodns!_test!_%' ESCAPE '!'"
        }
        Kind::Postgres => {
            "SELECT datname AS name FROM pg_database WHERE datname LIKE 'geodns!_test!_%' ESCAPE '!'"
        }
        Kind::Sqlite => return,
    };
    let Ok(rows) = sqlx::query(list).fetch_all(admin.pool()).await else {
        return;
    };
    let now = unix_seconds();
    for row in rows {
        let Ok(name) = row.try_get::<String, _>("name") else {
            continue;
        };
        let created: Option<u64> = name.split('_').nth(2).and_then(|s| s.parse().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > STALE_AFTER_SECS) {
            let _ = admin
                .pool()
                .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                .await;
        }
    }
}
