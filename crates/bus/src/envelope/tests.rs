//! The gate against forged, unsigned, wrongly signed, wrong-role, stale and replayed
//! messages, in each mode; and the bounds of its state.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use geodns_consensus::auth::{AuthMode, NodeKey};
use geodns_core::model::NodeRole;

use super::*;
use crate::BusMessage;
use crate::subjects;

const NOW: u64 = 1_800_000_000_000;

fn key(seed: u8) -> NodeKey {
    NodeKey::from_seed([seed; 32])
}

fn peer(seed: Option<u8>, roles: &[NodeRole]) -> Peer {
    Peer {
        key: seed.map(|seed| {
            let public = key(seed).public();
            (public, key_id(&public))
        }),
        roles: roles.iter().copied().collect(),
    }
}

fn table(mode: AuthMode) -> TrustTable {
    let nodes: BTreeMap<String, Peer> = [
        ("m1".to_owned(), peer(Some(1), &[NodeRole::Monitor])),
        ("api".to_owned(), peer(Some(2), &[NodeRole::Api])),
        ("dns".to_owned(), peer(Some(3), &[NodeRole::Dns])),
        ("old".to_owned(), peer(None, &[NodeRole::Monitor])),
    ]
    .into();
    TrustTable {
        mode,
        nodes,
        own_roles: BTreeSet::from([NodeRole::Dns]),
        max_skew_ms: 5_000,
        max_age_ms: 120_000,
    }
}

/// The gate of node `id` signing with `seed`.
fn gate(id: &str, seed: u8, mode: AuthMode) -> Gate {
    Gate::new(
        (id, Some(key(seed))),
        table(mode),
        u64::from(seed) << 32,
        clock(),
    )
}

/// A message `from` publishes on `subject` at `at`, as the receiver sees it.
fn sealed(from: &Gate, sender: &str, subject: &str, payload: &str, at: u64) -> BusMessage {
    let sealed = from
        .seal((subject, None), None, payload.as_bytes(), at)
        .unwrap();
    let mut message = BusMessage::received(subject, Bytes::from(payload.to_owned()), None);
    message.sender = Some(sender.to_owned());
    message.envelope = Some(sealed.header);
    message
}

fn admit(receiver: &Gate, message: &BusMessage, replay: &mut Replay) -> Result<(), Refusal> {
    receiver.admit(&mut message.clone(), None, replay, NOW)
}

const OVERRIDE: &str = r#"{"action":"set","domain":"rpc.example","countryCode":"GB"}"#;

#[test]
fn a_signed_message_is_admitted_once_with_its_sender_verified() {
    let (api, dns) = (
        gate("api", 2, AuthMode::Strict),
        gate("dns", 3, AuthMode::Strict),
    );
    let message = sealed(&api, "api", subjects::OVERRIDE_UPDATE, OVERRIDE, NOW);
    let mut replay = Replay::default();
    let mut admitted = message.clone();
    dns.admit(&mut admitted, None, &mut replay, NOW).unwrap();
    assert!(admitted.authenticated);
    assert_eq!(admitted.sender.as_deref(), Some("api"));
    assert_eq!(admit(&dns, &message, &mut replay), Err(Refusal::Replayed));
    // Another subscription of the same node sees it once too.
    assert_eq!(admit(&dns, &message, &mut Replay::default()), Ok(()));
    assert_eq!(
        dns.refusals(),
        BTreeMap::from([((subjects::OVERRIDE_UPDATE, "replayed"), 1)])
    );
}

