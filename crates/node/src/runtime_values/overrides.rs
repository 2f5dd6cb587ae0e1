//! Country overrides set at run time: the original's `geodns.override.update` messages
//! (set, remove, clear) applied to a table, and the table as the store's runtime config
//! value (key [`RUNTIME_KEY`], hostname → country → target, the bus message's shape).
//! The API's change is the one writer of that key; nodes read it at start and follow the
//! bus's notifications.

use std::net::{Ipv4Addr, Ipv6Addr};

use geodns_bus::wire::{OverrideTarget, OverrideUpdate, decode};
use geodns_core::ids::{CountryCode, Fqdn, MemberId};
use geodns_core::model::{CountryOverride, CountryOverrides};
use geodns_store::{ClusterStore as _, SqlStore, StoreError};
use serde::{Deserialize, Serialize};

/// Runtime config key of the cluster's overrides in the store.
pub const RUNTIME_KEY: &str = "overrides";

/// The table in the bus message's shape, as saved in files and the store.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    /// Hostname → country → target, in the bus message's shape.
    pub overrides:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, OverrideTarget>>,
}

/// The overrides of a saved table; entries that cannot be read are logged and skipped.
pub fn decode_saved(saved: Saved) -> CountryOverrides {
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

/// The overrides in the bus message's shape (hostname → country → target).
pub fn encode_saved(overrides: &CountryOverrides) -> Saved {
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

/// Applies one bus message in memory; true if the overrides changed. A bad message is
/// logged with what was wrong and changes nothing.
pub fn update(overrides: &mut CountryOverrides, payload: &[u8]) -> bool {
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

/// Applies one update to `overrides`; true if they changed, an error naming the field
/// when the update is not valid (then nothing changed).
pub fn change(overrides: &mut CountryOverrides, update: &OverrideUpdate) -> Result<bool, String> {
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
pub async fn load_saved(store: &SqlStore) -> Result<Option<CountryOverrides>, StoreError> {
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
pub fn runtime_value(overrides: &CountryOverrides) -> serde_json::Value {
    serde_json::to_value(encode_saved(overrides).overrides).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn update(action: &str, domain: &str, country: &str, target: OverrideTarget) -> OverrideUpdate {
        OverrideUpdate {
            action: action.to_owned(),
            domain: domain.to_owned(),
            country_code: country.to_owned(),
            target,
        }
    }

    fn member(name: &str) -> OverrideTarget {
        OverrideTarget {
            member_name: name.to_owned(),
            ..OverrideTarget::default()
        }
    }

    #[test]
    fn set_remove_and_clear_change_the_table_once() {
        let mut table = CountryOverrides::new();
        let set = update("set", "RPC.geo.example", "de", member("Far"));
        assert!(change(&mut table, &set).unwrap());
        assert!(
            !change(&mut table, &set).unwrap(),
            "the same set changes nothing"
        );
        let literal = OverrideTarget {
            ipv4: "192.0.2.7".into(),
            ..OverrideTarget::default()
        };
        assert!(change(&mut table, &update("SET", "rpc.geo.example", "FR", literal)).unwrap());
        assert_eq!(
            runtime_value(&table),
            json!({"rpc.geo.example": {
                "DE": {"memberName": "Far"},
                "FR": {"ipv4": "192.0.2.7"}}})
        );
        let remove = update("remove", "rpc.geo.example", "DE", OverrideTarget::default());
        assert!(change(&mut table, &remove).unwrap());
        assert!(!change(&mut table, &remove).unwrap());
        let clear = update("clear", "rpc.geo.example", "", OverrideTarget::default());
        assert!(change(&mut table, &clear).unwrap());
        assert!(table.is_empty());
    }

    #[test]
    fn bad_updates_name_the_field_and_change_nothing() {
        let mut table = CountryOverrides::new();
        let cases = [
            (update("set", "rpc..x", "DE", member("Far")), "domain: "),
            (
                update("set", "rpc.x", "DEU", member("Far")),
                "countryCode: ",
            ),
            (
                update("set", "rpc.x", "DE", OverrideTarget::default()),
                "override: needs memberName, ipv4 or ipv6",
            ),
            (
                update(
                    "set",
                    "rpc.x",
                    "DE",
                    OverrideTarget {
                        ipv6: "10.0.0.1".into(),
                        ..OverrideTarget::default()
                    },
                ),
                "ipv6: `10.0.0.1` is not an IPv6 address",
            ),
            (
                update("flip", "rpc.x", "DE", member("Far")),
                "action `flip` is not set, remove or clear",
            ),
        ];
        for (bad, expected) in cases {
            let error = change(&mut table, &bad).unwrap_err();
            assert!(error.starts_with(expected), "{error} / {expected}");
        }
        assert!(table.is_empty());
        assert!(!super::update(&mut table, b"{not json"));
    }

    #[test]
    fn a_saved_table_reads_back_skipping_bad_entries() {
        let mut table = CountryOverrides::new();
        change(
            &mut table,
            &update("set", "a.example", "DE", member("Near")),
        )
        .unwrap();
        let mut saved = encode_saved(&table);
        saved
            .overrides
            .entry("b.example".into())
            .or_default()
            .insert("XYZ".into(), member("Near"));
        assert_eq!(decode_saved(saved), table);
    }
}
