//! Test helpers: temporary config trees, running the `geodns` binary (once, or as a node
//! to stop with SIGTERM), and a small HTTP server on 127.0.0.1 whose documents a test
//! can change.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;

/// Loads and validates a node configuration as `geodns run` does; panics naming the file.
pub async fn load_config(path: &Path) -> geodns_core::config::Config {
    geodns::config_source::Loader::new(
        geodns_node::http::client(Duration::from_secs(5)).expect("HTTP client"),
        path.to_path_buf(),
        Vec::new(),
    )
    .load()
    .await
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Polls `condition` every 50 ms until it holds; fails naming `what` after `limit`.
pub async fn until(what: &str, limit: Duration, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The check the consensus tests vote on: the ping site check of member Amforc.
pub fn ping_key() -> geodns_core::records::CheckKey {
    geodns_core::records::CheckKey {
        kind: geodns_core::model::CheckKind::Site,
        check: "ping".into(),
        member: geodns_core::ids::MemberId::parse("Amforc").unwrap(),
        domain: String::new(),
        endpoint: String::new(),
        ipv6: false,
    }
}

/// The IBP fixture directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ibp")
}

/// Reads one IBP fixture.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).expect("fixture exists")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

/// Runs the built `geodns` binary with `args` and extra environment, without inheriting
/// any `GEODNS_*__*` override from the test environment.
pub fn geodns(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_geodns"));
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("GEODNS_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().expect("run geodns")
}

/// Standard error of a run, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Standard output of a run, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Documents served by [`serve`], by path; a missing path answers 404. A held path
/// answers only when its [`Hold`] is released, like a slow download.
#[derive(Clone, Default)]
pub struct Documents {
    bodies: Arc<Mutex<HashMap<String, String>>>,
    holds: Arc<Mutex<HashMap<String, Hold>>>,
}

/// A held path: `arrived` is notified when a request for it comes in; the request waits
/// until `release`.
#[derive(Clone)]
pub struct Hold {
    arrived: Arc<tokio::sync::Notify>,
    released: Arc<tokio::sync::Semaphore>,
}

impl Default for Hold {
    fn default() -> Self {
        Hold {
            arrived: Arc::default(),
            released: Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }
}

impl Hold {
    /// Waits until a request for the held path is waiting.
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// Lets every waiting and later request through.
    pub fn release(&self) {
        self.released
            .add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }
}

impl Documents {
    /// Sets the body served at `/name`.
    pub fn set(&self, name: &str, body: &str) {
        self.bodies
            .lock()
            .expect("lock")
            .insert(name.to_owned(), body.to_owned());
    }

    /// Stops serving `/name` (it answers 404).
    pub fn remove(&self, name: &str) {
        self.bodies.lock().expect("lock").remove(name);
    }

    /// Holds requests for `/name` until the returned [`Hold`] is released.
    pub fn hold(&self, name: &str) -> Hold {
        let hold = Hold::default();
        self.holds
            .lock()
            .expect("lock")
            .insert(name.to_owned(), hold.clone());
        hold
    }
}

/// Serves `documents` on 127.0.0.1 at a free port until the runtime ends.
pub async fn serve(documents: Documents) -> SocketAddr {
    async fn document(
        State(documents): State<Documents>,
        UrlPath(name): UrlPath<String>,
    ) -> Result<String, StatusCode> {
        let hold = documents.holds.lock().expect("lock").get(&name).cloned();
        if let Some(hold) = hold {
            hold.arrived.notify_one();
            drop(hold.released.acquire().await);
        }
        documents
            .bodies
            .lock()
            .expect("lock")
            .get(&name)
            .cloned()
            .ok_or(StatusCode::NOT_FOUND)
    }
    let app = Router::new()
        .route("/{name}", get(document))
        .with_state(documents);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    address
}

/// A fresh, migrated MariaDB database reached through a TCP proxy the test can cut (to
/// make a real database unreachable); returns the database, the proxy and the URL
/// through the proxy.
pub async fn mysql_behind_proxy() -> (
    geodns_test_support::TestDatabase,
    geodns_test_support::TcpProxy,
    url::Url,
) {
    database_behind_proxy(geodns_test_support::Kind::MySql).await
}

/// A fresh, migrated database of `kind`, reached through a [`geodns_test_support::TcpProxy`]
/// (the URL points at the proxy).
pub async fn database_behind_proxy(
    kind: geodns_test_support::Kind,
) -> (
    geodns_test_support::TestDatabase,
    geodns_test_support::TcpProxy,
    url::Url,
) {
    geodns_test_support::TestDatabase::behind_proxy(kind).await
}

/// Sends `request` as JSON on `subject` and decodes the first reply.
pub async fn ask<B: geodns_bus::Bus, T: serde::de::DeserializeOwned>(
    bus: &B,
    subject: &str,
    request: serde_json::Value,
) -> T {
    let reply = bus
        .request(
            subject,
            bytes::Bytes::from(request.to_string()),
            Duration::from_secs(5),
        )
        .await
        .expect("a reply");
    serde_json::from_slice(&reply.payload).expect("a reply of the expected shape")
}

/// A `geodns run` process, killed if the test ends early.
pub struct Process(Option<Child>);

impl Process {
    pub fn start(config: &Path, log: &Path) -> Process {
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_geodns"))
            .args(["run", "-c", config.to_str().unwrap()])
            .stderr(log)
            .spawn()
            .unwrap();
        Process(Some(child))
    }

    pub async fn stop(mut self) {
        let mut child = self.0.take().unwrap();
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let exit = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::task::spawn_blocking(move || child.wait()),
        )
        .await
        .expect("stops within 20 s of SIGTERM")
        .unwrap()
        .unwrap();
        assert!(exit.success(), "{exit:?}");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// A port free for both TCP and UDP on 127.0.0.1 (a node binds both for DNS), below the
/// ephemeral range (see the fleet harness's `free_port`).
pub fn free_port() -> u16 {
    geodns_test_support::fleet::free_port()
}

/// A running `geodns run`, its stderr in a file; killed on drop if still running.
pub struct RunNode {
    child: Child,
    log: PathBuf,
}

impl RunNode {
    pub fn start(config: &Path) -> RunNode {
        let log = config.with_extension("log");
        let child = Command::new(env!("CARGO_BIN_EXE_geodns"))
            .args(["run", "-c", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        RunNode { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `text`.
    pub fn wait_for_log(&mut self, text: &str, limit: Duration) {
        let watch = geodns_node::clock::Stopwatch::start();
        while !self.log().contains(text) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("exited ({status}) before logging `{text}`:\n{}", self.log());
            }
            assert!(
                watch.elapsed() < limit,
                "no `{text}` within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the process exits; `None` if it is still running after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let watch = geodns_node::clock::Stopwatch::start();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some((status, watch.elapsed()));
            }
            if watch.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM and returns how long the node took to exit (successfully).
    pub fn terminate(&mut self) -> Duration {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let (status, took) = self
            .wait_exit(Duration::from_secs(15))
            .unwrap_or_else(|| panic!("still running 15 s after SIGTERM:\n{}", self.log()));
        assert!(status.success(), "{status}:\n{}", self.log());
        took
    }
}

impl Drop for RunNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates each node's key where `geodns run` keeps it (`<dir>/<id>/node.key`) and returns
/// the `[[consensus.nodes]]` list trusting them all, which every node of a strict fleet
/// carries (the README's upgrade steps).
pub fn trust_all(dir: &Path, nodes: &[(&str, &[&str])]) -> String {
    let mut text = String::new();
    for (id, roles) in nodes {
        let data = dir.join(id);
        std::fs::create_dir_all(&data).unwrap();
        let (key, _) = geodns_node::keys::load_or_create(&data.join("node.key")).unwrap();
        text.push_str(&geodns_node::keys::entry_text(id, roles, &key.public()));
        text.push('\n');
    }
    text
}
