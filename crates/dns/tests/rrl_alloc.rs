//! The response rate limiter allocates nothing on the query path: `Table::decide` (sent,
//! slipped and dropped responses, for many clients and names) and `truncate` run under
//! an allocator that counts, and the count does not move.
//!
//! This test binary's global allocator counts allocations (a test-only instrument; the
//! product has no global state).
#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(
    unsafe_code,
    reason = "a counting allocator, the only way to count allocations"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use geodns_dns::rrl::{Limits, Table, Verdict, truncate};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the counter is an
// atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A one-answer response for `name`.
fn response(name: &str) -> Vec<u8> {
    let mut message = vec![0x12, 0x34, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        message.push(label.len() as u8);
        message.extend_from_slice(label.as_bytes());
    }
    message.extend_from_slice(&[0, 0, 1, 0, 1]);
    message.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1]);
    message
}

#[test]
fn the_limiter_allocates_nothing_per_response() {
    let table = Table::default();
    let limits = Limits {
        responses_per_second: 50,
        window: 5,
        slip: 2,
        exempt: vec!["192.0.2.0/24".parse().unwrap()],
        log_only: false,
    };
    let responses: Vec<Vec<u8>> = (0..64)
        .map(|i| response(&format!("h{i}.geo.example.")))
        .collect();
    let mut scratch = vec![0u8; 512];
    let mut seen = [0u64; 3];
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 0..200_000u32 {
        let client = IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | (i % 1024)));
        let message = &responses[(i % 64) as usize];
        let verdict = table.decide(&limits, client, message, i / 50_000);
        seen[verdict as usize] += 1;
        if verdict == Verdict::Slip {
            scratch[..message.len()].copy_from_slice(message);
            truncate(&mut scratch, message.len());
        }
    }
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(allocated, 0, "allocations on the limiter's path");
    assert!(
        seen.iter().all(|n| *n > 0),
        "every verdict was exercised: {seen:?}"
    );
}
