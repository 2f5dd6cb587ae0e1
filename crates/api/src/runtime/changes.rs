//! The changes the API makes for the whole cluster: a member's maintenance and the
//! country overrides. Each is validated, saved in the store's runtime config (the one
//! writer of those keys, see `geodns_node::runtime_values`), published on the bus (every
//! node applies a maintenance change to its live configuration, every DNS node an
//! override), applied on this node, and recorded in the message log. A change the store
//! refuses is not published.

use bytes::Bytes;
use geodns_bus::wire::{MaintenanceUpdate, OverrideTarget, OverrideUpdate};
use geodns_bus::{Bus, subjects};
use geodns_core::config::Config;
use geodns_core::model::CountryOverrides;
use geodns_node::NodeCtx;
use geodns_node::runtime_values::{maintenance, overrides};
use geodns_store::{ClusterStore, Message, SqlStore};

use crate::change::{ChangeError, OverrideChange};

/// Puts `member` in maintenance or takes it out, cluster-wide.
pub async fn set_maintenance<B: Bus>(
    ctx: &NodeCtx<B>,
    member: &str,
    on: bool,
    by: &str,
) -> Result<(), ChangeError> {
    let config = ctx.config.current();
    let Some(id) = config
        .catalog
        .members
        .keys()
        .find(|id| id.as_str() == member)
    else {
        return Err(ChangeError::UnknownMember(member.to_owned()));
    };
    maintenance::save(&ctx.store, id.as_str(), on)
        .await
        .map_err(|error| unavailable("cannot save the change", &error))?;
    let update = MaintenanceUpdate {
        member: id.to_string(),
        maintenance: on,
        by: by.to_owned(),
    };
    let payload = serde_json::to_vec(&update).unwrap_or_default();
    publish(ctx, &config, subjects::MAINTENANCE_UPDATE, payload).await?;
    ctx.config
        .set_maintenance(id.as_str(), on)
        .map_err(|error| ChangeError::UnknownMember(error.0))?;
    Ok(())
}

fn unavailable(what: &str, error: &dyn std::fmt::Display) -> ChangeError {
    ChangeError::Unavailable(format!("{what}: {error}; nothing was changed"))
}

/// Sets, removes or clears country overrides, cluster-wide.
pub async fn change_override<B: Bus>(
    ctx: &NodeCtx<B>,
    change: OverrideChange,
    _by: &str,
) -> Result<(), ChangeError> {
    let update = wire(change);
    let mut current: CountryOverrides = overrides::load_saved(&ctx.store)
        .await
        .map_err(|error| unavailable("cannot read the runtime config", &error))?
        .unwrap_or_default();
    // Validated on the stored table first: a bad change is refused before anything moves.
    overrides::change(&mut current, &update).map_err(ChangeError::Invalid)?;
    let value = overrides::runtime_value(&current);
    ctx.store
        .put_runtime_config(overrides::RUNTIME_KEY, value)
        .await
        .map_err(|error| unavailable("cannot save the change", &error))?;
    let payload = serde_json::to_vec(&update).unwrap_or_default();
    let config = ctx.config.current();
    publish(ctx, &config, subjects::OVERRIDE_UPDATE, payload).await
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
    ctx: &NodeCtx<B>,
    config: &Config,
    subject: &str,
    payload: Vec<u8>,
) -> Result<(), ChangeError> {
    ctx.bus
        .publish(subject, Bytes::from(payload.clone()))
        .await
        .map_err(|error| {
            ChangeError::Unavailable(format!(
                "saved, but not sent to the cluster ({error}); nodes take it at their next start"
            ))
        })?;
    record(&ctx.store, config, subject, payload).await;
    Ok(())
}

async fn record(store: &SqlStore, config: &Config, subject: &str, payload: Vec<u8>) {
    let now = geodns_node::clock::now();
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
}
