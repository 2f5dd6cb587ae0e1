//! Renders a validated catalog back into file structs, so `geodns import-ibp` can write a
//! node file that validates to the same catalog.

use std::collections::BTreeMap;

use super::Catalog;
use super::file::{AlertsFile, MemberFile, OverrideFile, RecordFile, ServiceFile};
use crate::model::{CountryOverride, Member, RecordData, Service, StaticRecord};

/// The catalog as `[[members]]`, `[[services]]`, `[[records]]`, `[overrides]` and `[alerts]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogFiles {
    /// Members.
    pub members: Vec<MemberFile>,
    /// Services.
    pub services: Vec<ServiceFile>,
    /// Static records.
    pub records: Vec<RecordFile>,
    /// Country overrides.
    pub overrides: BTreeMap<String, BTreeMap<String, OverrideFile>>,
    /// Alert routing.
    pub alerts: AlertsFile,
}

impl CatalogFiles {
    /// Renders `catalog`.
    pub fn of(catalog: &Catalog) -> Self {
        CatalogFiles {
            members: catalog.members.values().map(member).collect(),
            services: catalog.services.values().map(service).collect(),
            records: catalog.records.iter().map(record).collect(),
            overrides: catalog
                .overrides
                .iter()
                .map(|(host, countries)| {
                    let rendered = countries
                        .iter()
                        .map(|(code, value)| (code.to_string(), override_file(value)))
                        .collect();
                    (host.to_string(), rendered)
                })
                .collect(),
            alerts: AlertsFile {
                room: catalog.alerts.room.clone(),
                mentions: catalog
                    .alerts
                    .mentions
                    .iter()
                    .map(|(id, mentions)| (id.to_string(), mentions.clone()))
                    .collect(),
            },
        }
    }
}

fn member(member: &Member) -> MemberFile {
    MemberFile {
        name: member.id.clone(),
        slug: (member.slug != member.id.slug()).then(|| member.slug.clone()),
        active: member.active,
        level: member.level,
        ipv4: member.ipv4,
        ipv6: member.ipv6,
        latitude: member.location.latitude(),
        longitude: member.location.longitude(),
        region: member.region.clone(),
        services: member.services.iter().map(ToString::to_string).collect(),
        maintenance: member.maintenance,
        website: member.website.clone(),
        logo: member.logo.clone(),
        joined: member.joined,
    }
}

fn service(service: &Service) -> ServiceFile {
    ServiceFile {
        name: service.id.to_string(),
        service_type: service.service_type,
        active: service.active,
        level_required: service.level_required,
        network: service.network.clone(),
        state_root: service.state_root.clone(),
        endpoints: service.endpoints.iter().map(ToString::to_string).collect(),
        display_name: service.display_name.clone(),
        network_type: service.network_type.clone(),
        relay_network: service.relay_network.clone(),
        resources: Some(service.resources).filter(|r| *r != Default::default()),
        website: service.website.clone(),
        logo: service.logo.clone(),
        description: service.description.clone(),
        providers: service.providers.clone(),
    }
}

fn record(record: &StaticRecord) -> RecordFile {
    let content = match &record.data {
        RecordData::A(ip) => ip.to_string(),
        RecordData::Aaaa(ip) => ip.to_string(),
        RecordData::Cname(name) | RecordData::Ns(name) => format!("{name}."),
        RecordData::Mx {
            preference,
            exchange,
        } => format!("{preference} {exchange}."),
        RecordData::Txt(text) => text.clone(),
        RecordData::TxtFromUrl(url) => url.to_string(),
        RecordData::Caa { flags, tag, value } => format!("{flags} {tag} \"{value}\""),
        RecordData::Srv {
            priority,
            weight,
            port,
            target,
        } => format!("{priority} {weight} {port} {target}."),
        RecordData::Soa {
            mname,
            rname,
            refresh,
            retry,
            expire,
            minimum,
        } => {
            format!("{mname}. {rname}. {refresh} {retry} {expire} {minimum}")
        }
    };
    RecordFile {
        name: record.name.to_string(),
        record_type: record.record_type().to_string(),
        content,
        ttl: record.ttl,
    }
}

fn override_file(value: &CountryOverride) -> OverrideFile {
    match value {
        CountryOverride::Member(id) => OverrideFile {
            member: Some(id.to_string()),
            ipv4: None,
            ipv6: None,
        },
        CountryOverride::Addresses { ipv4, ipv6 } => OverrideFile {
            member: None,
            ipv4: *ipv4,
            ipv6: *ipv6,
        },
    }
}
