//! A TCP proxy on 127.0.0.1 that a test can cut, stall and restore, to make a real
//! service (a database, a bus) unreachable and reachable again without stopping the shared
//! server. While cut, every forwarded connection is closed and new ones are closed on
//! accept, as a client sees a server that went away. While stalled, connections stay open
//! and nothing passes, as a client sees a host that stopped answering (packets dropped).
//! Armed with [`TcpProxy::cut_after`], once a request containing a marker (the text of
//! an `INSERT`, which drivers send when they prepare it) has passed, it forwards the
//! client's next request (the execution) to the server and then closes the connection
//! before the reply can pass: the statement runs and commits, and the client cannot know
//! it did (an unknown commit outcome). [`TcpProxy::cut_at`] does the same with the marked
//! request itself (a `COMMIT`, sent as text), and [`TcpProxy::stall_at`] stalls the
//! proxy instead of forwarding the marked request (the statement never arrives, and the
//! client hangs as before a host that stopped answering).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    /// What the proxy does now; every connection task watches it.
    mode: Arc<watch::Sender<Mode>>,
    accept: tokio::task::JoinHandle<()>,
    cuts: Arc<Cuts>,
}

/// The armed cuts: after requests containing `marker`, `armed` more times, the
/// connection is closed before the reply (`when`), or the proxy stalls; `done` counts the
/// cuts made.
#[derive(Debug)]
struct Cuts {
    marker: Mutex<(Vec<u8>, When)>,
    armed: AtomicUsize,
    done: AtomicUsize,
    /// The proxy's mode, for a stall.
    mode: Arc<watch::Sender<Mode>>,
}

/// Which request a cut follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// The request after the marked one.
    Next,
    /// The marked request.
    Marked,
    /// Stall the proxy instead of forwarding the marked request.
    Stall,
}

impl Cuts {
    /// When to cut (and one cut reserved) if `chunk` holds the marker and a cut is armed.
    fn reserve(&self, chunk: &[u8]) -> Option<When> {
        let marker = self.marker.lock().unwrap_or_else(PoisonError::into_inner);
        let (marker, when) = (&marker.0, marker.1);
        if marker.is_empty() || !chunk.windows(marker.len()).any(|w| w == marker.as_slice()) {
            return None;
        }
        self.armed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .ok()
            .map(|_| when)
    }

    fn arm(&self, marker: &[u8], times: usize, when: When) {
        *self.marker.lock().unwrap_or_else(PoisonError::into_inner) = (marker.to_vec(), when);
        self.armed.store(times, Ordering::SeqCst);
    }
}

impl TcpProxy {
    /// Forwards a new port on 127.0.0.1 to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy on 127.0.0.1");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, watching) = watch::channel(Mode::Forward);
        let mode = Arc::new(mode);
        let cuts = Arc::new(Cuts {
            marker: Mutex::new((Vec::new(), When::Next)),
            armed: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            mode: mode.clone(),
        });
        let cutting = cuts.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let now = *watching.borrow();
                match now {
                    Mode::Cut => drop(client),
                    Mode::Stall => {
                        tokio::spawn(hold(client, watching.clone()));
                    }
                    Mode::Forward => {
                        tokio::spawn(forward(client, target, watching.clone(), cutting.clone()));
                    }
                }
            }
        });
        TcpProxy {
            addr,
            mode,
            accept,
            cuts,
        }
    }

    /// Arms `times` cuts: after each of the next requests containing `marker`, the
    /// client's next request is forwarded to the server, then the connection is closed
    /// before the reply passes.
    pub fn cut_after(&self, marker: &[u8], times: usize) {
        self.cuts.arm(marker, times, When::Next);
    }

    /// Arms `times` cuts: each of the next requests containing `marker` is forwarded to
    /// the server, then the connection is closed before the reply passes.
    pub fn cut_at(&self, marker: &[u8], times: usize) {
        self.cuts.arm(marker, times, When::Marked);
    }

    /// Arms a stall: the next request containing `marker` is not forwarded, and the proxy
    /// stalls (as [`TcpProxy::stall`]) until restored.
    pub fn stall_at(&self, marker: &[u8]) {
        self.cuts.arm(marker, 1, When::Stall);
    }

    /// Cuts made by [`TcpProxy::cut_after`] so far.
    pub fn cuts_made(&self) -> usize {
        self.cuts.done.load(Ordering::SeqCst)
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

async fn forward(
    mut client: TcpStream,
    target: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    cuts: Arc<Cuts>,
) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let stopped = tokio::select! {
        () = pump(&mut client, &mut server, &cuts) => return,
        stopped = mode.wait_for(|mode| *mode != Mode::Forward) => stopped.map(|m| *m),
    };
    if matches!(stopped, Ok(Mode::Stall)) {
        drop(server);
        hold(client, mode).await;
    }
}

/// Copies both ways until either side closes, or an armed cut: after a request holding
/// the marker, the next request reaches the server, then both connections close before
/// any reply passes.
async fn pump(client: &mut TcpStream, server: &mut TcpStream, cuts: &Cuts) {
    let (mut up, mut down) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let mut cut_next = false;
    loop {
        tokio::select! {
            read = client.read(&mut up) => {
                let Ok(n @ 1..) = read else { return };
                let when = if cut_next { Some(When::Marked) } else { cuts.reserve(&up[..n]) };
                if when == Some(When::Stall) {
                    cuts.done.fetch_add(1, Ordering::SeqCst);
                    cuts.mode.send_replace(Mode::Stall);
                    // `forward` sees the stall and holds the client.
                    std::future::pending::<()>().await;
                }
                if server.write_all(&up[..n]).await.is_err() {
                    return;
                }
                if when == Some(When::Marked) {
                    let _ = server.flush().await;
                    // The server has the statement; give it time to run, then hang up.
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    cuts.done.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                cut_next = when == Some(When::Next);
            }
            read = server.read(&mut down) => {
                let Ok(n @ 1..) = read else { return };
                if client.write_all(&down[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Keeps `client` open, reading nothing, until the proxy is cut or forwards again.
async fn hold(client: TcpStream, mut mode: watch::Receiver<Mode>) {
    mode.wait_for(|mode| *mode != Mode::Stall).await.ok();
    drop(client);
}
