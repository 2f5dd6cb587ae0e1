//! The immutable view the query path answers from: the zones, and for every geo-routed
//! hostname and family the eligible members with their location and health, the
//! resolved country overrides and the fallbacks. Rebuilt (off the query path) whenever
//! the configuration, the official results, the overrides or the databases change.

use std::collections::BTreeSet;
use std::sync::Arc;

use geodns_consensus::results::{IpFamily, Snapshot};
use geodns_core::config::{Config, NoHealthy, UnknownClient, UnknownClientName};
use geodns_core::ids::{CountryCode, Fqdn, MemberId, ServiceId};
use geodns_core::model::{CountryOverride, CountryOverrides, Member};

use crate::geo::{GeoDb, Vec3, unit};
use crate::hash::FxHashMap;
use crate::zone::Zones;

/// A member that may answer a hostname in one family.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Member name (for usage).
    pub member: Arc<str>,
    /// The address, as record data (4 or 16 bytes).
    pub address: Box<[u8]>,
    /// Location on the unit sphere.
    pub point: Vec3,
    /// Online for this hostname and family in the official results.
    pub healthy: bool,
}

/// How a family of a hostname is answered now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The nearest healthy members.
    Healthy,
    /// None healthy: the nearest regardless of health.
    Nearest,
    /// None healthy: every member.
    All,
    /// Nothing to answer (no member, or none healthy with `no_healthy = "none"`).
    Empty,
}

/// A country override resolved against the current health.
#[derive(Debug, Clone)]
pub enum Pick {
    /// Answer this candidate (index into `candidates`).
    Member(usize),
    /// Answer this literal address (usage member `override:<CC>`).
    Literal {
        /// Record data.
        address: Box<[u8]>,
        /// Usage member name.
        label: Arc<str>,
    },
}

/// One family of one hostname.
#[derive(Debug, Clone)]
pub struct FamilyView {
    /// Eligible members, in member-name order (ties go to the first).
    pub candidates: Vec<Candidate>,
    /// How answers are chosen now.
    pub mode: Mode,
    /// Where clients without a location are placed.
    pub unknown_point: Option<Vec3>,
    /// Country overrides that apply now.
    pub overrides: FxHashMap<[u8; 2], Pick>,
}

/// One geo-routed hostname.
#[derive(Debug, Clone)]
pub struct Host {
    /// The name, for usage.
    pub name: Arc<str>,
    /// IPv4 and IPv6.
    pub families: [FamilyView; 2],
}

/// Everything a query is answered from.
#[derive(Debug)]
pub struct View {
    /// Zones and static records.
    pub zones: Arc<Zones>,
    /// Geo-routed hostnames, indexed like `zones.geo_names`.
    pub hosts: Vec<Host>,
    /// GeoIP databases.
    pub geo: Arc<GeoDb>,
    /// TTL of geo answers.
    pub ttl: u32,
    /// Addresses per geo answer.
    pub answers: usize,
    /// Our EDNS UDP payload size.
    pub max_payload: u16,
    /// The usage member of a geo query nobody answered (`(none)`).
    pub no_member: Arc<str>,
    /// Count usage per client (`[dns] usage`); off, no client's network, ASN or country
    /// is looked at beyond what routing needs, or kept.
    pub count_usage: bool,
    /// Response rate limiting of UDP answers (`[dns.rrl]`).
    pub rrl: crate::rrl::Limits,
}

/// Inputs of [`View::build`] besides the zones.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// Official results; `None` until known (answers then ignore health).
    pub official: Option<&'a Snapshot>,
    /// Overrides set at run time (win over the configured ones).
    pub runtime_overrides: &'a CountryOverrides,
    /// Databases.
    pub geo: Arc<GeoDb>,
}

/// A hostname and family with no healthy member, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhealthy {
    /// The hostname.
    pub host: String,
    /// IPv6.
    pub ipv6: bool,
    /// What is answered instead.
    pub mode: Mode,
}

