//! The collator's outward connections, made at start: the Matrix sender (when `[matrix]`
//! and a room are configured; it sends what the outbox in the store owes) and the Redis
//! Streams publisher (when `[redis]` is configured and reachable).

use geodns_bus::Bus;
use geodns_bus::redis::{EventPublisher, RedisClient, RedisConfig};
use geodns_core::config::Config;
use geodns_node::NodeCtx;

use crate::alerts::matrix::{Credentials, MatrixClient};
use crate::alerts::outbox::{self, Outbox};

/// Starts the Matrix sender when `[matrix]` and a room are configured; returns its outbox.
pub(super) async fn matrix<B: Bus>(ctx: &NodeCtx<B>, config: &Config) -> Option<Outbox> {
    let section = config.matrix.as_ref()?;
    let room = config
        .catalog
        .alerts
        .room
        .clone()
        .or_else(|| section.room.clone());
    let Some(room) = room else {
        tracing::warn!(
            "[matrix] is configured without a room ([alerts] room or [matrix] room): no alerts are sent"
        );
        return None;
    };
    let credentials = match (&section.access_token, &section.user, &section.password) {
        (Some(token), _, _) => Credentials::Token(token.expose().to_owned()),
        (None, Some(user), Some(password)) => Credentials::Password {
            user: user.clone(),
            password: password.expose().to_owned(),
        },
        _ => {
            tracing::error!(
                "[matrix] needs access_token, or user and password: no alerts are sent"
            );
            return None;
        }
    };
    let http = match geodns_node::http::client(crate::alerts::matrix::TIMEOUT) {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "cannot build the Matrix HTTP client: no alerts are sent");
            return None;
        }
    };
    let device = format!("GEODNS-{}", config.node.id);
    let client = match MatrixClient::new(http, &section.homeserver, credentials, &device) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "no alerts are sent");
            return None;
        }
    };
    let outbox = Outbox::new(config.node.id.as_str());
    let sender = outbox::Sender {
        client,
        room,
        takeover: config.collator.alert_takeover,
    };
    let sender = outbox::run(
        sender,
        ctx.store.clone(),
        outbox.clone(),
        geodns_node::clock::now,
        ctx.shutdown().clone(),
    );
    ctx.tasks
        .spawn_cancellable("collator: matrix sender", sender);
    Some(outbox)
}

/// The Redis Streams publisher, when `[redis]` is configured and reachable.
pub(super) async fn redis_events(config: &Config) -> Option<EventPublisher> {
    let section = config.redis.as_ref()?;
    // The seed's REDIS_CLUSTER_* variables win over the URL, as for the data layer.
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let redis = match RedisConfig::from_env(&env) {
        Ok(Some(from_env)) => from_env,
        Ok(None) => RedisConfig::from_url(section.url.clone()),
        Err(error) => {
            tracing::warn!(%error, "REDIS_CLUSTER_* variables are invalid; using [redis] url");
            RedisConfig::from_url(section.url.clone())
        }
    };
    match RedisClient::connect(&redis).await {
        Ok(client) => Some(EventPublisher::new(
            client,
            &section.stream_prefix,
            section.stream_max_len,
        )),
        Err(error) => {
            tracing::warn!(%error, "Redis unreachable: outage events are not published");
            None
        }
    }
}
