//! Benchmark of the state machine: 5 monitors track 10,000 checks; every check goes down
//! and comes back up, and each change is proposed, voted on and finalized through an
//! in-memory all-to-all network. Prints decisions per second with authentication off and
//! strict (ed25519 on every message) in the same run.
//!
//! `cargo run --release -p geodns-consensus --example bench [-- MONITORS CHECKS]`

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use geodns_consensus::auth::{AuthMode, NodeKey, Trust, TrustedNode};
use geodns_consensus::engine::{Event, Observation, Outgoing};
use geodns_consensus::message::ProposalId;
use geodns_consensus::{Engine, EngineConfig, Input, Output};
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;

struct Cluster {
    engines: Vec<Engine>,
    queue: VecDeque<(usize, Outgoing)>,
    decisions: u64,
    messages: u64,
    next_id: u64,
}

fn key(index: usize) -> CheckKey {
    CheckKey {
        kind: CheckKind::Endpoint,
        check: "wss".into(),
        member: MemberId::parse(&format!("Member {}", index % 100)).unwrap(),
        domain: format!("rpc{}.example.net", index / 100),
        endpoint: format!("wss://rpc{}.example.net/ws", index / 100),
        ipv6: false,
    }
}

impl Cluster {
    fn new(monitors: usize, mode: AuthMode) -> Self {
        let ids: Vec<NodeId> = (0..monitors)
            .map(|i| NodeId::parse(&format!("MONITOR-{i}")).unwrap())
            .collect();
        let keys: Vec<NodeKey> = (0..monitors)
            .map(|i| NodeKey::from_seed([i as u8 + 1; 32]))
            .collect();
        let trusted: BTreeMap<NodeId, TrustedNode> = ids
            .iter()
            .zip(&keys)
            .map(|(id, key)| {
                let node = TrustedNode {
                    key: Some(key.public()),
                    monitor: true,
                };
                (id.clone(), node)
            })
            .collect();
        let all: BTreeSet<NodeId> = ids.iter().cloned().collect();
        let engines = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let trust = Trust::new(mode, trusted.clone());
                let key = (mode != AuthMode::Off).then(|| NodeKey::from_seed([i as u8 + 1; 32]));
                let mut engine = Engine::new(EngineConfig::new(id.clone(), true), trust, key);
                engine.step(Input::Monitors(all.clone()), at(0));
                engine
            })
            .collect();
        Cluster {
            engines,
            queue: VecDeque::new(),
            decisions: 0,
            messages: 0,
            next_id: 0,
        }
    }

    fn handle(&mut self, from: usize, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Publish(message) => self.queue.push_back((from, message)),
                Output::Event(Event::Decided { passed: true, .. }) => self.decisions += 1,
                _ => {}
            }
        }
    }

    fn observe(&mut self, monitor: usize, check: usize, ok: bool, now: DateTime<Utc>) {
        self.next_id += 1;
        let observation = Observation {
            key: key(check),
            ok,
            error: if ok { String::new() } else { "timeout".into() },
            data: None,
            new_id: ProposalId::parse(&format!("p{}", self.next_id)).unwrap(),
        };
        let outputs = self.engines[monitor].step(Input::Observed(observation), now);
        self.handle(monitor, outputs);
    }

    fn drain(&mut self, now: DateTime<Utc>) {
        while let Some((from, message)) = self.queue.pop_front() {
            for to in (0..self.engines.len()).filter(|&to| to != from) {
                let input = match &message {
                    Outgoing::Proposal(p) => Input::Proposal(p.clone()),
                    Outgoing::Vote(v) => Input::Vote(v.clone()),
                    Outgoing::Finalize(f) => Input::Finalize(f.clone()),
                };
                self.messages += 1;
                let outputs = self.engines[to].step(input, now);
                self.handle(to, outputs);
            }
        }
    }

    /// Every monitor sees every check at `ok` twice (hysteresis 2); returns the time taken.
    /// Staggered: one monitor sees it first and the others vote on its proposal.
    /// Simultaneous: all see it before any message moves, so all five propose.
    fn flip_all(
        &mut self,
        checks: usize,
        ok: bool,
        staggered: bool,
        now: DateTime<Utc>,
    ) -> Duration {
        #[allow(clippy::disallowed_methods)] // reason: a benchmark measures wall time
        let start = std::time::Instant::now();
        for check in 0..checks {
            for monitor in 0..self.engines.len() {
                self.observe(monitor, check, ok, now);
                self.observe(monitor, check, ok, now);
                if staggered {
                    self.drain(now);
                }
            }
            self.drain(now);
        }
        start.elapsed()
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::seconds(seconds)
}

struct Figures {
    checks_per_second: f64,
    decisions_per_second: f64,
    messages_per_second: f64,
}

fn measure(monitors: usize, checks: usize, mode: AuthMode, staggered: bool) -> Figures {
    let mut cluster = Cluster::new(monitors, mode);
    // Warm-up, not timed: the first results become official (all up).
    cluster.flip_all(checks, true, true, at(1));
    let (decisions, messages) = (cluster.decisions, cluster.messages);
    let down = cluster.flip_all(checks, false, staggered, at(100));
    let up = cluster.flip_all(checks, true, staggered, at(200));
    let seconds = (down + up).as_secs_f64();
    for engine in &cluster.engines {
        let official = engine.official();
        assert!((0..checks).all(|c| official.get(&key(c)).is_some_and(|e| e.status)));
    }
    Figures {
        checks_per_second: (2 * checks) as f64 / seconds,
        decisions_per_second: (cluster.decisions - decisions) as f64 / seconds,
        messages_per_second: (cluster.messages - messages) as f64 / seconds,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let monitors: usize = args.next().map_or(5, |a| a.parse().unwrap());
    let checks: usize = args.next().map_or(10_000, |a| a.parse().unwrap());
    println!("{monitors} monitors, {checks} checks, every check down then up (hysteresis 2/2)");
    println!(
        "(one process runs all {monitors} nodes: a real node does about 1/{monitors} of this work)"
    );
    for (staggered, name) in [(true, "staggered"), (false, "simultaneous")] {
        let mut rows = Vec::new();
        for mode in [AuthMode::Off, AuthMode::Strict] {
            let figures = measure(monitors, checks, mode, staggered);
            println!(
                "{name:<12} auth {:<6}  {:>8.0} check changes/s  {:>8.0} decisions/s  {:>9.0} messages delivered/s",
                mode.as_str(),
                figures.checks_per_second,
                figures.decisions_per_second,
                figures.messages_per_second
            );
            rows.push(figures);
        }
        println!(
            "{name:<12} strict / off: {:.3} of the decision rate",
            rows[1].decisions_per_second / rows[0].decisions_per_second
        );
    }
}
