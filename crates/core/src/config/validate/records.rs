//! Validation of static records, the served hostnames and the zone set.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use url::Url;

use super::{Located, Report};
use crate::config::error::Origin;
use crate::config::file::RecordFile;
use crate::ids::{Fqdn, ServiceId};
use crate::model::{RecordData, RecordType, Service, StaticRecord};

pub(super) fn validate_records(
    items: &[Located<RecordFile>],
    report: &mut Report,
) -> Vec<StaticRecord> {
    let mut records = Vec::new();
    for located in items {
        match parse_record(&located.item) {
            Ok(record) => records.push(record),
            Err((field, message)) => report.error(&located.origin, located.at(field), message),
        }
    }
    let cname_owners: BTreeSet<&Fqdn> = records
        .iter()
        .filter(|r| r.record_type() == RecordType::Cname)
        .map(|r| &r.name)
        .collect();
    for owner in cname_owners {
        let at_owner = records.iter().filter(|r| &r.name == owner).count();
        if at_owner > 1 {
            let origin = items
                .first()
                .map(|l| l.origin.clone())
                .unwrap_or_else(|| Origin("records".into()));
            report.error(
                &origin,
                "records",
                format!(
                    "`{owner}` has a CNAME and other records; a CNAME must be alone at its name"
                ),
            );
        }
    }
    records
}

fn parse_record(file: &RecordFile) -> Result<StaticRecord, (&'static str, String)> {
    let name = Fqdn::parse(&file.name).map_err(|e| ("name", e.to_string()))?;
    let record_type = RecordType::from_str(&file.record_type).map_err(|e| ("type", e))?;
    let content = file.content.trim();
    let bad = |what: &str| {
        (
            "content",
            format!("`{content}` is not a valid {record_type} record ({what})"),
        )
    };
    let data = match record_type {
        RecordType::A => RecordData::A(
            content
                .parse::<Ipv4Addr>()
                .map_err(|_| bad("expected an IPv4 address"))?,
        ),
        RecordType::Aaaa => RecordData::Aaaa(
            content
                .parse::<Ipv6Addr>()
                .map_err(|_| bad("expected an IPv6 address"))?,
        ),
        RecordType::Cname => {
            RecordData::Cname(Fqdn::parse(content).map_err(|_| bad("expected a DNS name"))?)
        }
        RecordType::Ns => {
            RecordData::Ns(Fqdn::parse(content).map_err(|_| bad("expected a DNS name"))?)
        }
        RecordType::Mx => {
            let (preference, exchange) = content
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad("expected `preference exchange`"))?;
            RecordData::Mx {
                preference: preference
                    .parse()
                    .map_err(|_| bad("preference must be 0..=65535"))?,
                exchange: Fqdn::parse(exchange.trim()).map_err(|_| bad("expected a DNS name"))?,
            }
        }
        RecordType::Txt => {
            let is_url = content.starts_with("http://") || content.starts_with("https://");
            if is_url && name.as_str().starts_with("_acme-challenge.") {
                RecordData::TxtFromUrl(
                    Url::parse(content).map_err(|_| bad("expected an http(s) URL"))?,
                )
            } else if content.len() > 4000 {
                return Err(bad("text longer than 4000 bytes"));
            } else {
                RecordData::Txt(content.to_owned())
            }
        }
        RecordType::Caa => parse_caa(content).ok_or_else(|| {
            bad("expected `flags tag \"value\"` with flags 0..=255 and a tag of letters and digits")
        })?,
        RecordType::Srv => {
            parse_srv(content).ok_or_else(|| bad("expected `priority weight port target`"))?
        }
        RecordType::Soa => parse_soa(content)
            .ok_or_else(|| bad("expected `mname rname [serial] refresh retry expire minimum`"))?,
    };
    Ok(StaticRecord {
        name,
        ttl: file.ttl,
        data,
    })
}

fn parse_caa(content: &str) -> Option<RecordData> {
    let mut parts = content.splitn(3, char::is_whitespace);
    let flags = parts.next()?.parse::<u8>().ok()?;
    let tag = parts.next()?.trim();
    let value = parts.next()?.trim();
    let tag_ok =
        !tag.is_empty() && tag.len() <= 15 && tag.bytes().all(|b| b.is_ascii_alphanumeric());
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    (tag_ok && value.len() <= 1000).then(|| RecordData::Caa {
        flags,
        tag: tag.to_ascii_lowercase(),
        value: value.to_owned(),
    })
}

fn parse_srv(content: &str) -> Option<RecordData> {
    let fields: Vec<&str> = content.split_whitespace().collect();
    let [priority, weight, port, target] = fields.as_slice() else {
        return None;
    };
    Some(RecordData::Srv {
        priority: priority.parse().ok()?,
        weight: weight.parse().ok()?,
        port: port.parse().ok()?,
        target: Fqdn::parse(target).ok()?,
    })
}

fn parse_soa(content: &str) -> Option<RecordData> {
    let fields: Vec<&str> = content.split_whitespace().collect();
    // The serial is generated when serving; accept it in the text and ignore it.
    let numbers = match fields.len() {
        6 => &fields[2..],
        7 => &fields[3..],
        _ => return None,
    };
    let number = |i: usize| numbers[i].parse::<u32>().ok();
    Some(RecordData::Soa {
        mname: Fqdn::parse(fields[0]).ok()?,
        rname: Fqdn::parse(fields[1]).ok()?,
        refresh: number(0)?,
        retry: number(1)?,
        expire: number(2)?,
        minimum: number(3)?,
    })
}

pub(super) fn served_hostnames(
    services: &BTreeMap<ServiceId, Service>,
) -> BTreeMap<Fqdn, BTreeSet<ServiceId>> {
    let mut hostnames: BTreeMap<Fqdn, BTreeSet<ServiceId>> = BTreeMap::new();
    for service in services.values().filter(|s| s.active) {
        for host in &service.hostnames {
            hostnames
                .entry(host.clone())
                .or_default()
                .insert(service.id.clone());
        }
    }
    hostnames
}

/// Zones: `[dns] zones`, owners of static NS/SOA records, and every served hostname not
/// inside one of those (the original made each such hostname a zone of its own).
pub(super) fn zones(
    configured: &[String],
    origin: &Origin,
    records: &[StaticRecord],
    hostnames: &BTreeMap<Fqdn, BTreeSet<ServiceId>>,
    report: &mut Report,
) -> BTreeSet<Fqdn> {
    let mut zones = BTreeSet::new();
    for (index, text) in configured.iter().enumerate() {
        match Fqdn::parse(text) {
            Ok(zone) => {
                zones.insert(zone);
            }
            Err(error) => report.error(origin, format!("dns.zones[{index}]"), error),
        }
    }
    for record in records {
        if matches!(record.record_type(), RecordType::Ns | RecordType::Soa) {
            zones.insert(record.name.clone());
        }
    }
    let explicit = zones.clone();
    for host in hostnames.keys() {
        if !explicit.iter().any(|zone| host.is_within(zone)) {
            zones.insert(host.clone());
        }
    }
    zones
}