impl View {
    /// Builds the view; also returns the hostnames answered by a fallback.
    pub fn build(zones: Arc<Zones>, inputs: &Inputs<'_>) -> (View, Vec<Unhealthy>) {
        let mut unhealthy = Vec::new();
        let serving = serving(&inputs.config.catalog);
        let hosts = zones
            .geo_names
            .iter()
            .map(|name| {
                let host = host(name, &serving, inputs);
                for (index, family) in host.families.iter().enumerate() {
                    if matches!(family.mode, Mode::Nearest | Mode::All)
                        || (family.mode == Mode::Empty && !family.candidates.is_empty())
                    {
                        unhealthy.push(Unhealthy {
                            host: name.to_string(),
                            ipv6: index == 1,
                            mode: family.mode,
                        });
                    }
                }
                host
            })
            .collect();
        let dns = &inputs.config.dns;
        let view = View {
            zones,
            hosts,
            geo: inputs.geo.clone(),
            ttl: dns.answer_ttl,
            answers: usize::from(dns.answers.max(1)),
            max_payload: dns.max_udp_payload,
            no_member: Arc::from(crate::usage::NO_MEMBER),
            count_usage: dns.usage,
            rrl: crate::rrl::Limits {
                responses_per_second: dns.rrl.responses_per_second,
                window: u32::try_from(dns.rrl.window.as_secs()).unwrap_or(u32::MAX),
                slip: dns.rrl.slip,
                exempt: dns.rrl.exempt.clone(),
                log_only: dns.rrl.log_only,
            },
        };
        (view, unhealthy)
    }
}

/// The members that may answer for each service: active, not in maintenance, serving
/// it at its required level; in member order. Worked out once per build, not once per
/// hostname (1,000 hostnames × 100 members made every build cost milliseconds).
fn serving(catalog: &geodns_core::config::Catalog) -> FxHashMap<&ServiceId, Vec<&Member>> {
    let mut serving: FxHashMap<&ServiceId, Vec<&Member>> = FxHashMap::default();
    for member in catalog.members.values() {
        if !member.active || member.maintenance {
            continue;
        }
        for id in &member.services {
            let level = catalog.services.get(id).map(|s| s.level_required);
            if level.is_some_and(|required| member.level >= required) {
                serving.entry(id).or_default().push(member);
            }
        }
    }
    serving
}

fn host(name: &Fqdn, serving: &FxHashMap<&ServiceId, Vec<&Member>>, inputs: &Inputs<'_>) -> Host {
    let services = inputs.config.catalog.hostnames.get(name);
    let mut members: Vec<&Member> = services
        .into_iter()
        .flatten()
        .filter_map(|id| serving.get(id))
        .flatten()
        .copied()
        .collect();
    if services.is_some_and(|ids| ids.len() > 1) {
        // A member serving the hostname through two services is one candidate.
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members.dedup_by(|a, b| a.id == b.id);
    }
    let family = |family| family_view(name, &members, family, inputs);
    Host {
        name: Arc::from(name.as_str()),
        families: [family(IpFamily::V4), family(IpFamily::V6)],
    }
}

fn family_view(
    name: &Fqdn,
    members: &[&Member],
    family: IpFamily,
    inputs: &Inputs<'_>,
) -> FamilyView {
    let candidates: Vec<Candidate> = members
        .iter()
        .filter_map(|member| {
            let address: Box<[u8]> = match family {
                IpFamily::V4 => Box::new(member.ipv4?.octets()),
                IpFamily::V6 => Box::new(member.ipv6?.octets()),
            };
            let healthy = inputs
                .official
                .is_none_or(|s| s.is_member_online(name.as_str(), &member.id, family));
            Some(Candidate {
                member: Arc::from(member.id.as_str()),
                address,
                point: unit(member.location.latitude(), member.location.longitude()),
                healthy,
            })
        })
        .collect();
    let mode = if candidates.is_empty() {
        Mode::Empty
    } else if candidates.iter().any(|c| c.healthy) {
        Mode::Healthy
    } else {
        match inputs.config.dns.no_healthy {
            NoHealthy::Nearest => Mode::Nearest,
            NoHealthy::All => Mode::All,
            NoHealthy::None => Mode::Empty,
        }
    };
    let unknown_point = unknown_point(&inputs.config.dns.unknown_client, members, &candidates);
    let overrides = overrides(name, family, &candidates, inputs);
    FamilyView {
        candidates,
        mode,
        unknown_point,
        overrides,
    }
}

