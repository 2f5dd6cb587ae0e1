//! The boundary between the monitor role and the consensus engine: a check result is
//! validated like a wire message before the engine sees it.

use geodns_consensus::engine::Observation;
use geodns_core::records::RecordError;

use super::ConsensusHandle;

/// Why a check result was not handed to the consensus engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserveError {
    /// The result names no valid check (a field empty, too long or malformed).
    #[error("invalid check result for {check}: {source}")]
    Invalid {
        /// The check, as given.
        check: String,
        /// The rule broken.
        #[source]
        source: RecordError,
    },
    /// The consensus task has stopped.
    #[error("the consensus task has stopped")]
    Stopped,
}

impl ConsensusHandle {
    /// Hands a check result to the engine, after the same validation a check key gets
    /// on the wire: the engine never sees a key a database or a peer would refuse.
    pub async fn observe(&self, observation: Observation) -> Result<(), ObserveError> {
        validate_observation(&observation)?;
        self.observations
            .send(observation)
            .await
            .map_err(|_| ObserveError::Stopped)
    }
}

/// Longest error text an observation may carry (it travels in proposals and alerts).
pub const MAX_ERROR_CHARS: usize = 1024;

fn validate_observation(observation: &Observation) -> Result<(), ObserveError> {
    let invalid = |source| ObserveError::Invalid {
        check: observation.key.canonical(),
        source,
    };
    observation.key.validate().map_err(invalid)?;
    if observation.error.chars().count() > MAX_ERROR_CHARS {
        return Err(invalid(RecordError::TooLong {
            field: "error",
            max: MAX_ERROR_CHARS,
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use geodns_consensus::message::ProposalId;
    use geodns_core::ids::MemberId;
    use geodns_core::model::CheckKind;
    use geodns_core::records::CheckKey;

    use std::sync::Arc;

    use geodns_consensus::results::Snapshot;
    use tokio::sync::{mpsc, watch};

    use super::*;

    fn observation(kind: CheckKind, domain: &str, error: String) -> Observation {
        Observation {
            key: CheckKey {
                kind,
                check: "wss".into(),
                member: MemberId::parse("Amforc").unwrap(),
                domain: domain.into(),
                endpoint: String::new(),
                ipv6: false,
            },
            ok: false,
            error,
            data: None,
            new_id: ProposalId::parse("p").unwrap(),
        }
    }

    #[tokio::test]
    async fn invalid_check_results_never_reach_the_engine() {
        let (observations, mut received) = mpsc::channel(8);
        let (_official, official) = watch::channel(Arc::new(Snapshot::default()));
        let handle = ConsensusHandle {
            official: official.clone(),
            local: official,
            proven: watch::channel(Default::default()).1,
            observations,
            status: Arc::default(),
            adopt: mpsc::channel(1).0,
            parts: Default::default(),
        };
        let no_domain = observation(CheckKind::Domain, "", "down".into());
        let error = handle.observe(no_domain).await.unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid check result for domain|wss|Amforc|||v4: domain: must not be empty"
        );
        let long = observation(CheckKind::Site, "", "x".repeat(MAX_ERROR_CHARS + 1));
        let error = handle.observe(long).await.unwrap_err().to_string();
        assert!(
            error.ends_with("error: longer than 1024 characters"),
            "{error}"
        );
        assert!(received.try_recv().is_err(), "nothing was handed on");
        let good = observation(CheckKind::Domain, "rpc.example.net", "down".into());
        handle.observe(good).await.unwrap();
        assert!(received.try_recv().is_ok());
    }
}
