//! What the consensus shell gives the engine from the configuration (the rules of
//! `[consensus]`, the members in maintenance) and how it logs the engine's events.

use std::collections::BTreeSet;

use geodns_consensus::EngineConfig;
use geodns_consensus::engine::Event;
use geodns_consensus::hysteresis::Hysteresis;
use geodns_consensus::policy::Policy;
use geodns_core::config::{Config, PolicyName};
use geodns_core::ids::MemberId;
use geodns_core::model::NodeRole;

/// How much longer each monitor after the first in a check's proposer order waits before
/// proposing a change itself (see `EngineConfig::proposal_holdoff`). The shell ticks the
/// engine every second, so a monitor whose turn it is proposes within a second of it.
pub const PROPOSAL_HOLDOFF: std::time::Duration = std::time::Duration::from_millis(500);

/// The engine's rules from `[consensus]`; a node votes when it runs the monitor role.
pub fn engine_config(config: &Config) -> EngineConfig {
    let section = &config.consensus;
    let voter = config.node.roles.contains(&NodeRole::Monitor);
    let mut engine = EngineConfig::new(config.node.id.clone(), voter);
    engine.policy = match section.policy {
        PolicyName::Majority => Policy::Majority,
        PolicyName::HealthyAbove => Policy::HealthyAbove {
            percent: section.healthy_above_percent,
        },
        PolicyName::All => Policy::All,
        PolicyName::Any => Policy::Any,
    };
    engine.min_votes = section.effective_min_votes();
    engine.proposal_timeout = section.proposal_timeout;
    engine.republish_interval = section.republish_interval;
    engine.max_retries = section.max_retries;
    engine.max_skew = section.max_skew;
    engine.proposal_holdoff = PROPOSAL_HOLDOFF;
    // A collator here logs every monitor's finalize; other nodes skip the copies.
    engine.keep_copies = config.node.roles.contains(&NodeRole::Collator);
    engine.hysteresis = Hysteresis {
        fall: section.fall,
        rise: section.rise,
    };
    engine
}

/// The members in maintenance in `config` (the file's and those set at run time).
pub fn maintenance_of(config: &Config) -> BTreeSet<MemberId> {
    config
        .catalog
        .members
        .iter()
        .filter(|(_, member)| member.maintenance)
        .map(|(id, _)| id.clone())
        .collect()
}

/// Logs an engine event; returns false for a rejection.
pub fn log_event(event: Event) -> bool {
    match event {
        Event::Decided {
            proposal,
            key,
            status,
            passed,
            reason,
            votes,
            active,
        } => {
            tracing::info!(%proposal, check = %key, status, passed, ?reason, ?votes, active, "decided");
        }
        Event::Rejected {
            kind,
            sender,
            reason,
        } => {
            tracing::warn!(kind, %sender, %reason, "rejected a consensus message");
            return false;
        }
        Event::Frozen {
            frozen: true,
            active,
            min_votes,
        } => tracing::error!(
            active,
            min_votes,
            "too few active monitors: official results are frozen"
        ),
        Event::Frozen { active, .. } => {
            tracing::info!(active, "enough monitors again: official results can change")
        }
        Event::Maintenance { member, on } => {
            tracing::info!(%member, maintenance = on, "member maintenance changed")
        }
        // Neither accepted (nothing verified) nor refused.
        Event::Copy => return false,
        Event::Dropped { what } => tracing::warn!(what, "consensus bound reached; dropped"),
        Event::Outdated {
            proposal,
            key,
            decided_at,
            official_at,
        } => tracing::warn!(
            %proposal,
            check = %key,
            %decided_at,
            %official_at,
            "a decision older than the official result in force is not applied (a replay?)"
        ),
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use geodns_core::config::{Origin, SourceItems, build, parse_file};

    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "[node]\nid = \"m1\"\nroles = [\"monitor\"]\n{extra}\n\
             [[members]]\nname = \"Near\"\nmaintenance = true\nipv4 = \"127.0.0.11\"\n\
             latitude = 50.1\nlongitude = 8.7\n\
             [[members]]\nname = \"Far\"\nipv4 = \"127.0.0.12\"\n\
             latitude = 40.7\nlongitude = -74.0\n"
        );
        let origin = Origin("test.toml".to_owned());
        build(
            parse_file(&text, &origin).unwrap(),
            &origin,
            SourceItems::default(),
        )
        .unwrap()
    }

    #[test]
    fn rules_come_from_the_consensus_section() {
        let config = config(
            "[consensus]\npolicy = \"healthy_above\"\nhealthy_above_percent = 75\nmin_votes = 3\nfall = 4\nrise = 5\n",
        );
        let rules = engine_config(&config);
        assert!(rules.voter, "a monitor votes");
        assert_eq!(rules.policy, Policy::HealthyAbove { percent: 75 });
        assert_eq!(rules.min_votes, 3);
        assert_eq!(rules.hysteresis.fall, 4);
        assert_eq!(rules.hysteresis.rise, 5);
    }

    #[test]
    fn maintenance_is_read_from_the_members() {
        let names: Vec<String> = maintenance_of(&config(""))
            .iter()
            .map(|m| m.to_string())
            .collect();
        assert_eq!(names, ["Near"]);
    }
}
