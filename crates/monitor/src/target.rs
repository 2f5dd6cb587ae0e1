//! Which checks run against which provider: the original's eligibility rules (active
//! members not in maintenance, level and assignment, check types allowed per service
//! type), one target per IP family. Pure: configuration in, targets out.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use geodns_core::config::Catalog;
use geodns_core::ids::{MemberId, ServiceId};
use geodns_core::model::{Check, CheckKind, Member, Service};
use geodns_core::records::CheckKey;
use url::Url;

/// One thing a check looks at: a member's address (per family), optionally one hostname
/// or endpoint URL of one of its services.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// The provider.
    pub member: MemberId,
    /// The service, for domain and endpoint checks.
    pub service: Option<ServiceId>,
    /// The public hostname presented (SNI, `Host`); empty for site checks.
    pub domain: String,
    /// The endpoint URL, for endpoint checks.
    pub endpoint: Option<Url>,
    /// The member's own address the check connects to; `None` when the member has none.
    pub address: Option<IpAddr>,
    /// Checks the member's IPv6 address.
    pub ipv6: bool,
    /// Port from the endpoint URL (or the first endpoint with this hostname), if any.
    pub port: Option<u16>,
    /// The chain name or id the service's endpoints must report.
    pub network: Option<String>,
    /// The genesis state root the service's endpoints must report, if checked.
    pub state_root: Option<String>,
}

impl Target {
    /// The check key results for this target are reported under.
    pub fn key(&self, check: &Check) -> CheckKey {
        CheckKey {
            kind: check.kind,
            check: check.name.clone(),
            member: self.member.clone(),
            domain: self.domain.clone(),
            endpoint: self
                .endpoint
                .as_ref()
                .map(endpoint_text)
                .unwrap_or_default(),
            ipv6: self.ipv6,
        }
    }
}

/// An endpoint as the original writes it: the configured URL without the slash `Url`
/// adds to an empty path (`wss://rpc.example.net`, not `wss://rpc.example.net/`).
pub fn endpoint_text(url: &Url) -> String {
    let text = url.as_str();
    if url.path() == "/" && url.query().is_none() && url.fragment().is_none() {
        text.trim_end_matches('/').to_owned()
    } else {
        text.to_owned()
    }
}

/// A check and one of its targets: the unit the scheduler runs.
#[derive(Debug, Clone)]
pub struct Item {
    /// The check.
    pub check: Arc<Check>,
    /// What it looks at.
    pub target: Arc<Target>,
}

impl Item {
    /// The check key of this item's results.
    pub fn key(&self) -> CheckKey {
        self.target.key(&self.check)
    }
}

/// Every enabled check against every eligible target. `maintenance` adds members put in
/// maintenance at run time to those the configuration marks.
pub fn plan(catalog: &Catalog, maintenance: &BTreeSet<MemberId>) -> Vec<Item> {
    let mut items = Vec::new();
    for check in catalog.checks.iter().filter(|c| c.enabled) {
        let check = Arc::new(check.clone());
        for target in targets(catalog, &check, maintenance) {
            items.push(Item {
                check: check.clone(),
                target: Arc::new(target),
            });
        }
    }
    items
}

/// The targets of one check.
pub fn targets(catalog: &Catalog, check: &Check, maintenance: &BTreeSet<MemberId>) -> Vec<Target> {
    let checked = |member: &&Member| {
        member.active && !member.maintenance && !maintenance.contains(&member.id)
    };
    let mut out = Vec::new();
    if check.kind == CheckKind::Site {
        for member in catalog.members.values().filter(checked) {
            let template = Target {
                member: member.id.clone(),
                service: None,
                domain: String::new(),
                endpoint: None,
                address: None,
                ipv6: false,
                port: None,
                network: None,
                state_root: None,
            };
            out.extend(families(member, template));
        }
        return out;
    }
    let allowed = check.probe.service_types();
    for service in catalog.services.values() {
        if !service.active || allowed.is_some_and(|types| !types.contains(&service.service_type)) {
            continue;
        }
        for member in catalog.members.values().filter(checked) {
            if member.level < service.level_required || !member.services.contains(&service.id) {
                continue;
            }
            service_targets(check.kind, member, service, &mut out);
        }
    }
    out
}

fn service_targets(kind: CheckKind, member: &Member, service: &Service, out: &mut Vec<Target>) {
    let template = |domain: String, endpoint: Option<Url>, port: Option<u16>| Target {
        member: member.id.clone(),
        service: Some(service.id.clone()),
        domain,
        endpoint,
        address: None,
        ipv6: false,
        port,
        network: Some(service.network.clone()),
        state_root: service.state_root.clone(),
    };
    let mut seen = BTreeSet::new();
    for url in &service.endpoints {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = url.port_or_known_default();
        match kind {
            CheckKind::Domain if !host.is_empty() && seen.insert(host.clone()) => {
                out.extend(families(member, template(host, None, port)));
            }
            CheckKind::Endpoint => {
                out.extend(families(member, template(host, Some(url.clone()), port)));
            }
            _ => {}
        }
    }
}

/// One target per address the member has; one without an address when it has none, so
/// the check reports that instead of silently not running.
fn families(member: &Member, template: Target) -> Vec<Target> {
    let mut out = Vec::new();
    if let Some(v4) = member.ipv4 {
        out.push(Target {
            address: Some(IpAddr::V4(v4)),
            ipv6: false,
            ..template.clone()
        });
    }
    if let Some(v6) = member.ipv6 {
        out.push(Target {
            address: Some(IpAddr::V6(v6)),
            ipv6: true,
            ..template.clone()
        });
    }
    if out.is_empty() {
        out.push(template);
    }
    out
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
