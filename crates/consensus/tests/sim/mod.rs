//! The simulated cluster: nodes, network, faults, and the property checks.

mod network;
mod oracle;
mod safety;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use geodns_consensus::auth::{AuthMode, NodeKey, Trust, TrustedNode};
use geodns_consensus::engine::{Event, Observation, Outgoing};
use geodns_consensus::hysteresis::Hysteresis;
use geodns_consensus::message::ProposalId;
use geodns_consensus::policy::Policy;
use geodns_consensus::results::ResultEntry;
use geodns_consensus::{Engine, EngineConfig, Input, Output};
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;

use network::{Network, Rng};
use safety::Decided;

/// Chaos, then healing, then quiet ticks (one tick is one simulated second).
const CHAOS_TICKS: u64 = 400;
const HEAL_TICKS: u64 = 300;
const QUIET_TICKS: u64 = 130;
/// After healing, every node holds the true state within this many ticks: hysteresis
/// (2 results 5 ticks apart), delivery delay and a republish interval fit well inside.
const CONVERGENCE_BOUND: u64 = 60;
const CHECK_EVERY: u64 = 5;
/// A monitor stops counting this many ticks after it was last reachable.
const MEMBERSHIP_LAG: u64 = 3;
/// Fewest agreeing monitors for any change (the default, as in the original).
const MIN_VOTES: usize = 2;
/// Thresholds drawn for `healthy_above`: the ends, the default and uneven ones.
const PERCENTS: [u8; 7] = [0, 20, 34, 50, 66, 75, 99];

/// One run's settings, all derived from the seed.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) seed: u64,
    pub(crate) monitors: usize,
    pub(crate) checks: usize,
    pub(crate) policy: Policy,
    pub(crate) loss: f64,
    pub(crate) duplicate: f64,
    pub(crate) max_delay: u64,
    pub(crate) noise: f64,
    pub(crate) strict: bool,
    /// `proposal_holdoff`, seconds (0: every monitor proposes at once).
    pub(crate) holdoff: u64,
    /// `keep_copies` (false: copies of decided finalize messages ignored unverified).
    pub(crate) keep_copies: bool,
}

impl Params {
    pub(crate) fn from_seed(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x5eed);
        let policy = match rng.below(6) {
            0 => Policy::HealthyAbove {
                percent: PERCENTS[rng.below(PERCENTS.len() as u64) as usize],
            },
            1 => Policy::All,
            2 => Policy::Any,
            _ => Policy::Majority,
        };
        Params {
            seed,
            monitors: [3, 5, 7][(seed % 3) as usize],
            checks: 1 + rng.below(3) as usize,
            policy,
            loss: rng.below(30) as f64 / 100.0,
            duplicate: rng.below(20) as f64 / 100.0,
            max_delay: 1 + rng.below(6),
            noise: rng.below(10) as f64 / 100.0,
            strict: seed.is_multiple_of(10),
            holdoff: [0, 1, 3][rng.below(3) as usize],
            keep_copies: rng.below(2) == 0,
        }
    }
}

/// What a run did, for the summary line (and replay comparison).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) monitors: usize,
    pub(crate) policy: Policy,
    pub(crate) decisions_passed: u64,
    pub(crate) decisions_failed: u64,
    pub(crate) official_changes: u64,
    pub(crate) converged_after: u64,
}

struct Node {
    id: NodeId,
    engine: Option<Engine>,
    down_until: u64,
    /// Official results saved "to the cache file" at the last crash.
    cache: Vec<(CheckKey, ResultEntry)>,
    /// Tick each other node was last alive and reachable from here.
    last_seen: Vec<u64>,
    view: BTreeSet<NodeId>,
}

