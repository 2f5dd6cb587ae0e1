//! Golden tests: JSON as the original Go system writes it (`golden/README.md` says which
//! Go struct and source each file is built from) decodes, and encodes back to the same
//! bytes, so a renamed or reordered field, or a changed `omitempty` or `null`/`[]`, fails;
//! extra fields are tolerated; malformed input is an error naming the type.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::*;

fn round_trip<T: Serialize + DeserializeOwned + std::fmt::Debug + PartialEq>(
    what: &'static str,
    golden: &str,
) -> T {
    let decoded: T = decode(what, golden.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let encoded = String::from_utf8(encode(&decoded)).unwrap();
    assert_eq!(
        encoded, golden,
        "{what}: encoding differs from the original's"
    );
    decoded
}

fn with_extra_field(golden: &str) -> String {
    format!("{{\"FutureField\":{{\"nested\":[1,2]}},{}", &golden[1..])
}

macro_rules! golden {
    ($name:ident, $ty:ty, $file:literal) => {
        #[test]
        fn $name() {
            let golden = include_str!(concat!("../../golden/", $file));
            let decoded: $ty = round_trip(stringify!($name), golden);
            let extended: $ty =
                decode(stringify!($name), with_extra_field(golden).as_bytes()).unwrap();
            assert_eq!(extended, decoded, "unknown fields are ignored");
        }
    };
}

golden!(cluster_join, ClusterMessage, "cluster_join.json");
golden!(proposal, Proposal, "proposal.json");
golden!(vote, Vote, "vote.json");
golden!(finalize, FinalizeMessage, "finalize.json");
golden!(
    finalize_without_sender,
    FinalizeMessage,
    "finalize_without_sender.json"
);
golden!(usage_request, UsageRequest, "usage_request.json");
golden!(usage_response, UsageResponse, "usage_response.json");
golden!(
    usage_response_none,
    UsageResponse,
    "usage_response_none.json"
);
golden!(
    usage_response_error,
    UsageResponse,
    "usage_response_error.json"
);
golden!(downtime_request, DowntimeRequest, "downtime_request.json");
golden!(
    downtime_response,
    DowntimeResponse,
    "downtime_response.json"
);
golden!(
    downtime_response_error,
    DowntimeResponse,
    "downtime_response_error.json"
);
golden!(override_set, OverrideUpdate, "override_set.json");
golden!(override_set_ips, OverrideUpdate, "override_set_ips.json");
golden!(override_remove, OverrideUpdate, "override_remove.json");
golden!(override_clear, OverrideUpdate, "override_clear.json");

#[test]
fn every_golden_file_is_tested_and_described() {
    let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/golden");
    let tested = include_str!("tests.rs");
    let readme = include_str!("../../golden/README.md");
    for entry in std::fs::read_dir(directory).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") {
            assert!(
                tested.contains(&format!("\"{name}\"")),
                "{name} has no golden! test"
            );
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} has no README row"
            );
        }
    }
}

#[test]
fn fields_mean_what_the_original_means() {
    let proposal: Proposal = decode(
        "proposal",
        include_str!("../../golden/proposal.json").as_bytes(),
    )
    .unwrap();
    assert_eq!(proposal.member_name, "Amforc");
    assert!(!proposal.proposed_status);
    assert_eq!(proposal.timestamp.timestamp_subsec_nanos(), 123_456_789);
    assert_eq!(proposal.signature, None, "the original signs nothing");
    let join: ClusterMessage = decode(
        "cluster",
        include_str!("../../golden/cluster_join.json").as_bytes(),
    )
    .unwrap();
    assert_eq!(join.sender.node_role, WireRole::Monitor);
    assert_eq!(join.members, None);
    let vote: Vote = decode("vote", include_str!("../../golden/vote.json").as_bytes()).unwrap();
    assert_eq!(vote.timestamp.timestamp_subsec_nanos(), 7_310_000);
    let response: DowntimeResponse = decode(
        "downtime",
        include_str!("../../golden/downtime_response.json").as_bytes(),
    )
    .unwrap();
    let events = response.events.unwrap();
    assert_eq!(
        events[0].end_time,
        go_zero_time(),
        "an open outage ends at Go's zero time"
    );
    assert_eq!(
        events[0].domain_name, "",
        "omitted domainName reads as empty"
    );
    assert_eq!(events[0].data, None);
    assert_eq!(events[2].data, Some(Map::new()));
    let none: UsageResponse = decode(
        "usage",
        include_str!("../../golden/usage_response_none.json").as_bytes(),
    )
    .unwrap();
    assert_eq!(none.usage_records, None);
    let failed: UsageResponse = decode(
        "usage",
        include_str!("../../golden/usage_response_error.json").as_bytes(),
    )
    .unwrap();
    assert_eq!(failed.usage_records, Some(Vec::new()));
    let finalize: FinalizeMessage = decode(
        "finalize",
        include_str!("../../golden/finalize.json").as_bytes(),
    )
    .unwrap();
    assert!(finalize.votes.is_empty() && finalize.signature.is_none());
}

