//! A fleet of separate `geodns run` processes on one machine, for the fleet tests and the
//! failover benchmark: a private nats-server with `examples/nats-server.conf`'s per-role
//! users, a fresh MariaDB or PostgreSQL database behind a proxy the test can cut, two
//! providers on 127.0.0.11 (Near, Frankfurt) and 127.0.0.12 (Far, New York) whose health
//! the test switches, and one process per node: monitors (each reaching NATS through a
//! proxy of its own, to partition it), DNS nodes, a collator and an API node, all in
//! strict trust of each other. Each node's files and log live under
//! `target/fleet/<name>-…`; the directory is removed when the fleet ends well and kept
//! (and named on stderr) when the test fails.

mod config;
mod probe;
mod process;
mod provider;

pub use config::{FAR, HITS_HOSTNAME, HOSTNAME, NEAR, nats_server_conf};
pub use probe::{CLIENT_SUBNET, ask, ask_for};
pub use process::FleetNode;
pub use provider::Provider;

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Kind, NatsServer, TcpProxy, TestDatabase};

/// A node's role in the fleet (one per process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Checks the providers and votes.
    Monitor,
    /// Answers DNS.
    Dns,
    /// Stores outages and usage, sends alerts.
    Collator,
    /// Serves the HTTP API.
    Api,
}

impl Role {
    /// The role's name in `roles` and its NATS user.
    pub fn user(self) -> &'static str {
        match self {
            Role::Monitor => "monitor",
            Role::Dns => "dns",
            Role::Collator => "collator",
            Role::Api => "api",
        }
    }
}

/// What fleet to run.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    /// The `geodns` binary to run.
    pub binary: PathBuf,
    /// Names the fleet's directory under `target/fleet/`.
    pub name: String,
    /// Monitor processes (`monitor-1`, ...).
    pub monitors: usize,
    /// DNS processes (`dns-1`, ...).
    pub dns: usize,
    /// Whether a collator and an API node run.
    pub collator_and_api: bool,
    /// The shared database.
    pub database: Kind,
    /// The TCP check's interval (whole seconds, at least 1 s).
    pub interval: Duration,
    /// `[consensus] auth`.
    pub auth: &'static str,
    /// Appended to every node's file.
    pub extra: String,
    /// More keys of `[dns]` (every node's), e.g. `no_healthy = "none"`.
    pub dns_keys: String,
    /// Appended to the collator's file (`[matrix]`, `[alerts]`).
    pub collator_extra: String,
    /// Each process's `--log` filter.
    pub log: String,
    /// Replaces the default checks, service and members (Near and Far): `[[checks]]`,
    /// `[[services]]` and `[[members]]` text. The fleet then does not wait for answers
    /// at start.
    pub catalog: Option<String>,
    /// The monitors observe what [`Fleet::script`] says instead of checking
    /// (`GEODNS_TEST_OBSERVATIONS`).
    pub scripted: bool,
    /// DNS nodes write usage to the shared database (else each to its own SQLite file,
    /// as for many DNS nodes on one database server).
    pub dns_database: bool,
    /// The `[cluster]` and `[consensus]` timings every node gets: [`TIGHT`] (tests
    /// notice a dead node in 3 s and a node saves its caches every second), or
    /// [`DEFAULT_TIMINGS`] (geodns's defaults, what a fleet runs: benchmarks).
    pub timings: String,
}

/// Tight timings for tests: a heartbeat every second, silent for 3 s is inactive, caches
/// saved every second.
pub const TIGHT: &str = "[cluster]\nheartbeat = \"1s\"\nactive_window = \"3s\"\npurge_after = \"60s\"\n\n\
     [consensus]\ncache_interval = \"1s\"\n";

/// geodns's default timings (heartbeat 5 s, active window 20 s, caches every 90 s).
pub const DEFAULT_TIMINGS: &str = "[consensus]\n";

impl FleetSpec {
    /// Three monitors, two DNS nodes, a collator and an API node on MariaDB, strict
    /// trust, checks every second.
    pub fn new(binary: impl Into<PathBuf>, name: &str) -> FleetSpec {
        FleetSpec {
            binary: binary.into(),
            name: name.to_owned(),
            monitors: 3,
            dns: 2,
            collator_and_api: true,
            database: Kind::MySql,
            interval: Duration::from_secs(1),
            auth: "strict",
            extra: String::new(),
            dns_keys: String::new(),
            collator_extra: String::new(),
            log: "info".to_owned(),
            catalog: None,
            scripted: false,
            dns_database: true,
            timings: TIGHT.to_owned(),
        }
    }
}

/// A node before it has a file.
#[derive(Debug)]
pub(crate) struct NodeSpec {
    id: String,
    role: Role,
    data: PathBuf,
    dns: Option<u16>,
    api: Option<u16>,
}

