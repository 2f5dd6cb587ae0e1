//! What a test waits on: the answer each DNS node gives the European client (through
//! Knot's `kdig`, a real DNS client), the API node's routes and its `/metrics`.

use std::net::SocketAddr;
use std::time::Duration;

use geodns_node::clock::Stopwatch;

use super::{Fleet, HOSTNAME, Role};

/// The client subnet of the European client (81.2.69.0/24, London in the test City file):
/// Near (Frankfurt) is its nearest member, Far (New York) the next.
pub const CLIENT_SUBNET: &str = "81.2.69.0/24";

/// Asks `server` for the hostname's A record as the European client; the addresses, one
/// per line, or what kdig printed when it got none (a timeout, an error).
pub fn ask(server: SocketAddr) -> String {
    ask_for(server, HOSTNAME)
}

/// Asks `server` for `name`'s A record as the European client (see [`ask`]).
pub fn ask_for(server: SocketAddr, name: &str) -> String {
    let output = kdig(server, 1)
        .args([name, "A"])
        .output()
        .expect("kdig runs (knot-dnsutils; scripts/services installs it)");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// kdig asking `server` as the European client, short answers, one try of `timeout` s.
fn kdig(server: SocketAddr, timeout: u32) -> std::process::Command {
    let mut command = std::process::Command::new("kdig");
    command
        .arg(format!("@{}", server.ip()))
        .args([
            "-p",
            &server.port().to_string(),
            &format!("+timeout={timeout}"),
            "+retry=0",
        ])
        .args(["+short", &format!("+subnet={CLIENT_SUBNET}")]);
    command
}

impl Fleet {
    /// The DNS address of node `id`.
    pub fn dns_addr(&self, id: &str) -> SocketAddr {
        let node = self.nodes.iter().find(|n| n.id == id);
        let port = node
            .and_then(|n| n.dns)
            .unwrap_or_else(|| panic!("{id}: no DNS"));
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// What DNS node `id` answers the European client now.
    pub async fn answer(&self, id: &str) -> String {
        let server = self.dns_addr(id);
        tokio::task::spawn_blocking(move || ask(server))
            .await
            .expect("kdig task")
    }

    /// What DNS node `id` answers the European client for `name` now.
    pub async fn answer_for(&self, id: &str, name: &str) -> String {
        let server = self.dns_addr(id);
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || ask_for(server, &name))
            .await
            .expect("kdig task")
    }

    /// The nats-server's `/varz` (message and byte counters), if it answers.
    pub async fn varz(&self) -> Option<serde_json::Value> {
        let client = geodns_node::http::client(Duration::from_secs(5)).ok()?;
        let url = format!("http://127.0.0.1:{}/varz", self.nats_monitor);
        let text = client.get(url).send().await.ok()?.text().await.ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Waits until every started DNS node answers `want`; how long each took, in node
    /// order. Fails with every log's tail after `limit`.
    pub async fn until_answers(&self, want: &str, limit: Duration) -> Vec<Duration> {
        let watch = Stopwatch::start();
        let ids: Vec<&str> = self
            .nodes
            .iter()
            .filter(|n| n.role == Role::Dns && n.started())
            .map(|n| n.id.as_str())
            .collect();
        let mut seen: Vec<Option<Duration>> = vec![None; ids.len()];
        loop {
            for (id, seen) in ids.iter().zip(seen.iter_mut()) {
                if seen.is_none() && self.answer(id).await == want {
                    *seen = Some(watch.elapsed());
                }
            }
            if let Some(all) = seen.iter().copied().collect::<Option<Vec<_>>>() {
                return all;
            }
            if watch.elapsed() > limit {
                let mut now = String::new();
                for id in &ids {
                    now.push_str(&format!("{id}: `{}`; ", self.answer(id).await));
                }
                panic!(
                    "not every DNS node answers {want} within {limit:?} ({now}){}",
                    self.logs(25)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `count` A queries for [`super::HITS_HOSTNAME`] to DNS node `id` as the
    /// European client; how many were answered.
    pub async fn hits(&self, id: &str, count: usize) -> usize {
        let server = self.dns_addr(id);
        tokio::task::spawn_blocking(move || {
            let mut command = kdig(server, 2);
            for _ in 0..count {
                command.args([super::HITS_HOSTNAME, "A"]);
            }
            let output = command.output().expect("kdig runs");
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter(|line| line.parse::<std::net::Ipv4Addr>().is_ok())
                .count()
        })
        .await
        .expect("kdig task")
    }

    /// The API node's port, if the fleet has one.
    pub fn api_port(&self) -> Option<u16> {
        self.nodes.iter().find(|n| n.role == Role::Api)?.api
    }

    fn api_url(&self, path: &str) -> String {
        let port = self.api_port().expect("the fleet has an API node");
        format!("http://127.0.0.1:{port}{path}")
    }

    /// The HTTP status of `GET path` on the API node; `None` when it cannot be reached.
    pub async fn api_status(&self, path: &str) -> Option<u16> {
        let client = geodns_node::http::client(Duration::from_secs(5)).ok()?;
        let response = client.get(self.api_url(path)).send().await.ok()?;
        Some(response.status().as_u16())
    }

    /// The JSON body of `GET path` on the API node; `None` when it cannot be reached or
    /// answers anything but 200 with JSON.
    pub async fn api_json(&self, path: &str) -> Option<serde_json::Value> {
        let client = geodns_node::http::client(Duration::from_secs(5)).ok()?;
        let response = client.get(self.api_url(path)).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        serde_json::from_str(&response.text().await.ok()?).ok()
    }

    /// The API node's `/metrics` text (empty when it cannot be reached).
    pub async fn metrics(&self) -> String {
        let Ok(client) = geodns_node::http::client(Duration::from_secs(5)) else {
            return String::new();
        };
        let Ok(response) = client.get(self.api_url("/metrics")).send().await else {
            return String::new();
        };
        response.text().await.unwrap_or_default()
    }

    /// The value of `series` (its name and labels as `/metrics` prints them) on the API
    /// node; `None` while it has no such sample.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics().await;
        let wanted = format!("{series} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&wanted))
            .and_then(|value| value.trim().parse().ok())
    }

    /// Polls `check` every 100 ms until it gives a value; fails naming `what`, with every
    /// log's tail, after `limit`.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        limit: Duration,
        check: impl AsyncFn(&Fleet) -> Option<T>,
    ) -> T {
        let watch = Stopwatch::start();
        loop {
            if let Some(value) = check(self).await {
                return value;
            }
            assert!(
                watch.elapsed() < limit,
                "timed out after {limit:?}: {what}{}",
                self.logs(25)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
