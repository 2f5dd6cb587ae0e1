//! A throw-away nats-server on a free loopback port, which a test can stop and restart
//! (same port) to exercise reconnects, optionally with a configuration file (authorization,
//! TLS, operator mode). The binary is `GEODNS_TEST_NATS_SERVER`.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::service_url;

/// A nats-server; killed on drop. Its output goes to a log file that
/// [`NatsServer::log`] reads, so a failing test can show what the server said.
#[derive(Debug)]
pub struct NatsServer {
    port: u16,
    child: Option<Child>,
    /// Holds the configuration file and the log; removed with the server.
    dir: tempfile::TempDir,
    /// `-c FILE`, or `-a 127.0.0.1 -p PORT` for the plain server.
    args: Vec<String>,
}

impl NatsServer {
    /// Starts a server without authentication on a free port and waits until it accepts
    /// connections.
    pub fn start() -> NatsServer {
        let mut server = NatsServer::new(None);
        server.restart();
        server
    }

    /// Starts a server with `config` (nats-server's configuration syntax, without a
    /// `listen` line: the server listens on 127.0.0.1 at a free port).
    pub fn start_with_config(config: &str) -> NatsServer {
        let mut server = NatsServer::new(Some(config));
        server.restart();
        server
    }

    /// A server with `config` that is not running yet: nothing listens on its port until
    /// [`NatsServer::restart`] (for clients that must start before their server).
    pub fn stopped_with_config(config: &str) -> NatsServer {
        NatsServer::new(Some(config))
    }

    fn new(config: Option<&str>) -> NatsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = tempfile::tempdir().expect("temporary directory");
        let args = match config {
            None => vec![
                "-a".to_owned(),
                "127.0.0.1".to_owned(),
                "-p".to_owned(),
                port.to_string(),
            ],
            Some(config) => {
                let path = dir.path().join("nats-server.conf");
                let text = format!("listen: \"127.0.0.1:{port}\"\n{config}\n");
                std::fs::write(&path, text).expect("write nats-server.conf");
                vec!["-c".to_owned(), path.display().to_string()]
            }
        };
        NatsServer {
            port,
            child: None,
            dir,
            args,
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (while running).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (clients see a disconnect).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let binary = service_url("GEODNS_TEST_NATS_SERVER");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the nats-server log");
        let child = Command::new(&binary)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        self.child = Some(child);
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "nats-server exited ({status}) instead of listening on port {}:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "nats-server on port {} did not come up within 5 s:\n{}",
            self.port,
            self.log()
        );
    }

    /// What the server wrote to stderr so far (its log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
