//! Changes made at run time through the API or the commands: a member's maintenance and
//! the country overrides. Each change is validated, saved in the store's runtime config
//! (so it survives a restart of every node), published on the bus (every node applies a
//! maintenance change to its live configuration, every DNS node an override), applied
//! here, and recorded in the message log. A change the store refuses is not published.

use std::collections::BTreeMap;

use bytes::Bytes;
use geodns_api::auth::Tokens;
use geodns_api::change::{ChangeError, OverrideChange};
use geodns_bus::wire::{MaintenanceUpdate, OverrideTarget, OverrideUpdate, decode};
use geodns_bus::{Bus, subjects};
use geodns_core::config::Config;
use geodns_core::model::CountryOverrides;
use geodns_store::{ClusterStore, Message, SqlStore};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

use crate::reload::LiveConfig;

/// Runtime config key of the maintenance set at run time (`{"member": true|false}`).
pub const MAINTENANCE_KEY: &str = "maintenance_overrides";

/// Applies the saved maintenance to `live` (at start, before any answer).
pub async fn restore(store: &SqlStore, live: &LiveConfig) {
    let saved = match store.runtime_config(MAINTENANCE_KEY).await {
        Ok(Some(Value::Object(saved))) => saved,
        Ok(Some(_)) => {
            tracing::warn!(
                key = MAINTENANCE_KEY,
                "runtime config is not an object; ignored"
            );
            return;
        }
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "cannot read the maintenance set at run time");
            return;
        }
    };
    for (member, on) in saved {
        let Some(on) = on.as_bool() else { continue };
        match live.set_maintenance(&member, on) {
            Ok(()) => {
                tracing::info!(%member, maintenance = on, "maintenance restored from the store")
            }
            Err(error) => tracing::warn!(%error, "saved maintenance of an unknown member ignored"),
        }
    }
}

/// Applies maintenance changes from the bus until `shutdown`.
pub async fn follow<B: Bus>(bus: B, live: LiveConfig, shutdown: CancellationToken) {
    let mut updates = match bus.subscribe(subjects::MAINTENANCE_UPDATE).await {
        Ok(updates) => updates,
        Err(error) => {
            tracing::error!(%error, "cannot follow maintenance changes");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return,
            Some(message) = updates.next() => message,
            else => return,
        };
        match decode::<MaintenanceUpdate>("maintenance update", &message.payload) {
            Ok(update) => match live.set_maintenance(&update.member, update.maintenance) {
                Ok(()) => {
                    tracing::info!(member = %update.member, maintenance = update.maintenance, by = %update.by, "maintenance changed")
                }
                Err(error) => tracing::warn!(%error, "maintenance update ignored"),
            },
            Err(error) => tracing::warn!(%error, "maintenance update ignored"),
        }
    }
}

/// Puts `member` in maintenance or takes it out, cluster-wide.
pub async fn set_maintenance<B: Bus>(
    (bus, store, live): (&B, &SqlStore, &LiveConfig),
    member: &str,
    on: bool,
    by: &str,
) -> Result<(), ChangeError> {
    let config = live.current();
    let Some(id) = config
        .catalog
        .members
        .keys()
        .find(|id| id.as_str() == member)
    else {
        return Err(ChangeError::UnknownMember(member.to_owned()));
    };
    let unavailable = |what: &str, error: &dyn std::fmt::Display| {
        ChangeError::Unavailable(format!("{what}: {error}; nothing was changed"))
    };
    let mut saved: BTreeMap<String, Value> = match store.runtime_config(MAINTENANCE_KEY).await {
        Ok(Some(Value::Object(saved))) => saved.into_iter().collect(),
        Ok(_) => BTreeMap::new(),
        Err(error) => return Err(unavailable("cannot read the runtime config", &error)),
    };
    saved.insert(id.to_string(), Value::Bool(on));
    let value = Value::Object(saved.into_iter().collect());
    store
        .put_runtime_config(MAINTENANCE_KEY, value)
        .await
        .map_err(|error| unavailable("cannot save the change", &error))?;
    let update = MaintenanceUpdate {
        member: id.to_string(),
        maintenance: on,
        by: by.to_owned(),
    };
    let payload = serde_json::to_vec(&update).unwrap_or_default();
    publish(bus, store, &config, subjects::MAINTENANCE_UPDATE, payload).await?;
    live.set_maintenance(id.as_str(), on)
        .map_err(|error| ChangeError::UnknownMember(error.0))?;
    Ok(())
}

