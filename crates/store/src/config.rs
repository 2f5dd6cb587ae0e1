//! Store settings: the database URL, pool limits and start-up retry, plus the seeds'
//! other ways to name a database: `MYSQL_*` environment variables (with Go-style DSNs and
//! `username:password` secret files) and a PostgreSQL settings struct with
//! connection-string parsing.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use geodns_core::config::pool_defaults;
use geodns_core::secret::{SecretUrl, decode_userinfo, encode_userinfo, parse_credentials};
use url::Url;

use crate::dialect::Backend;
use crate::error::StoreError;

/// Connection pool limits. Defaults are the original collator's (data2), defined once in
/// `geodns_core::config::pool_defaults`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_idle: u32,
    /// A connection is replaced after this long.
    pub max_lifetime: Duration,
    /// An idle connection above `min_idle` is closed after this long.
    pub idle_timeout: Duration,
    /// Longest wait for a free connection.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: pool_defaults::MAX_CONNECTIONS,
            min_idle: pool_defaults::MIN_IDLE,
            max_lifetime: pool_defaults::MAX_LIFETIME,
            idle_timeout: pool_defaults::IDLE_TIMEOUT,
            acquire_timeout: pool_defaults::ACQUIRE_TIMEOUT,
        }
    }
}

/// How long a flap's tombstone is kept by default (as `[collator] flap_tombstone`).
pub(crate) const FLAP_TOMBSTONE: Duration = Duration::from_secs(7 * 86_400);

/// Everything needed to open a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `sqlite://path`, `mysql://…`, `postgres://…`; printed without its password.
    pub url: SecretUrl,
    /// Pool limits.
    pub pool: PoolSettings,
    /// How long start-up keeps retrying the first connection.
    pub connect_retry: Duration,
    /// Outages shorter than this are deleted when they end (`None`: keep all).
    pub drop_outages_shorter_than: Option<Duration>,
    /// How long a deleted flap's tombstone is kept after its end, so a late copy of its
    /// open does not store it again.
    pub flap_tombstone: Duration,
}

impl StoreConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<SecretUrl>) -> Self {
        StoreConfig {
            url: url.into(),
            pool: PoolSettings::default(),
            connect_retry: pool_defaults::CONNECT_RETRY,
            drop_outages_shorter_than: None,
            flap_tombstone: FLAP_TOMBSTONE,
        }
    }

    /// The backend named by the URL's scheme.
    pub fn backend(&self) -> Result<Backend, StoreError> {
        Backend::of_url(self.url.expose()).ok_or_else(|| {
            StoreError::Config(format!(
                "unsupported database URL `{}` (expected sqlite://, mysql://, mariadb:// or postgres://)",
                self.url
            ))
        })
    }
}

/// A MySQL database named by the seed's environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MySqlEnv {
    /// The database as a `mysql://` URL.
    pub url: SecretUrl,
    /// `MYSQL_OPEN_CONNECTIONS`, if set.
    pub max_connections: Option<u32>,
}

/// Reads `MYSQL_CONNECTION_STRING`, or `MYSQL_ENDPOINT`/`MYSQL_PORT`/`MYSQL_DB_NAME`/
/// `MYSQL_USERNAME`/`MYSQL_PASSWORD`; `MYSQL_SECRET_FILE` (`username:password`) replaces the
/// user and password; `MYSQL_OPEN_CONNECTIONS` caps the pool. `Ok(None)` when none is set.
pub fn mysql_from_env(vars: &BTreeMap<String, String>) -> Result<Option<MySqlEnv>, StoreError> {
    let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut url = if let Some(text) = get("MYSQL_CONNECTION_STRING") {
        parse_mysql_dsn(text)?
    } else if let Some(host) = get("MYSQL_ENDPOINT") {
        let port = get("MYSQL_PORT").unwrap_or("3306");
        let port: u16 = port
            .parse()
            .map_err(|_| config_error("MYSQL_PORT", &format!("`{port}` is not a port number")))?;
        let database = get("MYSQL_DB_NAME")
            .ok_or_else(|| config_error("MYSQL_DB_NAME", "must be set with MYSQL_ENDPOINT"))?;
        let mut url =
            Url::parse("mysql://localhost/").map_err(|e| StoreError::Config(e.to_string()))?;
        url.set_host(Some(host))
            .map_err(|e| config_error("MYSQL_ENDPOINT", &e.to_string()))?;
        let _ = url.set_port(Some(port));
        url.set_path(database);
        set_credentials(
            &mut url,
            get("MYSQL_USERNAME"),
            get("MYSQL_PASSWORD"),
            "MYSQL_USERNAME",
        )?;
        url
    } else {
        return Ok(None);
    };
    if let Some(path) = get("MYSQL_SECRET_FILE") {
        let path = Path::new(path);
        let credentials = parse_credentials(path, std::fs::read_to_string(path))
            .map_err(|e| config_error("MYSQL_SECRET_FILE", &e.to_string()))?;
        set_credentials(
            &mut url,
            Some(&credentials.user),
            Some(credentials.password.expose()),
            "MYSQL_SECRET_FILE",
        )?;
    }
    let max_connections = match get("MYSQL_OPEN_CONNECTIONS") {
        Some(text) => Some(text.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
            config_error(
                "MYSQL_OPEN_CONNECTIONS",
                &format!("`{text}` is not a positive number"),
            )
        })?),
        None => None,
    };
    Ok(Some(MySqlEnv {
        url: SecretUrl::new(url.to_string()),
        max_connections,
    }))
}

