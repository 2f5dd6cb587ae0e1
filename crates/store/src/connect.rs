//! Opening a store: URL checks, connection with retry, pool limits, migrations.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{AnyPool, Executor};
use url::Url;

use crate::config::StoreConfig;
use crate::dialect::Backend;
use crate::error::StoreError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("migrations/mysql");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// A store on one database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) config: StoreConfig,
    /// Numbers this handle's health probes apart (shared by its clones, not global).
    pub(crate) probes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Failed operations by kind (shared by its clones).
    pub(crate) errors: std::sync::Arc<crate::error::ErrorCounts>,
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied now, with their descriptions.
    pub applied: Vec<(i64, String)>,
    /// Versions that were already applied.
    pub already: Vec<i64>,
}

impl SqlStore {
    /// Failed operations of this store (any clone) since it was opened, by kind
    /// ([`crate::ErrorKind::as_str`]).
    pub fn error_counts(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.errors.snapshot()
    }

    /// Counts `result` when it is an error, and passes it on.
    pub(crate) fn counted<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &result {
            self.errors.count(error);
        }
        result
    }

    /// Connects (retrying for `connect_retry`) and applies pending migrations.
    pub async fn open(config: StoreConfig) -> Result<SqlStore, StoreError> {
        let store = SqlStore::connect(config).await?;
        let report = store.migrate().await?;
        for (version, description) in &report.applied {
            tracing::info!(version, %description, "applied database migration");
        }
        Ok(store)
    }

    /// Connects, retrying with back-off until `connect_retry` has passed, without migrating.
    pub async fn connect(config: StoreConfig) -> Result<SqlStore, StoreError> {
        let backend = config.backend()?;
        let url = driver_url(backend, config.url.expose())?;
        install_default_drivers();
        let options = pool_options(backend, &config);
        // Checked: a huge `connect_retry` means "keep trying", not an overflow panic.
        let deadline = tokio::time::Instant::now().checked_add(config.connect_retry);
        let mut delay = Duration::from_millis(200);
        let mut attempts = 0;
        loop {
            attempts += 1;
            match options.clone().connect(&url).await {
                Ok(pool) => {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; it is a property of
                        // the database file, so setting it once is enough.
                        pool.execute("PRAGMA journal_mode = WAL")
                            .await
                            .map_err(crate::error::db("enable WAL"))?;
                    }
                    return Ok(SqlStore {
                        pool,
                        backend,
                        config,
                        probes: std::sync::Arc::default(),
                        errors: std::sync::Arc::default(),
                    });
                }
                Err(error) if retry_in_time(deadline, delay) && retryable(&error) => {
                    tracing::warn!(backend = backend.name(), url = %config.url, %error, attempt = attempts, "database not reachable yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(error) => {
                    return Err(connect_error(
                        backend,
                        config.url.expose(),
                        attempts,
                        &error,
                    ));
                }
            }
        }
    }

    /// Which backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool now: connections open, of which idle, and the most it may open.
    pub fn pool_state(&self) -> (u32, usize, u32) {
        (
            self.pool.size(),
            self.pool.num_idle(),
            self.config.pool.max_connections,
        )
    }

    /// The underlying pool, for tools and tests.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::MySql => &MYSQL_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Versions this build knows that the database has not applied yet.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let (_, applied) = self.applied_migrations().await?;
        Ok(self
            .migrator()
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    /// A connection with the migrations table in place, and the versions applied so far.
    async fn applied_migrations(
        &self,
    ) -> Result<(sqlx::pool::PoolConnection<sqlx::Any>, Vec<i64>), StoreError> {
        let table = &self.migrator().table_name;
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(crate::error::db("acquire a connection"))?;
        conn.ensure_migrations_table(table)
            .await
            .map_err(migrate_error)?;
        let applied = applied(&mut conn, table).await?;
        Ok((conn, applied))
    }

    /// Applies pending migrations; records them so they are never applied twice.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let migrator = self.migrator();
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(crate::error::db("acquire a connection"))?;
        // Nodes starting together on a fresh shared database must migrate one at a time,
        // from creating the bookkeeping table on. sqlx's own lock comes too late for that,
        // and on MariaDB not at all (it asks `GET_LOCK(name, -1)`, which MariaDB answers
        // with NULL): this one is taken first, on the same connection.
        self.migration_lock(&mut conn, true).await?;
        let migrated = async {
            conn.ensure_migrations_table(&migrator.table_name)
                .await
                .map_err(migrate_error)?;
            let before = applied(&mut conn, &migrator.table_name).await?;
            migrator
                .run_direct(None, &mut *conn, false)
                .await
                .map_err(migrate_error)?;
            Ok::<_, StoreError>(before)
        }
        .await;
        self.migration_lock(&mut conn, false).await.ok();
        let before = migrated?;
        let applied = migrator
            .iter()
            .filter(|m| !before.contains(&m.version))
            .map(|m| (m.version, m.description.to_string()))
            .collect();
        Ok(MigrationReport {
            applied,
            already: before,
        })
    }

    /// Takes (`true`) or releases the database-wide migration lock on `conn`. SQLite
    /// needs none: its writers are serialised by the file lock.
    async fn migration_lock(
        &self,
        conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
        take: bool,
    ) -> Result<(), StoreError> {
        let sql = match (self.backend, take) {
            (Backend::Sqlite, _) => return Ok(()),
            (Backend::MySql, true) => "SELECT GET_LOCK(CONCAT('geodns-migrate-', DATABASE()), 300)",
            (Backend::MySql, false) => "SELECT RELEASE_LOCK(CONCAT('geodns-migrate-', DATABASE()))",
            (Backend::Postgres, true) => {
                "SELECT pg_advisory_lock(hashtext('geodns-migrate-' || current_database())) IS NOT NULL"
            }
            (Backend::Postgres, false) => {
                "SELECT pg_advisory_unlock(hashtext('geodns-migrate-' || current_database())) IS NOT NULL"
            }
        };
        let query = sqlx::query_scalar::<_, Option<i64>>(sql);
        let held = if self.backend == Backend::MySql {
            query.fetch_one(&mut **conn).await.map(|v| v == Some(1))
        } else {
            sqlx::query_scalar::<_, Option<bool>>(sql)
                .fetch_one(&mut **conn)
                .await
                .map(|v| v == Some(true))
        }
        .map_err(crate::error::db("the migration lock"))?;
        if take && !held {
            return Err(StoreError::Migrate(
                "another node held the migration lock for 5 minutes".to_owned(),
            ));
        }
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The versions applied so far.
async fn applied(
    conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
    table: &str,
) -> Result<Vec<i64>, StoreError> {
    Ok(conn
        .list_applied_migrations(table)
        .await
        .map_err(migrate_error)?
        .into_iter()
        .map(|m| m.version)
        .collect())
}

/// Whether waiting `delay` more still ends before `deadline` (`None`: no deadline).
fn retry_in_time(deadline: Option<tokio::time::Instant>, delay: Duration) -> bool {
    match (deadline, tokio::time::Instant::now().checked_add(delay)) {
        (None, _) => true,
        (Some(deadline), Some(next)) => next < deadline,
        (Some(_), None) => false,
    }
}

fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Migrate(error.to_string())
}

