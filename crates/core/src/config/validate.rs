//! Validation: turns the parsed file and the imported sources into a [`Config`], checking
//! every rule and cross-reference, and reporting every problem found (not just the first).
//!
//! Items from the node file are *strict*: a broken rule is an error. Items imported from
//! the original system's JSON sources are checked by the same rules, but a dangling
//! reference there (a member assigned to a service the services file lacks, an alert
//! mention for an unknown slug) is a warning and the reference is dropped, because the
//! original tolerated it and live files contain such entries.

use std::collections::{BTreeMap, BTreeSet};

use url::Url;

use super::error::{ConfigError, ConfigErrors, Origin};
use super::file::{AlertsFile, ConfigFile, MemberFile, RecordFile, ServiceFile};
use super::{Catalog, Config, NodeSettings};
use crate::geo::GeoPoint;
use crate::ids::{Fqdn, MemberId, ServiceId};
use crate::model::{Member, Service};

mod bus;
mod checks;
mod durations;
mod records;
mod references;

use records::{served_hostnames, validate_records, zones};
use references::{validate_alerts, validate_overrides};

/// An item with where it came from, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    /// File or URL.
    pub origin: Origin,
    /// Path of the item in that file (`members[2]`, `["Amforc"]`).
    pub path: String,
    /// Dangling references are errors (node file) or warnings (imported sources).
    pub strict: bool,
    /// The item.
    pub item: T,
}

impl<T> Located<T> {
    /// An item written in the node file.
    pub fn inline(origin: &Origin, path: impl Into<String>, item: T) -> Self {
        Located {
            origin: origin.clone(),
            path: path.into(),
            strict: true,
            item,
        }
    }

    /// An item imported from one of the original system's JSON files.
    pub fn sourced(origin: &Origin, path: impl Into<String>, item: T) -> Self {
        Located {
            origin: origin.clone(),
            path: path.into(),
            strict: false,
            item,
        }
    }

    fn at(&self, field: &str) -> String {
        if field.is_empty() {
            self.path.clone()
        } else {
            format!("{}.{field}", self.path)
        }
    }
}

/// Members, services, records and alerts imported from the `[sources]` files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceItems {
    /// From `members_professional.json`.
    pub members: Vec<Located<MemberFile>>,
    /// From `services_rpc.json`.
    pub services: Vec<Located<ServiceFile>>,
    /// From `geodns-static.json`.
    pub records: Vec<Located<RecordFile>>,
    /// From `alerts.json`.
    pub alerts: Option<Located<AlertsFile>>,
}

/// Collects errors and warnings during one validation pass.
#[derive(Debug, Default)]
pub(super) struct Report {
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
}

impl Report {
    pub(super) fn error(
        &mut self,
        origin: &Origin,
        path: impl Into<String>,
        message: impl std::fmt::Display,
    ) {
        self.errors
            .push(ConfigError::invalid(origin, path, message));
    }

    /// An error for strict items, a warning (reference dropped by the caller) otherwise.
    fn dangling<T>(&mut self, located: &Located<T>, field: &str, message: impl std::fmt::Display) {
        if located.strict {
            self.error(&located.origin, located.at(field), message);
        } else {
            self.warnings.push(format!(
                "{}: {}: {message} (ignored)",
                located.origin,
                located.at(field)
            ));
        }
    }

    pub(super) fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }
}

