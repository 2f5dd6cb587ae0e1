//! No secret in a log: the `Debug`, `Display` and error output of every configuration and
//! connection type that holds a password, token, seed or URL with credentials is searched
//! for the test's secrets, which all contain one marker.

use std::collections::BTreeMap;
use std::time::Duration;

use geodns::config_source::Loader;
use geodns_bus::redis::{RedisClient, RedisConfig};
use geodns_store::{PostgresConfig, SqlStore, StoreConfig, mysql_from_env, parse_mysql_dsn};

use crate::support::write;

/// Every secret in this test contains this, so one search finds them all.
const MARK: &str = "SECRETMARK";

fn loader(path: std::path::PathBuf) -> Loader {
    Loader::new(
        geodns_node::http::client(Duration::from_secs(5)).unwrap(),
        path,
        Vec::new(),
    )
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(MARK), "{what} shows a secret: {text}");
}

/// A configuration with every kind of secret, loaded as `geodns run` loads it.
#[tokio::test]
async fn config_and_connection_types_never_show_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let creds = write(dir.path(), "creds", "geo:credsSECRETMARK\n");
    let seed = write(dir.path(), "seed", "SUSECRETMARKSEED\n");
    let matrix = write(dir.path(), "matrix", "matrixSECRETMARK\n");
    let text = format!(
        "[node]\nid = \"n1\"\nroles = [\"collator\"]\n\
         [bus]\nmode = \"nats\"\nurls = [\"nats://127.0.0.1:4222\"]\n\
         credentials_file = {creds:?}\nnkey_seed_file = {seed:?}\ntoken = \"tokenSECRETMARK\"\n\
         [storage]\nurl = \"postgres://127.0.0.1:5432/test?password=querySECRETMARK\"\ncredentials_file = {creds:?}\n\
         [redis]\nurl = \"redis://:redisSECRETMARK@127.0.0.1:6379\"\n\
         [matrix]\nhomeserver = \"https://matrix.example.org\"\nuser = \"@bot:example.org\"\n\
         password_file = {matrix:?}\naccess_token = \"atSECRETMARK\"\nroom = \"!r:example.org\"\n",
        creds = creds.display().to_string(),
        seed = seed.display().to_string(),
        matrix = matrix.display().to_string(),
    );
    let path = write(dir.path(), "geodns.toml", &text);
    let config = loader(path).load().await.unwrap();
    assert_eq!(
        config.bus.nkey_seed.as_ref().unwrap().expose(),
        "SUSECRETMARKSEED"
    );
    assert_clean("Config", &format!("{config:?}"));

    let store_config = geodns::storage::store_config(&config, &BTreeMap::new()).unwrap();
    assert!(
        store_config.url.expose().contains(MARK),
        "the driver gets the password"
    );
    assert_clean(
        "StoreConfig",
        &format!("{store_config:?} {}", store_config.url),
    );

    let nats = geodns_node::bus::nats_config(&config.bus, "test");
    assert_clean("NatsConfig", &format!("{nats:?}"));

    let redis = RedisConfig::from_url(config.redis.as_ref().unwrap().url.clone());
    assert_clean("RedisConfig", &format!("{redis:?}"));
}