#[test]
fn forgeries_are_refused_for_what_they_are() {
    let dns = gate("dns", 3, AuthMode::Strict);
    let api = gate("api", 2, AuthMode::Strict);
    let mut replay = Replay::default();
    let unsigned = {
        let mut m = BusMessage::received(subjects::OVERRIDE_UPDATE, Bytes::from(OVERRIDE), None);
        m.sender = Some("api".to_owned());
        m
    };
    assert_eq!(admit(&dns, &unsigned, &mut replay), Err(Refusal::Unsigned));
    // Signed by a key nobody lists, in the api's name.
    let stranger = gate("api", 9, AuthMode::Strict);
    let forged = sealed(&stranger, "api", subjects::OVERRIDE_UPDATE, OVERRIDE, NOW);
    assert_eq!(admit(&dns, &forged, &mut replay), Err(Refusal::UnknownKey));
    // The api's real envelope on another body.
    let mut tampered = sealed(&api, "api", subjects::OVERRIDE_UPDATE, OVERRIDE, NOW);
    tampered.payload = Bytes::from(OVERRIDE.replace("GB", "US"));
    assert_eq!(
        admit(&dns, &tampered, &mut replay),
        Err(Refusal::BadSignature)
    );
    // ... or on another subject.
    let mut moved = sealed(&api, "api", subjects::MAINTENANCE_UPDATE, OVERRIDE, NOW);
    moved.subject = subjects::OVERRIDE_UPDATE.to_owned();
    assert_eq!(admit(&dns, &moved, &mut replay), Err(Refusal::BadSignature));
    // A monitor may not publish overrides; a DNS node may not vote.
    let monitor = gate("m1", 1, AuthMode::Strict);
    let wrong = sealed(&monitor, "m1", subjects::OVERRIDE_UPDATE, OVERRIDE, NOW);
    assert_eq!(admit(&dns, &wrong, &mut replay), Err(Refusal::WrongRole));
    let vote = sealed(&dns, "dns", subjects::VOTE, "{}", NOW);
    assert_eq!(admit(&monitor, &vote, &mut replay), Err(Refusal::WrongRole));
    let garbage = {
        let mut m = unsigned.clone();
        m.envelope = Some("v1 zz".to_owned());
        m
    };
    assert_eq!(admit(&dns, &garbage, &mut replay), Err(Refusal::Malformed));
    let unknown = sealed(
        &gate("x9", 3, AuthMode::Strict),
        "x9",
        subjects::OVERRIDE_UPDATE,
        OVERRIDE,
        NOW,
    );
    assert_eq!(
        admit(&dns, &unknown, &mut replay),
        Err(Refusal::UnknownSender)
    );
}

#[test]
fn only_fresh_messages_pass() {
    let (api, dns) = (
        gate("api", 2, AuthMode::Strict),
        gate("dns", 3, AuthMode::Strict),
    );
    let mut replay = Replay::default();
    let old = sealed(
        &api,
        "api",
        subjects::OVERRIDE_UPDATE,
        OVERRIDE,
        NOW - 120_001,
    );
    assert_eq!(admit(&dns, &old, &mut replay), Err(Refusal::Expired));
    let ahead = sealed(
        &api,
        "api",
        subjects::OVERRIDE_UPDATE,
        OVERRIDE,
        NOW + 5_001,
    );
    assert_eq!(admit(&dns, &ahead, &mut replay), Err(Refusal::Future));
    let edge = sealed(
        &api,
        "api",
        subjects::OVERRIDE_UPDATE,
        OVERRIDE,
        NOW + 5_000,
    );
    assert_eq!(admit(&dns, &edge, &mut replay), Ok(()));
}

