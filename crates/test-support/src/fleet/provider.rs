//! A provider whose health a test switches: a TCP listener on its own loopback address
//! that accepts every connection (the monitors' TCP check passes) until it fails; failed,
//! nothing listens and a connection is refused, as at a provider whose service stopped.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One provider address and port; stops listening when dropped.
#[derive(Debug)]
pub struct Provider {
    addr: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Provider {
    /// Listens on `ip:port` (healthy).
    pub async fn start(ip: IpAddr, port: u16) -> Provider {
        let provider = Provider {
            addr: SocketAddr::new(ip, port),
            task: Mutex::new(None),
        };
        provider.repair().await;
        provider
    }

    /// Where it listens while healthy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True while it accepts connections.
    pub fn is_up(&self) -> bool {
        self.task.lock().expect("provider lock").is_some()
    }

    /// Stops listening: every later check's connection is refused.
    pub async fn fail(&self) {
        let task = self.task.lock().expect("provider lock").take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await; // the listener is closed once the task is gone
        }
    }

    /// Listens again (a no-op while it listens).
    pub async fn repair(&self) {
        if self.is_up() {
            return;
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .unwrap_or_else(|e| panic!("provider {}: {e}", self.addr));
        let task = tokio::spawn(async move {
            loop {
                // Accepted and dropped: the TCP check needs only the handshake.
                let _ = listener.accept().await;
            }
        });
        *self.task.lock().expect("provider lock") = Some(task);
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        if let Ok(mut task) = self.task.lock()
            && let Some(task) = task.take()
        {
            task.abort();
        }
    }
}