/// Validates the node file plus imported sources into a [`Config`].
pub fn build(
    file: ConfigFile,
    origin: &Origin,
    sources: SourceItems,
) -> Result<Config, ConfigErrors> {
    let mut report = Report::default();
    let node = validate_node(&file, origin, &mut report);
    validate_settings(&file, origin, &mut report);
    durations::validate_durations(&file, origin, &mut report);
    super::consensus::validate_consensus(
        &file.consensus,
        file.bus.mode == super::BusMode::Embedded,
        (file.node.id.as_str(), &file.node.roles),
        origin,
        &mut report,
    );

    let mut members: Vec<_> = file
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| Located::inline(origin, format!("members[{i}]"), m.clone()))
        .collect();
    members.extend(sources.members);
    let mut services: Vec<_> = file
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| Located::inline(origin, format!("services[{i}]"), s.clone()))
        .collect();
    services.extend(sources.services);
    let mut records: Vec<_> = file
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| Located::inline(origin, format!("records[{i}]"), r.clone()))
        .collect();
    records.extend(sources.records);

    let services = validate_services(&services, &mut report);
    let members = validate_members(&members, &services, &mut report);
    let checks = checks::validate_checks(&file.checks, origin, &mut report);
    let records = validate_records(&records, &mut report);
    let hostnames = served_hostnames(&services);
    let zones = zones(&file.dns.zones, origin, &records, &hostnames, &mut report);
    for (key, problem) in file.dns.problems() {
        report.error(origin, key, problem);
    }
    let overrides = validate_overrides(&file, origin, &members, &services, &hostnames, &mut report);
    let mut alerts = validate_alerts(
        &Located::inline(origin, "alerts", file.alerts.clone()),
        &members,
        &mut report,
    );
    if let Some(sourced) = &sources.alerts {
        let imported = validate_alerts(sourced, &members, &mut report);
        alerts.room = alerts.room.or(imported.room);
        for (member, mentions) in imported.mentions {
            alerts.mentions.entry(member).or_insert(mentions);
        }
    }

    if !report.errors.is_empty() {
        return Err(ConfigErrors(report.errors));
    }
    let Some(node) = node else {
        return Err(ConfigErrors(vec![ConfigError::invalid(
            origin,
            "node",
            "invalid node section",
        )]));
    };
    Ok(Config {
        node,
        listen: file.listen,
        storage: file.storage,
        bus: file.bus,
        redis: file.redis,
        matrix: file.matrix,
        geoip: file.geoip,
        dns: file.dns,
        monitor: file.monitor,
        collator: file.collator,
        api: file.api,
        cluster: file.cluster,
        consensus: file.consensus,
        sources: file.sources,
        catalog: Catalog {
            members,
            services,
            checks,
            records,
            overrides,
            alerts,
            zones,
            hostnames,
        },
        warnings: report.warnings,
    })
}

fn validate_node(file: &ConfigFile, origin: &Origin, report: &mut Report) -> Option<NodeSettings> {
    let roles: BTreeSet<_> = file.node.roles.iter().copied().collect();
    if roles.is_empty() {
        report.error(
            origin,
            "node.roles",
            "at least one role is required (monitor, dns, collator, api)",
        );
        return None;
    }
    if roles.len() != file.node.roles.len() {
        report.error(origin, "node.roles", "a role is listed twice");
    }
    Some(NodeSettings {
        id: file.node.id.clone(),
        roles,
        data_dir: file.node.data_dir.clone(),
    })
}

