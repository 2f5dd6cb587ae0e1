//! Unit tests of the IBP importer: the original files' quirks.

use super::*;

fn origin() -> Origin {
    Origin("members.json".to_owned())
}

#[test]
fn members_tolerate_quirks() {
    let text = r#"{
      "Stake Plus": {
        "Details": {"Name": "Stake Plus", "Logo": "", "Twitter": "@x"},
        "Membership": {"MemberLevel": "6", "Joined": 1700000000},
        "Service": {"Active": "1", "ServiceIPv4": " 192.0.2.1 ", "ServiceIPv6": ""},
        "ServiceAssignments": {"A": ["Polkadot", "Kusama"], "B": ["Polkadot"]},
        "Location": {"Region": "NA", "Latitude": "35.08", "Longitude": -106.65},
        "Unknown": {"deeply": ["nested"]}
      },
      "key-only": {
        "Service": {"Active": false, "ServiceIPv4": null},
        "ServiceAssignments": null,
        "Location": {"Latitude": 0, "Longitude": 0},
        "override": 1
      }
    }"#;
    let members = parse_members(text, &origin()).unwrap();
    let stake = &members
        .iter()
        .find(|m| m.item.name.as_str() == "Stake Plus")
        .unwrap()
        .item;
    assert_eq!(stake.level, 6);
    assert!(stake.active);
    assert_eq!(stake.ipv4, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(stake.ipv6, None);
    assert_eq!(stake.latitude, 35.08);
    assert_eq!(stake.services, ["Kusama", "Polkadot"]);
    assert_eq!(stake.logo, None);
    assert_eq!(
        stake.joined.map(|d| d.to_string()).as_deref(),
        Some("2023-11-14")
    );
    let keyed = &members
        .iter()
        .find(|m| m.item.name.as_str() == "key-only")
        .unwrap();
    assert!(!keyed.item.active);
    assert_eq!(keyed.item.joined, None, "no Joined: no date");
    assert!(
        keyed.item.maintenance,
        "lower-case `override` is read, as Go's decoder does"
    );
    assert!(!keyed.strict, "imported items are not strict");
    assert_eq!(keyed.path, "key-only");
}

#[test]
fn services_collect_every_provider_url_once() {
    let text = r#"{"Polkadot": {"Configuration": {"ServiceType": "RPC", "Active": 1, "LevelRequired": "3", "NetworkName": "Polkadot", "StateRootHash": "",
            "WebsiteURL": "https://polkadot.network", "LogoURL": "", "Description": "Relay chain"},
        "Providers": {"A": {"RpcUrls": ["wss://a.example", "wss://b.example/x"]}, "B": {"RpcUrls": ["wss://a.example"]}}}}"#;
    let services = parse_services(text, &Origin("services.json".into())).unwrap();
    let service = &services[0].item;
    assert_eq!(
        service.name, "Polkadot",
        "the map key names a service without Configuration.Name"
    );
    assert_eq!(service.endpoints, ["wss://a.example", "wss://b.example/x"]);
    assert_eq!(service.level_required, 3);
    assert_eq!(service.state_root, None);
    // Who runs what, and the descriptive fields, are kept for the API.
    assert_eq!(
        service.providers["A"],
        ["wss://a.example", "wss://b.example/x"]
    );
    assert_eq!(service.providers["B"], ["wss://a.example"]);
    assert_eq!(service.website.as_deref(), Some("https://polkadot.network"));
    assert_eq!(service.logo, None);
    assert_eq!(service.description.as_deref(), Some("Relay chain"));
}

#[test]
fn unknown_service_type_is_named() {
    let text = r#"{"X": {"Configuration": {"ServiceType": "GRPC"}}}"#;
    let error = parse_services(text, &Origin("services.json".into()))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "services.json: X.Configuration.ServiceType: unknown service type `GRPC` (expected RPC, ETHRPC or HTTP)"
    );
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let error = parse_members("{\n  \"A\": {,}\n}", &origin())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("members.json:2:9: syntax error: "),
        "{error}"
    );
    let trailing = parse_static_records("[] x", &Origin("static.json".into()))
        .unwrap_err()
        .to_string();
    assert!(
        trailing.starts_with("static.json:1:4: syntax error: trailing characters"),
        "{trailing}"
    );
}

#[test]
fn alerts_keep_only_matrix_room_and_members() {
    let text = r##"{"matrix": {"room": "#alerts:m.org", "internal_room": "!x:m.org", "members": {"amforc": ["@t:m.org"]}}, "telegram": {"a": 1}}"##;
    let alerts = parse_alerts(text, &Origin("alerts.json".into())).unwrap();
    assert_eq!(alerts.room.as_deref(), Some("#alerts:m.org"));
    assert_eq!(alerts.mentions["amforc"], ["@t:m.org"]);
}
