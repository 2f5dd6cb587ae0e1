//! Consensus messages through the wire format: golden files still read, signatures
//! survive the round trip and still verify, invalid content is named.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use geodns_consensus::auth::{AuthMode, NodeKey, Trust, TrustedNode};

use super::*;

fn trust_for(name: &str, key: &NodeKey) -> Trust {
    let node = TrustedNode {
        key: Some(key.public()),
        monitor: true,
    };
    Trust::new(
        AuthMode::Strict,
        BTreeMap::from([(NodeId::parse(name).unwrap(), node)]),
    )
}

#[test]
fn original_messages_read_as_unsigned_typed_messages() {
    let proposal = decode_proposal(include_bytes!("../../golden/proposal.json")).unwrap();
    assert!(proposal.signature.is_none());
    assert_eq!(proposal.message.key.kind, CheckKind::Endpoint);
    assert_eq!(proposal.message.key.member.as_str(), "Amforc");
    // Unsigned typed messages write exactly the original's bytes.
    let golden = include_str!("../../golden/proposal.json").trim_end();
    assert_eq!(
        String::from_utf8(encode_proposal(&proposal)).unwrap(),
        golden
    );
    let vote = decode_vote(include_bytes!("../../golden/vote.json")).unwrap();
    let golden = include_str!("../../golden/vote.json").trim_end();
    assert_eq!(String::from_utf8(encode_vote(&vote)).unwrap(), golden);
    let finalize = decode_finalize(include_bytes!("../../golden/finalize.json")).unwrap();
    assert!(finalize.message.passed);
}

