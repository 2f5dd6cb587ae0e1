//! The one place a node reads the wall clock: the time for the roles' and the consensus
//! engine's `now` arguments, and a monotonic stopwatch for measurements.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// The current UTC time.
#[allow(clippy::disallowed_methods, reason = "this module is the node's clock")]
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Measures elapsed time on the monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts measuring.
    #[allow(clippy::disallowed_methods, reason = "this module is the node's clock")]
    pub fn start() -> Self {
        Stopwatch(Instant::now())
    }

    /// Time since `start`.
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}
