//! `geodns check-config`: accepts the original system's JSON files with their quirks,
//! prints the summary, and rejects broken input with a message naming file, field and
//! (for TOML) line and column.

use serde_json::json;

use crate::support::{fixture, geodns, stderr, stdout, write};

const SOURCES: &str = r#"
[node]
id = "geodns-test-1"

[sources]
members = "members_professional.json"
services = "services_rpc.json"
static_records = "geodns-static.json"
alerts = "alerts.json"

[[checks]]
name = "wss"
type = "substrate_rpc"
interval = "5m"
min_peers = 5

[[checks]]
name = "ping"
type = "ping"
count = 15
"#;

fn ibp_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "members_professional.json",
        "services_rpc.json",
        "geodns-static.json",
        "alerts.json",
    ] {
        write(dir.path(), name, &fixture(name));
    }
    dir
}

#[test]
fn accepts_ibp_json_sources_and_prints_summary() {
    let dir = ibp_tree();
    let config = write(dir.path(), "geodns.toml", SOURCES);
    let output = geodns(
        &["check-config", "-c", config.to_str().unwrap(), "--json"],
        &[],
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(
        summary,
        json!({
            // Amforc, Stake Plus (string-typed numbers), Rotko Networks (inactive), Dwellir
            // (Override = maintenance).
            "members": 4, "active_members": 2,
            // Hydration is inactive.
            "services": 5, "active_services": 4,
            // Seven distinct hosts across the active services' URLs.
            "hostnames": 7,
            // dotters.network (static NS) plus the two ibp.network hosts outside it.
            "zones": 3,
            "static_records": 7,
            "checks": 2
        })
    );
    let warnings = stderr(&output);
    assert!(
        warnings.contains("unknown service `Retired-Chain` (ignored)"),
        "{warnings}"
    );
    assert!(warnings.contains("no member matches `gone`"), "{warnings}");
    assert!(
        !warnings.contains("`rotko`"),
        "slug prefix `rotko` should match Rotko Networks: {warnings}"
    );
}

#[test]
fn text_summary_names_each_count() {
    let dir = ibp_tree();
    let config = write(dir.path(), "geodns.toml", SOURCES);
    let output = geodns(&["check-config", "-c", config.to_str().unwrap()], &[]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    for line in [
        "node:            geodns-test-1 (monitor, dns, collator, api)",
        "members:         4",
        "active members:  2",
        "active services: 4",
        "hostnames:       7",
        "static records:  7",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

/// A config body, the files beside it, and the text the error must contain. `{dir}` in
/// the expected text stands for the temporary directory.
struct Broken {
    what: &'static str,
    config: &'static str,
    files: &'static [(&'static str, &'static str)],
    env: &'static [(&'static str, &'static str)],
    expect: &'static str,
}

fn broken_cases() -> Vec<Broken> {
    vec![
        Broken {
            what: "TOML syntax",
            config: "[node\nid = \"x\"\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml:1:6: syntax error: ",
        },
        Broken {
            what: "wrong type",
            config: "[node]\nid = \"x\"\n[[members]]\nname = \"Amforc\"\nlatitude = \"north\"\nlongitude = 8.1\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml:5:12: members[0].latitude: invalid type: string \"north\", expected f64",
        },
        Broken {
            what: "missing field",
            config: "[node]\nid = \"x\"\n[[members]]\nname = \"Amforc\"\nlongitude = 8.1\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml:3:1: members[0]: missing field `latitude`",
        },
        Broken {
            what: "unknown field in our TOML",
            config: "[node]\nid = \"x\"\nidd = \"y\"\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml:3:1: node.idd: unknown field `idd`, expected one of `id`, `roles`, `data_dir`",
        },
        Broken {
            what: "duplicate member",
            config: "[node]\nid = \"x\"\n[[members]]\nname = \"Amforc\"\nlatitude = 1.0\nlongitude = 1.0\n[[members]]\nname = \"amforc\"\nlatitude = 2.0\nlongitude = 2.0\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml: members[1].name: duplicate member `amforc` (already defined as `Amforc`)",
        },
        Broken {
            what: "invalid IP",
            config: "[node]\nid = \"x\"\n[[members]]\nname = \"Amforc\"\nipv4 = \"300.1.1.1\"\nlatitude = 1.0\nlongitude = 1.0\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml:5:8: members[0].ipv4: invalid IPv4 address syntax",
        },
        Broken {
            what: "invalid coordinates",
            config: "[node]\nid = \"x\"\n[[members]]\nname = \"Amforc\"\nlatitude = 95.0\nlongitude = 8.0\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml: members[0].latitude: invalid coordinates (95, 8): latitude must be between -90 and 90",
        },
        Broken {
            what: "member names an unknown service",
            config: "[node]\nid = \"x\"\n[[services]]\nname = \"Polkadot\"\ntype = \"substrate_rpc\"\nendpoints = [\"wss://polkadot.dotters.network\"]\n[[members]]\nname = \"Amforc\"\nlatitude = 1.0\nlongitude = 1.0\nservices = [\"Polkadott\"]\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml: members[0].services[0]: unknown service `Polkadott`",
        },
        Broken {
            what: "override names an unknown member",
            config: "[node]\nid = \"x\"\n[overrides.\"polkadot.dotters.network\".CN]\nmember = \"Nobody\"\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml: overrides[\"polkadot.dotters.network\"].CN.member: unknown member `Nobody`",
        },
        Broken {
            what: "unreachable source file",
            config: "[node]\nid = \"x\"\n[sources]\nmembers = \"missing.json\"\n",
            files: &[],
            env: &[],
            expect: "{dir}/missing.json: cannot read: No such file or directory",
        },
        Broken {
            what: "unreachable source URL",
            config: "[node]\nid = \"x\"\n[sources]\nmembers = \"http://127.0.0.1:9/members.json\"\nfetch_timeout = \"5s\"\n",
            files: &[],
            env: &[],
            expect: "http://127.0.0.1:9/members.json: cannot fetch: ",
        },
        Broken {
            what: "wrong type in an IBP JSON file",
            config: "[node]\nid = \"x\"\n[sources]\nmembers = \"members.json\"\n",
            files: &[(
                "members.json",
                "{\n  \"Amforc\": {\n    \"Location\": {\"Latitude\": {\"deg\": 47}}\n  }\n}\n",
            )],
            env: &[],
            expect: "{dir}/members.json:3:30: Amforc.Location.Latitude: invalid type: map, expected a number, a numeric string, a boolean or null",
        },
        Broken {
            what: "invalid IP in an IBP JSON file",
            config: "[node]\nid = \"x\"\n[sources]\nmembers = \"members.json\"\n",
            files: &[(
                "members.json",
                "{\"Amforc\": {\"Service\": {\"ServiceIPv4\": \"91.90.166\"}, \"Location\": {\"Latitude\": 1, \"Longitude\": 2}}}",
            )],
            env: &[],
            expect: "{dir}/members.json: Amforc.Service.ServiceIPv4: invalid IP address `91.90.166`",
        },
        Broken {
            what: "bad static record content",
            config: "[node]\nid = \"x\"\n[sources]\nstatic_records = \"static.json\"\n",
            files: &[(
                "static.json",
                "[{\"qname\":\"dotters.network\",\"qtype\":\"A\",\"content\":\"dns-01\",\"ttl\":3600}]",
            )],
            env: &[],
            expect: "{dir}/static.json: [0].content: `dns-01` is not a valid A record (expected an IPv4 address)",
        },
        Broken {
            what: "unknown role from the environment",
            config: "[node]\nid = \"x\"\n",
            files: &[],
            env: &[("GEODNS_NODE__ROLES", "monitor,dnss")],
            expect: "{dir}/geodns.toml with overrides GEODNS_NODE__ROLES: node.roles[1]: unknown variant `dnss`, expected one of `monitor`, `dns`, `collator`, `api`",
        },
        Broken {
            what: "check option of another probe type",
            config: "[node]\nid = \"x\"\n[[checks]]\nname = \"ping\"\ntype = \"ping\"\nmin_peers = 3\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml: checks[0].min_peers: not an option of a `ping` check (its options: count, ping_interval, per_ping_timeout, ttl, size, max_packet_loss, max_latency, fallback_port)",
        },
        Broken {
            what: "nats mode without servers",
            config: "[node]\nid = \"x\"\n[bus]\nmode = \"nats\"\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml: bus.urls: mode = \"nats\" needs at least one server URL",
        },
        Broken {
            what: "invalid duration",
            config: "[node]\nid = \"x\"\n[sources]\nreload_interval = \"10 minutes\"\n",
            files: &[],
            env: &[],
            expect: "{dir}/geodns.toml:4:19: sources.reload_interval: invalid duration `10 minutes`: unknown unit ` minutes` (use ms, s, m, h or d)",
        },
    ]
}

#[test]
fn rejects_broken_input_with_a_precise_message() {
    let cases = broken_cases();
    assert!(cases.len() >= 10);
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let dir_text = dir.path().display().to_string();
        let config = write(dir.path(), "geodns.toml", case.config);
        for (name, text) in case.files {
            write(dir.path(), name, text);
        }
        let output = geodns(&["check-config", "-c", config.to_str().unwrap()], case.env);
        let message = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}: exit code; stderr: {message}",
            case.what
        );
        let expect = case.expect.replace("{dir}", &dir_text);
        assert!(
            message.contains(&expect),
            "{}:\nexpected: {expect}\n     got: {message}",
            case.what
        );
        assert!(
            message.contains("configuration rejected"),
            "{}: {message}",
            case.what
        );
        assert!(
            stdout(&output).is_empty(),
            "{}: nothing on stdout",
            case.what
        );
    }
}

#[test]
fn validation_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "geodns.toml",
        "[node]\nid = \"x\"\n[[members]]\nname = \"A\"\nlatitude = 91.0\nlongitude = 0.0\n[[members]]\nname = \"B\"\nlatitude = 0.0\nlongitude = 0.0\nservices = [\"Nope\"]\n",
    );
    let output = geodns(&["check-config", "-c", config.to_str().unwrap()], &[]);
    let message = stderr(&output);
    assert!(
        message.contains("members[0].latitude: invalid coordinates"),
        "{message}"
    );
    assert!(
        message.contains("members[1].services[0]: unknown service `Nope`"),
        "{message}"
    );
}