struct Sim {
    params: Params,
    rng: Rng,
    tick: u64,
    nodes: Vec<Node>,
    keys: Vec<CheckKey>,
    truth: Vec<bool>,
    network: Network,
    keyring: Vec<[u8; 32]>,
    /// Every vote any node published: proposal → voter → agree values sent.
    sent_votes: HashMap<ProposalId, HashMap<NodeId, BTreeSet<bool>>>,
    /// Proposals some node decided as passed, with the proposed status.
    passed: HashMap<ProposalId, bool>,
    next_id: u64,
    report: Report,
}

fn time(tick: u64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::seconds(tick as i64)
}

fn check_key(index: usize) -> CheckKey {
    CheckKey {
        kind: [CheckKind::Site, CheckKind::Domain, CheckKind::Endpoint][index % 3],
        check: format!("check{index}"),
        member: MemberId::parse(&format!("Member {index}")).unwrap(),
        domain: if index.is_multiple_of(3) {
            String::new()
        } else {
            "rpc.example.net".into()
        },
        endpoint: if index % 3 == 2 {
            "wss://rpc.example.net".into()
        } else {
            String::new()
        },
        ipv6: index % 2 == 1,
    }
}

/// Runs one seeded simulation; `Err` names the first property that broke.
pub(crate) fn run(params: Params) -> Result<Report, String> {
    let mut sim = Sim::new(params);
    for _ in 0..CHAOS_TICKS {
        sim.chaos();
        sim.step_all(true)?;
    }
    sim.heal();
    let mut converged_at = None;
    for heal_tick in 0..HEAL_TICKS {
        sim.step_all(false)?;
        match (sim.converged(), converged_at) {
            (true, None) => converged_at = Some(heal_tick),
            (false, Some(_)) => converged_at = None,
            _ => {}
        }
    }
    let Some(converged_after) = converged_at else {
        return Err(format!(
            "no convergence {HEAL_TICKS} ticks after healing: {}",
            sim.describe()
        ));
    };
    if converged_after > CONVERGENCE_BOUND {
        return Err(format!(
            "converged only {converged_after} ticks after healing (bound {CONVERGENCE_BOUND})"
        ));
    }
    sim.report.converged_after = converged_after;
    sim.network.quiet();
    for _ in 0..QUIET_TICKS {
        sim.step_all(false)?;
    }
    for node in &sim.nodes {
        let pending = node.engine.as_ref().unwrap().pending();
        if pending.proposals != 0 || pending.orphan_votes != 0 {
            return Err(format!(
                "{} still holds {pending:?} after going quiet",
                node.id
            ));
        }
    }
    Ok(sim.report)
}

impl Sim {
    fn new(params: Params) -> Self {
        let mut rng = Rng::new(params.seed);
        let ids: Vec<NodeId> = (0..params.monitors)
            .map(|i| NodeId::parse(&format!("MONITOR-{i}")).unwrap())
            .collect();
        let keyring: Vec<[u8; 32]> = (0..params.monitors)
            .map(|_| {
                let mut seed = [0u8; 32];
                seed.iter_mut().for_each(|b| *b = rng.below(256) as u8);
                seed
            })
            .collect();
        let keys: Vec<CheckKey> = (0..params.checks).map(check_key).collect();
        let truth = keys.iter().map(|_| rng.chance(0.8)).collect();
        let nodes = ids
            .iter()
            .map(|id| Node {
                id: id.clone(),
                engine: None,
                down_until: 0,
                cache: Vec::new(),
                last_seen: vec![0; params.monitors],
                view: BTreeSet::new(),
            })
            .collect();
        let network = Network::new(params.loss, params.duplicate, params.max_delay);
        let mut sim = Sim {
            report: Report {
                monitors: params.monitors,
                policy: params.policy,
                decisions_passed: 0,
                decisions_failed: 0,
                official_changes: 0,
                converged_after: 0,
            },
            params,
            rng,
            tick: 0,
            nodes,
            keys,
            truth,
            network,
            keyring,
            sent_votes: HashMap::new(),
            passed: HashMap::new(),
            next_id: 0,
        };
        for index in 0..sim.nodes.len() {
            sim.start(index);
        }
        sim
    }

