//! Country overrides set at run time over the bus (`geodns.override.update`, the
//! original's set/remove/clear messages), kept in `dns-overrides.json` in the data
//! directory so a restart or a configuration reload keeps them (the original lost them).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use geodns_bus::wire::{OverrideTarget, OverrideUpdate, decode};
use geodns_core::ids::{CountryCode, Fqdn, MemberId};
use geodns_core::model::{CountryOverride, CountryOverrides};
use serde::{Deserialize, Serialize};

/// File in the data directory.
pub(super) const FILE: &str = "dns-overrides.json";
/// Runtime config key of the cluster's overrides in the store (the bus message's shape).
pub(crate) const RUNTIME_KEY: &str = "overrides";

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Saved {
    /// hostname → country → target, in the bus message's shape.
    pub(crate) overrides:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, OverrideTarget>>,
}

/// Loads the saved overrides; a missing or unreadable file gives none (logged).
pub(super) fn load(data_dir: &Path) -> CountryOverrides {
    let Some(saved) = super::read_json::<Saved>(&data_dir.join(FILE)) else {
        return CountryOverrides::new();
    };
    decode_saved(saved)
}

/// The overrides of a saved table; entries that cannot be read are logged and skipped.
pub(crate) fn decode_saved(saved: Saved) -> CountryOverrides {
    let mut out = CountryOverrides::new();
    for (domain, countries) in saved.overrides {
        for (country, target) in countries {
            match parse(&domain, &country, &target) {
                Ok((host, code, rule)) => {
                    out.entry(host).or_default().insert(code, rule);
                }
                Err(error) => tracing::warn!(%domain, %country, %error, "saved override ignored"),
            }
        }
    }
    out
}

fn save(overrides: &CountryOverrides, data_dir: &Path) {
    let saved = encode_saved(overrides);
    let bytes = serde_json::to_vec_pretty(&saved).unwrap_or_default();
    let path = data_dir.join(FILE);
    if let Err(error) = crate::consensus::cache::write_atomically(&path, &bytes, false) {
        tracing::warn!(path = %path.display(), %error, "cannot save the country overrides");
    }
}

/// The overrides in the bus message's shape (hostname → country → target).
pub(crate) fn encode_saved(overrides: &CountryOverrides) -> Saved {
    let mut saved = Saved::default();
    for (host, countries) in overrides {
        let entry = saved.overrides.entry(host.to_string()).or_default();
        for (country, rule) in countries {
            let target = match rule {
                CountryOverride::Member(member) => OverrideTarget {
                    member_name: member.to_string(),
                    ..OverrideTarget::default()
                },
                CountryOverride::Addresses { ipv4, ipv6 } => OverrideTarget {
                    member_name: String::new(),
                    ipv4: ipv4.map(|a| a.to_string()).unwrap_or_default(),
                    ipv6: ipv6.map(|a| a.to_string()).unwrap_or_default(),
                },
            };
            entry.insert(country.to_string(), target);
        }
    }
    saved
}

fn parse(
    domain: &str,
    country: &str,
    target: &OverrideTarget,
) -> Result<(Fqdn, CountryCode, CountryOverride), String> {
    let host = Fqdn::parse(domain).map_err(|e| format!("domain: {e}"))?;
    let code = CountryCode::parse(country).map_err(|e| format!("countryCode: {e}"))?;
    let rule = if !target.member_name.trim().is_empty() {
        CountryOverride::Member(
            MemberId::parse(target.member_name.trim()).map_err(|e| format!("memberName: {e}"))?,
        )
    } else {
        let ipv4 = match target.ipv4.trim() {
            "" => None,
            text => Some(
                text.parse::<Ipv4Addr>()
                    .map_err(|_| format!("ipv4: `{text}` is not an IPv4 address"))?,
            ),
        };
        let ipv6 = match target.ipv6.trim() {
            "" => None,
            text => Some(
                text.parse::<Ipv6Addr>()
                    .map_err(|_| format!("ipv6: `{text}` is not an IPv6 address"))?,
            ),
        };
        if ipv4.is_none() && ipv6.is_none() {
            return Err("override: needs memberName, ipv4 or ipv6".to_owned());
        }
        CountryOverride::Addresses { ipv4, ipv6 }
    };
    Ok((host, code, rule))
}

/// Applies one bus message; true if the overrides changed (then they are saved). A bad
/// message is logged with what was wrong and changes nothing.
pub(super) fn apply(overrides: &mut CountryOverrides, payload: &[u8], data_dir: &Path) -> bool {
    let changed = update(overrides, payload);
    if changed {
        save(overrides, data_dir);
    }
    changed
}

/// Applies one bus message in memory; true if the overrides changed. A bad message is
/// logged with what was wrong and changes nothing.
pub(crate) fn update(overrides: &mut CountryOverrides, payload: &[u8]) -> bool {
    let update: OverrideUpdate = match decode("override update", payload) {
        Ok(update) => update,
        Err(error) => {
            tracing::warn!(%error, "override update ignored");
            return false;
        }
    };
    match change(overrides, &update) {
        Ok(true) => {
            tracing::info!(action = %update.action, domain = %update.domain, country = %update.country_code, "country override changed");
            true
        }
        Ok(false) => false,
        Err(error) => {
            tracing::warn!(action = %update.action, domain = %update.domain, %error, "override update ignored");
            false
        }
    }
}

pub(crate) fn change(
    overrides: &mut CountryOverrides,
    update: &OverrideUpdate,
) -> Result<bool, String> {
    let host = Fqdn::parse(&update.domain).map_err(|e| format!("domain: {e}"))?;
    match update.action.trim().to_ascii_lowercase().as_str() {
        "set" => {
            let (host, code, rule) = parse(&update.domain, &update.country_code, &update.target)?;
            let previous = overrides
                .entry(host)
                .or_default()
                .insert(code, rule.clone());
            Ok(previous != Some(rule))
        }
        "remove" => {
            let code = CountryCode::parse(&update.country_code)
                .map_err(|e| format!("countryCode: {e}"))?;
            let removed = overrides
                .get_mut(&host)
                .and_then(|m| m.remove(&code))
                .is_some();
            overrides.retain(|_, countries| !countries.is_empty());
            Ok(removed)
        }
        "clear" => Ok(overrides.remove(&host).is_some()),
        other => Err(format!("action `{other}` is not set, remove or clear")),
    }
}

/// The overrides saved in the store's runtime config (`None`: none saved). Entries that
/// cannot be read are logged and skipped.
pub(crate) async fn load_saved(
    store: &geodns_store::SqlStore,
) -> Result<Option<CountryOverrides>, geodns_store::StoreError> {
    use geodns_store::ClusterStore as _;
    let Some(value) = store.runtime_config(RUNTIME_KEY).await? else {
        return Ok(None);
    };
    match serde_json::from_value(serde_json::json!({ "overrides": value })) {
        Ok(saved) => Ok(Some(decode_saved(saved))),
        Err(error) => {
            tracing::warn!(%error, key = RUNTIME_KEY, "saved country overrides cannot be read");
            Ok(Some(CountryOverrides::new()))
        }
    }
}

/// `overrides` as the store's runtime config value.
pub(crate) fn runtime_value(overrides: &CountryOverrides) -> serde_json::Value {
    serde_json::to_value(encode_saved(overrides).overrides).unwrap_or(serde_json::Value::Null)
}
