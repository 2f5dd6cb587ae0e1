//! The monitor role: which checks apply to which provider ([`target`]), the checks
//! themselves ([`check`]), the scheduler that runs them ([`schedule`], [`runner`]),
//! counters, and the monitor's outage log ([`events`]).

#![forbid(unsafe_code)]

pub mod check;
pub mod counters;
pub mod events;
pub mod outcome;
pub mod runner;
pub mod schedule;
pub mod target;

pub use check::{Env, EnvError, Probe, run};
pub use counters::Counters;
pub use outcome::{Outcome, Reason};
pub use runner::{CheckResult, Plan, run_scheduler};
pub use target::{Item, Target, plan};

/// A fresh proposal id: a random (version 4) UUID, as the original uses.
pub fn new_proposal_id() -> String {
    let mut bytes = [0u8; 16];
    // The operating system's randomness does not fail on the platforms we run on; a
    // failure leaves zeros, and the engine still accepts the id.
    let _ = getrandom::fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
