//! The simulated network and the seeded random source: broadcast with loss, duplication
//! and random delay (hence reordering), and partitions that drop traffic across sides.

use std::collections::BTreeMap;

use geodns_consensus::engine::Outgoing;

/// SplitMix64: small, fast and fully determined by its seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

pub(crate) struct Network {
    loss: f64,
    duplicate: f64,
    max_delay: u64,
    /// (delivery tick, sequence) → (sender, receiver, message).
    queue: BTreeMap<(u64, u64), (usize, usize, Outgoing)>,
    sequence: u64,
    /// Side of each node while partitioned, and when the partition ends.
    partition: Option<(Vec<bool>, u64)>,
}

impl Network {
    pub(crate) fn new(loss: f64, duplicate: f64, max_delay: u64) -> Self {
        Network {
            loss,
            duplicate,
            max_delay,
            queue: BTreeMap::new(),
            sequence: 0,
            partition: None,
        }
    }

    pub(crate) fn partitioned(&self) -> bool {
        self.partition.is_some()
    }

    pub(crate) fn partition(&mut self, sides: Vec<bool>, until: u64) {
        self.partition = Some((sides, until));
    }

    /// Ends partitions and loss; delay, duplication and reordering go on.
    pub(crate) fn heal(&mut self) {
        self.partition = None;
        self.loss = 0.0;
    }

    /// No more duplication either (the run winds down).
    pub(crate) fn quiet(&mut self) {
        self.duplicate = 0.0;
    }

    pub(crate) fn connected(&self, a: usize, b: usize) -> bool {
        match &self.partition {
            Some((sides, _)) => sides[a] == sides[b],
            None => true,
        }
    }

    /// Sends a message from `from` to every other node.
    pub(crate) fn broadcast(
        &mut self,
        rng: &mut Rng,
        from: usize,
        nodes: usize,
        tick: u64,
        message: Outgoing,
    ) {
        for to in (0..nodes).filter(|&to| to != from) {
            if rng.chance(self.loss) {
                continue;
            }
            let copies = if rng.chance(self.duplicate) { 2 } else { 1 };
            for _ in 0..copies {
                let at = tick + 1 + rng.below(self.max_delay);
                self.sequence += 1;
                self.queue
                    .insert((at, self.sequence), (from, to, message.clone()));
            }
        }
    }

    /// Messages due by `tick`, in delivery order; traffic across a partition is lost.
    pub(crate) fn due(&mut self, tick: u64) -> Vec<(usize, Outgoing)> {
        if let Some((_, until)) = &self.partition
            && *until <= tick
        {
            self.partition = None;
        }
        let later = self.queue.split_off(&(tick + 1, 0));
        let due = std::mem::replace(&mut self.queue, later);
        due.into_values()
            .filter(|(from, to, _)| self.connected(*from, *to))
            .map(|(_, to, message)| (to, message))
            .collect()
    }
}
