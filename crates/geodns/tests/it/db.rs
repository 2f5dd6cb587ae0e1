//! `geodns db migrate` and `geodns db check` against every kind of database URL, and
//! `geodns run` opening its database and stopping on SIGTERM.

use std::time::Duration;

use geodns_test_support::{Kind, TestDatabase};

use crate::support::{geodns, stderr, stdout, write};

async fn geodns_async(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        geodns(&args, &[])
    })
    .await
    .unwrap()
}

/// `geodns db SUBCOMMAND --url URL`.
async fn db_command(subcommand: &str, url: &str) -> std::process::Output {
    geodns_async(vec![
        "db".into(),
        subcommand.into(),
        "--url".into(),
        url.to_owned(),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_then_check_on_every_backend() {
    for kind in Kind::ALL {
        let database = TestDatabase::create(kind).await;
        let url = database.url.clone();
        let check = db_command("check", &url).await;
        assert_eq!(
            check.status.code(),
            Some(1),
            "{kind:?}: an empty database is behind: {}",
            stderr(&check)
        );
        assert!(
            stdout(&check).contains("schema is behind: 4 migration(s) pending"),
            "{kind:?}: {}",
            stdout(&check)
        );

        let first = db_command("migrate", &url).await;
        assert!(first.status.success(), "{kind:?}: {}", stderr(&first));
        assert!(
            stdout(&first).contains("applied migration 0001 initial"),
            "{kind:?}: {}",
            stdout(&first)
        );
        let second = db_command("migrate", &url).await;
        assert!(second.status.success(), "{kind:?}: {}", stderr(&second));
        assert!(
            stdout(&second).contains("nothing to apply (4 migrations already applied)"),
            "{kind:?}: {}",
            stdout(&second)
        );

        let check = db_command("check", &url).await;
        assert!(check.status.success(), "{kind:?}: {}", stderr(&check));
        assert!(
            stdout(&check).contains(": ok (schema current; write/read/delete probe took"),
            "{kind:?}: {}",
            stdout(&check)
        );
        assert!(
            !stdout(&check).contains("geodns:geodns@"),
            "passwords are redacted: {}",
            stdout(&check)
        );
        database.drop_now().await;
    }
}

#[test]
fn check_names_an_unreachable_database() {
    let output = geodns(
        &[
            "db",
            "check",
            "--url",
            "postgres://geodns:pw@127.0.0.1:1/nowhere",
            "--connect-retry",
            "1s",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("cannot connect to postgres database `nowhere` on 127.0.0.1:1"),
        "{message}"
    );
}

#[test]
fn run_opens_its_database_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "geodns.toml",
        &format!(
            "[node]\nid = \"run-test\"\ndata_dir = \"{}\"\n",
            dir.path().display()
        ),
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_geodns"))
        .args(["run", "-c", config.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let database = dir.path().join("geodns.db");
    let watch = geodns_node::clock::Stopwatch::start();
    while !database.exists() && watch.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        database.exists(),
        "run created no database at {}",
        database.display()
    );
    // Start-up is over once the consensus task has made its key (after the database).
    let key = dir.path().join("node.key");
    while !key.exists() && watch.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(key.exists(), "run never finished starting");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}: {log}", output.status);
    assert!(log.contains("database ready"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "a log written to a pipe has no colour codes: {log:?}"
    );
}

/// The largest `--connect-retry` is a clear usage error, not an overflow panic; and the
/// largest allowed value is still usable.
#[test]
fn connect_retry_out_of_range_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/x.db", dir.path().display());
    let huge = geodns(
        &[
            "db",
            "migrate",
            "--url",
            &url,
            "--connect-retry",
            "18446744073709551615",
        ],
        &[],
    );
    assert_eq!(huge.status.code(), Some(2), "{}", stderr(&huge));
    assert!(
        stderr(&huge).contains("213503982334601d7h15s is out of range: use 0s to 1d"),
        "{}",
        stderr(&huge)
    );
    assert!(!stderr(&huge).contains("panicked"), "{}", stderr(&huge));
    let day = geodns(
        &["db", "migrate", "--url", &url, "--connect-retry", "1d"],
        &[],
    );
    assert!(day.status.success(), "{}", stderr(&day));
}
