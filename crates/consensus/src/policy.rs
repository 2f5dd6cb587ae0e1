//! Agreement policies: given the active monitors and the votes so far, is a proposal
//! passed, failed, or still open?

use std::fmt;

/// How many monitors must agree, per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// The original's rule: a proposal passes when `floor(active/2)+1` monitors agree and
    /// fails when as many disagree.
    #[default]
    Majority,
    /// A provider is healthy when more than `percent` % of the active monitors see it
    /// healthy (Route 53's rule); `percent` is 0 to 99.
    HealthyAbove {
        /// Threshold in percent.
        percent: u8,
    },
    /// Healthy only while every active monitor sees it healthy.
    All,
    /// Healthy while any active monitor sees it healthy.
    Any,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Majority => f.write_str("majority"),
            Policy::HealthyAbove { percent } => write!(f, "healthy_above {percent}%"),
            Policy::All => f.write_str("all"),
            Policy::Any => f.write_str("any"),
        }
    }
}

/// Outcome of counting votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ruling {
    /// Not decided yet.
    Open,
    /// Apply the proposal.
    Pass,
    /// Change nothing.
    Fail,
}

/// The numbers a decision is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Active monitors (the quorum's base), including this node when it is one.
    pub active: usize,
    /// Active monitors that agree with the proposal.
    pub yes: usize,
    /// Active monitors that disagree.
    pub no: usize,
}

impl Policy {
    /// Decides a proposal of `status` (`true`: up) from a tally. No change ever passes
    /// with fewer than `min_votes` agreeing monitors, and nothing is decided while fewer
    /// than `min_votes` monitors are active.
    pub fn decide(self, status: bool, tally: Tally, min_votes: usize) -> Ruling {
        let Tally { active, yes, no } = tally;
        if active < min_votes.max(1) {
            return Ruling::Open;
        }
        let (pass, fail) = match self {
            Policy::Majority => {
                let majority = active / 2 + 1;
                (yes >= majority, no >= majority && no >= min_votes)
            }
            _ => {
                let need_up = self.healthy_needs(active);
                if status {
                    // Up passes once enough see it up; fails once that is out of reach.
                    (yes >= need_up, active.saturating_sub(no) < need_up)
                } else {
                    // Down passes once healthy is out of reach; fails once enough see it up.
                    (active.saturating_sub(yes) < need_up, no >= need_up)
                }
            }
        };
        if pass && yes >= min_votes {
            Ruling::Pass
        } else if fail {
            Ruling::Fail
        } else {
            Ruling::Open
        }
    }

    /// How many of `active` monitors must see a provider up for it to be healthy
    /// (threshold policies only).
    fn healthy_needs(self, active: usize) -> usize {
        match self {
            Policy::Majority => active / 2 + 1,
            Policy::HealthyAbove { percent } => active * usize::from(percent.min(99)) / 100 + 1,
            Policy::All => active,
            Policy::Any => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(active: usize, yes: usize, no: usize) -> Tally {
        Tally { active, yes, no }
    }

    #[test]
    fn decisions_follow_each_policy() {
        use Ruling::*;
        let cases: &[(Policy, bool, Tally, usize, Ruling)] = &[
            // The original: majority of active and at least two.
            (Policy::Majority, false, tally(3, 2, 0), 2, Pass),
            (Policy::Majority, false, tally(3, 1, 0), 2, Open),
            (Policy::Majority, false, tally(3, 0, 2), 2, Fail),
            (Policy::Majority, true, tally(4, 2, 0), 2, Open),
            (Policy::Majority, true, tally(4, 3, 1), 2, Pass),
            (Policy::Majority, true, tally(5, 2, 2), 2, Open),
            (Policy::Majority, true, tally(2, 2, 0), 2, Pass),
            (Policy::Majority, true, tally(2, 1, 1), 2, Open),
            // One monitor: never without single-node mode, always with it.
            (Policy::Majority, false, tally(1, 1, 0), 2, Open),
            (Policy::Majority, false, tally(1, 1, 0), 1, Pass),
            (Policy::Majority, false, tally(1, 0, 1), 1, Fail),
            // Zero monitors decide nothing.
            (Policy::Majority, false, tally(0, 0, 0), 2, Open),
            (Policy::Majority, false, tally(0, 0, 0), 1, Open),
            // Healthy above 50 %: 3 of 4 needed for up; 2 down make up impossible.
            (
                Policy::HealthyAbove { percent: 50 },
                true,
                tally(4, 3, 0),
                2,
                Pass,
            ),
            (
                Policy::HealthyAbove { percent: 50 },
                true,
                tally(4, 2, 0),
                2,
                Open,
            ),
            (
                Policy::HealthyAbove { percent: 50 },
                true,
                tally(4, 2, 2),
                2,
                Fail,
            ),
            (
                Policy::HealthyAbove { percent: 50 },
                false,
                tally(4, 2, 0),
                2,
                Pass,
            ),
            (
                Policy::HealthyAbove { percent: 50 },
                false,
                tally(4, 1, 3),
                2,
                Fail,
            ),
            // Healthy above 20 % of 5: 2 up needed; 4 down make it unhealthy.
            (
                Policy::HealthyAbove { percent: 20 },
                false,
                tally(5, 3, 0),
                2,
                Open,
            ),
            (
                Policy::HealthyAbove { percent: 20 },
                false,
                tally(5, 4, 0),
                2,
                Pass,
            ),
            (
                Policy::HealthyAbove { percent: 20 },
                true,
                tally(5, 2, 0),
                2,
                Pass,
            ),
            // All: every monitor up for up; two down (min_votes) for down.
            (Policy::All, true, tally(3, 2, 0), 2, Open),
            (Policy::All, true, tally(3, 3, 0), 2, Pass),
            (Policy::All, true, tally(3, 2, 1), 2, Fail),
            (Policy::All, false, tally(3, 1, 0), 2, Open),
            (Policy::All, false, tally(3, 2, 0), 2, Pass),
            // Any: one up keeps it healthy; down needs every monitor.
            (Policy::Any, true, tally(3, 1, 0), 1, Pass),
            (Policy::Any, true, tally(3, 1, 0), 2, Open),
            (Policy::Any, false, tally(3, 2, 0), 2, Open),
            (Policy::Any, false, tally(3, 3, 0), 2, Pass),
            (Policy::Any, false, tally(3, 2, 1), 2, Fail),
        ];
        for (index, &(policy, status, tally, min_votes, want)) in cases.iter().enumerate() {
            let got = policy.decide(status, tally, min_votes);
            assert_eq!(
                got, want,
                "case {index}: {policy} status={status} {tally:?} min_votes={min_votes}"
            );
        }
    }

    #[test]
    fn no_change_passes_without_min_votes_agreeing() {
        let policies = [
            Policy::Majority,
            Policy::HealthyAbove { percent: 0 },
            Policy::HealthyAbove { percent: 34 },
            Policy::HealthyAbove { percent: 66 },
            Policy::All,
            Policy::Any,
        ];
        for policy in policies {
            for active in 0..8 {
                for yes in 0..=active {
                    for no in 0..=active - yes {
                        for status in [false, true] {
                            for min_votes in 1..3 {
                                let tally = tally(active, yes, no);
                                let decision = policy.decide(status, tally, min_votes);
                                if decision == Ruling::Pass {
                                    assert!(yes >= min_votes, "{policy} {tally:?}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
