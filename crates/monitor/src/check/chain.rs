//! Best blocks seen per service: a provider's best block must advance between two runs
//! of its check, and must not lag behind what another provider of the same service
//! showed *earlier* by more than the allowed number of blocks (comparing with earlier
//! observations only, so a provider checked first is never blamed for blocks produced
//! after its check).

use std::collections::HashMap;

use tokio::time::{Duration, Instant};

/// How long an observation counts.
const KEEP: Duration = Duration::from_secs(3600);

/// What one provider's best block says against the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadVerdict {
    /// The best block of this target's previous run, if any.
    pub previous: Option<u64>,
    /// The highest best block another member showed before now, if any.
    pub best_other: Option<u64>,
}

/// Per service, per target: (member, best block, when).
#[derive(Debug, Default)]
pub struct ChainHeads {
    seen: HashMap<String, HashMap<String, (String, u64, Instant)>>,
}

impl ChainHeads {
    /// Records `best` for `target` (of `member`, in `service`) at `now`; returns what it
    /// is compared with.
    pub fn record(
        &mut self,
        service: &str,
        target: &str,
        member: &str,
        best: u64,
        now: Instant,
    ) -> HeadVerdict {
        let heads = self.seen.entry(service.to_owned()).or_default();
        heads.retain(|_, (_, _, at)| now.saturating_duration_since(*at) < KEEP);
        let previous = heads.get(target).map(|(_, block, _)| *block);
        let best_other = heads
            .values()
            .filter(|(owner, _, at)| owner != member && *at <= now)
            .map(|(_, block, _)| *block)
            .max();
        heads.insert(target.to_owned(), (member.to_owned(), best, now));
        HeadVerdict {
            previous,
            best_other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_and_lag_compare_with_earlier_observations() {
        let mut heads = ChainHeads::default();
        let t0 = Instant::now();
        let first = heads.record("Polkadot", "a/v4", "A", 100, t0);
        assert_eq!(
            first,
            HeadVerdict {
                previous: None,
                best_other: None
            }
        );
        let other = heads.record("Polkadot", "b/v4", "B", 130, t0 + Duration::from_secs(1));
        assert_eq!(
            other,
            HeadVerdict {
                previous: None,
                best_other: Some(100)
            }
        );
        let again = heads.record("Polkadot", "a/v4", "A", 101, t0 + Duration::from_secs(2));
        assert_eq!(
            again,
            HeadVerdict {
                previous: Some(100),
                best_other: Some(130)
            }
        );
        // Another service's heads do not count, nor the member's own other family.
        heads.record("Kusama", "c/v4", "C", 9_999, t0);
        heads.record("Polkadot", "a/v6", "A", 500, t0 + Duration::from_secs(3));
        let v4 = heads.record("Polkadot", "a/v4", "A", 102, t0 + Duration::from_secs(4));
        assert_eq!(v4.best_other, Some(130));
        // Old observations expire.
        let late = heads.record(
            "Polkadot",
            "a/v4",
            "A",
            103,
            t0 + KEEP + Duration::from_secs(10),
        );
        assert_eq!(
            late,
            HeadVerdict {
                previous: None,
                best_other: None
            }
        );
    }
}