fn validate_settings(file: &ConfigFile, origin: &Origin, report: &mut Report) {
    if let Some(url) = &file.storage.url {
        let url = url.expose();
        let known = [
            "sqlite:",
            "mysql://",
            "mariadb://",
            "postgres://",
            "postgresql://",
        ];
        if !known.iter().any(|scheme| url.starts_with(scheme)) {
            report.error(origin, "storage.url", format!(
                "unsupported database URL `{}` (expected sqlite://, mysql://, mariadb:// or postgres://)",
                crate::secret::redact(url)
            ));
        }
    }
    if file.storage.max_connections == 0 {
        report.error(origin, "storage.max_connections", "must be at least 1");
    }
    bus::validate_bus(file, origin, report);
    if let Some(redis) = &file.redis
        && !(redis.url.expose().starts_with("redis://")
            || redis.url.expose().starts_with("rediss://"))
    {
        report.error(origin, "redis.url", "expected a redis:// or rediss:// URL");
    }
    if let Some(matrix) = &file.matrix {
        if !(matrix.homeserver.starts_with("https://") || matrix.homeserver.starts_with("http://"))
        {
            report.error(origin, "matrix.homeserver", "expected an http(s) URL");
        }
        let login =
            matrix.user.is_some() && (matrix.password.is_some() || matrix.password_file.is_some());
        if !login && matrix.access_token.is_none() {
            report.error(
                origin,
                "matrix",
                "set `access_token`, or `user` with `password` or `password_file`",
            );
        }
    }
    for (key, location) in file.sources.locations() {
        if location.contains("://")
            && !(location.starts_with("http://") || location.starts_with("https://"))
        {
            report.error(
                origin,
                format!("sources.{key}"),
                format!("`{location}` is neither a file path nor an http(s) URL"),
            );
        }
    }
    let cluster = &file.cluster;
    if cluster.heartbeat.is_zero()
        || cluster.heartbeat >= cluster.active_window
        || cluster.active_window > cluster.purge_after
    {
        report.error(
            origin,
            "cluster",
            "need 0 < heartbeat < active_window <= purge_after",
        );
    }
    validate_api_tokens(&file.api, origin, report);
    if file.listen.api_tls_cert.is_some() != file.listen.api_tls_key.is_some() {
        report.error(
            origin,
            "listen.api_tls_cert",
            "api_tls_cert and api_tls_key go together: set both for HTTPS, or neither",
        );
    }
    if file.monitor.workers == 0 {
        report.error(origin, "monitor.workers", "must be at least 1");
    }
}

fn validate_services(
    items: &[Located<ServiceFile>],
    report: &mut Report,
) -> BTreeMap<ServiceId, Service> {
    let mut services = BTreeMap::new();
    for located in items {
        let file = &located.item;
        let id = match ServiceId::parse(&file.name) {
            Ok(id) => id,
            Err(error) => {
                report.error(&located.origin, located.at("name"), error);
                continue;
            }
        };
        if services.contains_key(&id) {
            report.error(
                &located.origin,
                located.at("name"),
                format!("duplicate service `{id}`"),
            );
            continue;
        }
        if file.endpoints.is_empty() && located.strict {
            report.error(
                &located.origin,
                located.at("endpoints"),
                "at least one endpoint URL is required",
            );
        }
        let mut endpoints = Vec::new();
        let mut hostnames = BTreeSet::new();
        for (index, text) in file.endpoints.iter().enumerate() {
            match parse_endpoint(text) {
                Ok((url, host)) => {
                    endpoints.push(url);
                    hostnames.insert(host);
                }
                Err(message) => report.error(
                    &located.origin,
                    located.at(&format!("endpoints[{index}]")),
                    message,
                ),
            }
        }
        let mut providers = BTreeMap::new();
        for (provider, urls) in &file.providers {
            let mut kept = Vec::new();
            for (index, text) in urls.iter().enumerate() {
                match parse_endpoint(text) {
                    Ok((url, _)) if endpoints.contains(&url) => kept.push(text.clone()),
                    _ => report.error(
                        &located.origin,
                        located.at(&format!("providers.{provider}[{index}]")),
                        format!("`{text}` is not one of this service's endpoints"),
                    ),
                }
            }
            providers.insert(provider.clone(), kept);
        }
        services.insert(
            id.clone(),
            Service {
                id,
                service_type: file.service_type,
                active: file.active,
                level_required: file.level_required,
                network: file.network.clone(),
                state_root: file.state_root.clone(),
                endpoints,
                hostnames,
                display_name: file.display_name.clone(),
                network_type: file.network_type.clone(),
                relay_network: file.relay_network.clone(),
                resources: file.resources.unwrap_or_default(),
                website: file.website.clone(),
                logo: file.logo.clone(),
                description: file.description.clone(),
                providers,
            },
        );
    }
    services
}