fn config_error(variable: &str, message: &str) -> StoreError {
    StoreError::Config(format!("{variable}: {message}"))
}

fn set_credentials(
    url: &mut Url,
    user: Option<&str>,
    password: Option<&str>,
    source: &str,
) -> Result<(), StoreError> {
    if let Some(user) = user {
        url.set_username(&encode_userinfo(user))
            .map_err(|()| config_error(source, "cannot set the user name"))?;
    }
    if let Some(password) = password {
        url.set_password(Some(&encode_userinfo(password)))
            .map_err(|()| config_error(source, "cannot set the password"))?;
    }
    Ok(())
}

/// Parses a Go MySQL DSN (`user:pass@tcp(host:port)/db?params`, `user:pass@(host:port)/db`)
/// or a `mysql://` URL into a URL. Go-only parameters (`parseTime`, `loc`, `charset`) are
/// dropped: geodns stores UTC epoch milliseconds and always speaks utf8mb4.
pub fn parse_mysql_dsn(text: &str) -> Result<Url, StoreError> {
    let bad = |why: &str| {
        config_error(
            "MYSQL_CONNECTION_STRING",
            &format!("{why} (expected user:password@tcp(host:port)/database or mysql://…)"),
        )
    };
    if text.starts_with("mysql://") || text.starts_with("mariadb://") {
        return Url::parse(text).map_err(|e| bad(&e.to_string()));
    }
    let (credentials, rest) = text.rsplit_once('@').unwrap_or(("", text));
    let rest = rest.strip_prefix("tcp").unwrap_or(rest);
    let (address, tail) = rest
        .strip_prefix('(')
        .and_then(|r| r.split_once(')'))
        .ok_or_else(|| bad("missing (host:port)"))?;
    let database = tail
        .strip_prefix('/')
        .ok_or_else(|| bad("missing /database"))?;
    let database = database.split('?').next().unwrap_or("");
    if database.is_empty() {
        return Err(bad("empty database name"));
    }
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| bad("invalid port"))?),
        None => (address, 3306),
    };
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    let mut url = Url::parse("mysql://localhost/").map_err(|e| bad(&e.to_string()))?;
    url.set_host(Some(host)).map_err(|e| bad(&e.to_string()))?;
    let _ = url.set_port(Some(port));
    url.set_path(database);
    let (user, password) = match credentials.split_once(':') {
        Some((user, password)) => (Some(user), Some(password)),
        None if credentials.is_empty() => (None, None),
        None => (Some(credentials), None),
    };
    set_credentials(
        &mut url,
        user.filter(|u| !u.is_empty()),
        password,
        "MYSQL_CONNECTION_STRING",
    )?;
    Ok(url)
}

/// PostgreSQL settings as the mesh storage seed names them.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// User.
    pub user: String,
    /// Password (may be empty).
    pub password: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Database.
    pub database: String,
    /// `disable`, `prefer`, `require`, `verify-ca`, `verify-full`.
    pub ssl_mode: String,
    /// Pool size.
    pub max_connections: u32,
    /// Connect timeout.
    pub connection_timeout: Duration,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            user: "postgres".to_owned(),
            password: String::new(),
            host: "localhost".to_owned(),
            port: 5432,
            database: "geodns".to_owned(),
            ssl_mode: "prefer".to_owned(),
            max_connections: 10,
            connection_timeout: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("user", &self.user)
            .field("password", &"***")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("ssl_mode", &self.ssl_mode)
            .field("max_connections", &self.max_connections)
            .field("connection_timeout", &self.connection_timeout)
            .finish()
    }
}

