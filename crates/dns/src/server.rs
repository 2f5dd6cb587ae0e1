//! The sockets: one UDP socket per worker thread (SO_REUSEPORT, the kernel spreads
//! queries), each answering synchronously from the current view; TCP on the runtime with
//! a connection cap and idle timeout. Counters leave the workers only when the flusher
//! asks (an epoch bump), so the query path shares no lock. Threads and tasks are spawned
//! through the node's [`Tasks`] and stop with its token.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::{ArcSwap, Cache};
use geodns_node::Tasks;
use geodns_node::slots::{Caps, Slots};
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::answer::{Client, Transport, Worker, answer};
use crate::usage::Counts;
use crate::view::View;

/// How long a UDP worker waits for a packet before it looks at the stop flag and the
/// flush epoch again.
const IDLE_WAKE: Duration = Duration::from_millis(100);

/// State shared by the workers and the tasks that feed them.
#[derive(Debug)]
pub struct Shared {
    /// The view answered from; replaced whole.
    pub view: Arc<ArcSwap<View>>,
    /// Today, in days since 1970-01-01 UTC (set by a timer; read per query).
    pub day: AtomicI32,
    /// Bumped by the flusher: each worker then sends its counters.
    epoch: AtomicU64,
    stop: AtomicBool,
    /// UDP workers still running.
    alive: std::sync::atomic::AtomicUsize,
    /// Counters of closed or flushed TCP connections.
    tcp_counts: Mutex<Counts>,
    /// The worker of PowerDNS backend lookups (caches only; its counts go to
    /// `tcp_counts` after each lookup).
    backend: Mutex<Worker>,
    counts_tx: mpsc::UnboundedSender<Counts>,
    /// The TCP connection slots (caps set at start, changed on reload).
    pub tcp_slots: Slots,
    /// The UDP response rate limiter's accounts.
    rrl: crate::rrl::Table,
    /// Seconds since start, set by a ticker (the limiter's clock; no system call per
    /// query).
    second: AtomicU32,
}

/// Socket settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address for UDP and TCP (port 0: any free port, the same for both).
    pub listen: SocketAddr,
    /// UDP worker threads.
    pub workers: usize,
    /// TCP connection caps: in all, per client address, per client network.
    pub tcp_caps: Caps,
    /// Idle TCP connections are closed after this.
    pub tcp_idle_timeout: Duration,
    /// TCP connections are closed this long after they opened.
    pub tcp_lifetime: Duration,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// The bound address.
    pub local_addr: SocketAddr,
    shared: Arc<Shared>,
    counts_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Counts>>,
    workers: usize,
}

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_recv_buffer_size(4 << 20).ok();
    socket.bind(&addr.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(IDLE_WAKE))?;
    Ok(socket)
}