fn pool_options(backend: Backend, config: &StoreConfig) -> AnyPoolOptions {
    let pool = &config.pool;
    let mut options = AnyPoolOptions::new()
        .max_connections(pool.max_connections)
        .min_connections(pool.min_idle.min(pool.max_connections))
        .max_lifetime(pool.max_lifetime)
        .idle_timeout(pool.idle_timeout)
        .acquire_timeout(pool.acquire_timeout);
    if backend == Backend::Sqlite {
        options = options.after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                Ok(())
            })
        });
    }
    options
}

/// Adds `mode=rwc` to SQLite URLs (create the file if missing) and creates its directory.
fn driver_url(backend: Backend, url: &str) -> Result<String, StoreError> {
    if backend != Backend::Sqlite {
        Url::parse(url).map_err(|e| {
            StoreError::Config(format!(
                "invalid database URL `{}`: {e}",
                geodns_core::secret::redact(url)
            ))
        })?;
        return Ok(url.to_owned());
    }
    let path = sqlite_path(url);
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Config(
            "an in-memory SQLite database would be empty on every pooled connection; use a file (sqlite://geodns.db)".to_owned(),
        ));
    }
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::Config(format!("cannot create the directory of `{path}`: {e}"))
        })?;
    }
    if url.contains("mode=") {
        Ok(url.to_owned())
    } else if url.contains('?') {
        Ok(format!("{url}&mode=rwc"))
    } else {
        Ok(format!("{url}?mode=rwc"))
    }
}

fn sqlite_path(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest)
}

fn retryable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_)
    ) || matches!(error, sqlx::Error::Database(db) if db.message().contains("starting up") || db.message().contains("shutting down"))
}

fn connect_error(backend: Backend, url: &str, attempts: u32, error: &sqlx::Error) -> StoreError {
    let (host, database) = match backend {
        Backend::Sqlite => ("local file".to_owned(), sqlite_path(url).to_owned()),
        _ => match Url::parse(url) {
            Ok(parsed) => (
                format!(
                    "{}:{}",
                    parsed.host_str().unwrap_or("?"),
                    parsed
                        .port()
                        .map_or("default".to_owned(), |p| p.to_string())
                ),
                parsed.path().trim_start_matches('/').to_owned(),
            ),
            Err(_) => ("?".to_owned(), "?".to_owned()),
        },
    };
    StoreError::Connect {
        backend: backend.name(),
        host,
        database,
        attempts,
        cause: error.to_string(),
    }
}