#[test]
fn seed_variables_and_settings_never_show_a_secret() {
    let env: BTreeMap<String, String> = [
        ("MYSQL_ENDPOINT", "127.0.0.1"),
        ("MYSQL_DB_NAME", "geodns"),
        ("MYSQL_USERNAME", "geo"),
        ("MYSQL_PASSWORD", "mysqlSECRETMARK"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mysql = mysql_from_env(&env).unwrap().unwrap();
    assert_clean("MySqlEnv", &format!("{mysql:?}"));

    let env: BTreeMap<String, String> = [
        (
            "REDIS_CLUSTER_ADDRESSES",
            "127.0.0.1:1,redis://:urlSECRETMARK@127.0.0.1:2",
        ),
        ("REDIS_CLUSTER_PASSWORD", "envSECRETMARK"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let redis = RedisConfig::from_env(&env).unwrap().unwrap();
    assert_clean("RedisConfig from env", &format!("{redis:?}"));

    let postgres =
        PostgresConfig::from_connection_string("host=db user=u password=pgSECRETMARK dbname=d")
            .unwrap();
    assert_clean("PostgresConfig", &format!("{postgres:?}"));
    let url = postgres.to_url().unwrap();
    assert_clean("PostgresConfig URL", &format!("{url} {url:?}"));

    let error = parse_mysql_dsn("u:dsnSECRETMARK@tcp(db:x)/geodns").unwrap_err();
    assert_clean("DSN error", &format!("{error} {error:?}"));
    let error =
        PostgresConfig::from_connection_string("postgres://u:pgSECRETMARK@[::1/db").unwrap_err();
    assert_clean("PostgreSQL string error", &format!("{error} {error:?}"));
    let error = StoreConfig::new("oracle://u:oraSECRETMARK@db/x")
        .backend()
        .unwrap_err();
    assert_clean("backend error", &format!("{error} {error:?}"));
}

/// Errors of configurations that quote the URL they reject.
#[tokio::test]
async fn configuration_errors_never_show_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        "[storage]\nurl = \"oracle://u:oraSECRETMARK@db/x\"\n",
        "[bus]\nmode = \"nats\"\nurls = [\"http://u:busSECRETMARK@127.0.0.1:4222\"]\n",
        "[bus]\nmode = \"nats\"\nurls = [\"nats://u:natsurlSECRETMARK@127.0.0.1:4222\", \"nats://tokSECRETMARK@127.0.0.1:4223\"]\n",
        "[sources]\nmembers = \"http://u:srcSECRETMARK@127.0.0.1:1/members.json\"\nfetch_timeout = \"2s\"\n",
    ];
    for case in cases {
        let path = write(
            dir.path(),
            "geodns.toml",
            &format!("[node]\nid = \"n1\"\n{case}"),
        );
        let error = loader(path).load().await.unwrap_err();
        // The error quotes the URL it rejects, with the password masked.
        assert!(
            error.to_string().contains(":***@") || error.to_string().contains("//***@"),
            "{error}"
        );
        assert_clean("load error", &format!("{error} {error:?}"));
    }
}

/// Real connection failures: the drivers' errors and ours, with the password in the URL.
#[tokio::test]
async fn connection_errors_never_show_a_secret() {
    let mysql = geodns_test_support::service_url("GEODNS_TEST_MYSQL_URL");
    let mut url = url::Url::parse(&mysql).unwrap();
    url.set_password(Some("wrongSECRETMARK")).unwrap();
    let mut config = StoreConfig::new(url.to_string());
    config.connect_retry = Duration::ZERO;
    config.pool.acquire_timeout = Duration::from_secs(2);
    let error = SqlStore::connect(config).await.unwrap_err();
    assert!(error.to_string().contains("Access denied"), "{error}");
    assert_clean("MariaDB login error", &format!("{error} {error:?}"));

    let mut config = StoreConfig::new("postgres://u:pgSECRETMARK@127.0.0.1:1/x");
    config.connect_retry = Duration::ZERO;
    config.pool.acquire_timeout = Duration::from_secs(2);
    let error = SqlStore::connect(config).await.unwrap_err();
    assert_clean("PostgreSQL connect error", &format!("{error} {error:?}"));

    // A store connected with a password in its URL (the test server's own) must not
    // print it either.
    let postgres = geodns_test_support::service_url("GEODNS_TEST_POSTGRES_URL");
    let password = url::Url::parse(&postgres)
        .unwrap()
        .password()
        .expect("the test PostgreSQL URL has a password")
        .to_owned();
    let mut config = StoreConfig::new(postgres);
    config.pool.min_idle = 0;
    let store = SqlStore::connect(config).await.unwrap();
    let debug = format!("{store:?}");
    assert!(debug.contains(":***@"), "{debug}");
    assert!(
        !debug.contains(&format!(":{password}@")),
        "SqlStore shows its password: {debug}"
    );
    store.close().await;

    let mut config = RedisConfig::from_url("redis://:redisSECRETMARK@127.0.0.1:1");
    config.dial_timeout = Duration::from_secs(2);
    let error = RedisClient::connect(&config).await.unwrap_err();
    assert_clean("Redis connect error", &format!("{error} {error:?}"));
}