/// A running fleet. [`Fleet::finish`] stops it and drops its database; dropped without
/// it (a failed test), every process is killed and the directory kept.
#[derive(Debug)]
pub struct Fleet {
    dir: PathBuf,
    /// The private nats-server (stop and restart it to test reconnects).
    pub nats: NatsServer,
    /// The nats-server's monitoring port (`/varz`).
    pub nats_monitor: u16,
    /// Every node that reaches the database goes through this proxy.
    pub database_link: TcpProxy,
    /// Each monitor's way to NATS, in monitor order.
    pub monitor_links: Vec<TcpProxy>,
    /// The provider of member Near, then of member Far.
    pub providers: [Provider; 2],
    /// Every node: monitors, DNS nodes, then the collator and the API node.
    pub nodes: Vec<FleetNode>,
    database: Option<TestDatabase>,
    finished: bool,
}

impl Fleet {
    /// Writes every file, starts every process and waits until each DNS node answers the
    /// European client with Near and the API node is ready (60 s at most).
    pub async fn start(spec: FleetSpec) -> Fleet {
        let dir = fleet_dir(&spec);
        std::fs::create_dir_all(&dir).expect("create the fleet directory");
        config::geoip(&dir);
        let nats_monitor = free_port();
        let nats_conf = format!(
            "{}\nhttp: \"127.0.0.1:{nats_monitor}\"\n",
            config::nats_server_conf()
        );
        let nats = NatsServer::start_with_config(&nats_conf);
        let (database, database_link, url) = TestDatabase::behind_proxy(spec.database).await;
        let port = free_port_on(&[config::NEAR, config::FAR]);
        let providers = [
            Provider::start(ip(config::NEAR), port).await,
            Provider::start(ip(config::FAR), port).await,
        ];
        let specs = node_specs(&spec, &dir);
        let trusted = trust(&specs);
        let nats_addr = std::net::SocketAddr::from(([127, 0, 0, 1], nats.port()));
        let mut monitor_links = Vec::new();
        let mut nodes = Vec::new();
        for node in specs {
            let nats_url = if node.role == Role::Monitor {
                let link = TcpProxy::start(nats_addr).await;
                let url = format!("nats://{}", link.addr());
                monitor_links.push(link);
                url
            } else {
                nats.url()
            };
            let links = config::Links {
                nats: &nats_url,
                database: url.as_str(),
                port,
                geoip: &dir,
            };
            let text = config::node_text(&spec, &node, &links, &trusted);
            let file = dir.join(format!("{}.toml", node.id));
            std::fs::write(&file, text).expect("write a node's file");
            let mut node = FleetNode::new(node, file, &spec);
            if spec.scripted && node.role == Role::Monitor {
                let script = dir.join(SCRIPT).display().to_string();
                node.set_env("GEODNS_TEST_OBSERVATIONS", Some(&script));
            }
            nodes.push(node);
        }
        let waits_for_answers = spec.catalog.is_none();
        let mut fleet = Fleet {
            dir,
            nats_monitor,
            nats,
            database_link,
            monitor_links,
            providers,
            nodes,
            database: Some(database),
            finished: false,
        };
        fleet.script("");
        for node in &mut fleet.nodes {
            node.start();
        }
        if waits_for_answers {
            fleet.ready().await;
        } else {
            tokio::time::sleep(Duration::from_secs(3)).await; // a bad file stops a node
        }
        fleet.all_running();
        fleet
    }

    /// Fails naming every started node whose process has exited, with its log.
    pub fn all_running(&mut self) {
        let mut exited = String::new();
        for node in &mut self.nodes {
            if node.started() && !node.is_running() {
                let _ = write!(
                    exited,
                    "\n--- {} exited ---\n{}",
                    node.id,
                    node.log_tail(20)
                );
            }
        }
        assert!(exited.is_empty(), "fleet processes exited:{exited}");
    }

    /// Waits until every DNS node answers Near and the API node (if any) is ready.
    pub async fn ready(&self) {
        self.until_answers(NEAR, Duration::from_secs(60)).await;
        if self.api_port().is_some() {
            self.wait_for(
                "the API node ready",
                Duration::from_secs(60),
                async |fleet| fleet.api_status("/ready").await.filter(|s| *s == 200),
            )
            .await;
        }
    }

