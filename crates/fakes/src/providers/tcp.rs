//! Bare TCP targets for connect checks: a port that accepts (and closes at once) and a port
//! that refuses because nothing listens on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::common::Serving;

/// Namespace for the TCP targets.
#[derive(Debug)]
pub struct TcpPorts;

impl TcpPorts {
    /// A listener on 127.0.0.1 that accepts every connection and closes it at once, and its
    /// address. It stops when the returned server is dropped.
    pub async fn accepting() -> (AcceptingServer, SocketAddr) {
        let accepted = Arc::new(AtomicUsize::new(0));
        let serving = Serving::start({
            let accepted = Arc::clone(&accepted);
            move |stream| {
                accepted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
                std::future::ready(())
            }
        })
        .await;
        let addr = serving.addr();
        (AcceptingServer { serving, accepted }, addr)
    }

    /// A 127.0.0.1 address where nothing listens: connecting is refused. (The port was
    /// bound and released, so another process could take it in between; on a test machine
    /// that is rare enough.)
    pub fn refused_port() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.local_addr().expect("local address")
    }
}

/// A port that accepts and closes; see [`TcpPorts::accepting`].
#[derive(Debug)]
pub struct AcceptingServer {
    serving: Serving,
    accepted: Arc<AtomicUsize>,
}

impl AcceptingServer {
    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.serving.addr()
    }

    /// How many connections were accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    #[tokio::test]
    async fn the_accepting_port_accepts_and_closes() {
        let (server, addr) = TcpPorts::accepting().await;
        assert_eq!(server.addr(), addr);
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut rest = Vec::new();
        // Closed by the server: end of stream (or a reset, which is as good).
        let _ = stream.read_to_end(&mut rest).await;
        assert!(rest.is_empty());
        assert_eq!(server.accepted(), 1);
    }

    #[tokio::test]
    async fn the_refused_port_refuses() {
        let addr = TcpPorts::refused_port();
        let error = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn a_dropped_server_stops_accepting() {
        let (server, addr) = TcpPorts::accepting().await;
        drop(server);
        // The abort is processed when the runtime next polls the accept task.
        tokio::task::yield_now().await;
        let error = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}
