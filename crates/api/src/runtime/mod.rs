//! The API role's runtime: [`LiveNode`] (the router's [`crate::Node`] over this node's
//! consensus handle, membership, store, bus and metrics), the maintenance and override
//! changes it makes for the cluster ([`changes`]), the operators' tokens ([`tokens`]),
//! and [`start`], which binds `[listen] api` and serves until shutdown, over HTTPS when a
//! certificate is configured (reloaded when its files change).

pub mod changes;
mod convert;
mod node;
pub mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use geodns_bus::Bus;
use geodns_core::pdns::Backend;
use geodns_node::NodeCtx;
use geodns_node::consensus::ConsensusHandle;

use crate::tls::Certificates;
use geodns_node::slots::{SlotMetrics, Slots};

pub use node::LiveNode;
pub use tokens::TokenError;

/// Why the API role could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// `[listen] api` could not be bound.
    #[error("cannot listen for the API on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A token in `[api]` cannot be used.
    #[error(transparent)]
    Tokens(#[from] TokenError),
    /// The certificate or key cannot be used.
    #[error("cannot serve the API over HTTPS: {0}")]
    Tls(String),
}

/// Starts the API role on `ctx`; `dns` is this node's DNS role, for the PowerDNS
/// backend. Returns the bound address.
pub async fn start<B: Bus>(
    ctx: &NodeCtx<B>,
    consensus: ConsensusHandle,
    dns: Option<Arc<dyn Backend>>,
) -> Result<SocketAddr, ApiError> {
    let config = ctx.config.current();
    let tokens = tokens::read(&config).await?;
    if tokens.is_empty() {
        tracing::info!(
            "no [api] token configured: maintenance and overrides cannot be changed through the API"
        );
    }
    let address = config.listen.api;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ApiError::Listen { address, source })?;
    let bound = listener.local_addr().unwrap_or(address);
    let tokens = Arc::new(arc_swap::ArcSwap::from_pointee(tokens));
    let reload = tokens::run_reload(ctx.config.clone(), tokens.clone(), ctx.shutdown().clone());
    ctx.tasks.spawn("api: token reload", reload);
    let mut node = LiveNode::new(ctx, consensus, tokens, dns);
    let shutdown = ctx.shutdown().clone();
    let limits = crate::serve::Limits::of(&config.api);
    let slots = Slots::new(limits.caps);
    ctx.metrics.register(Arc::new(SlotMetrics {
        slots: slots.clone(),
        open: ("geodns_api_connections", "Open API connections."),
        refused: (
            "geodns_api_connections_refused_total",
            "API connections refused at once, by the cap that refused them.",
        ),
    }));
    let Some((cert, key)) = tls_files(&config) else {
        tracing::info!(address = %bound, "API listening (HTTP)");
        let app = crate::router(node);
        let serving = crate::serve::serve(listener, None, app, (slots, limits), ctx.tasks.clone());
        ctx.tasks.spawn("api", serving);
        return Ok(bound);
    };
    let opened = {
        let (cert, key) = (cert.clone(), key.clone());
        ctx.tasks
            .spawn_blocking("api: read certificate", move || {
                Certificates::open(&cert, &key)
            })
            .await
            .map_err(|error| ApiError::Tls(error.to_string()))?
    };
    let certificates = opened.map_err(|error| ApiError::Tls(error.to_string()))?;
    let watch = certificates
        .clone()
        .watch(config.listen.api_tls_reload, shutdown.clone());
    ctx.tasks.spawn("api: certificate reload", watch);
    let tls = Some(certificates.server_config());
    node.set_tls(certificates);
    tracing::info!(address = %bound, cert = %cert.display(), "API listening (HTTPS)");
    let app = crate::router(node);
    let serving = crate::serve::serve(listener, tls, app, (slots, limits), ctx.tasks.clone());
    ctx.tasks.spawn("api", serving);
    Ok(bound)
}

/// The certificate and key files: `[listen] api_tls_cert`/`api_tls_key`, else the
/// original's `SSL_CERT`/`SSL_KEY` environment variables.
fn tls_files(config: &geodns_core::config::Config) -> Option<(PathBuf, PathBuf)> {
    let listen = &config.listen;
    if let (Some(cert), Some(key)) = (&listen.api_tls_cert, &listen.api_tls_key) {
        return Some((cert.clone(), key.clone()));
    }
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    Some((env("SSL_CERT")?.into(), env("SSL_KEY")?.into()))
}
