//! API tokens follow the configuration without a restart: a `geodns run` node whose root
//! token file is rewritten refuses the old token and takes the new one within one reload
//! interval, and a deleted token file revokes its token; the log says the tokens changed
//! and never shows one.

use std::path::Path;
use std::time::Duration;

use crate::dns::config_text;
use crate::support::{RunNode, free_port, write};

const OLD: &str = "old-root-token-of-the-reload-test";
const NEW: &str = "new-root-token-of-the-reload-test";

/// The status of a maintenance change made with `token`.
async fn change_with(client: &reqwest::Client, api: u16, token: &str) -> Option<u16> {
    let url = format!("http://127.0.0.1:{api}/api/members/Near/maintenance");
    let sent = client
        .put(&url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(r#"{"maintenance": false}"#)
        .send()
        .await;
    sent.ok().map(|response| response.status().as_u16())
}

/// Waits until a change with `token` answers `status`; returns how long it took.
async fn until_status(client: &reqwest::Client, api: u16, token: &str, status: u16) -> Duration {
    let watch = geodns_node::clock::Stopwatch::start();
    while change_with(client, api, token).await != Some(status) {
        assert!(
            watch.elapsed() < Duration::from_secs(30),
            "{token}: never {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watch.elapsed()
}

fn node_file(dir: &Path, token_file: &Path, api: u16) -> std::path::PathBuf {
    let storage = format!("sqlite://{}/node.db", dir.display());
    let text = config_text(dir, r#"["dns", "api"]"#, &storage, 9).replace(
        "dns = \"127.0.0.1:0\"",
        &format!("dns = \"127.0.0.1:0\"\napi = \"127.0.0.1:{api}\""),
    );
    let extra = format!(
        "\n[sources]\nreload_interval = \"1s\"\n[api]\nroot_token_file = \"{}\"\n",
        token_file.display()
    );
    write(dir, "node.toml", &format!("{text}{extra}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewritten_or_deleted_token_file_takes_effect_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = write(dir.path(), "root.token", OLD);
    let api = free_port();
    let mut node = RunNode::start(&node_file(dir.path(), &token_file, api));
    let client = geodns_node::http::client(Duration::from_secs(5)).unwrap();
    until_status(&client, api, OLD, 200).await;
    assert_eq!(change_with(&client, api, NEW).await, Some(401));

    write(dir.path(), "root.token", NEW);
    let revoked = until_status(&client, api, OLD, 401).await;
    assert_eq!(change_with(&client, api, NEW).await, Some(200));
    eprintln!("the old token was refused {revoked:?} after its file changed");
    assert!(
        revoked < Duration::from_secs(3),
        "within one reload interval (1 s): {revoked:?}"
    );

    std::fs::remove_file(&token_file).unwrap();
    until_status(&client, api, NEW, 401).await;
    node.wait_for_log("API tokens changed", Duration::from_secs(5));
    node.wait_for_log("an API token cannot be used", Duration::from_secs(5));
    let log = node.log();
    assert!(
        !log.contains(OLD) && !log.contains(NEW),
        "no token in the log:\n{log}"
    );
    node.terminate();
}