/// The first UDP socket and the TCP listener on the same port. With port 0 the kernel
/// picks a free UDP port, which another process may hold for TCP: then another port is
/// tried.
fn bind_pair(listen: SocketAddr) -> io::Result<(UdpSocket, std::net::TcpListener)> {
    let attempts = if listen.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = udp_socket(listen)?;
        match std::net::TcpListener::bind(udp.local_addr()?) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => last = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

impl Server {
    /// Binds the sockets and starts the workers (threads) and TCP (a task), owned by
    /// `tasks`; they stop when its token is cancelled.
    pub async fn start(
        settings: &Settings,
        view: Arc<ArcSwap<View>>,
        day: i32,
        tasks: &Tasks,
    ) -> io::Result<Server> {
        let shutdown = tasks.token().clone();
        let (first, std_tcp) = bind_pair(settings.listen)?;
        let local_addr = first.local_addr()?;
        std_tcp.set_nonblocking(true)?;
        let tcp = TcpListener::from_std(std_tcp)?;
        let (counts_tx, counts_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            view,
            day: AtomicI32::new(day),
            epoch: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            alive: std::sync::atomic::AtomicUsize::new(0),
            tcp_counts: Mutex::new(Counts::default()),
            backend: Mutex::default(),
            counts_tx,
            tcp_slots: Slots::new(settings.tcp_caps),
            rrl: crate::rrl::Table::default(),
            second: AtomicU32::new(0),
        });
        let workers = settings.workers.max(1);
        let mut sockets = vec![first];
        for _ in 1..workers {
            sockets.push(udp_socket(local_addr)?);
        }
        for (index, socket) in sockets.into_iter().enumerate() {
            let worker = shared.clone();
            shared.alive.fetch_add(1, Ordering::Relaxed);
            let started = tasks.spawn_thread(format!("dns-udp-{index}"), move || {
                udp_worker(&socket, &worker)
            });
            if let Err(error) = started {
                // The workers started so far stop now.
                shared.alive.fetch_sub(1, Ordering::Relaxed);
                shared.stop.store(true, Ordering::Relaxed);
                return Err(error);
            }
        }
        let accept = tcp_accept(
            tcp,
            (shared.clone(), tasks.clone()),
            shared.tcp_slots.clone(),
            (settings.tcp_idle_timeout, settings.tcp_lifetime),
            shutdown.clone(),
        );
        tasks.spawn("dns: tcp accept", accept);
        let stopper = shared.clone();
        tasks.spawn("dns: udp stopper", async move {
            shutdown.cancelled().await;
            stopper.stop.store(true, Ordering::Relaxed);
        });
        let clock = shared.clone();
        let ticking = tasks.token().clone();
        tasks.spawn("dns: rrl clock", async move {
            let started = geodns_node::clock::Stopwatch::start();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    () = ticking.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let second = u32::try_from(started.elapsed().as_secs()).unwrap_or(u32::MAX);
                clock.second.store(second, Ordering::Relaxed);
            }
        });
        Ok(Server {
            local_addr,
            shared,
            counts_rx: tokio::sync::Mutex::new(counts_rx),
            workers,
        })
    }

    /// The shared state (the view, the day).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Collects every worker's counters since the last collection (waiting at most
    /// `wait` for the UDP workers), plus those of TCP connections.
    pub async fn collect(&self, wait: Duration) -> Counts {
        let mut receiver = self.counts_rx.lock().await;
        // Counters sent after an earlier collection gave up waiting.
        let mut total = Counts::default();
        while let Ok(counts) = receiver.try_recv() {
            total.merge(counts);
        }
        self.shared.epoch.fetch_add(1, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + wait;
        let mut answered = 0;
        // A stopped worker sent its last counters as it stopped: only running ones answer.
        while answered < self.workers.min(self.shared.alive.load(Ordering::Relaxed)) {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(counts)) => {
                    total.merge(counts);
                    answered += 1;
                }
                _ => break,
            }
        }
        // Counters a worker sent as it stopped, after the first drain.
        self.shared.drain(&mut receiver, &mut total);
        total
    }

    /// Stops the UDP workers (they also stop with the token), waits at most `wait` until
    /// every one has, then collects what they and the TCP connections counted last.
    pub async fn stop(&self, wait: Duration) -> Counts {
        self.shared.stop.store(true, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + wait;
        while self.shared.alive.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut receiver = self.counts_rx.lock().await;
        let mut total = Counts::default();
        self.shared.drain(&mut receiver, &mut total);
        total
    }
}

impl Server {
    /// Runs `lookup` on the current view with the backend worker and today's day (the
    /// PowerDNS endpoint); what it counts is flushed with the TCP counters when `count`,
    /// else dropped. Synchronous and quick: the same work as answering a few queries.
    pub fn with_backend<T>(
        &self,
        count: bool,
        lookup: impl FnOnce(&View, &mut Worker, i32) -> T,
    ) -> T {
        let view = self.shared.view.load_full();
        let day = self.shared.day.load(Ordering::Relaxed);
        let mut worker = self
            .shared
            .backend
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let result = lookup(&view, &mut worker, day);
        let counts = worker.counts.take();
        if count {
            self.shared.push_tcp(counts);
        }
        result
    }
}

