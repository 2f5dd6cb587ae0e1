//! When the demo breaks a provider and when it repairs it: a pure schedule of the time
//! since start.

use std::time::Duration;

/// The chaos schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The first break.
    pub first: Duration,
    /// From one break to the next.
    pub every: Duration,
    /// How long a provider stays broken (shorter than `every`).
    pub broken_for: Duration,
}

impl Plan {
    /// Whether the provider is broken `elapsed` after start.
    pub fn broken_at(&self, elapsed: Duration) -> bool {
        let Some(since) = elapsed.checked_sub(self.first) else {
            return false;
        };
        let every = self.every.max(self.broken_for + Duration::from_secs(1));
        let into = since.as_millis() % every.as_millis().max(1);
        into < self.broken_for.as_millis()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaks_then_repairs_on_schedule() {
        let s = Duration::from_secs;
        let plan = Plan {
            first: s(15),
            every: s(60),
            broken_for: s(20),
        };
        assert!(!plan.broken_at(s(14)));
        assert!(plan.broken_at(s(15)));
        assert!(plan.broken_at(s(34)));
        assert!(!plan.broken_at(s(35)));
        assert!(!plan.broken_at(s(74)));
        assert!(plan.broken_at(s(75)));
        // A period shorter than the outage still leaves a moment up.
        let tight = Plan {
            every: s(5),
            ..plan
        };
        assert!(!tight.broken_at(s(15 + 20)));
    }
}