#[test]
fn membership_is_only_about_the_sender() {
    let (m1, dns) = (
        gate("m1", 1, AuthMode::Strict),
        gate("dns", 3, AuthMode::Strict),
    );
    let about = |id: &str| format!(r#"{{"type":"leave","sender":{{"NodeID":"{id}"}}}}"#);
    let mut replay = Replay::default();
    let own = sealed(&m1, "m1", subjects::CLUSTER, &about("m1"), NOW);
    assert_eq!(admit(&dns, &own, &mut replay), Ok(()));
    let other = sealed(&m1, "m1", subjects::CLUSTER, &about("m2"), NOW);
    assert_eq!(admit(&dns, &other, &mut replay), Err(Refusal::NotSelf));
}

#[test]
fn a_reply_must_answer_this_request() {
    let (m1, dns) = (
        gate("m1", 1, AuthMode::Strict),
        gate("dns", 3, AuthMode::Strict),
    );
    let request = dns
        .seal(("geodns.official.sync", Some("_INBOX.x")), None, b"", NOW)
        .unwrap();
    let other = dns
        .seal(("geodns.official.sync", Some("_INBOX.y")), None, b"", NOW)
        .unwrap();
    let reply = |re: MessageId| {
        let sealed = m1.seal(("_INBOX.x", None), Some(re), b"{}", NOW).unwrap();
        let mut message = BusMessage::received("_INBOX.x", Bytes::from_static(b"{}"), None);
        message.sender = Some("m1".to_owned());
        message.envelope = Some(sealed.header);
        message
    };
    let mut replay = Replay::default();
    let expect = Some(Some(request.id));
    assert_eq!(
        dns.admit(&mut reply(request.id), expect, &mut replay, NOW),
        Ok(())
    );
    assert_eq!(
        dns.admit(&mut reply(other.id), expect, &mut replay, NOW),
        Err(Refusal::WrongRequest)
    );
    assert_eq!(dns.refusals().get(&("reply", "wrong_request")), Some(&1));
}

#[test]
fn compat_takes_unsigned_original_shapes_from_keyless_listed_nodes_only() {
    let dns = gate("dns", 3, AuthMode::Compat);
    let mut replay = Replay::default();
    let unsigned = |subject: &str, body: &str| {
        BusMessage::received(subject, Bytes::from(body.to_owned()), None)
    };
    let vote = |voter: &str| format!(r#"{{"ProposalID":"p","NodeID":"{voter}","Agree":true}}"#);
    let mut admitted = unsigned(subjects::VOTE, &vote("old"));
    dns.admit(&mut admitted, None, &mut replay, NOW).unwrap();
    assert_eq!(admitted.sender.as_deref(), Some("old"));
    assert!(!admitted.authenticated);
    // The same again: the original repeats itself, and unsigned messages have no id.
    assert_eq!(
        admit(&dns, &unsigned(subjects::VOTE, &vote("old")), &mut replay),
        Ok(())
    );
    // A node with a key always signs; a stranger is nobody.
    assert_eq!(
        admit(&dns, &unsigned(subjects::VOTE, &vote("m1")), &mut replay),
        Err(Refusal::Unsigned)
    );
    assert_eq!(
        admit(&dns, &unsigned(subjects::VOTE, &vote("x")), &mut replay),
        Err(Refusal::UnknownSender)
    );
    // Overrides name no sender; geodns-only subjects are always signed.
    assert_eq!(
        admit(
            &dns,
            &unsigned(subjects::OVERRIDE_UPDATE, OVERRIDE),
            &mut replay
        ),
        Err(Refusal::Unsigned)
    );
    assert_eq!(
        admit(&dns, &unsigned(subjects::OFFICIAL_SYNC, ""), &mut replay),
        Err(Refusal::Unsigned)
    );
    // The original collator's usage request names nobody and is answered.
    assert_eq!(
        admit(&dns, &unsigned(subjects::USAGE_REQUEST, "{}"), &mut replay),
        Ok(())
    );
    // Strict takes none of them.
    let strict = gate("dns", 3, AuthMode::Strict);
    assert_eq!(
        admit(
            &strict,
            &unsigned(subjects::VOTE, &vote("old")),
            &mut replay
        ),
        Err(Refusal::Unsigned)
    );
}

#[test]
fn off_takes_everything_and_status_requests_are_open() {
    let off = gate("dns", 3, AuthMode::Off);
    let mut replay = Replay::default();
    let forged = BusMessage::received(subjects::OVERRIDE_UPDATE, Bytes::from(OVERRIDE), None);
    assert_eq!(admit(&off, &forged, &mut replay), Ok(()));
    let strict = gate("dns", 3, AuthMode::Strict);
    let status = BusMessage::received(
        &subjects::cluster_status("dns"),
        Bytes::new(),
        Some("_INBOX.cli".to_owned()),
    );
    assert_eq!(admit(&strict, &status, &mut replay), Ok(()));
}

#[test]
fn replay_state_stays_small_however_many_messages_flow() {
    let api = gate("api", 2, AuthMode::Strict);
    let dns = gate("dns", 3, AuthMode::Strict);
    let mut replay = Replay::default();
    for n in 0..10_000 {
        let message = sealed(
            &api,
            "api",
            subjects::OVERRIDE_UPDATE,
            OVERRIDE,
            NOW - 1_000 + n / 100,
        );
        assert_eq!(admit_into(&dns, message, &mut replay), Ok(()));
    }
    assert_eq!(replay.len(), 1, "one start-up of one sender");
    // Restarts: each is a start-up until it ages out; the number kept is capped.
    for boot in 0..40u64 {
        let restarted = Gate::new(
            ("api", Some(key(2))),
            table(AuthMode::Strict),
            1_000 + boot,
            clock(),
        );
        let message = sealed(&restarted, "api", subjects::OVERRIDE_UPDATE, OVERRIDE, NOW);
        assert_eq!(admit_into(&dns, message, &mut replay), Ok(()));
    }
    assert!(replay.len() <= 16, "{}", replay.len());
}

/// A clock these tests never read (they pass `now`).
fn clock() -> crate::Clock {
    std::sync::Arc::new(chrono::DateTime::<chrono::Utc>::default)
}

fn admit_into(gate: &Gate, mut message: BusMessage, replay: &mut Replay) -> Result<(), Refusal> {
    gate.admit(&mut message, None, replay, NOW)
}

#[test]
fn envelopes_round_trip_and_refuse_junk() {
    let api = gate("api", 2, AuthMode::Strict);
    let sealed = api.seal(("a.b", Some("r")), None, b"x", NOW).unwrap();
    let envelope = Envelope::decode(&sealed.header).unwrap();
    assert_eq!(envelope.encode(), sealed.header);
    assert_eq!(envelope.id, sealed.id);
    for junk in [
        "",
        "v2 00",
        "v1",
        &format!("{} extra", sealed.header),
        &"v1 ".repeat(100),
    ] {
        assert_eq!(Envelope::decode(junk), None, "{junk}");
    }
}

#[test]
fn batches_are_from_monitors_fresh_once_and_always_signed() {
    let (monitor, dns) = (
        gate("m1", 1, AuthMode::Strict),
        gate("dns", 3, AuthMode::Strict),
    );
    let mut replay = Replay::default();
    for subject in [subjects::BATCH, subjects::DECIDED] {
        let batch = sealed(&monitor, "m1", subject, "{}", NOW);
        assert_eq!(admit(&dns, &batch, &mut replay), Ok(()), "{subject}");
        assert_eq!(
            admit(&dns, &batch, &mut replay),
            Err(Refusal::Replayed),
            "{subject}"
        );
        // A DNS node (or the api) may not send decisions, batched or not.
        let forged = sealed(&dns, "dns", subject, "{}", NOW);
        assert_eq!(
            admit(&monitor, &forged, &mut replay),
            Err(Refusal::WrongRole)
        );
        let old = sealed(&monitor, "m1", subject, "{}", NOW - 120_001);
        assert_eq!(admit(&dns, &old, &mut replay), Err(Refusal::Expired));
        let ahead = sealed(&monitor, "m1", subject, "{}", NOW + 5_001);
        assert_eq!(admit(&dns, &ahead, &mut replay), Err(Refusal::Future));
        // Not an original subject: unsigned never passes, even in compat mode from a
        // node listed without a key.
        let compat = gate("dns", 3, AuthMode::Compat);
        let body = r#"{"votes":[{"ProposalID":"p","NodeID":"old","Agree":true}]}"#;
        let unsigned = BusMessage::received(subject, Bytes::from(body), None);
        assert_eq!(
            admit(&compat, &unsigned, &mut replay),
            Err(Refusal::Unsigned),
            "{subject}"
        );
    }
}
