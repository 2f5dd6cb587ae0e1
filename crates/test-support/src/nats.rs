//! A throw-away nats-server on a free loopback port, which a test can stop and restart
//! (same port) to exercise reconnects. The binary is `GEODNS_TEST_NATS_SERVER`.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::service_url;

/// A running nats-server; killed on drop.
#[derive(Debug)]
pub struct NatsServer {
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a server on a free port and waits until it accepts connections.
    pub fn start() -> NatsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut server = NatsServer { port, child: None };
        server.restart();
        server
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server (clients see a disconnect).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let binary = service_url("GEODNS_TEST_NATS_SERVER");
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        self.child = Some(child);
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "nats-server on port {} did not come up within 5 s",
            self.port
        );
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
