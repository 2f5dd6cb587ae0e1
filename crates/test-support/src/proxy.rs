//! A TCP proxy on 127.0.0.1 that a test can cut, stall and restore, to make a real
//! service (a database, a bus) unreachable and reachable again without stopping the shared
//! server. While cut, every forwarded connection is closed and new ones are closed on
//! accept, as a client sees a server that went away. While stalled, connections stay open
//! and nothing passes, as a client sees a host that stopped answering (packets dropped).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    /// What the proxy does now; every connection task watches it.
    mode: watch::Sender<Mode>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Forwards a new port on 127.0.0.1 to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy on 127.0.0.1");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, watching) = watch::channel(Mode::Forward);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let now = *watching.borrow();
                match now {
                    Mode::Cut => drop(client),
                    Mode::Stall => {
                        tokio::spawn(hold(client, watching.clone()));
                    }
                    Mode::Forward => {
                        tokio::spawn(forward(client, target, watching.clone()));
                    }
                }
            }
        });
        TcpProxy { addr, mode, accept }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    /// Stops passing anything, keeping every connection open and accepting new ones, until
    /// [`TcpProxy::restore`] (then they are closed) or [`TcpProxy::cut`].
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stall);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.mode.send_replace(Mode::Forward);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Cut);
        self.accept.abort();
    }
}

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Cut,
    Stall,
}

async fn forward(mut client: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let stopped = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
        stopped = mode.wait_for(|mode| *mode != Mode::Forward) => stopped.map(|m| *m),
    };
    if matches!(stopped, Ok(Mode::Stall)) {
        drop(server);
        hold(client, mode).await;
    }
}

/// Keeps `client` open, reading nothing, until the proxy is cut or forwards again.
async fn hold(client: TcpStream, mut mode: watch::Receiver<Mode>) {
    mode.wait_for(|mode| *mode != Mode::Stall).await.ok();
    drop(client);
}
