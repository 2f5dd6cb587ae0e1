//! Validation of `[bus]`: server URLs (no credentials in them), credentials given once,
//! and the reply-subject prefix.

use url::Url;

use super::Report;
use crate::config::BusMode;
use crate::config::error::Origin;
use crate::config::file::ConfigFile;

pub(super) fn validate_bus(file: &ConfigFile, origin: &Origin, report: &mut Report) {
    let bus = &file.bus;
    if bus.mode == BusMode::Nats && bus.urls.is_empty() {
        report.error(
            origin,
            "bus.urls",
            "mode = \"nats\" needs at least one server URL",
        );
    }
    for (index, url) in bus.urls.iter().enumerate() {
        let ok = ["nats://", "tls://", "ws://", "wss://"]
            .iter()
            .any(|s| url.expose().starts_with(s));
        if !ok {
            report.error(
                origin,
                format!("bus.urls[{index}]"),
                format!("`{url}` is not a nats://, tls://, ws:// or wss:// URL"),
            );
        }
        // The NATS client (async-nats) parses `user:password@` in a URL but never sends it,
        // so such a node would be refused with credentials that look right.
        if Url::parse(url.expose())
            .is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
        {
            report.error(
                origin,
                format!("bus.urls[{index}]"),
                format!(
                    "`{url}`: credentials in a NATS URL are not used; set `user` and `password` (or `credentials_file`, `token`)"
                ),
            );
        }
    }
    if bus.user.is_some() != bus.password.is_some() {
        report.error(
            origin,
            "bus",
            "`user` and `password` go together (or use `credentials_file`)",
        );
    }
    if bus.nkey_seed.is_some() && bus.nkey_seed_file.is_some() {
        report.error(
            origin,
            "bus",
            "set either `nkey_seed` or `nkey_seed_file`, not both",
        );
    }
    if bus.password.is_some() && bus.credentials_file.is_some() {
        report.error(
            origin,
            "bus",
            "set either `password` or `credentials_file`, not both",
        );
    }
    if let Some(prefix) = &bus.inbox_prefix
        && !is_subject_prefix(prefix)
    {
        report.error(
            origin,
            "bus.inbox_prefix",
            format!("`{prefix}` is not a subject prefix: dot-separated tokens of letters, digits, `_` and `-`, no wildcards"),
        );
    }
}

/// A NATS subject without wildcards: non-empty dot-separated tokens of ASCII letters,
/// digits, `_` and `-`.
fn is_subject_prefix(text: &str) -> bool {
    text.split('.').all(|token| {
        !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}
