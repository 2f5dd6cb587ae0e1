//! One node of the fleet: a `geodns run` process of the built binary with its own
//! configuration file, data directory and log file (appended across restarts), which a
//! test stops gracefully, kills, restarts or starts with a moved clock.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::Role;

/// A node's process and how to start it again.
#[derive(Debug)]
pub struct FleetNode {
    /// The node's id (`monitor-1`, `dns-2`, `collator`, `api`).
    pub id: String,
    /// Its one role.
    pub role: Role,
    /// `[listen] dns`, on DNS nodes.
    pub dns: Option<u16>,
    /// `[listen] api`, on the API node.
    pub api: Option<u16>,
    pub(super) config: PathBuf,
    pub(super) log: PathBuf,
    pub(super) binary: PathBuf,
    pub(super) env: Vec<(String, String)>,
    filter: String,
    child: Option<Child>,
}

impl FleetNode {
    pub(super) fn new(
        spec: super::NodeSpec,
        config: PathBuf,
        fleet: &super::FleetSpec,
    ) -> FleetNode {
        let log = config.with_extension("log");
        FleetNode {
            id: spec.id,
            role: spec.role,
            dns: spec.dns,
            api: spec.api,
            config,
            log,
            binary: fleet.binary.clone(),
            filter: fleet.log.clone(),
            env: vec![(
                "GEODNS_BUS__PASSWORD".to_owned(),
                super::config::password(spec.role),
            )],
            child: None,
        }
    }

    /// Starts the process (a no-op while it runs). Its environment is the test's without
    /// any `GEODNS_*` variable, plus the node's own (the bus password, a clock offset).
    pub fn start(&mut self) {
        if self.is_running() {
            return;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let mut command = Command::new(&self.binary);
        command
            .args(["--log", &self.filter, "run", "-c"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (name, _) in std::env::vars() {
            if name.starts_with("GEODNS_") {
                command.env_remove(name);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.binary.display()));
        self.child = Some(child);
    }

    /// Sets (or with `None` removes) an environment variable for the next start.
    pub fn set_env(&mut self, name: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != name);
        if let Some(value) = value {
            self.env.push((name.to_owned(), value.to_owned()));
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// True once started and not stopped or killed by the test (it may have exited).
    pub fn started(&self) -> bool {
        self.child.is_some()
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no shutdown, nothing flushed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to 20 s for a clean exit (fails the test otherwise).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(
            sent.is_ok_and(|s| s.success()),
            "kill -TERM {pid} ({})",
            self.id
        );
        let watch = geodns_node::clock::Stopwatch::start();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                assert!(
                    status.success(),
                    "{} exited with {status}:\n{}",
                    self.id,
                    self.log_tail(30)
                );
                return;
            }
            if watch.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} still running 20 s after SIGTERM:\n{}",
                    self.id,
                    self.log_tail(30)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it (SIGTERM) and starts it again.
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// Everything the process logged, across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for FleetNode {
    fn drop(&mut self) {
        self.kill();
    }
}