fn parse_endpoint(text: &str) -> Result<(Url, Fqdn), String> {
    let url = Url::parse(text).map_err(|e| format!("invalid URL `{text}`: {e}"))?;
    if !matches!(url.scheme(), "ws" | "wss" | "http" | "https") {
        return Err(format!("URL `{text}` must use ws, wss, http or https"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("URL `{text}` has no host name"))?;
    let host = Fqdn::parse(host).map_err(|e| format!("URL `{text}`: {e}"))?;
    Ok((url, host))
}

fn validate_members(
    items: &[Located<MemberFile>],
    services: &BTreeMap<ServiceId, Service>,
    report: &mut Report,
) -> BTreeMap<MemberId, Member> {
    let mut members: BTreeMap<MemberId, Member> = BTreeMap::new();
    let mut lower_names: BTreeMap<String, MemberId> = BTreeMap::new();
    let mut slugs: BTreeMap<String, MemberId> = BTreeMap::new();
    for located in items {
        let file = &located.item;
        let lower = file.name.as_str().to_lowercase();
        if let Some(existing) = lower_names.get(&lower) {
            report.error(
                &located.origin,
                located.at("name"),
                format!(
                    "duplicate member `{}` (already defined as `{existing}`)",
                    file.name
                ),
            );
            continue;
        }
        let slug = file.slug.clone().unwrap_or_else(|| file.name.slug());
        if let Some(existing) = slugs.get(&slug) {
            report.error(
                &located.origin,
                located.at("slug"),
                format!("slug `{slug}` is already used by member `{existing}`"),
            );
            continue;
        }
        let location = match GeoPoint::new(file.latitude, file.longitude) {
            Ok(point) => point,
            Err(error) => {
                report.error(&located.origin, located.at("latitude"), error);
                continue;
            }
        };
        let mut assigned = BTreeSet::new();
        for (index, name) in file.services.iter().enumerate() {
            match ServiceId::parse(name)
                .ok()
                .filter(|id| services.contains_key(id))
            {
                Some(id) => {
                    assigned.insert(id);
                }
                None => report.dangling(
                    located,
                    &format!("services[{index}]"),
                    format!("unknown service `{name}`"),
                ),
            }
        }
        if file.ipv4.is_none() && file.ipv6.is_none() && file.active {
            report.warn(format!(
                "{}: {}: member `{}` has no IPv4 or IPv6 address; it will never be answered",
                located.origin, located.path, file.name
            ));
        }
        lower_names.insert(lower, file.name.clone());
        slugs.insert(slug.clone(), file.name.clone());
        members.insert(
            file.name.clone(),
            Member {
                id: file.name.clone(),
                slug,
                active: file.active,
                level: file.level,
                ipv4: file.ipv4,
                ipv6: file.ipv6,
                location,
                region: file.region.clone(),
                services: assigned,
                maintenance: file.maintenance,
                website: file.website.clone(),
                logo: file.logo.clone(),
                joined: file.joined,
            },
        );
    }
    members
}

/// Each token is a SHA-256 in hex or a file, not both.
fn validate_api_tokens(api: &crate::config::ApiSection, origin: &Origin, report: &mut Report) {
    let hex = |text: &str| text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
    let mut check =
        |path: String, sha: &Option<String>, file: &Option<std::path::PathBuf>, required: bool| {
            match (sha, file) {
            (Some(_), Some(_)) => report.error(
                origin,
                &path,
                "set the token's SHA-256 or its file, not both",
            ),
            (Some(sha), None) if !hex(sha) => report.error(
                origin,
                &path,
                "must be the SHA-256 of the token: 64 hex digits (`printf %s TOKEN | sha256sum`)",
            ),
            (None, None) if required => {
                report.error(origin, &path, "needs token_sha256 or token_file")
            }
            _ => {}
        }
        };
    check(
        "api.root_token_sha256".to_owned(),
        &api.root_token_sha256,
        &api.root_token_file,
        false,
    );
    for (index, token) in api.member_tokens.iter().enumerate() {
        check(
            format!("api.member_tokens[{index}].token_sha256"),
            &token.token_sha256,
            &token.token_file,
            true,
        );
    }
}