#[test]
fn signatures_survive_the_wire_and_verify() {
    let key = NodeKey::from_seed([9; 32]);
    let mut proposal = decode_proposal(include_bytes!("../../golden/proposal.json"))
        .unwrap()
        .message;
    proposal.data =
        Some(serde_json::from_str(r#"{"z":1.5,"a":[true,null],"m":{"k":"v"}}"#).unwrap());
    let sender = proposal.sender.to_string();
    let signed = key.sign(proposal);
    let payload = encode_proposal(&signed);
    assert!(String::from_utf8_lossy(&payload).contains("\"Signature\":\""));
    let received = decode_proposal(&payload).unwrap();
    assert_eq!(received, signed);
    let trust = trust_for(&sender, &key);
    assert!(trust.check(&received).is_ok());

    let finalize = key.sign(typed::Finalize {
        proposal: received.message.clone(),
        sender: received.message.sender.clone(),
        passed: true,
        decided_at: received.message.timestamp,
        votes: Vec::new(),
    });
    let received = decode_finalize(&encode_finalize(&finalize)).unwrap();
    assert!(trust.check(&received).is_ok());

    // The quorum certificate travels in a `Votes` field, each vote with its signature.
    let mut certified = finalize.message.clone();
    let vote = typed::Vote {
        proposal: certified.proposal.id.clone(),
        voter: certified.sender.clone(),
        agree: true,
        timestamp: certified.decided_at,
    };
    certified.votes = vec![key.sign(vote)];
    let certified = key.sign(certified);
    let payload = encode_finalize(&certified);
    assert!(String::from_utf8_lossy(&payload).contains("\"Votes\":[{\"ProposalID\""));
    let received = decode_finalize(&payload).unwrap();
    assert_eq!(received, certified);
    assert!(trust.check_finalize(&received, 1).is_ok());
    assert!(
        trust.check_finalize(&received, 2).is_err(),
        "one voter is not two"
    );

    // One changed byte in the payload and it no longer verifies.
    let tampered = String::from_utf8(encode_finalize(&finalize))
        .unwrap()
        .replace("\"Passed\":true", "\"Passed\":false");
    assert!(
        trust
            .check(&decode_finalize(tampered.as_bytes()).unwrap())
            .is_err()
    );
}

/// A check's data holds measured floats (latencies in seconds, with every digit): each
/// must parse back to the very value the sender signed, or the signature over the
/// re-encoded data fails. Seen in a fleet test as honest proposals refused as "bad
/// signature" until serde_json's `float_roundtrip` was on.
#[test]
fn proposals_with_measured_floats_verify_after_the_wire() {
    let key = NodeKey::from_seed([7; 32]);
    let template = decode_proposal(include_bytes!("../../golden/proposal.json"))
        .unwrap()
        .message;
    let trust = trust_for(template.sender.as_str(), &key);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut refused = Vec::new();
    for _ in 0..20_000 {
        // A deterministic spread of values from 1e-6 to 100 with all 17 digits.
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let value = (state >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((state % 9) as i32 - 6);
        let mut proposal = template.clone();
        proposal.data = Some(
            serde_json::from_value(serde_json::json!({"ResponseTime": value, "Method": "tcp"}))
                .unwrap(),
        );
        let received = decode_proposal(&encode_proposal(&key.sign(proposal))).unwrap();
        if trust.check(&received).is_err() {
            refused.push(value);
        }
    }
    assert!(
        refused.is_empty(),
        "{} refused, e.g. {:?}",
        refused.len(),
        &refused[..refused.len().min(5)]
    );
}

#[test]
fn invalid_content_is_named() {
    type Reader = fn(&[u8]) -> String;
    let cases: [(&str, Reader, &str); 5] = [
        (
            r#"{"ProposalID":"p","SenderNodeID":"M1","NodeID":"M2","Agree":true}"#,
            |p| decode_vote(p).unwrap_err().to_string(),
            "malformed vote message: vote sender \"M1\" differs from voter \"M2\"",
        ),
        (
            r#"{"ID":"p","SenderNodeID":"M1","CheckType":"planet","CheckName":"x","MemberName":"A"}"#,
            |p| decode_proposal(p).unwrap_err().to_string(),
            "malformed proposal message: CheckType: \"planet\" is not site, domain or endpoint",
        ),
        (
            r#"{"ID":"","SenderNodeID":"M1","CheckType":"site","CheckName":"x","MemberName":"A"}"#,
            |p| decode_proposal(p).unwrap_err().to_string(),
            "malformed proposal message: proposal id \"\": must be 1 to 64 printable ASCII characters",
        ),
        (
            r#"{"ProposalID":"p","NodeID":"M1","Agree":true,"Signature":"AAAA"}"#,
            |p| decode_vote(p).unwrap_err().to_string(),
            "malformed vote message: signature: 3 bytes, expected 64",
        ),
        (
            r#"{"ID":"p","SenderNodeID":"M1","CheckType":"domain","CheckName":"ssl","MemberName":"A"}"#,
            |p| decode_proposal(p).unwrap_err().to_string(),
            "malformed proposal message: check: domain: must not be empty",
        ),
    ];
    for (payload, read, want) in cases {
        assert_eq!(read(payload.as_bytes()), want, "{payload}");
    }
}

#[test]
fn a_batch_carries_signed_messages_that_still_verify_and_is_read_whole_or_not_at_all() {
    let key = NodeKey::from_seed([7; 32]);
    let original = decode_proposal(include_bytes!("../../golden/proposal.json")).unwrap();
    let sender = original.message.sender.to_string();
    let proposal = key.sign(original.message.clone());
    let vote = key.sign(typed::Vote {
        proposal: proposal.message.id.clone(),
        voter: proposal.message.sender.clone(),
        agree: true,
        timestamp: proposal.message.timestamp,
    });
    let finalize = key.sign(typed::Finalize {
        proposal: proposal.message.clone(),
        sender: proposal.message.sender.clone(),
        passed: true,
        decided_at: proposal.message.timestamp,
        votes: vec![vote.clone()],
    });
    let mut writer = BatchWriter::default();
    writer.vote(&encode_vote(&vote));
    writer.proposal(&encode_proposal(&proposal));
    writer.finalize(&encode_finalize(&finalize));
    writer.proposal(&encode_proposal(&original));
    assert_eq!(writer.count(), 4);
    let payload = writer.take();
    assert_eq!(writer.count(), 0);
    let batch = decode_batch(&payload).unwrap();
    assert_eq!(batch.len(), 4);
    assert_eq!(batch.proposals, [proposal, original]);
    assert_eq!(batch.votes, [vote]);
    assert_eq!(batch.finalizes, [finalize]);
    let trust = trust_for(&sender, &key);
    assert!(trust.check(&batch.proposals[0]).is_ok());
    assert!(trust.check(&batch.votes[0]).is_ok());
    assert!(trust.check_finalize(&batch.finalizes[0], 1).is_ok());
    // An emptied writer writes an empty batch; an empty object is one.
    assert!(decode_batch(&writer.take()).unwrap().is_empty());
    assert!(decode_batch(b"{}").unwrap().is_empty());

    // One bad element refuses the batch and is named.
    let good = String::from_utf8(encode_vote(&batch.votes[0])).unwrap();
    let bad = good.replace(&format!("\"NodeID\":\"{sender}\""), "\"NodeID\":\"x y\"");
    let text = format!("{{\"votes\":[{good},{bad}]}}");
    let error = decode_batch(text.as_bytes()).unwrap_err().to_string();
    assert!(error.contains("votes[1]"), "{error}");
    for junk in ["{\"votes\":{}}", "{\"proposals\":[1]}", "nope"] {
        assert!(decode_batch(junk.as_bytes()).is_err(), "{junk}");
    }
}
