//! The one place a node reads the wall clock: the time for the roles' and the consensus
//! engine's `now` arguments, and a monotonic stopwatch for measurements. A test knob,
//! `GEODNS_TEST_CLOCK_OFFSET_MS`, read once at start by [`set_offset_from_env`], moves this
//! process's wall clock by that many milliseconds (a monitor whose clock is wrong), so the
//! fleet tests can skew one process without touching the machine's clock.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

/// The environment variable of the test knob.
pub const OFFSET_VARIABLE: &str = "GEODNS_TEST_CLOCK_OFFSET_MS";

/// Set at most once, at start, before any role reads the clock; never changed after.
static OFFSET: OnceLock<TimeDelta> = OnceLock::new();

/// The current UTC time (moved by the test knob's offset, if one was set).
#[allow(clippy::disallowed_methods, reason = "this module is the node's clock")]
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    match OFFSET.get() {
        Some(offset) => now.checked_add_signed(*offset).unwrap_or(now),
        None => now,
    }
}

/// Reads [`OFFSET_VARIABLE`] from `value` (the environment's) and applies it to [`now`]
/// for the rest of the process. `Ok(None)` when unset; an error names a bad value (a whole
/// number of milliseconds within ±1 day) and changes nothing.
pub fn set_offset_from_env(value: Option<&str>) -> Result<Option<TimeDelta>, String> {
    let Some(text) = value else {
        return Ok(None);
    };
    let millis: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{OFFSET_VARIABLE}={text:?}: not a whole number of milliseconds"))?;
    if millis.unsigned_abs() > 86_400_000 {
        return Err(format!("{OFFSET_VARIABLE}={text}: more than a day"));
    }
    let offset = TimeDelta::milliseconds(millis);
    OFFSET
        .set(offset)
        .map_err(|_| format!("{OFFSET_VARIABLE}: the clock offset is already set"))?;
    Ok(Some(offset))
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
