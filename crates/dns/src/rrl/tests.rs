//! The limiter's arithmetic and the truncated form, without sockets.
#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;

/// A positive answer for `name` (wire form of `a.example.`), qtype A, to one client.
fn response(name: &str, rcode: u8, answers: u16) -> Vec<u8> {
    let mut message = vec![0x12, 0x34, 0x84, rcode, 0, 1];
    message.extend_from_slice(&answers.to_be_bytes());
    message.extend_from_slice(&[0, 0, 0, 1]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        message.push(label.len() as u8);
        message.extend_from_slice(label.as_bytes());
    }
    message.extend_from_slice(&[0, 0, 1, 0, 1]);
    // One A record (compressed owner) and an OPT record.
    message.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1]);
    message.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
    message
}

fn limits(rate: u32) -> Limits {
    Limits {
        responses_per_second: rate,
        window: 2,
        slip: 2,
        ..Limits::default()
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn tally(verdicts: impl Iterator<Item = Verdict>) -> [usize; 3] {
    let mut out = [0; 3];
    for verdict in verdicts {
        out[verdict as usize] += 1;
    }
    out
}

#[test]
fn a_flood_is_limited_and_slipped_per_network_and_response() {
    let table = Table::default();
    let limits = limits(5);
    let answer = response("a.example.", 0, 1);
    let flood = tally((0..100).map(|_| table.decide(&limits, ip("198.51.100.7"), &answer, 0)));
    assert_eq!(
        flood,
        [5, 47, 48],
        "5 sent, then every 2nd limited one slipped"
    );
    // The same network, another name: its own account.
    let other = response("b.example.", 0, 1);
    assert_eq!(
        table.decide(&limits, ip("198.51.100.200"), &other, 0),
        Verdict::Send
    );
    // Another network: answered in full.
    let elsewhere = tally((0..5).map(|_| table.decide(&limits, ip("203.0.113.9"), &answer, 0)));
    assert_eq!(elsewhere, [5, 0, 0]);
    // In debt for at most the window (2 s): answered again after it.
    assert_ne!(
        table.decide(&limits, ip("198.51.100.7"), &answer, 1),
        Verdict::Send
    );
    assert_eq!(
        table.decide(&limits, ip("198.51.100.7"), &answer, 4),
        Verdict::Send
    );
}

#[test]
fn errors_share_one_account_exempt_clients_and_off_are_never_limited() {
    let table = Table::default();
    let off = limits(0);
    let limits = Limits {
        exempt: vec!["192.0.2.0/24".parse().unwrap()],
        ..limits(3)
    };
    // NXDOMAINs for random names from one network share one account.
    let verdicts = (0..10).map(|i| {
        let nx = response(&format!("r{i}.example."), 3, 0);
        table.decide(&limits, ip("198.51.100.7"), &nx, 0)
    });
    assert_eq!(tally(verdicts)[0], 3);
    let answer = response("a.example.", 0, 1);
    let exempt = tally((0..50).map(|_| table.decide(&limits, ip("192.0.2.53"), &answer, 0)));
    assert_eq!(exempt, [50, 0, 0]);
    let off = tally((0..50).map(|_| table.decide(&off, ip("198.51.100.7"), &answer, 0)));
    assert_eq!(off, [50, 0, 0]);
}

#[test]
fn a_fast_rate_is_kept_exactly() {
    let table = Table::default();
    let limits = limits(1_000_000);
    let answer = response("a.example.", 0, 1);
    let sent = tally(
        (0..2_000_000u32).map(|i| table.decide(&limits, ip("127.0.0.1"), &answer, i / 1_000_000)),
    );
    assert_eq!(sent, [2_000_000, 0, 0]);
}

#[test]
fn accounts_pack_into_one_word() {
    for balance in [0, 1, -1, BALANCE_LIMIT, -BALANCE_LIMIT, 12345, -6789] {
        let account = Account {
            tag: 0xBEEF,
            second: 65535,
            balance,
            limited: 255,
        };
        assert_eq!(Account::unpack(account.pack()), account);
    }
}

#[test]
fn the_truncated_form_keeps_only_the_question() {
    let mut message = response("A.Example.", 0, 1);
    let length = message.len();
    let short = truncate(&mut message, length);
    assert_eq!(short, 12 + 11 + 4);
    assert_eq!(message[2] & 0x02, 0x02, "TC set");
    assert_eq!(&message[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&message[12..short], b"\x01A\x07Example\x00\x00\x01\x00\x01");
    let mut garbage = vec![0u8; 5];
    assert_eq!(truncate(&mut garbage, 5), 5);
}
