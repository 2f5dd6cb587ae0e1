//! This node on the bus: NATS settings from `[bus]` (secrets were read with the
//! configuration), the membership announcement from `[node]`/`[cluster]`, subscribing
//! with errors that name the subject, and the one request responder every role answers
//! requests with.

use std::sync::Arc;

use geodns_bus::membership::MembershipConfig;
use geodns_bus::wire::WireRole;
use geodns_bus::{Bus, BusError, BusMessage, ClusterHandle, NatsConfig, SelfInfo, Subscription};
use geodns_core::config::{BusSection, Config};
use geodns_core::model::NodeRole;

/// NATS settings from `[bus]`.
pub fn nats_config(bus: &BusSection, client_name: &str) -> NatsConfig {
    let urls = bus.urls.iter().map(|u| u.expose().to_owned()).collect();
    let mut config = NatsConfig::new(urls);
    config.name = Some(client_name.to_owned());
    if let (Some(user), Some(password)) = (&bus.user, &bus.password) {
        config.user_password = Some((user.clone(), password.expose().to_owned()));
    }
    config.token = bus.token.as_ref().map(|t| t.expose().to_owned());
    // The seed file was read when the configuration was loaded (`secrets::resolve`).
    config.nkey_seed = bus.nkey_seed.as_ref().map(|s| s.expose().to_owned());
    config.creds_file = bus.nats_creds_file.clone();
    config.tls_ca_file = bus.tls_ca_file.clone();
    config.inbox_prefix = bus.inbox_prefix.clone();
    config
}

/// The wire roles this node announces: one per role the original knows; a node with only
/// the API role announces `GeodnsApi`.
pub fn wire_roles(config: &Config) -> Vec<WireRole> {
    let mut roles: Vec<WireRole> = config
        .node
        .roles
        .iter()
        .filter_map(|role| role.wire_name())
        .map(WireRole::parse)
        .collect();
    if roles.is_empty() && config.node.roles.contains(&NodeRole::Api) {
        roles.push(WireRole::Other("GeodnsApi".to_owned()));
    }
    roles
}

/// How this node announces itself.
pub fn self_info(config: &Config) -> SelfInfo {
    SelfInfo {
        node_id: config.node.id.to_string(),
        roles: wire_roles(config),
        public_address: config.cluster.public_address.clone(),
        listen_address: config.listen.api.ip().to_string(),
        listen_port: config.listen.api.port().to_string(),
    }
}

/// A membership table with the configured timing, the node's clock and the configured
/// nodes (kept first when the table is full, answered at once).
pub fn cluster_handle(config: &Config) -> ClusterHandle {
    let timing = MembershipConfig {
        heartbeat: config.cluster.heartbeat,
        active_window: config.cluster.active_window,
        purge_after: config.cluster.purge_after,
    };
    let handle = ClusterHandle::new(config.node.id.as_str(), timing, Arc::new(crate::clock::now));
    handle.set_known(
        config
            .consensus
            .nodes
            .iter()
            .map(|n| n.id.to_string())
            .collect(),
    );
    handle
}

/// Answers requests on `requests` until `shutdown`: `respond` builds each reply body
/// (`None`: no answer), sent to the request's reply subject, or to `no_inbox` when it has
/// none (a request without either is dropped). The one request responder of a node.
pub async fn answer_requests<B, F, Fut>(
    bus: B,
    mut requests: Subscription,
    no_inbox: Option<&'static str>,
    shutdown: tokio_util::sync::CancellationToken,
    respond: F,
) where
    B: Bus,
    F: Fn(BusMessage) -> Fut,
    Fut: Future<Output = Option<Vec<u8>>>,
{
    let what = requests.subject().to_owned();
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return,
            message = requests.next() => match message {
                Some(message) => message,
                None => return,
            },
        };
        let Some(reply) = message.reply.clone().or(no_inbox.map(str::to_owned)) else {
            tracing::debug!(subject = %what, "request without a reply subject; ignored");
            continue;
        };
        let request = message.id;
        let Some(body) = respond(message).await else {
            continue;
        };
        let answered = bus
            .publish_sealed((&reply, None), request, body.into())
            .await;
        if let Err(error) = answered {
            tracing::warn!(subject = %what, %error, "cannot answer a request");
        }
    }
}

/// Why a subscription failed, naming the subject.
#[derive(Debug, thiserror::Error)]
#[error("subscribe to {subject}: {source}")]
pub struct SubscribeError {
    /// The subject.
    pub subject: String,
    /// Why.
    #[source]
    pub source: BusError,
}

/// Subscribes to `subject`; the error names it.
pub async fn subscribe<B: Bus>(bus: &B, subject: &str) -> Result<Subscription, SubscribeError> {
    bus.subscribe(subject)
        .await
        .map_err(|source| SubscribeError {
            subject: subject.to_owned(),
            source,
        })
}