#[test]
fn environment_and_flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "geodns.toml", "[node]\nid = \"from-file\"\n");
    let output = geodns(
        &["check-config", "-c", config.to_str().unwrap()],
        &[
            ("GEODNS_NODE__ID", "from-env"),
            ("GEODNS_NODE__ROLES", "dns"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("node:            from-env (dns)"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn the_shipped_example_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/geodns.toml");
    let output = geodns(&["check-config", "-c", example, "--json"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(summary["members"], 2);
    assert_eq!(summary["hostnames"], 2);
    assert_eq!(summary["zones"], 1);
    assert_eq!(summary["checks"], 3);
}

/// The one-machine example (made by `import-ibp`) passes `check-config` without a warning.
#[test]
fn the_one_machine_example_is_valid() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/one-machine.toml"
    );
    let output = geodns(&["check-config", "-c", example], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
    assert!(stdout(&output).contains("(monitor, dns, collator, api)"));
}

/// The fleet examples pass `check-config` without a warning: every node is listed with
/// its key and roles, the DNS nodes list the monitors (the README's fleet steps).
#[test]
fn the_fleet_examples_are_valid_and_trust_each_other() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fleet");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 7, "{files:?}");
    for file in files {
        let output = geodns(
            &["check-config", "-c", file.to_str().unwrap()],
            &[("GEODNS_BUS__PASSWORD", "secret")],
        );
        assert!(
            output.status.success(),
            "{}: {}",
            file.display(),
            stderr(&output)
        );
        assert!(
            stderr(&output).is_empty(),
            "{}: {}",
            file.display(),
            stderr(&output)
        );
    }
}
