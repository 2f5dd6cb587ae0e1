//! Validation of `[[checks]]`: kind compatibility, options that belong to the probe type,
//! defaults from the original system's checks.

use std::collections::BTreeSet;
use std::time::Duration;

use super::Report;
use crate::config::error::Origin;
use crate::config::file::{CheckFile, ProbeType};
use crate::model::{
    Check, CheckKind, EthRpcOptions, HttpOptions, PingOptions, Probe, SubstrateRpcOptions,
    TcpOptions, TlsOptions,
};

/// Which kinds each probe type may have; the first is the default.
fn kinds(probe: ProbeType) -> &'static [CheckKind] {
    match probe {
        ProbeType::Ping => &[CheckKind::Site],
        ProbeType::Tls => &[CheckKind::Domain, CheckKind::Endpoint],
        ProbeType::SubstrateRpc | ProbeType::EthRpc | ProbeType::Http => &[CheckKind::Endpoint],
        ProbeType::Tcp => &[CheckKind::Site, CheckKind::Domain, CheckKind::Endpoint],
    }
}

/// Options each probe type accepts.
fn options(probe: ProbeType) -> &'static [&'static str] {
    match probe {
        ProbeType::Ping => &[
            "count",
            "ping_interval",
            "per_ping_timeout",
            "ttl",
            "size",
            "max_packet_loss",
            "max_latency",
            "fallback_port",
        ],
        ProbeType::Tls => &["connect_timeout", "min_validity"],
        ProbeType::SubstrateRpc => &[
            "connect_timeout",
            "read_timeout",
            "min_peers",
            "max_block_lag",
        ],
        ProbeType::EthRpc => &["connect_timeout"],
        ProbeType::Http => &[
            "connect_timeout",
            "path",
            "expect_status",
            "body_contains",
            "json_pointer",
            "json_expect",
        ],
        ProbeType::Tcp => &["connect_timeout", "port"],
    }
}

fn type_name(probe: ProbeType) -> &'static str {
    match probe {
        ProbeType::Ping => "ping",
        ProbeType::Tls => "tls",
        ProbeType::SubstrateRpc => "substrate_rpc",
        ProbeType::EthRpc => "eth_rpc",
        ProbeType::Http => "http",
        ProbeType::Tcp => "tcp",
    }
}

/// The options set in a check, by name.
fn set_options(file: &CheckFile) -> Vec<&'static str> {
    let present = [
        ("count", file.count.is_some()),
        ("ping_interval", file.ping_interval.is_some()),
        ("per_ping_timeout", file.per_ping_timeout.is_some()),
        ("ttl", file.ttl.is_some()),
        ("size", file.size.is_some()),
        ("max_packet_loss", file.max_packet_loss.is_some()),
        ("max_latency", file.max_latency.is_some()),
        ("connect_timeout", file.connect_timeout.is_some()),
        ("read_timeout", file.read_timeout.is_some()),
        ("min_peers", file.min_peers.is_some()),
        ("min_validity", file.min_validity.is_some()),
        ("path", file.path.is_some()),
        ("expect_status", file.expect_status.is_some()),
        ("port", file.port.is_some()),
        ("fallback_port", file.fallback_port.is_some()),
        ("max_block_lag", file.max_block_lag.is_some()),
        ("body_contains", file.body_contains.is_some()),
        ("json_pointer", file.json_pointer.is_some()),
        ("json_expect", file.json_expect.is_some()),
    ];
    present
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect()
}

