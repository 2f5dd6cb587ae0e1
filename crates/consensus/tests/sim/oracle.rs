//! An oracle for the agreement policies, written from their definitions and not from
//! `policy.rs`: it never calls `Policy::decide` or any threshold helper of the crate.
//!
//! The definitions (README `[consensus]`, the `Policy` docs, and the original's quorum in
//! `reference/original-system.md` §4 and §10 row 16):
//! - Nothing is decided while fewer than `min_votes` monitors (and never with none) are
//!   active, and no change passes with fewer than `min_votes` agreeing monitors.
//! - `majority` (the original): a proposal passes when more than half of the active
//!   monitors agree, and fails when more than half disagree; either way with at least
//!   `min_votes` of them.
//! - The health policies say when a provider *is* healthy, given how many active monitors
//!   see it up: `healthy_above X` when more than X % of them do, `all` when every one
//!   does, `any` when at least one does. Votes on an up proposal are monitors seeing it up
//!   (agree) or down (disagree); on a down proposal the other way round. The proposal is
//!   decided once its outcome no longer depends on the monitors that have not voted:
//!   passed when every way they could still vote makes the proposed status true, failed
//!   when every way makes it false. The oracle tries every way.

use geodns_consensus::policy::Policy;

/// What the definitions say about a tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not decided yet.
    Open,
    /// The proposal passes.
    Pass,
    /// The proposal fails.
    Fail,
}

/// Is a provider healthy when `up` of `active` monitors see it up?
fn healthy(policy: Policy, up: usize, active: usize) -> bool {
    match policy {
        // "More than X %": up / active > X / 100, compared without division.
        Policy::HealthyAbove { percent } => {
            assert!(percent <= 99, "healthy_above is 0 to 99, not {percent}");
            100 * up > usize::from(percent) * active
        }
        Policy::All => up == active,
        Policy::Any => up > 0,
        Policy::Majority => unreachable!("majority counts votes, it has no health rule"),
    }
}

/// The verdict for a proposal of `status` (`true`: up) after `yes` agreeing and `no`
/// disagreeing votes of `active` monitors.
pub(crate) fn verdict(
    policy: Policy,
    status: bool,
    active: usize,
    yes: usize,
    no: usize,
    min_votes: usize,
) -> Verdict {
    assert!(
        yes + no <= active,
        "{yes} + {no} votes of {active} monitors"
    );
    if active == 0 || active < min_votes {
        return Verdict::Open;
    }
    let (holds, refuted) = match policy {
        Policy::Majority => (2 * yes > active, 2 * no > active && no >= min_votes),
        _ => {
            // Monitors seeing it up: the votes for "up" plus any of those yet to vote.
            let seen_up = if status { yes } else { no };
            let silent = active - yes - no;
            let outcomes: Vec<bool> = (0..=silent)
                .map(|late_up| healthy(policy, seen_up + late_up, active) == status)
                .collect();
            (
                outcomes.iter().all(|&true_status| true_status),
                outcomes.iter().all(|&true_status| !true_status),
            )
        }
    };
    if holds && yes >= min_votes {
        Verdict::Pass
    } else if refuted {
        Verdict::Fail
    } else {
        Verdict::Open
    }
}

/// Every policy the simulation draws, for the exhaustive comparison.
pub(crate) fn all_policies() -> Vec<Policy> {
    let mut policies = vec![Policy::Majority, Policy::All, Policy::Any];
    policies.extend((0..=99).map(|percent| Policy::HealthyAbove { percent }));
    policies
}

#[cfg(test)]
mod tests {
    use geodns_consensus::policy::{Ruling, Tally};

    use super::*;

    /// Worked examples straight from the definitions, independent of both implementations.
    #[test]
    fn the_oracle_follows_the_definitions() {
        use Verdict::*;
        let above = |percent| Policy::HealthyAbove { percent };
        let cases = [
            // Majority of 4 is 3, of 5 is 3; two votes at least.
            (Policy::Majority, true, 4, 2, 0, 2, Open),
            (Policy::Majority, true, 4, 3, 0, 2, Pass),
            (Policy::Majority, false, 4, 1, 3, 2, Fail),
            (Policy::Majority, false, 1, 1, 0, 2, Open),
            (Policy::Majority, false, 1, 1, 0, 1, Pass),
            // More than 50 % of 4 is 3; 2 down already make "up" impossible.
            (above(50), true, 4, 2, 0, 2, Open),
            (above(50), true, 4, 3, 0, 2, Pass),
            (above(50), true, 4, 2, 2, 2, Fail),
            (above(50), false, 4, 2, 0, 2, Pass),
            // More than 60 % of 5 is 4 (3 of 5 is exactly 60 %, not more).
            (above(60), true, 5, 3, 0, 2, Open),
            (above(60), true, 5, 4, 0, 2, Pass),
            (above(60), false, 5, 2, 0, 2, Pass),
            // More than 0 %: one up is healthy; down needs every monitor.
            (above(0), false, 3, 2, 0, 2, Open),
            (above(0), false, 3, 3, 0, 2, Pass),
            // All: one down is enough for down, but min_votes still applies.
            (Policy::All, false, 3, 1, 0, 2, Open),
            (Policy::All, false, 3, 2, 0, 2, Pass),
            (Policy::All, true, 3, 2, 1, 2, Fail),
            // Any: one up keeps it healthy.
            (Policy::Any, true, 3, 1, 0, 1, Pass),
            (Policy::Any, false, 3, 2, 1, 2, Fail),
            (Policy::Any, false, 3, 3, 0, 2, Pass),
        ];
        for (policy, status, active, yes, no, min_votes, want) in cases {
            assert_eq!(
                verdict(policy, status, active, yes, no, min_votes),
                want,
                "{policy} status={status} active={active} yes={yes} no={no} min={min_votes}"
            );
        }
    }

    /// The implementation agrees with the oracle on every small tally.
    #[test]
    fn the_policies_agree_with_the_oracle_on_every_small_tally() {
        let mut disagreements = Vec::new();
        for policy in all_policies() {
            for active in 0..=9 {
                for yes in 0..=active {
                    for no in 0..=active - yes {
                        for status in [false, true] {
                            for min_votes in 1..=3 {
                                let want = verdict(policy, status, active, yes, no, min_votes);
                                let got =
                                    policy.decide(status, Tally { active, yes, no }, min_votes);
                                let got = match got {
                                    Ruling::Open => Verdict::Open,
                                    Ruling::Pass => Verdict::Pass,
                                    Ruling::Fail => Verdict::Fail,
                                };
                                if got != want {
                                    disagreements.push(format!(
                                        "{policy} status={status} active={active} yes={yes} \
                                         no={no} min_votes={min_votes}: {got:?}, oracle {want:?}"
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(
            disagreements.is_empty(),
            "{} disagreements, first: {:#?}",
            disagreements.len(),
            &disagreements[..disagreements.len().min(10)]
        );
    }
}