impl Shared {
    /// The response rate limiter's verdict on the UDP response `out[..n]` to `client`:
    /// the length to send (the truncated form for a slip), or `None` to send nothing.
    fn limit(
        &self,
        view: &View,
        client: IpAddr,
        out: &mut [u8],
        n: usize,
        counts: &mut Counts,
    ) -> Option<usize> {
        let limits = &view.rrl;
        if limits.responses_per_second == 0 {
            return Some(n);
        }
        let second = self.second.load(Ordering::Relaxed);
        match self.rrl.decide(limits, client, &out[..n], second) {
            crate::rrl::Verdict::Send => Some(n),
            crate::rrl::Verdict::Drop => {
                counts.rrl[0] += 1;
                limits.log_only.then_some(n)
            }
            crate::rrl::Verdict::Slip => {
                counts.rrl[1] += 1;
                if limits.log_only {
                    return Some(n);
                }
                counts.truncated += 1;
                Some(crate::rrl::truncate(out, n))
            }
        }
    }

    /// Adds a TCP connection's counters to those waiting for the flusher.
    fn push_tcp(&self, counts: Counts) {
        self.tcp_counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .merge(counts);
    }

    /// Moves every waiting counter (workers' and TCP connections') into `total`.
    fn drain(&self, receiver: &mut mpsc::UnboundedReceiver<Counts>, total: &mut Counts) {
        while let Ok(counts) = receiver.try_recv() {
            total.merge(counts);
        }
        let tcp = std::mem::take(
            &mut *self
                .tcp_counts
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        total.merge(tcp);
    }
}

/// Packets read or written with one system call.
const BATCH: usize = 32;
/// Largest query read over UDP.
const MAX_QUERY: usize = 4096;

/// One worker: reads a batch of queries (`recvmmsg`, waiting for the first), answers each
/// from the current view, sends the answers (`sendmmsg`).
fn udp_worker(socket: &UdpSocket, shared: &Shared) {
    let fd = socket.as_raw_fd();
    let mut view = Cache::new(shared.view.clone());
    let mut worker = Worker::default();
    let Ok(mut packets) =
        Box::<[[u8; MAX_QUERY]; BATCH]>::try_from(vec![[0u8; MAX_QUERY]; BATCH].into_boxed_slice())
    else {
        return;
    };
    let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(MAX_QUERY)).collect();
    let mut received: [(usize, Option<SockaddrStorage>); BATCH] = [(0, None); BATCH];
    let mut replies: [Option<SockaddrStorage>; BATCH] = [None; BATCH];
    let mut lengths = [0usize; BATCH];
    let mut receive_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut epoch = shared.epoch.load(Ordering::Relaxed);
    loop {
        let count = receive(fd, &mut packets, &mut receive_headers, &mut received);
        let day = shared.day.load(Ordering::Relaxed);
        let view: &Arc<View> = view.load();
        let mut answered = 0;
        for (index, (len, source)) in received[..count].iter().enumerate() {
            let Some(addr) = source.as_ref().and_then(client_address) else {
                continue;
            };
            let client = Client {
                addr,
                transport: Transport::Udp,
                day,
            };
            let packet = &packets[index][..*len];
            let out = &mut outs[answered];
            let Some(n) = answer(view, packet, client, &mut worker, out) else {
                continue;
            };
            let Some(n) = shared.limit(view, addr, out, n, &mut worker.counts) else {
                continue;
            };
            lengths[answered] = n;
            replies[answered] = *source;
            answered += 1;
        }
        if answered > 0 {
            send(
                fd,
                &outs[..answered],
                &lengths[..answered],
                &replies[..answered],
                &mut send_headers,
            );
        }
        let now = shared.epoch.load(Ordering::Relaxed);
        let stopping = shared.stop.load(Ordering::Relaxed);
        if now != epoch || stopping {
            epoch = now;
            shared.counts_tx.send(worker.counts.take()).ok();
        }
        if stopping {
            shared.alive.fetch_sub(1, Ordering::Relaxed);
            return;
        }
    }
}