    /// The fleet's directory (node files, data directories, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The node `id`.
    pub fn node(&mut self, id: &str) -> &mut FleetNode {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// The ids of the nodes of `role`, in order.
    pub fn ids(&self, role: Role) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.role == role)
            .map(|n| n.id.clone())
            .collect()
    }

    /// The official status of `member`'s TCP check in node `id`'s saved results
    /// (`official.cache.json`, written every second); `None` while it has none.
    pub fn official_status(&self, id: &str, member: &str) -> Option<bool> {
        let path = self.dir.join(id).join("official.cache.json");
        let text = std::fs::read_to_string(path).ok()?;
        let file: serde_json::Value = serde_json::from_str(&text).ok()?;
        file["results"]
            .as_array()?
            .iter()
            .find(|row| row["member"] == member && row["check_name"] == "tcp")
            .and_then(|row| row["status"].as_bool())
    }

    /// Writes what the scripted monitors observe next (see [`FleetSpec::scripted`]): one
    /// member name per line that is down, `*` for all; atomically.
    pub fn script(&self, text: &str) {
        let path = self.dir.join(SCRIPT);
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, text).expect("write the observation script");
        std::fs::rename(&temporary, &path).expect("replace the observation script");
    }

    /// Member Near's provider.
    pub fn near(&self) -> &Provider {
        &self.providers[0]
    }

    /// Stops every process (SIGTERM, each must exit cleanly), drops the database and
    /// removes the directory.
    pub async fn finish(mut self) {
        for node in self.nodes.iter_mut().rev() {
            node.stop();
        }
        if let Some(database) = self.database.take() {
            database.drop_now().await;
        }
        self.finished = true;
    }

    /// The last lines of every node's log, for a failure message.
    pub fn logs(&self, lines: usize) -> String {
        let mut text = format!("\nfleet directory: {}", self.dir.display());
        for node in &self.nodes {
            let _ = write!(text, "\n--- {} ---\n{}", node.id, node.log_tail(lines));
        }
        text
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        if self.finished {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!(
                "fleet logs kept in {} (one <node>.log per node)",
                self.dir.display()
            );
        }
    }
}

/// The `p`-quantile (0 to 1, nearest rank) of `samples`; NaN when there are none.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The scripted monitors' file, in the fleet's directory.
const SCRIPT: &str = "observations.txt";

fn ip(text: &str) -> IpAddr {
    text.parse().expect("a provider address")
}

/// `target/fleet/<name>-<pid>-<n>`, `target` being two levels above the binary.
fn fleet_dir(spec: &FleetSpec) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let target = spec
        .binary
        .parent()
        .and_then(Path::parent)
        .map_or_else(std::env::temp_dir, Path::to_path_buf);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    target
        .join("fleet")
        .join(format!("{}-{}-{n}", spec.name, std::process::id()))
}

fn node_specs(spec: &FleetSpec, dir: &Path) -> Vec<NodeSpec> {
    let node = |id: String, role: Role| NodeSpec {
        data: dir.join(&id),
        dns: (role == Role::Dns).then(free_port),
        api: (role == Role::Api).then(free_port),
        id,
        role,
    };
    let mut nodes: Vec<NodeSpec> = (1..=spec.monitors)
        .map(|i| node(format!("monitor-{i}"), Role::Monitor))
        .collect();
    nodes.extend((1..=spec.dns).map(|i| node(format!("dns-{i}"), Role::Dns)));
    if spec.collator_and_api {
        nodes.push(node("collator".to_owned(), Role::Collator));
        nodes.push(node("api".to_owned(), Role::Api));
    }
    nodes
}

/// Creates each node's key where `geodns run` keeps it and returns the
/// `[[consensus.nodes]]` list every node carries.
fn trust(nodes: &[NodeSpec]) -> String {
    let mut text = String::new();
    for node in nodes {
        std::fs::create_dir_all(&node.data).expect("create a data directory");
        let (key, _) = geodns_node::keys::load_or_create(&node.data.join("node.key"))
            .expect("create a node key");
        text.push_str(&geodns_node::keys::entry_text(
            &node.id,
            &[node.role.user()],
            &key.public(),
        ));
        text.push('\n');
    }
    text
}

/// A port free for TCP and UDP on 127.0.0.1 (a DNS node binds both), chosen below the
/// kernel's ephemeral range: a port the kernel hands out (to a connection's local end, to
/// a bind on port 0) could be taken between this choice and the node's bind.
pub fn free_port() -> u16 {
    loop {
        let port = outside_ephemeral();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
}

/// A random port from 10000 up to the start of the ephemeral range.
fn outside_ephemeral() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .filter(|low| *low > 12_000)
        .unwrap_or(32_768);
    let random = RandomState::new().hash_one(std::process::id());
    10_000 + (random % u64::from(low - 10_000)) as u16
}

/// A TCP port free on every address in `ips`.
fn free_port_on(ips: &[&str]) -> u16 {
    loop {
        let port = outside_ephemeral();
        if ips
            .iter()
            .all(|ip| std::net::TcpListener::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
}
