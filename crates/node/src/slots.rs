//! Connection slots for a listener that faces clients (DNS over TCP, the HTTP API): a
//! global cap, a cap per client address and a cap per client network (/24 for IPv4,
//! /56 for IPv6, where one customer usually sits), so one host or one network trickling
//! connections cannot hold every slot while others are still served (RFC 7766 §6.2.2).
//!
//! A [`Slot`] is taken before the connection is served and given back when dropped.
//! Taking one never waits: over a cap the connection is refused at once and counted
//! under the cap that refused it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The caps (0: no cap of that kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Open connections at most.
    pub total: usize,
    /// Open connections per client address at most.
    pub per_client: usize,
    /// Open connections per client network (/24, /56) at most.
    pub per_network: usize,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every slot is taken.
    Total,
    /// This address holds its share.
    Client,
    /// This address's network holds its share.
    Network,
}

impl Refused {
    /// `total`, `client` or `network`, for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Total => "total",
            Refused::Client => "client",
            Refused::Network => "network",
        }
    }
}

/// The slots of one listener. Cheap to clone; clones share them.
#[derive(Debug, Clone)]
pub struct Slots {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    caps: Mutex<Caps>,
    open: Mutex<Open>,
    refused: [AtomicU64; 3],
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    clients: HashMap<IpAddr, usize>,
    networks: HashMap<IpAddr, usize>,
}

impl Slots {
    /// Slots with `caps`.
    pub fn new(caps: Caps) -> Slots {
        Slots {
            inner: Arc::new(Inner {
                caps: Mutex::new(caps),
                open: Mutex::default(),
                refused: Default::default(),
            }),
        }
    }

    /// Changes the caps (a reload); open connections over a new cap stay open.
    pub fn set_caps(&self, caps: Caps) {
        *self
            .inner
            .caps
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = caps;
    }

    /// A slot for a connection from `client`, or why not (counted).
    pub fn take(&self, client: IpAddr) -> Result<Slot, Refused> {
        let caps = *self
            .inner
            .caps
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let network = network_of(client);
        let mut open = self
            .inner
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let over = |cap: usize, count: usize| cap > 0 && count >= cap;
        let refused = if over(caps.total, open.total) {
            Some(Refused::Total)
        } else if over(
            caps.per_client,
            open.clients.get(&client).copied().unwrap_or(0),
        ) {
            Some(Refused::Client)
        } else if over(
            caps.per_network,
            open.networks.get(&network).copied().unwrap_or(0),
        ) {
            Some(Refused::Network)
        } else {
            None
        };
        if let Some(refused) = refused {
            self.inner.refused[refused as usize].fetch_add(1, Ordering::Relaxed);
            return Err(refused);
        }
        open.total += 1;
        *open.clients.entry(client).or_default() += 1;
        *open.networks.entry(network).or_default() += 1;
        Ok(Slot {
            slots: self.clone(),
            client,
            network,
        })
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.inner
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }

    /// Connections refused so far, by cap.
    pub fn refused(&self) -> [(Refused, u64); 3] {
        [Refused::Total, Refused::Client, Refused::Network].map(|why| {
            (
                why,
                self.inner.refused[why as usize].load(Ordering::Relaxed),
            )
        })
    }

    fn give_back(&self, client: IpAddr, network: IpAddr) {
        let mut guard = self
            .inner
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let open = &mut *guard;
        open.total = open.total.saturating_sub(1);
        for (map, key) in [(&mut open.clients, client), (&mut open.networks, network)] {
            if let Some(count) = map.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    map.remove(&key);
                }
            }
        }
    }
}

/// A taken slot; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Slots,
    client: IpAddr,
    network: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.give_back(self.client, self.network);
    }
}

/// The client's network: its /24 (IPv4) or /56 (IPv6), as an address with the host
/// bits cleared. An IPv4-mapped IPv6 address counts as its IPv4 address.
pub fn network_of(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & 0xFFFF_FF00).into()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_of(IpAddr::V4(v4)),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 72) - 1)).into()),
        },
    }
}

/// The slots' metrics, under the listener's names: a gauge of open connections and a
/// counter of refusals by cap (`cap` = `total`, `client`, `network`).
#[derive(Debug)]
pub struct SlotMetrics {
    /// The slots.
    pub slots: Slots,
    /// The gauge's name and help.
    pub open: (&'static str, &'static str),
    /// The counter's name and help.
    pub refused: (&'static str, &'static str),
}

impl crate::metrics::Source for SlotMetrics {
    fn families(&self) -> Vec<crate::metrics::Family> {
        use crate::metrics::Family;
        let mut refused = Family::counter(self.refused.0, self.refused.1);
        for (why, count) in self.slots.refused() {
            refused.push(&[("cap", why.as_str())], count as f64);
        }
        vec![
            Family::gauge(self.open.0, self.open.1).sample(&[], self.slots.open() as f64),
            refused,
        ]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn caps_per_client_network_and_total() {
        let slots = Slots::new(Caps {
            total: 5,
            per_client: 2,
            per_network: 3,
        });
        let a = [
            slots.take(ip("10.0.0.1")).unwrap(),
            slots.take(ip("10.0.0.1")).unwrap(),
        ];
        assert_eq!(slots.take(ip("10.0.0.1")).unwrap_err(), Refused::Client);
        let b = slots.take(ip("10.0.0.2")).unwrap();
        assert_eq!(slots.take(ip("10.0.0.3")).unwrap_err(), Refused::Network);
        let c = [
            slots.take(ip("10.0.1.1")).unwrap(),
            slots.take(ip("2001:db8::1")).unwrap(),
        ];
        assert_eq!(slots.take(ip("192.0.2.1")).unwrap_err(), Refused::Total);
        assert_eq!(slots.open(), 5);
        drop(a);
        assert_eq!(slots.open(), 3);
        let d = slots.take(ip("10.0.0.3")).unwrap();
        let refused = slots.refused();
        assert_eq!(refused.map(|(_, n)| n), [1, 1, 1]);
        drop((b, c, d));
        assert_eq!(slots.open(), 0);
        assert!(slots.inner.open.lock().unwrap().clients.is_empty());
    }

    #[test]
    fn networks_are_a_slash_24_or_a_slash_56() {
        assert_eq!(network_of(ip("203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(
            network_of(ip("2001:db8:1:22ff:1::1")),
            ip("2001:db8:1:2200::")
        );
        assert_eq!(network_of(ip("::ffff:203.0.113.77")), ip("203.0.113.0"));
    }
}
