//! The collator's proposal cache: the votes seen for each proposal as they pass on the
//! bus, handed over once when the proposal is finalized so the outage row records who
//! voted. Entries expire (10 min by default), the janitor runs every 30 s, and the cache
//! never holds more than its bound, so a flood of proposals cannot exhaust memory.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use geodns_core::records::Votes;

use crate::message::{Proposal, ProposalId, Vote};

/// Limits of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// An entry is dropped this long after it was first seen (10 min).
    pub expiry: Duration,
    /// At most this many proposals are cached; the oldest go first.
    pub max_entries: usize,
    /// At most this many votes are kept per proposal.
    pub max_votes: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            expiry: Duration::from_secs(600),
            max_entries: 50_000,
            max_votes: 256,
        }
    }
}

/// What [`ProposalCache::pop`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popped {
    /// The votes seen for this proposal; the first finalize gets them.
    Votes(Votes),
    /// A finalize for this proposal was already handled: a later one (several monitors
    /// finalize each decision) must not overwrite the stored votes.
    AlreadyHandled,
    /// Nothing was cached (the collator started after the votes went by).
    Unknown,
}

#[derive(Debug, Clone)]
struct Entry {
    first_seen: DateTime<Utc>,
    seen_proposal: bool,
    votes: Votes,
    /// Popped: kept as a marker until it expires.
    handled: bool,
}

/// Votes per proposal, bounded and expiring.
#[derive(Debug, Clone)]
pub struct ProposalCache {
    limits: CacheLimits,
    expiry: TimeDelta,
    entries: HashMap<ProposalId, Entry>,
    order: VecDeque<(DateTime<Utc>, ProposalId)>,
    evicted: u64,
}

impl ProposalCache {
    /// An empty cache.
    pub fn new(limits: CacheLimits) -> Self {
        ProposalCache {
            limits,
            expiry: TimeDelta::from_std(limits.expiry).unwrap_or(TimeDelta::MAX),
            entries: HashMap::new(),
            order: VecDeque::new(),
            evicted: 0,
        }
    }

    fn entry(&mut self, id: &ProposalId, now: DateTime<Utc>) -> &mut Entry {
        if !self.entries.contains_key(id) {
            while self.entries.len() >= self.limits.max_entries.max(1) {
                let Some((_, oldest)) = self.order.pop_front() else {
                    break;
                };
                if self.entries.remove(&oldest).is_some() {
                    self.evicted += 1;
                }
            }
            self.order.push_back((now, id.clone()));
        }
        self.entries.entry(id.clone()).or_insert_with(|| Entry {
            first_seen: now,
            seen_proposal: false,
            votes: Votes::new(),
            handled: false,
        })
    }

    /// A proposal went by.
    pub fn on_proposal(&mut self, proposal: &Proposal, now: DateTime<Utc>) {
        self.entry(&proposal.id, now).seen_proposal = true;
    }

    /// A vote went by (possibly before its proposal).
    pub fn on_vote(&mut self, vote: &Vote, now: DateTime<Utc>) {
        let max_votes = self.limits.max_votes;
        let entry = self.entry(&vote.proposal, now);
        if entry.handled {
            return;
        }
        if entry.votes.len() < max_votes || entry.votes.contains_key(&vote.voter) {
            entry.votes.insert(vote.voter.clone(), vote.agree);
        }
    }

    /// A finalize arrived: takes the votes seen for it, once.
    pub fn pop(&mut self, id: &ProposalId, now: DateTime<Utc>) -> Popped {
        match self.entries.get_mut(id) {
            Some(entry) if entry.handled => Popped::AlreadyHandled,
            Some(entry) => {
                entry.handled = true;
                Popped::Votes(std::mem::take(&mut entry.votes))
            }
            None => {
                self.entry(id, now).handled = true;
                Popped::Unknown
            }
        }
    }

    /// The janitor: drops entries older than the expiry; returns how many.
    pub fn expire(&mut self, now: DateTime<Utc>) -> usize {
        let mut dropped = 0;
        while let Some((at, id)) = self.order.front() {
            if now - *at < self.expiry {
                break;
            }
            if self
                .entries
                .get(id)
                .is_some_and(|entry| entry.first_seen == *at)
            {
                self.entries.remove(id);
                dropped += 1;
            }
            self.order.pop_front();
        }
        dropped
    }

    /// Cached proposals (including handled markers).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries pushed out by the bound since start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Whether a proposal has been seen (not only its votes).
    pub fn has_proposal(&self, id: &ProposalId) -> bool {
        self.entries
            .get(id)
            .is_some_and(|entry| entry.seen_proposal)
    }
}

#[cfg(test)]
mod tests;
