//! Validation of what refers to members: country overrides and alert mentions.

use std::collections::{BTreeMap, BTreeSet};

use super::{Located, Report};
use crate::config::error::Origin;
use crate::config::file::{AlertsFile, ConfigFile};
use crate::ids::{CountryCode, Fqdn, MemberId, ServiceId};
use crate::model::{AlertRouting, CountryOverride, CountryOverrides, Member, Service};

pub(super) fn validate_overrides(
    file: &ConfigFile,
    origin: &Origin,
    members: &BTreeMap<MemberId, Member>,
    services: &BTreeMap<ServiceId, Service>,
    hostnames: &BTreeMap<Fqdn, BTreeSet<ServiceId>>,
    report: &mut Report,
) -> CountryOverrides {
    let mut overrides = CountryOverrides::new();
    for (host_text, countries) in &file.overrides {
        let path = format!("overrides{}", crate::config::key_segment(host_text, false));
        let host = match Fqdn::parse(host_text) {
            Ok(host) => host,
            Err(error) => {
                report.error(origin, path, error);
                continue;
            }
        };
        if !hostnames.contains_key(&host) {
            report.warn(format!(
                "{origin}: {path}: `{host}` is not a hostname of any active service"
            ));
        }
        for (code_text, entry) in countries {
            let path = format!("{path}.{code_text}");
            let code = match CountryCode::parse(code_text) {
                Ok(code) => code,
                Err(error) => {
                    report.error(origin, path, error);
                    continue;
                }
            };
            let value = match (&entry.member, entry.ipv4, entry.ipv6) {
                (Some(name), None, None) => {
                    let Some(member) = members.keys().find(|id| id.as_str() == name) else {
                        report.error(
                            origin,
                            format!("{path}.member"),
                            format!("unknown member `{name}`"),
                        );
                        continue;
                    };
                    let serves = member_serves(&members[member], &host, services);
                    if !serves {
                        report.warn(format!("{origin}: {path}.member: `{name}` is not assigned to a service on `{host}`; geo routing will be used"));
                    }
                    CountryOverride::Member(member.clone())
                }
                (None, None, None) => {
                    report.error(origin, path, "set `member`, or `ipv4` and/or `ipv6`");
                    continue;
                }
                (Some(_), _, _) => {
                    report.error(
                        origin,
                        path,
                        "set either `member` or addresses (`ipv4`/`ipv6`), not both",
                    );
                    continue;
                }
                (None, ipv4, ipv6) => CountryOverride::Addresses { ipv4, ipv6 },
            };
            overrides
                .entry(host.clone())
                .or_default()
                .insert(code, value);
        }
    }
    overrides
}

fn member_serves(member: &Member, host: &Fqdn, services: &BTreeMap<ServiceId, Service>) -> bool {
    member
        .services
        .iter()
        .filter_map(|id| services.get(id))
        .any(|s| s.hostnames.contains(host))
}

pub(super) fn validate_alerts(
    located: &Located<AlertsFile>,
    members: &BTreeMap<MemberId, Member>,
    report: &mut Report,
) -> AlertRouting {
    let mut routing = AlertRouting {
        room: located.item.room.clone(),
        mentions: BTreeMap::new(),
    };
    for (key, mentions) in &located.item.mentions {
        // Node file: `[alerts] mentions`; alerts.json: `matrix.members`.
        let prefix = if located.strict {
            "mentions"
        } else {
            "members"
        };
        let field = format!("{prefix}{}", crate::config::key_segment(key, false));
        let Some(member) = resolve_member_key(key, members) else {
            report.dangling(
                located,
                &field,
                format!("no member matches `{key}` (by name or slug)"),
            );
            continue;
        };
        for (index, mention) in mentions.iter().enumerate() {
            let valid = mention.starts_with('@')
                && mention.contains(':')
                && !mention.contains(char::is_whitespace);
            if !valid {
                report.error(
                    &located.origin,
                    located.at(&format!("{field}[{index}]")),
                    format!("`{mention}` is not a Matrix user id like @user:server"),
                );
            }
        }
        routing
            .mentions
            .entry(member)
            .or_default()
            .extend(mentions.iter().cloned());
    }
    routing
}

/// Finds a member by exact name, by slug, or by a unique slug prefix (`rotko` finds
/// `Rotko Networks`, whose slug is `rotkonetworks`).
fn resolve_member_key(key: &str, members: &BTreeMap<MemberId, Member>) -> Option<MemberId> {
    if let Some(member) = members.keys().find(|id| id.as_str() == key) {
        return Some(member.clone());
    }
    let wanted: String = key
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if wanted.is_empty() {
        return None;
    }
    if let Some(member) = members.values().find(|m| m.slug == wanted) {
        return Some(member.id.clone());
    }
    let mut prefixed = members.values().filter(|m| m.slug.starts_with(&wanted));
    match (prefixed.next(), prefixed.next()) {
        (Some(only), None) => Some(only.id.clone()),
        _ => None,
    }
}
