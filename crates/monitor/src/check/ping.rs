//! `ping`: ICMP echo with the original's options and verdict, through unprivileged
//! datagram sockets where the kernel allows them (`net.ipv4.ping_group_range`) or raw
//! sockets as root/`CAP_NET_RAW`; where neither works, a TCP connect probe instead,
//! said so in the result's data.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use geodns_core::model::PingOptions;
use serde_json::{Map, json};
use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence};

use super::{Env, Probe, connect, socket};
use crate::outcome::{Failure, Reason};
use crate::target::Target;

/// How this process pings, found once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingMode {
    /// ICMP echo; the socket type the kernel gave (`DGRAM` or `RAW`).
    Icmp(String),
    /// ICMP is not allowed: a TCP connect probe replaces it. Holds why.
    TcpFallback(String),
}

impl PingMode {
    /// Tries to open an ICMP socket.
    pub(crate) fn detect() -> PingMode {
        // `Client::new` spawns its receive task: it needs a runtime.
        if tokio::runtime::Handle::try_current().is_err() {
            return PingMode::TcpFallback("no async runtime".into());
        }
        match Client::new(&Config::default()) {
            Ok(client) => PingMode::Icmp(format!("{:?}", client.get_socket().get_type())),
            Err(error) => PingMode::TcpFallback(format!(
                "cannot open an ICMP socket ({error}); allow it with \
                 `sysctl net.ipv4.ping_group_range=\"0 2147483647\"` or CAP_NET_RAW"
            )),
        }
    }

    /// The short name in result data (`icmp`, `tcp-fallback`).
    pub fn name(&self) -> &'static str {
        match self {
            PingMode::Icmp(_) => "icmp",
            PingMode::TcpFallback(_) => "tcp-fallback",
        }
    }
}

impl Probe for PingOptions {
    async fn probe(
        &self,
        target: &Target,
        env: &Env,
        data: &mut Map<String, serde_json::Value>,
    ) -> Result<(), Failure> {
        data.insert("Method".into(), json!(env.ping.name()));
        match &env.ping {
            PingMode::Icmp(_) => icmp(self, target, env, data).await,
            PingMode::TcpFallback(_) => tcp(self, target, data).await,
        }
    }
}

async fn icmp(
    options: &PingOptions,
    target: &Target,
    env: &Env,
    data: &mut Map<String, serde_json::Value>,
) -> Result<(), Failure> {
    let address = socket(target, Some(0))?.ip();
    let kind = if address.is_ipv6() {
        ICMP::V6
    } else {
        ICMP::V4
    };
    let client = env.ping_clients.get(kind, options.ttl)?;
    let mut pinger = client.pinger(address, identifier(address)).await;
    pinger.timeout(options.per_ping_timeout);
    let payload = vec![0u8; usize::from(options.size)];
    let mut rtts = Vec::new();
    for seq in 0..options.count {
        if seq > 0 {
            tokio::time::sleep(options.interval).await;
        }
        let sequence = PingSequence(u16::try_from(seq % 65_536).unwrap_or(0));
        if let Ok((_, rtt)) = pinger.ping(sequence, &payload).await {
            rtts.push(rtt);
        }
    }
    verdict(options, options.count, &rtts, data)
}

/// The original's verdict: something came back, loss within the limit, average
/// round trip within the limit.
fn verdict(
    options: &PingOptions,
    sent: u32,
    rtts: &[Duration],
    data: &mut Map<String, serde_json::Value>,
) -> Result<(), Failure> {
    let sent = sent.max(1);
    let loss = 100.0 * f64::from(sent - rtts.len() as u32) / f64::from(sent);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let values: Vec<f64> = rtts.iter().copied().map(ms).collect();
    let avg = if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    let var = if values.is_empty() {
        0.0
    } else {
        values.iter().map(|v| (v - avg).powi(2)).sum::<f64>() / values.len() as f64
    };
    data.insert("PacketLoss".into(), json!(loss));
    data.insert(
        "MinRtt".into(),
        json!(if values.is_empty() { 0.0 } else { min }),
    );
    data.insert("AvgRtt".into(), json!(avg));
    data.insert("MaxRtt".into(), json!(max));
    data.insert("StdDevRtt".into(), json!(var.sqrt()));
    if rtts.is_empty() || loss > options.max_packet_loss || avg > ms(options.max_latency) {
        let reason = if rtts.is_empty() || loss > options.max_packet_loss {
            Reason::Loss
        } else {
            Reason::Unhealthy
        };
        return Err(Failure::new(
            reason,
            format!("PingCheck: avgRtt={}ms, loss={loss:.0}%", avg.round()),
        ));
    }
    Ok(())
}

/// Where ICMP is not allowed: a TCP connect to `fallback_port` stands in for the
/// echo, with the same latency limit.
async fn tcp(
    options: &PingOptions,
    target: &Target,
    data: &mut Map<String, serde_json::Value>,
) -> Result<(), Failure> {
    let addr = socket(target, Some(options.fallback_port))?;
    data.insert("Port".into(), json!(addr.port()));
    let limit = options.per_ping_timeout.max(Duration::from_millis(100));
    let started = tokio::time::Instant::now();
    connect::tcp(addr, limit).await?;
    verdict(options, 1, &[started.elapsed()], data)
}

/// ICMP sockets, one per (family, TTL), shared by every ping check: surge-ping
/// demultiplexes replies by identifier and sequence, so one socket serves many targets.
#[derive(Default)]
pub(crate) struct PingClients {
    clients: Mutex<HashMap<(bool, u8), Client>>,
}

impl std::fmt::Debug for PingClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PingClients").finish_non_exhaustive()
    }
}

impl PingClients {
    /// The socket for `kind` and `ttl`, opened on first use.
    fn get(&self, kind: ICMP, ttl: u8) -> Result<Client, Failure> {
        let v6 = matches!(kind, ICMP::V6);
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&(v6, ttl)) {
            return Ok(client.clone());
        }
        let config = Config::builder().kind(kind).ttl(u32::from(ttl)).build();
        let client = Client::new(&config).map_err(|e| {
            Failure::new(Reason::Config, format!("cannot open an ICMP socket: {e}"))
        })?;
        clients.insert((v6, ttl), client.clone());
        Ok(client)
    }
}

/// An echo identifier that differs per target, so concurrent pings on raw sockets do not
/// take each other's replies.
fn identifier(address: IpAddr) -> PingIdentifier {
    let mut bytes = [0u8; 2];
    if getrandom::fill(&mut bytes).is_err() {
        let octets = match address {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        bytes = [octets[octets.len() - 2], octets[octets.len() - 1]];
    }
    PingIdentifier(u16::from_be_bytes(bytes))
}
