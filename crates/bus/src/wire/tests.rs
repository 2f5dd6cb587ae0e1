//! Golden tests: JSON as the original Go system writes it decodes, and encodes back to the
//! same bytes; extra fields are tolerated; malformed input is an error naming the type.

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
golden!(usage_request, UsageRequest, "usage_request.json");
golden!(usage_response, UsageResponse, "usage_response.json");
golden!(downtime_request, DowntimeRequest, "downtime_request.json");
golden!(
    downtime_response,
    DowntimeResponse,
    "downtime_response.json"
);
golden!(override_set, OverrideUpdate, "override_set.json");
golden!(override_remove, OverrideUpdate, "override_remove.json");
golden!(override_clear, OverrideUpdate, "override_clear.json");

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
    let join: ClusterMessage = decode(
        "cluster",
        include_str!("../../golden/cluster_join.json").as_bytes(),
    )
    .unwrap();
    assert_eq!(join.sender.node_role, WireRole::Monitor);
    let response: DowntimeResponse = decode(
        "downtime",
        include_str!("../../golden/downtime_response.json").as_bytes(),
    )
    .unwrap();
    assert_eq!(
        response.events.unwrap()[0].end_time,
        go_zero_time(),
        "an open outage ends at Go's zero time"
    );
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
