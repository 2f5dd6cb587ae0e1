//! `geodns import-ibp`: the original system's files, by path or URL, become a TOML file
//! that `check-config` accepts with the same contents.

use crate::support::{Documents, fixture, fixtures, geodns, serve, stderr, stdout, write};

fn path(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

#[test]
fn import_from_files_round_trips_through_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let output_path = dir.path().join("imported.toml");
    let output = geodns(
        &[
            "import-ibp",
            "--members",
            &path("members_professional.json"),
            "--services",
            &path("services_rpc.json"),
            "--static",
            &path("geodns-static.json"),
            "--alerts",
            &path("alerts.json"),
            "--node-id",
            "dns-eu-1",
            "-o",
            output_path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(&output_path).unwrap();
    assert!(text.contains("name = \"Stake Plus\""), "{text}");
    assert!(text.contains("id = \"dns-eu-1\""), "{text}");
    // Dangling references are dropped with a warning, so the result validates strictly.
    assert!(!text.contains("Retired-Chain"), "{text}");
    assert!(stderr(&output).contains("unknown service `Retired-Chain` (ignored)"));

    let check = geodns(
        &[
            "check-config",
            "-c",
            output_path.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert!(check.status.success(), "{}", stderr(&check));
    let summary: serde_json::Value = serde_json::from_str(stdout(&check).trim()).unwrap();
    assert_eq!(summary["members"], 4);
    assert_eq!(summary["active_members"], 2);
    assert_eq!(summary["services"], 5);
    assert_eq!(summary["active_services"], 4);
    assert_eq!(summary["hostnames"], 7);
    assert_eq!(summary["zones"], 3);
    assert_eq!(summary["static_records"], 7);
    assert_eq!(summary["checks"], 4);
    // Mentions keyed by slug in alerts.json are resolved to member names.
    assert!(
        text.contains("\"Rotko Networks\" = [\"@hitchhooker:matrix.org\"]"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn import_from_urls_writes_to_stdout() {
    let documents = Documents::default();
    for name in ["members_professional.json", "services_rpc.json"] {
        documents.set(name, &fixture(name));
    }
    let address = serve(documents).await;
    let members = format!("http://{address}/members_professional.json");
    let services = format!("http://{address}/services_rpc.json");
    let output = tokio::task::spawn_blocking(move || {
        geodns(
            &["import-ibp", "--members", &members, "--services", &services],
            &[],
        )
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("# geodns node configuration, imported"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "geodns.toml", &text);
    let check = geodns(&["check-config", "-c", config.to_str().unwrap()], &[]);
    assert!(check.status.success(), "{}", stderr(&check));
}

#[test]
fn import_reports_an_unreachable_source() {
    let output = geodns(
        &[
            "import-ibp",
            "--members",
            "/nonexistent/members.json",
            "--services",
            &path("services_rpc.json"),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("/nonexistent/members.json: cannot read: No such file or directory"),
        "{message}"
    );
}
