//! A test knob for benchmarks of the cluster rather than of the providers:
//! `GEODNS_TEST_OBSERVATIONS=FILE` replaces this monitor's checks by a script. Every
//! tick (the shortest check interval of the plan) each item of the plan is observed,
//! healthy unless `FILE` names its member on a line of its own (`*` names every member).
//! The file is read again every tick, so a benchmark fails and repairs members by
//! rewriting it (atomically, by rename). Never set it in production: nothing is checked.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use geodns_consensus::engine::Observation;
use geodns_consensus::message::ProposalId;
use geodns_node::consensus::{ConsensusHandle, ObserveError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::runner::Plan;

/// The environment variable of the knob.
pub const VARIABLE: &str = "GEODNS_TEST_OBSERVATIONS";

/// Which members the script says are down.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Down {
    all: bool,
    members: BTreeSet<String>,
}

impl Down {
    /// Parses the file's text: one member name per line, `*` for all, `#` comments.
    pub(crate) fn parse(text: &str) -> Down {
        let mut down = Down::default();
        for line in text.lines().map(str::trim) {
            match line {
                "" => {}
                "*" => down.all = true,
                _ if line.starts_with('#') => {}
                member => {
                    down.members.insert(member.to_owned());
                }
            }
        }
        down
    }

    fn is_down(&self, member: &str) -> bool {
        self.all || self.members.contains(member)
    }
}

/// Observes every plan item every tick as the script says, until `shutdown`.
pub(super) async fn run(
    path: PathBuf,
    plan: watch::Receiver<Plan>,
    consensus: ConsensusHandle,
    shutdown: CancellationToken,
) {
    tracing::warn!(file = %path.display(), "test knob: observations come from a script, no check runs ({VARIABLE})");
    loop {
        let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
        let down = Down::parse(&text);
        let (items, tick) = {
            let plan = plan.borrow();
            let tick = plan.items.iter().map(|i| i.check.interval).min();
            (plan.items.clone(), tick.unwrap_or(Duration::from_secs(1)))
        };
        for item in &items {
            let Some(id) = crate::new_proposal_id().and_then(|id| ProposalId::parse(&id).ok())
            else {
                continue;
            };
            let ok = !down.is_down(item.target.member.as_str());
            let observation = Observation {
                key: item.key(),
                ok,
                error: if ok {
                    String::new()
                } else {
                    "scripted outage".to_owned()
                },
                data: None,
                new_id: id,
            };
            if let Err(ObserveError::Stopped) = consensus.observe(observation).await {
                return;
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_names_members_or_all() {
        let down = Down::parse("# down now\nAmforc\n\n  Dwellir  \n");
        assert!(down.is_down("Amforc") && down.is_down("Dwellir"));
        assert!(!down.is_down("Stakeworld"));
        assert!(Down::parse("*\n").is_down("anyone"));
        assert_eq!(Down::parse(""), Down::default());
    }
}
