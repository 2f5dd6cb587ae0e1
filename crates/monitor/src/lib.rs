//! The monitor role: which checks apply to which provider ([`target`]), the checks
//! themselves ([`check`]), the scheduler that runs them ([`schedule`], [`runner`]),
//! counters, the outage changes of the monitor's log ([`events`]), and the role's runtime
//! on a node ([`runtime`]).

#![forbid(unsafe_code)]

pub mod check;
pub mod counters;
pub mod events;
pub mod outcome;
pub mod runner;
pub mod runtime;
pub mod schedule;
pub mod target;

pub use check::{Env, EnvError, Probe, run};
pub use counters::Counters;
pub use outcome::{Outcome, Reason};
pub use runner::{CheckResult, Plan, run_scheduler};
pub use target::{Item, Target, plan};

/// A fresh proposal id: a random (version 4) UUID, as the original uses; `None` when the
/// operating system has no randomness (a fixed id would make every proposal after the
/// first a duplicate the engine drops).
pub fn new_proposal_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}
