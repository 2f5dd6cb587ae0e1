//! Alert texts and mention matching.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::{BTreeMap, BTreeSet};

use chrono::TimeZone;
use geodns_consensus::message::ProposalId;
use geodns_core::geo::GeoPoint;
use geodns_core::ids::NodeId;
use geodns_core::model::CheckKind;
use geodns_core::records::{CheckKey, Votes};
use serde_json::Map;

use super::*;
use crate::decision::Decision;

fn member(name: &str, slug: &str) -> Member {
    Member {
        id: MemberId::parse(name).unwrap(),
        slug: slug.to_owned(),
        active: true,
        level: 1,
        ipv4: None,
        ipv6: None,
        location: GeoPoint::new(0.0, 0.0).unwrap(),
        region: String::new(),
        services: BTreeSet::new(),
        maintenance: false,
        website: None,
        logo: None,
        joined: None,
    }
}

fn change(kind: ChangeKind) -> Change {
    let votes: Votes = [
        ("MONITOR-1", true),
        ("MONITOR-2", true),
        ("MONITOR-3", false),
    ]
    .into_iter()
    .map(|(n, a)| (NodeId::parse(n).unwrap(), a))
    .collect();
    Change {
        decision: Decision {
            proposal: ProposalId::parse("p1").unwrap(),
            key: CheckKey {
                kind: CheckKind::Endpoint,
                check: "wss".into(),
                member: MemberId::parse("Stake Plus").unwrap(),
                domain: "polkadot.dotters.network".into(),
                endpoint: "wss://polkadot.dotters.network".into(),
                ipv6: false,
            },
            healthy: false,
            decided_at: Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap(),
            decided_by: NodeId::parse("MONITOR-1").unwrap(),
            error: "Syncing or not enough peers <b>".into(),
            votes,
            data: Map::new(),
        },
        kind,
        ended: match kind {
            ChangeKind::Opened { .. } => None,
            _ => Some(Utc.with_ymd_and_hms(2026, 11, 30, 11, 5, 3).unwrap()),
        },
    }
}

fn routing() -> (AlertRouting, BTreeMap<MemberId, Member>) {
    let members: BTreeMap<MemberId, Member> =
        [member("Stake Plus", "stakeplus"), member("Rotko", "rotko")]
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect();
    let routing = AlertRouting {
        room: None,
        mentions: BTreeMap::from([(
            MemberId::parse("Stake Plus").unwrap(),
            vec!["@stakeplus:matrix.org".to_owned()],
        )]),
    };
    (routing, members)
}

#[test]
fn offline_names_everything_and_mentions_the_contacts() {
    let (routing, members) = routing();
    let alert = Alert::of(&change(ChangeKind::Opened { id: 7 }), &routing, &members);
    let content = alert.offline();
    let body = content["body"].as_str().unwrap();
    assert!(
        body.starts_with("@stakeplus:matrix.org\n⚠️  *OFFLINE*"),
        "{body}"
    );
    for text in [
        "• Member: Stake Plus",
        "• Check: endpoint / wss",
        "• Domain: polkadot.dotters.network",
        "• Endpoint: wss://polkadot.dotters.network",
        "• IPv6: false",
        "• Error: Syncing or not enough peers <b>",
        "• Votes: MONITOR-1 ✔, MONITOR-2 ✔, MONITOR-3 ✘",
    ] {
        assert!(body.contains(text), "{text} missing from {body}");
    }
    let html = content["formatted_body"].as_str().unwrap();
    assert!(html.contains("<a href=\"https://matrix.to/#/@stakeplus:matrix.org\">"));
    assert!(
        html.contains("peers &lt;b&gt;"),
        "error text is escaped: {html}"
    );
    assert_eq!(
        content["m.mentions"]["user_ids"][0],
        "@stakeplus:matrix.org"
    );
}

#[test]
fn online_is_an_edit_of_the_offline_event_with_the_duration() {
    let (routing, members) = routing();
    let closed = ChangeKind::Closed {
        id: 7,
        duration: Duration::from_secs(3903),
        dropped: false,
    };
    let alert = Alert::of(&change(closed), &routing, &members);
    let edit = alert.online_edit("$offline");
    assert_eq!(edit["m.relates_to"]["rel_type"], "m.replace");
    assert_eq!(edit["m.relates_to"]["event_id"], "$offline");
    let new_body = edit["m.new_content"]["body"].as_str().unwrap();
    assert!(new_body.starts_with("✅  *ONLINE*"));
    assert!(new_body.contains("• Duration: 1h 5m 3s"), "{new_body}");
    assert!(
        new_body.contains("• Since: 2026-11-30 10:00:00 UTC"),
        "{new_body}"
    );
    assert!(
        !new_body.contains('@'),
        "no mentions on recovery: {new_body}"
    );
    assert!(edit["body"].as_str().unwrap().starts_with("* "));
}

#[test]
fn mentions_match_by_id_slug_or_name_in_any_case() {
    let (routing, members) = routing();
    for name in ["Stake Plus", "stake plus", "stakeplus", "STAKEPLUS"] {
        let id = MemberId::parse(name).unwrap();
        assert_eq!(
            mentions_for(&id, &routing, &members),
            ["@stakeplus:matrix.org"],
            "{name}"
        );
    }
    assert!(mentions_for(&MemberId::parse("Rotko").unwrap(), &routing, &members).is_empty());
}

#[test]
fn durations_read_naturally() {
    assert_eq!(human(Duration::from_secs(42)), "42s");
    assert_eq!(human(Duration::from_secs(3600)), "1h 0m 0s");
    assert_eq!(human(Duration::from_secs(90_061)), "1d 1h 1m 1s");
}

/// What the outbox stores for a decision reads back as the alert of its change, once the
/// stored outage's id and times are filled in.
#[test]
fn an_owed_alert_reads_back_as_the_alert_of_its_change() {
    let (routing, members) = routing();
    let closed = change(ChangeKind::Closed {
        id: 42,
        duration: std::time::Duration::from_secs(3903),
        dropped: false,
    });
    let outbox = outbox::Outbox::new("collator-a");
    let owed = outbox.owe(
        &Alert::of_decision(&closed.decision, &routing, &members),
        closed.decision.decided_at,
    );
    assert_eq!(owed.owner, "collator-a");
    let pending = geodns_store::PendingAlert {
        outage: 42,
        kind: geodns_store::AlertKind::Online,
        owner: owed.owner,
        payload: owed.payload,
        start: Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap(),
        end: closed.ended,
        created: closed.decision.decided_at,
        offline: geodns_store::Offline::Unsent,
    };
    let read = outbox::alert_of(&pending).unwrap();
    assert_eq!(read, Alert::of(&closed, &routing, &members));
    assert!(read.online().to_string().contains("1h 5m 3s"), "{read:?}");
    let broken = geodns_store::PendingAlert {
        payload: "{".into(),
        ..pending
    };
    assert!(outbox::alert_of(&broken).is_err());
}