impl PostgresConfig {
    /// Parses a `postgres://user:pass@host:port/db?sslmode=…` URL or a libpq key/value
    /// string (`host=… port=… user=… password=… dbname=… sslmode=… connect_timeout=…`).
    pub fn from_connection_string(text: &str) -> Result<Self, StoreError> {
        let bad = |why: String| StoreError::Config(format!("PostgreSQL connection string: {why}"));
        let mut config = PostgresConfig::default();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
            if !url.username().is_empty() {
                config.user = decode_userinfo(url.username());
            }
            config.password = url.password().map(decode_userinfo).unwrap_or_default();
            config.host = url.host_str().unwrap_or("localhost").to_owned();
            config.port = url.port().unwrap_or(5432);
            let database = url.path().trim_start_matches('/');
            if !database.is_empty() {
                config.database = database.to_owned();
            }
            for (key, value) in url.query_pairs() {
                config.set(&key, &value).map_err(bad)?;
            }
        } else {
            for pair in text.split_whitespace() {
                let (key, value) = pair
                    .split_once('=')
                    .ok_or_else(|| bad(format!("`{pair}` is not key=value")))?;
                config.set(key, value).map_err(bad)?;
            }
        }
        Ok(config)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "host" => self.host = value.to_owned(),
            "port" => {
                self.port = value
                    .parse()
                    .map_err(|_| format!("port `{value}` is not a number"))?
            }
            "user" => self.user = value.to_owned(),
            "password" => self.password = value.to_owned(),
            "dbname" | "database" => self.database = value.to_owned(),
            "sslmode" => {
                const MODES: [&str; 6] = [
                    "disable",
                    "allow",
                    "prefer",
                    "require",
                    "verify-ca",
                    "verify-full",
                ];
                if !MODES.contains(&value) {
                    return Err(format!(
                        "sslmode `{value}` is not one of {}",
                        MODES.join(", ")
                    ));
                }
                self.ssl_mode = value.to_owned();
            }
            "connect_timeout" => {
                let seconds: u64 = value
                    .parse()
                    .map_err(|_| format!("connect_timeout `{value}` is not a number of seconds"))?;
                self.connection_timeout = Duration::from_secs(seconds);
            }
            "pool_max_conns" | "max_connections" => {
                self.max_connections = value
                    .parse()
                    .map_err(|_| format!("{key} `{value}` is not a number"))?;
            }
            other => return Err(format!("unknown parameter `{other}`")),
        }
        Ok(())
    }

    /// The settings as a URL for the driver; a host, user or password that cannot go into
    /// a URL is an error naming the setting (never silently `localhost`).
    pub fn to_url(&self) -> Result<SecretUrl, StoreError> {
        let bad = |setting: &str, value: &str, why: &str| {
            StoreError::Config(format!(
                "PostgreSQL settings: {setting} `{value}` cannot be used in a connection URL: {why}"
            ))
        };
        let mut url = Url::parse("postgres://placeholder/")
            .map_err(|e| StoreError::Config(format!("PostgreSQL settings: {e}")))?;
        url.set_host(Some(&self.host))
            .map_err(|e| bad("host", &self.host, &e.to_string()))?;
        let refused = "the URL refused it";
        url.set_port(Some(self.port))
            .map_err(|()| bad("port", &self.port.to_string(), refused))?;
        url.set_username(&encode_userinfo(&self.user))
            .map_err(|()| bad("user", &self.user, refused))?;
        if !self.password.is_empty() {
            url.set_password(Some(&encode_userinfo(&self.password)))
                .map_err(|()| bad("password", "***", refused))?;
        }
        url.set_path(&self.database);
        url.query_pairs_mut().append_pair("sslmode", &self.ssl_mode);
        Ok(SecretUrl::new(url.to_string()))
    }

    /// A [`StoreConfig`] with this pool size and connect timeout.
    pub fn store_config(&self) -> Result<StoreConfig, StoreError> {
        let mut config = StoreConfig::new(self.to_url()?);
        config.pool.max_connections = self.max_connections;
        config.pool.min_idle = config.pool.min_idle.min(self.max_connections);
        config.pool.acquire_timeout = self.connection_timeout;
        Ok(config)
    }
}

#[cfg(test)]
mod tests;
