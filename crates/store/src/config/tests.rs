//! Tests of the seed-style database settings: MYSQL_* variables, Go DSNs, PostgreSQL strings.

use super::*;

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn go_dsn_forms() {
    let url = parse_mysql_dsn("root:password@(127.0.0.1:3306)/doordarshan").unwrap();
    assert_eq!(
        url.as_str(),
        "mysql://root:password@127.0.0.1:3306/doordarshan"
    );
    let url =
        parse_mysql_dsn("monitor:p%s@tcp(db.example:3307)/monitor?parseTime=true&loc=UTC").unwrap();
    assert_eq!(
        url.as_str(),
        "mysql://monitor:p%25s@db.example:3307/monitor"
    );
    assert!(
        parse_mysql_dsn("root@tcp(db)/")
            .unwrap_err()
            .to_string()
            .contains("empty database name")
    );
}

#[test]
fn mysql_variables() {
    assert_eq!(mysql_from_env(&vars(&[])).unwrap(), None);
    let env = mysql_from_env(&vars(&[
        ("MYSQL_ENDPOINT", "db.internal"),
        ("MYSQL_DB_NAME", "geodns"),
        ("MYSQL_USERNAME", "geo"),
        ("MYSQL_PASSWORD", "s3cret;'"),
        ("MYSQL_OPEN_CONNECTIONS", "100"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(
        env.url.expose(),
        "mysql://geo:s3cret%3B%27@db.internal:3306/geodns"
    );
    assert_eq!(env.max_connections, Some(100));
    let error = mysql_from_env(&vars(&[
        ("MYSQL_ENDPOINT", "db"),
        ("MYSQL_DB_NAME", "x"),
        ("MYSQL_OPEN_CONNECTIONS", "-1"),
    ]))
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "storage configuration: MYSQL_OPEN_CONNECTIONS: `-1` is not a positive number"
    );
}

#[test]
fn mysql_secret_file_replaces_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("creds");
    std::fs::write(&path, "fileuser:filepass\n").unwrap();
    let env = mysql_from_env(&vars(&[
        (
            "MYSQL_CONNECTION_STRING",
            "root:x@tcp(127.0.0.1:3306)/geodns",
        ),
        ("MYSQL_SECRET_FILE", path.to_str().unwrap()),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(
        env.url.expose(),
        "mysql://fileuser:filepass@127.0.0.1:3306/geodns"
    );
}

#[test]
fn postgres_strings() {
    let config =
        PostgresConfig::from_connection_string("postgres://redb:redb@localhost/meshdb").unwrap();
    assert_eq!(
        (config.user.as_str(), config.host.as_str(), config.port),
        ("redb", "localhost", 5432)
    );
    assert_eq!(config.database, "meshdb");
    let config = PostgresConfig::from_connection_string(
        "host=db port=5433 user=geo password=p dbname=geodns sslmode=disable connect_timeout=3",
    )
    .unwrap();
    assert_eq!(
        config.to_url().unwrap().expose(),
        "postgres://geo:p@db:5433/geodns?sslmode=disable"
    );
    assert_eq!(config.connection_timeout, Duration::from_secs(3));
    let error = PostgresConfig::from_connection_string("host=db sslmode=maybe")
        .unwrap_err()
        .to_string();
    assert!(error.contains("sslmode `maybe` is not one of"), "{error}");
}

#[test]
fn pool_defaults_are_the_seeds() {
    let pool = PoolSettings::default();
    assert_eq!((pool.max_connections, pool.min_idle), (40, 5));
    assert_eq!(pool.max_lifetime, Duration::from_secs(4 * 3600));
    assert_eq!(pool.idle_timeout, Duration::from_secs(120));
}

#[test]
fn a_bad_postgres_host_is_an_error_not_localhost() {
    let config = PostgresConfig {
        host: "db host with spaces".to_owned(),
        ..PostgresConfig::default()
    };
    let error = config.to_url().unwrap_err().to_string();
    assert!(
        error.starts_with("storage configuration: PostgreSQL settings: host `db host with spaces`"),
        "{error}"
    );
    assert!(config.store_config().is_err());
    let config = PostgresConfig {
        user: "geo dns".to_owned(),
        password: "p@ss:/w".to_owned(),
        ..PostgresConfig::default()
    };
    let url = config.to_url().unwrap();
    assert_eq!(
        url.expose(),
        "postgres://geo%20dns:p%40ss%3A%2Fw@localhost:5432/geodns?sslmode=prefer"
    );
    let back = PostgresConfig::from_connection_string(url.expose()).unwrap();
    assert_eq!((back.user, back.password), (config.user, config.password));
}

#[test]
fn secret_file_errors_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("creds");
    std::fs::write(&path, "no-colon\r\n").unwrap();
    let error = mysql_from_env(&vars(&[
        (
            "MYSQL_CONNECTION_STRING",
            "root:x@tcp(127.0.0.1:3306)/geodns",
        ),
        ("MYSQL_SECRET_FILE", path.to_str().unwrap()),
    ]))
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        format!(
            "storage configuration: MYSQL_SECRET_FILE: `{}` must hold `username:password` on its first line, with a non-empty user name",
            path.display()
        )
    );
}

#[test]
fn postgres_debug_hides_the_password() {
    let config = PostgresConfig::from_connection_string("postgres://u:hunter2@h/db").unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
}