    fn trust(&self) -> (Trust, Vec<Option<NodeKey>>) {
        if !self.params.strict {
            return (Trust::off(), self.nodes.iter().map(|_| None).collect());
        }
        let keys: Vec<NodeKey> = self
            .keyring
            .iter()
            .map(|s| NodeKey::from_seed(*s))
            .collect();
        let trusted: BTreeMap<NodeId, TrustedNode> = self
            .nodes
            .iter()
            .zip(&keys)
            .map(|(node, key)| {
                let entry = TrustedNode {
                    key: Some(key.public()),
                    monitor: true,
                };
                (node.id.clone(), entry)
            })
            .collect();
        (
            Trust::new(AuthMode::Strict, trusted),
            keys.into_iter().map(Some).collect(),
        )
    }

    fn start(&mut self, index: usize) {
        let (trust, mut keys) = self.trust();
        let mut config = EngineConfig::new(self.nodes[index].id.clone(), true);
        config.policy = self.params.policy;
        config.min_votes = MIN_VOTES;
        config.hysteresis = Hysteresis { fall: 2, rise: 2 };
        config.proposal_holdoff = std::time::Duration::from_secs(self.params.holdoff);
        config.keep_copies = self.params.keep_copies;
        let mut engine = Engine::new(config, trust, keys[index].take());
        engine.restore_official(std::mem::take(&mut self.nodes[index].cache));
        self.nodes[index].engine = Some(engine);
        self.nodes[index].view.clear();
    }

    /// Random faults and changes of the truth.
    fn chaos(&mut self) {
        for index in 0..self.truth.len() {
            if self.rng.chance(0.01) {
                self.truth[index] = !self.truth[index];
            }
        }
        let n = self.nodes.len();
        for index in 0..n {
            let node = &mut self.nodes[index];
            if node.engine.is_none() && self.tick >= node.down_until {
                self.start(index);
            } else if node.engine.is_some() && self.rng.chance(0.003) {
                let engine = node.engine.take().unwrap();
                // Half the crashes keep a cache file, half lose it.
                if self.rng.chance(0.5) {
                    node.cache = engine
                        .official()
                        .iter()
                        .map(|(k, e)| (k.clone(), e.clone()))
                        .collect();
                }
                node.down_until = self.tick + 5 + self.rng.below(60);
            }
        }
        if !self.network.partitioned() && self.rng.chance(0.005) {
            let sides = (0..n).map(|_| self.rng.chance(0.5)).collect();
            let until = self.tick + 10 + self.rng.below(80);
            self.network.partition(sides, until);
        }
    }

    /// Network heals, crashed nodes restart, the truth stops changing.
    fn heal(&mut self) {
        self.network.heal();
        for index in 0..self.nodes.len() {
            if self.nodes[index].engine.is_none() {
                self.start(index);
            }
        }
    }

    fn step_all(&mut self, noisy: bool) -> Result<(), String> {
        self.tick += 1;
        for (to, outgoing) in self.network.due(self.tick) {
            if self.nodes[to].engine.is_some() {
                let input = match outgoing {
                    Outgoing::Proposal(p) => Input::Proposal(p),
                    Outgoing::Vote(v) => Input::Vote(v),
                    Outgoing::Finalize(f) => Input::Finalize(f),
                };
                self.feed(to, input)?;
            }
        }
        for index in 0..self.nodes.len() {
            if self.nodes[index].engine.is_none() {
                continue;
            }
            self.update_view(index)?;
            self.feed(index, Input::Tick)?;
            if (self.tick + index as u64).is_multiple_of(CHECK_EVERY) {
                for check in 0..self.keys.len() {
                    let flip = noisy && self.rng.chance(self.params.noise);
                    self.next_id += 1;
                    let observation = Observation {
                        key: self.keys[check].clone(),
                        ok: self.truth[check] != flip,
                        error: "simulated failure".into(),
                        data: None,
                        new_id: ProposalId::parse(&format!("p{}", self.next_id)).unwrap(),
                    };
                    self.feed(index, Input::Observed(observation))?;
                }
            }
        }
        Ok(())
    }

