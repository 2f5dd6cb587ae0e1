//! A throw-away three-node Redis cluster on free loopback ports, built with the
//! `redis-server` of `GEODNS_TEST_REDIS_SERVER` and `redis-cli --cluster create`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::service_url;

/// Three masters; killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    ports: Vec<u16>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl RedisCluster {
    /// Starts the nodes, forms the cluster and waits until it reports `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        let server = service_url("GEODNS_TEST_REDIS_SERVER");
        let cli = std::path::Path::new(&server).with_file_name("redis-cli");
        let dir = tempfile::tempdir().expect("temporary directory");
        // Cluster bus ports are port + 10000: keep the base low enough.
        let ports: Vec<u16> = (0..3)
            .map(|_| {
                loop {
                    let port = free_port();
                    if port < 55_000 {
                        break port;
                    }
                }
            })
            .collect();
        let mut children = Vec::new();
        for port in &ports {
            let child = Command::new(&server)
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                ])
                .args([
                    "--cluster-config-file",
                    &format!("nodes-{port}.conf"),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {server}: {e}"));
            children.push(child);
        }
        let mut cluster = RedisCluster {
            ports,
            children,
            _dir: dir,
        };
        for port in cluster.ports.clone() {
            cluster.wait_for(&cli, port, "PING", "PONG");
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let status = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run redis-cli --cluster create");
        assert!(status.success(), "redis-cli --cluster create failed");
        for port in cluster.ports.clone() {
            cluster.wait_for(&cli, port, "CLUSTER INFO", "cluster_state:ok");
        }
        cluster
    }

    fn wait_for(&mut self, cli: &std::path::Path, port: u16, command: &str, expect: &str) {
        for _ in 0..200 {
            let output = Command::new(cli)
                .args(["-p", &port.to_string()])
                .args(command.split(' '))
                .output();
            if output.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(expect)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis on port {port}: `{command}` never answered `{expect}`");
    }

    /// `host:port` of every node.
    pub fn addresses(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