pub(super) fn validate_checks(
    files: &[CheckFile],
    origin: &Origin,
    report: &mut Report,
) -> Vec<Check> {
    let mut names = BTreeSet::new();
    let mut checks = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let path = format!("checks[{index}]");
        let before = report.errors.len();
        if file.name.trim().is_empty() || file.name.chars().any(char::is_whitespace) {
            report.error(
                origin,
                format!("{path}.name"),
                "must be a non-empty word (e.g. `wss`)",
            );
        } else if !names.insert(file.name.clone()) {
            report.error(
                origin,
                format!("{path}.name"),
                format!("duplicate check `{}`", file.name),
            );
        }
        let allowed_kinds = kinds(file.probe);
        let kind = file.kind.unwrap_or(allowed_kinds[0]);
        if !allowed_kinds.contains(&kind) {
            let list: Vec<&str> = allowed_kinds.iter().map(|k| k.as_str()).collect();
            report.error(
                origin,
                format!("{path}.kind"),
                format!(
                    "a `{}` check cannot be a `{kind}` check (allowed: {})",
                    type_name(file.probe),
                    list.join(", ")
                ),
            );
        }
        for option in set_options(file) {
            if !options(file.probe).contains(&option) {
                report.error(
                    origin,
                    format!("{path}.{option}"),
                    format!(
                        "not an option of a `{}` check (its options: {})",
                        type_name(file.probe),
                        options(file.probe).join(", ")
                    ),
                );
            }
        }
        super::durations::validate_check_durations(file, index, origin, report);
        if let Some(pointer) = &file.json_pointer
            && !(pointer.is_empty() || pointer.starts_with('/'))
        {
            report.error(
                origin,
                format!("{path}.json_pointer"),
                "must be a JSON pointer: empty or starting with `/` (e.g. `/status`)",
            );
        }
        if file.json_expect.is_some() && file.json_pointer.is_none() {
            report.error(
                origin,
                format!("{path}.json_expect"),
                "needs `json_pointer` (where in the body to look)",
            );
        }
        if let Some(loss) = file.max_packet_loss
            && !(0.0..=100.0).contains(&loss)
        {
            report.error(
                origin,
                format!("{path}.max_packet_loss"),
                "must be a percentage 0..=100",
            );
        }
        if report.errors.len() == before {
            checks.push(Check {
                name: file.name.clone(),
                kind,
                enabled: file.enabled,
                interval: file.interval,
                timeout: file.timeout,
                probe: probe(file),
            });
        }
    }
    checks
}

fn probe(file: &CheckFile) -> Probe {
    let connect = |default: u64| file.connect_timeout.unwrap_or(Duration::from_secs(default));
    match file.probe {
        ProbeType::Ping => Probe::Ping(PingOptions {
            count: file.count.unwrap_or(3),
            interval: file.ping_interval.unwrap_or(Duration::from_millis(100)),
            per_ping_timeout: file.per_ping_timeout.unwrap_or(Duration::from_millis(1000)),
            ttl: file.ttl.unwrap_or(64),
            size: file.size.unwrap_or(32),
            max_packet_loss: file.max_packet_loss.unwrap_or(5.0),
            max_latency: file.max_latency.unwrap_or(Duration::from_millis(800)),
            fallback_port: file.fallback_port.unwrap_or(443),
        }),
        ProbeType::Tls => Probe::Tls(TlsOptions {
            connect_timeout: connect(5),
            min_validity: file.min_validity.unwrap_or(Duration::from_secs(5 * 86_400)),
        }),
        ProbeType::SubstrateRpc => Probe::SubstrateRpc(SubstrateRpcOptions {
            connect_timeout: connect(10),
            read_timeout: file.read_timeout.unwrap_or(Duration::from_secs(15)),
            min_peers: file.min_peers.unwrap_or(5),
            max_block_lag: file.max_block_lag.unwrap_or(10),
        }),
        ProbeType::EthRpc => Probe::EthRpc(EthRpcOptions {
            connect_timeout: connect(10),
        }),
        ProbeType::Http => Probe::Http(HttpOptions {
            connect_timeout: connect(10),
            path: file.path.clone().unwrap_or_else(|| "/".to_owned()),
            expect_status: file.expect_status.unwrap_or(200),
            body_contains: file.body_contains.clone(),
            json_pointer: file
                .json_pointer
                .clone()
                .map(|pointer| (pointer, file.json_expect.clone())),
        }),
        ProbeType::Tcp => Probe::Tcp(TcpOptions {
            connect_timeout: connect(5),
            port: file.port,
        }),
    }
}