/// Reads up to [`BATCH`] packets, waiting (up to the socket's read timeout) for the first.
fn receive(
    fd: std::os::fd::RawFd,
    packets: &mut [[u8; MAX_QUERY]; BATCH],
    headers: &mut MultiHeaders<SockaddrStorage>,
    received: &mut [(usize, Option<SockaddrStorage>); BATCH],
) -> usize {
    let mut slices = packets.each_mut().map(|p| [IoSliceMut::new(p)]);
    let results = match recvmmsg(
        fd,
        headers,
        slices.iter_mut(),
        MsgFlags::MSG_WAITFORONE,
        None,
    ) {
        Ok(results) => results,
        Err(Errno::EAGAIN | Errno::EINTR) => return 0,
        Err(error) => {
            tracing::debug!(%error, "UDP receive failed");
            return 0;
        }
    };
    let mut count = 0;
    for message in results {
        received[count] = (message.bytes, message.address);
        count += 1;
    }
    count
}

/// Sends the answers; one that cannot be sent is dropped (the client retries).
fn send(
    fd: std::os::fd::RawFd,
    outs: &[Vec<u8>],
    lengths: &[usize],
    addresses: &[Option<SockaddrStorage>],
    headers: &mut MultiHeaders<SockaddrStorage>,
) {
    let slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|i| {
        let out = outs
            .get(i)
            .zip(lengths.get(i))
            .map_or(&[][..], |(out, len)| &out[..*len]);
        [IoSlice::new(out)]
    });
    let count = outs.len().min(BATCH);
    if let Err(error) = sendmmsg(
        fd,
        headers,
        slices[..count].iter(),
        addresses,
        [],
        MsgFlags::empty(),
    ) {
        tracing::debug!(%error, "cannot send DNS responses");
    }
}

/// The client's address; an IPv4-mapped IPv6 address (a dual-stack socket) as IPv4.
fn client_address(address: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    let v6 = address.as_sockaddr_in6()?.ip();
    Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
}

async fn tcp_accept(
    listener: TcpListener,
    (shared, tasks): (Arc<Shared>, Tasks),
    slots: Slots,
    (idle, lifetime): (Duration, Duration),
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Over a cap: close at once rather than queue.
        let permit = match slots.take(peer.ip()) {
            Ok(permit) => permit,
            Err(why) => {
                tracing::debug!(%peer, cap = why.as_str(), "TCP connection refused: too many open");
                continue;
            }
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tasks.spawn("dns: tcp connection", async move {
            let mut worker = Worker::default();
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(lifetime) => {}
                () = tcp_connection(stream, peer, &shared, &mut worker, idle) => {}
            }
            shared.push_tcp(worker.counts.take());
            drop(permit);
        });
    }
}

async fn tcp_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    worker: &mut Worker,
    idle: Duration,
) {
    stream.set_nodelay(true).ok();
    let mut packet = vec![0u8; usize::from(u16::MAX)];
    let mut out = Vec::with_capacity(4096);
    let mut epoch = shared.epoch.load(Ordering::Relaxed);
    loop {
        let Ok(Ok(len)) = tokio::time::timeout(idle, stream.read_u16()).await else {
            return;
        };
        let len = usize::from(len);
        match tokio::time::timeout(idle, stream.read_exact(&mut packet[..len])).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let client = Client {
            addr: peer.ip(),
            transport: Transport::Tcp,
            day: shared.day.load(Ordering::Relaxed),
        };
        let view = shared.view.load_full();
        let Some(n) = answer(&view, &packet[..len], client, worker, &mut out) else {
            continue;
        };
        let mut frame = Vec::with_capacity(n + 2);
        frame.extend_from_slice(&(n as u16).to_be_bytes());
        frame.extend_from_slice(&out[..n]);
        if tokio::time::timeout(idle, stream.write_all(&frame))
            .await
            .map_or(true, |r| r.is_err())
        {
            return;
        }
        let now = shared.epoch.load(Ordering::Relaxed);
        if now != epoch {
            epoch = now;
            shared.push_tcp(worker.counts.take());
        }
    }
}