#[test]
fn times_are_written_as_go_writes_them() {
    let at = |nanos: u32| DateTime::from_timestamp(1_776_679_200, nanos).unwrap();
    for (time, text) in [
        (at(0), "2026-04-20T10:00:00Z"),
        (at(100_000_000), "2026-04-20T10:00:00.1Z"),
        (at(7_310_000), "2026-04-20T10:00:00.00731Z"),
        (at(120_000), "2026-04-20T10:00:00.00012Z"),
        (at(1), "2026-04-20T10:00:00.000000001Z"),
        (at(123_456_789), "2026-04-20T10:00:00.123456789Z"),
        (go_zero_time(), "0001-01-01T00:00:00Z"),
    ] {
        let request = DowntimeRequest {
            start_time: time,
            end_time: time,
            member_name: String::new(),
        };
        let encoded = String::from_utf8(encode(&request)).unwrap();
        assert_eq!(
            encoded,
            format!("{{\"startTime\":\"{text}\",\"endTime\":\"{text}\",\"memberName\":\"\"}}")
        );
        let decoded: DowntimeRequest = decode("downtime", encoded.as_bytes()).unwrap();
        assert_eq!(decoded, request);
    }
    // A Go node in another zone would send an offset; it reads as the same instant.
    let shifted: DowntimeRequest = decode(
        "downtime",
        br#"{"startTime":"2026-04-20T12:00:00.5+02:00","endTime":"2026-04-20T10:00:00.5Z"}"#,
    )
    .unwrap();
    assert_eq!(shifted.start_time, shifted.end_time);
}

#[test]
fn strings_are_escaped_as_go_escapes_them() {
    let mut proposal: Proposal = decode(
        "proposal",
        include_str!("../../golden/proposal.json").as_bytes(),
    )
    .unwrap();
    proposal.error_text = "status <503> & \u{2028}\u{2029} \"quoted\"\n".into();
    let encoded = String::from_utf8(encode(&proposal)).unwrap();
    assert!(
        encoded
            .contains(r#""ErrorText":"status \u003c503\u003e \u0026 \u2028\u2029 \"quoted\"\n""#),
        "{encoded}"
    );
    let decoded: Proposal = decode("proposal", encoded.as_bytes()).unwrap();
    assert_eq!(decoded, proposal);
}

#[test]
fn hand_written_override_messages_read_like_gos() {
    // The shapes operators send (the original's docs/GEO_DNS_OVERRIDES.md): empty fields
    // written out, `override` and `countryCode` left out where they do not apply.
    for (hand_written, golden) in [
        (
            r#"{"action":"set","domain":"example.com","countryCode":"CN","override":{"memberName":"member-china","ipv4":"","ipv6":""}}"#,
            include_str!("../../golden/override_set.json"),
        ),
        (
            r#"{"action":"remove","domain":"example.com","countryCode":"CN"}"#,
            include_str!("../../golden/override_remove.json"),
        ),
        (
            r#"{"action":"clear","domain":"example.com"}"#,
            include_str!("../../golden/override_clear.json"),
        ),
    ] {
        let read: OverrideUpdate = decode("override", hand_written.as_bytes()).unwrap();
        let want: OverrideUpdate = decode("override", golden.as_bytes()).unwrap();
        assert_eq!(read, want, "{hand_written}");
    }
}

#[test]
fn older_peers_may_omit_fields() {
    // libs v0.2.0 wrote FinalizeMessage without SenderNodeID.
    let old = r#"{"Proposal":{"ID":"x"},"Passed":true,"DecidedAt":"2025-09-20T00:00:00Z"}"#;
    let decoded: FinalizeMessage = decode("finalize", old.as_bytes()).unwrap();
    assert_eq!(decoded.sender_node_id, "");
    assert_eq!(decoded.proposal.timestamp, go_zero_time());
    let unknown_role: NodeInfo =
        decode("node", br#"{"NodeID":"AGENT-1","NodeRole":"IBPAgent"}"#).unwrap();
    assert_eq!(unknown_role.node_role, WireRole::Other("IBPAgent".into()));
    let encoded = String::from_utf8(encode(&unknown_role)).unwrap();
    assert!(encoded.contains("\"NodeRole\":\"IBPAgent\""), "{encoded}");
}

#[test]
fn malformed_messages_name_their_type() {
    let error = decode::<Vote>("vote", b"{\"ProposalID\": 5}").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("malformed vote message: invalid type: integer `5`, expected a string"),
        "{error}"
    );
    assert!(decode::<Proposal>("proposal", b"not json").is_err());
    assert!(
        decode::<Proposal>("proposal", b"{}").is_err(),
        "a proposal needs an ID"
    );
}