    /// Membership as each node sees it: monitors alive and reachable within the lag.
    fn update_view(&mut self, index: usize) -> Result<(), String> {
        let n = self.nodes.len();
        for other in 0..n {
            let alive = self.nodes[other].engine.is_some();
            if alive && self.network.connected(index, other) {
                self.nodes[index].last_seen[other] = self.tick;
            }
        }
        let view: BTreeSet<NodeId> = (0..n)
            .filter(|&other| {
                self.tick - self.nodes[index].last_seen[other] <= MEMBERSHIP_LAG || other == index
            })
            .map(|other| self.nodes[other].id.clone())
            .collect();
        if view != self.nodes[index].view {
            self.nodes[index].view = view.clone();
            self.feed(index, Input::Monitors(view))?;
        }
        Ok(())
    }

    fn feed(&mut self, index: usize, input: Input) -> Result<(), String> {
        let now = time(self.tick);
        let outputs = self.nodes[index].engine.as_mut().unwrap().step(input, now);
        // Votes and decisions first, so an official change in the same batch can be traced.
        for output in &outputs {
            match output {
                Output::Publish(Outgoing::Vote(vote)) => {
                    let voted = self
                        .sent_votes
                        .entry(vote.message.proposal.clone())
                        .or_default();
                    voted
                        .entry(vote.message.voter.clone())
                        .or_default()
                        .insert(vote.message.agree);
                }
                Output::Event(Event::Decided {
                    proposal,
                    status,
                    passed,
                    reason,
                    votes,
                    active,
                    ..
                }) => {
                    let decision = Decided {
                        proposal,
                        status: *status,
                        passed: *passed,
                        reason: *reason,
                    };
                    self.check_decision(index, &decision, votes, *active)?;
                    if *passed {
                        self.passed.insert(proposal.clone(), *status);
                        self.report.decisions_passed += 1;
                    } else {
                        self.report.decisions_failed += 1;
                    }
                }
                Output::Event(Event::Rejected { sender, reason, .. }) => {
                    return Err(format!(
                        "{} rejected an honest message from {sender}: {reason}",
                        self.nodes[index].id
                    ));
                }
                _ => {}
            }
        }
        for output in outputs {
            match output {
                Output::Official(change) => {
                    if self.passed.get(&change.proposal) != Some(&change.entry.status) {
                        return Err(format!(
                            "{} changed {} to {} by {}, which no node passed",
                            self.nodes[index].id, change.key, change.entry.status, change.proposal
                        ));
                    }
                    self.report.official_changes += 1;
                }
                Output::Publish(message) => {
                    self.network.broadcast(
                        &mut self.rng,
                        index,
                        self.nodes.len(),
                        self.tick,
                        message,
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn converged(&self) -> bool {
        self.nodes.iter().all(|node| {
            let official = node.engine.as_ref().unwrap().official();
            self.keys
                .iter()
                .zip(&self.truth)
                .all(|(key, truth)| official.get(key).is_some_and(|e| e.status == *truth))
        })
    }

    fn describe(&self) -> String {
        let mut text = format!("truth {:?};", self.truth);
        for node in &self.nodes {
            let engine = node.engine.as_ref().unwrap();
            let official: Vec<Option<bool>> = self
                .keys
                .iter()
                .map(|k| engine.official().get(k).map(|e| e.status))
                .collect();
            let local: Vec<Option<bool>> = self
                .keys
                .iter()
                .map(|k| engine.local().get(k).map(|e| e.status))
                .collect();
            text.push_str(&format!(
                " {}: official {official:?} local {local:?} view {} {:?};",
                node.id,
                node.view.len(),
                engine.pending()
            ));
        }
        text
    }
}
