//! A TCP proxy on 127.0.0.1 that a test can cut and restore, to make a real service
//! (a database, a bus) unreachable and reachable again without stopping the shared server.
//! While cut, every forwarded connection is closed and new ones are closed on accept, as a
//! client sees a server that went away.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    /// `true` while cut; every connection task watches it.
    cut: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Forwards a new port on 127.0.0.1 to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy on 127.0.0.1");
        let addr = listener.local_addr().expect("proxy address");
        let (cut, watching) = watch::channel(false);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watching.borrow() {
                    drop(client);
                    continue;
                }
                tokio::spawn(forward(client, target, watching.clone()));
            }
        });
        TcpProxy { addr, cut, accept }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut.send_replace(true);
        self.accept.abort();
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}