/// Sets, removes or clears country overrides, cluster-wide.
pub async fn change_override<B: Bus>(
    (bus, store, live): (&B, &SqlStore, &LiveConfig),
    change: OverrideChange,
    _by: &str,
) -> Result<(), ChangeError> {
    let update = wire(change);
    let unavailable = |what: &str, error: &dyn std::fmt::Display| {
        ChangeError::Unavailable(format!("{what}: {error}; nothing was changed"))
    };
    let mut current: CountryOverrides = crate::dns::overrides::load_saved(store)
        .await
        .map_err(|error| unavailable("cannot read the runtime config", &error))?
        .unwrap_or_default();
    // Validated on the stored table first: a bad change is refused before anything moves.
    crate::dns::overrides::change(&mut current, &update).map_err(ChangeError::Invalid)?;
    let value = crate::dns::overrides::runtime_value(&current);
    store
        .put_runtime_config(crate::dns::overrides::RUNTIME_KEY, value)
        .await
        .map_err(|error| unavailable("cannot save the change", &error))?;
    let payload = serde_json::to_vec(&update).unwrap_or_default();
    publish(
        bus,
        store,
        &live.current(),
        subjects::OVERRIDE_UPDATE,
        payload,
    )
    .await
}

fn wire(change: OverrideChange) -> OverrideUpdate {
    let (action, domain, country, target) = match change {
        OverrideChange::Set {
            domain,
            country,
            member,
            ipv4,
            ipv6,
        } => {
            let target = OverrideTarget {
                member_name: member,
                ipv4,
                ipv6,
            };
            ("set", domain, country, target)
        }
        OverrideChange::Remove { domain, country } => {
            ("remove", domain, country, OverrideTarget::default())
        }
        OverrideChange::Clear { domain } => {
            ("clear", domain, String::new(), OverrideTarget::default())
        }
    };
    OverrideUpdate {
        action: action.to_owned(),
        domain,
        country_code: country,
        target,
    }
}

/// Publishes a saved change and records it in the message log.
async fn publish<B: Bus>(
    bus: &B,
    store: &SqlStore,
    config: &Config,
    subject: &str,
    payload: Vec<u8>,
) -> Result<(), ChangeError> {
    bus.publish(subject, Bytes::from(payload.clone()))
        .await
        .map_err(|error| {
            ChangeError::Unavailable(format!(
                "saved, but not sent to the cluster ({error}); nodes take it at their next start"
            ))
        })?;
    let now = crate::clock::now();
    let record = Message {
        id: format!(
            "change/{}/{}",
            config.node.id,
            now.timestamp_nanos_opt().unwrap_or_default()
        ),
        from: config.node.id.to_string(),
        to: subject.to_owned(),
        content: payload,
        timestamp: now,
    };
    if let Err(error) = store.store_message(&record).await {
        tracing::warn!(%error, "a change was made but not recorded in the message log");
    }
    Ok(())
}

/// The API tokens of `config`: digests as written, token files read and hashed.
pub async fn tokens(config: &Config) -> anyhow::Result<Tokens> {
    let api = config.api.clone();
    let members: Vec<String> = config
        .catalog
        .members
        .keys()
        .map(|m| m.to_string())
        .collect();
    tokio::task::spawn_blocking(move || read_tokens(&api, &members)).await?
}

fn read_tokens(
    api: &geodns_core::config::ApiSection,
    members: &[String],
) -> anyhow::Result<Tokens> {
    let digest = |sha: &Option<String>,
                  file: &Option<std::path::PathBuf>,
                  what: &str|
     -> anyhow::Result<Option<[u8; 32]>> {
        if let Some(sha) = sha {
            return Tokens::parse_hex(sha)
                .map(Some)
                .ok_or_else(|| anyhow::anyhow!("{what}: not 64 hex digits"));
        }
        let Some(path) = file else { return Ok(None) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{what}: cannot read {}: {e}", path.display()))?;
        let token = text.trim();
        anyhow::ensure!(!token.is_empty(), "{what}: {} is empty", path.display());
        Ok(Some(Sha256::digest(token.as_bytes()).into()))
    };
    let mut tokens = Tokens::default();
    if let Some(root) = digest(
        &api.root_token_sha256,
        &api.root_token_file,
        "api.root_token",
    )? {
        tokens = tokens.with_root(root);
    }
    for (index, token) in api.member_tokens.iter().enumerate() {
        let what = format!("api.member_tokens[{index}]");
        anyhow::ensure!(
            members.iter().any(|m| m == &token.member),
            "{what}.member: no member `{}`",
            token.member
        );
        if let Some(member) = digest(&token.token_sha256, &token.token_file, &what)? {
            tokens = tokens.with_member(&token.member, member);
        }
    }
    Ok(tokens)
}