/// Where a client without a location is placed for this hostname.
fn unknown_point(
    policy: &UnknownClient,
    members: &[&Member],
    candidates: &[Candidate],
) -> Option<Vec3> {
    match policy {
        UnknownClient::Location {
            latitude,
            longitude,
        } => Some(unit(*latitude, *longitude)),
        UnknownClient::Named(UnknownClientName::Centroid) => {
            centroid(candidates.iter().map(|c| c.point))
        }
        UnknownClient::Region { region } => centroid(
            members
                .iter()
                .filter(|m| m.region.eq_ignore_ascii_case(region))
                .map(|m| unit(m.location.latitude(), m.location.longitude())),
        )
        .or_else(|| centroid(candidates.iter().map(|c| c.point))),
    }
}

/// The normalised mean of unit vectors (`None` if empty or they cancel out).
fn centroid(points: impl Iterator<Item = Vec3>) -> Option<Vec3> {
    let sum = points.fold([0.0; 3], |acc, p| {
        [acc[0] + p[0], acc[1] + p[1], acc[2] + p[2]]
    });
    let norm = (sum[0] * sum[0] + sum[1] * sum[1] + sum[2] * sum[2]).sqrt();
    (norm > 1e-9).then(|| [sum[0] / norm, sum[1] / norm, sum[2] / norm])
}

/// Country overrides of the hostname, runtime ones winning, resolved against health: a
/// member override applies only while that member is an eligible, healthy candidate
/// (otherwise geo routing, as the original); an address override only for its family.
fn overrides(
    name: &Fqdn,
    family: IpFamily,
    candidates: &[Candidate],
    inputs: &Inputs<'_>,
) -> FxHashMap<[u8; 2], Pick> {
    let configured = inputs.config.catalog.overrides.get(name);
    let runtime = inputs.runtime_overrides.get(name);
    let countries: BTreeSet<&CountryCode> = configured
        .into_iter()
        .chain(runtime)
        .flat_map(|map| map.keys())
        .collect();
    let mut out = FxHashMap::default();
    for country in countries {
        let rule = runtime
            .and_then(|m| m.get(country))
            .or_else(|| configured.and_then(|m| m.get(country)));
        if let Some(pick) = rule.and_then(|rule| resolve(rule, country, family, candidates)) {
            let code = country.as_str().as_bytes();
            out.insert([code[0], code[1]], pick);
        }
    }
    out
}

fn resolve(
    rule: &CountryOverride,
    country: &CountryCode,
    family: IpFamily,
    candidates: &[Candidate],
) -> Option<Pick> {
    match rule {
        CountryOverride::Member(member) => candidates
            .iter()
            .position(|c| c.healthy && same_member(&c.member, member))
            .map(Pick::Member),
        CountryOverride::Addresses { ipv4, ipv6 } => {
            let address: Box<[u8]> = match family {
                IpFamily::V4 => Box::new(ipv4.as_ref()?.octets()),
                IpFamily::V6 => Box::new(ipv6.as_ref()?.octets()),
            };
            Some(Pick::Literal {
                address,
                label: Arc::from(format!("override:{country}")),
            })
        }
    }
}

fn same_member(candidate: &str, member: &MemberId) -> bool {
    candidate.eq_ignore_ascii_case(member.as_str())
}
