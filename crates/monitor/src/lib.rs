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
    // Hex digits written directly: a monitor makes one id per check result.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(36);
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    Some(id)
}

#[cfg(test)]
mod id_tests {
    #[test]
    fn proposal_ids_are_version_4_uuids() {
        let id = super::new_proposal_id().expect("randomness");
        assert_eq!(id.len(), 36, "{id}");
        for (index, c) in id.char_indices() {
            match index {
                8 | 13 | 18 | 23 => assert_eq!(c, '-', "{id}"),
                14 => assert_eq!(c, '4', "{id}"),
                19 => assert!("89ab".contains(c), "{id}"),
                _ => assert!(c.is_ascii_hexdigit() && !c.is_ascii_uppercase(), "{id}"),
            }
        }
        assert_ne!(super::new_proposal_id(), Some(id));
    }
}
