//! Importer for the original IBP GeoDNS JSON files: `members_professional.json`,
//! `services_rpc.json`, `geodns-static.json` and `alerts.json`.
//!
//! The files are read as the original writes them: unknown fields (logos, payments,
//! Telegram settings) are ignored, numbers may be strings, empty strings mean "absent".
//! Each entry becomes the same file struct an inline `[[members]]` etc. would, tagged with
//! where it came from, and goes through the same validation.

mod lenient;
mod schema;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::de::DeserializeOwned;

use crate::config::{
    AlertsFile, ConfigError, ConfigErrors, Located, MemberFile, Origin, Position, RecordFile,
    ServiceFile, display_path, key_segment,
};
use crate::ids::MemberId;
use crate::model::{Resources, ServiceType};

use schema::{IbpAlerts, IbpMember, IbpRecord, IbpService};

/// Parses `members_professional.json`: an object keyed by member name.
pub fn parse_members(
    text: &str,
    origin: &Origin,
) -> Result<Vec<Located<MemberFile>>, ConfigErrors> {
    let parsed: BTreeMap<String, IbpMember> = parse_json(text, origin)?;
    let mut errors = Vec::new();
    let mut members = Vec::new();
    for (key, member) in parsed {
        let path = key_segment(&key, true);
        match convert_member(&key, member) {
            Ok(item) => members.push(Located::sourced(origin, path, item)),
            Err((field, message)) => {
                errors.push(ConfigError::invalid(
                    origin,
                    format!("{path}.{field}"),
                    message,
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(members)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Parses `services_rpc.json`: an object keyed by service name.
pub fn parse_services(
    text: &str,
    origin: &Origin,
) -> Result<Vec<Located<ServiceFile>>, ConfigErrors> {
    let parsed: BTreeMap<String, IbpService> = parse_json(text, origin)?;
    let mut errors = Vec::new();
    let mut services = Vec::new();
    for (key, service) in parsed {
        let path = key_segment(&key, true);
        match convert_service(&key, service) {
            Ok(item) => services.push(Located::sourced(origin, path, item)),
            Err((field, message)) => {
                errors.push(ConfigError::invalid(
                    origin,
                    format!("{path}.{field}"),
                    message,
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(services)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Parses `geodns-static.json`: a list of PowerDNS-style records.
pub fn parse_static_records(
    text: &str,
    origin: &Origin,
) -> Result<Vec<Located<RecordFile>>, ConfigErrors> {
    let parsed: Vec<IbpRecord> = parse_json(text, origin)?;
    let mut errors = Vec::new();
    let mut records = Vec::new();
    for (index, record) in parsed.into_iter().enumerate() {
        let path = format!("[{index}]");
        let ttl = match record.ttl.as_number() {
            None => 3600,
            Some(n) if n >= 0.0 && n <= f64::from(i32::MAX) && n.fract() == 0.0 => n as u32,
            Some(n) => {
                let message = format!("ttl {n} is not a whole number of seconds in 0..=2147483647");
                errors.push(ConfigError::invalid(origin, format!("{path}.ttl"), message));
                continue;
            }
        };
        let item = RecordFile {
            name: record.qname,
            record_type: record.qtype,
            content: record.content,
            ttl,
        };
        records.push(Located::sourced(origin, path, item));
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Parses `alerts.json`. Only `matrix.room` and `matrix.members` are used, as in the
/// original; mention keys are member slugs (`stakeplus`) and are resolved in validation.
pub fn parse_alerts(text: &str, origin: &Origin) -> Result<AlertsFile, ConfigErrors> {
    let parsed: IbpAlerts = parse_json(text, origin)?;
    let matrix = parsed.matrix.unwrap_or_default();
    Ok(AlertsFile {
        room: matrix.room.filter(|room| !room.trim().is_empty()),
        mentions: matrix.members.unwrap_or_default(),
    })
}

fn parse_json<T: DeserializeOwned>(text: &str, origin: &Origin) -> Result<T, ConfigErrors> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = display_path(error.path());
        json_error(origin, Some(path), error.into_inner())
    })?;
    deserializer
        .end()
        .map_err(|error| json_error(origin, None, error))?;
    Ok(value)
}

fn json_error(origin: &Origin, path: Option<String>, inner: serde_json::Error) -> ConfigErrors {
    let position = Position {
        line: inner.line(),
        column: inner.column(),
    };
    let message = strip_json_position(&inner.to_string());
    let error = match path {
        Some(path) if !(inner.is_syntax() || inner.is_eof()) => ConfigError::Field {
            origin: origin.clone(),
            position: Some(position),
            path,
            message,
        },
        _ => ConfigError::Syntax {
            origin: origin.clone(),
            position,
            message,
        },
    };
    ConfigErrors(vec![error])
}

/// serde_json appends " at line L column C"; the error shows the position itself.
fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

type FieldError = (&'static str, String);

fn convert_member(key: &str, member: IbpMember) -> Result<MemberFile, FieldError> {
    let details = member.details.unwrap_or_default();
    let service = member.service.unwrap_or_default();
    let location = member.location.unwrap_or_default();
    let raw_name = if details.name.trim().is_empty() {
        key
    } else {
        details.name.as_str()
    };
    let name = MemberId::parse(raw_name).map_err(|e| ("Details.Name", e.to_string()))?;
    let membership = member.membership.unwrap_or_default();
    let joined = membership
        .joined
        .as_number()
        .filter(|secs| *secs > 0.0 && secs.fract() == 0.0)
        .and_then(|secs| chrono::DateTime::from_timestamp(secs as i64, 0))
        .map(|at| at.date_naive());
    let level = membership.member_level.as_number().unwrap_or(0.0);
    if !(0.0..=255.0).contains(&level) || level.fract() != 0.0 {
        return Err((
            "Membership.MemberLevel",
            format!("level {level} is not a whole number 0..=255"),
        ));
    }
    let ipv4 =
        optional_ip::<Ipv4Addr>(&service.service_ipv4).map_err(|e| ("Service.ServiceIPv4", e))?;
    let ipv6 =
        optional_ip::<Ipv6Addr>(&service.service_ipv6).map_err(|e| ("Service.ServiceIPv6", e))?;
    let latitude = location
        .latitude
        .as_number()
        .ok_or(("Location.Latitude", "missing latitude".to_owned()))?;
    let longitude = location
        .longitude
        .as_number()
        .ok_or(("Location.Longitude", "missing longitude".to_owned()))?;
    let mut services: Vec<String> = member
        .assignments
        .unwrap_or_default()
        .into_values()
        .flatten()
        .collect();
    services.sort();
    services.dedup();
    Ok(MemberFile {
        name,
        slug: None,
        active: service.active.as_flag().unwrap_or(false),
        level: level as u8,
        ipv4,
        ipv6,
        latitude,
        longitude,
        region: location.region,
        services,
        maintenance: member.override_flag.as_flag().unwrap_or(false),
        website: non_empty(details.website),
        logo: non_empty(details.logo),
        joined,
    })
}

fn convert_service(key: &str, service: IbpService) -> Result<ServiceFile, FieldError> {
    let configuration = service.configuration.unwrap_or_default();
    let name = if configuration.name.trim().is_empty() {
        key
    } else {
        &configuration.name
    };
    let service_type = match configuration
        .service_type
        .trim()
        .to_ascii_uppercase()
        .as_str()
    {
        "RPC" | "" => ServiceType::SubstrateRpc,
        "ETHRPC" => ServiceType::EthRpc,
        "HTTP" | "HTTPS" => ServiceType::Http,
        other => {
            return Err((
                "Configuration.ServiceType",
                format!("unknown service type `{other}` (expected RPC, ETHRPC or HTTP)"),
            ));
        }
    };
    let level = configuration.level_required.as_number().unwrap_or(0.0);
    if !(0.0..=255.0).contains(&level) || level.fract() != 0.0 {
        return Err((
            "Configuration.LevelRequired",
            format!("level {level} is not a whole number 0..=255"),
        ));
    }
    let mut endpoints = Vec::new();
    let mut providers = BTreeMap::new();
    for (name, provider) in service.providers.unwrap_or_default() {
        let urls = provider.rpc_urls.unwrap_or_default();
        for url in &urls {
            if !endpoints.contains(url) {
                endpoints.push(url.clone());
            }
        }
        providers.insert(name, urls);
    }
    let resources = service.resources.map(|r| Resources {
        nodes: r.nodes.as_number().unwrap_or(0.0).max(0.0) as u32,
        cores: r.cores.as_number().unwrap_or(0.0),
        memory: r.memory.as_number().unwrap_or(0.0),
        disk: r.disk.as_number().unwrap_or(0.0),
        bandwidth: r.bandwidth.as_number().unwrap_or(0.0),
    });
    Ok(ServiceFile {
        name: name.to_owned(),
        service_type,
        active: configuration.active.as_flag().unwrap_or(false),
        level_required: level as u8,
        network: configuration.network_name,
        state_root: non_empty(configuration.state_root_hash),
        endpoints,
        display_name: non_empty(configuration.display_name),
        network_type: non_empty(configuration.network_type),
        relay_network: non_empty(configuration.relay_network),
        resources,
        website: non_empty(configuration.website_url),
        logo: non_empty(configuration.logo_url),
        description: non_empty(configuration.description),
        providers,
    })
}

fn optional_ip<T: std::str::FromStr>(text: &str) -> Result<Option<T>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    trimmed
        .parse()
        .map(Some)
        .map_err(|_| format!("invalid IP address `{text}`"))
}

fn non_empty(text: String) -> Option<String> {
    if text.trim().is_empty() {
        None
    } else {
        Some(text)
    }
}
