//! The original collator's `GET /api/services` (one by `?name=`, the flat list, or
//! `?hierarchy=true`: relay chains with their system and community chains, and orphans)
//! and `GET /api/services/summary`, read from the configuration. Unlike the original:
//! child lists are `[]` rather than `null`, a chain whose relay is not configured is an
//! orphan instead of vanishing, and a member listing a service twice counts once.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use geodns_core::config::Config;
use geodns_core::model::{Resources, Service};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Node;
use crate::downtime::ApiError;

/// The query string of `/api/services`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    name: Option<String>,
    hierarchy: Option<String>,
}

/// One service, the original's `ServiceInfo`, every field always present.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceInfo {
    name: String,
    display_name: String,
    service_type: &'static str,
    network_name: String,
    relay_network: String,
    network_type: String,
    website_url: String,
    logo_url: String,
    description: String,
    active: bool,
    level_required: u8,
    resources: Resources,
    providers: Vec<Provider>,
    member_count: usize,
    total_monthly_cost: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
struct Provider {
    name: String,
    rpc_urls: Vec<String>,
}

#[derive(Debug, Serialize)]
struct RelayChain {
    relay: ServiceInfo,
    system_chains: Vec<ServiceInfo>,
    community_chains: Vec<ServiceInfo>,
}

fn info(service: &Service, config: &Config) -> ServiceInfo {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let mut providers: Vec<Provider> = service
        .providers
        .iter()
        .map(|(name, urls)| Provider {
            name: name.clone(),
            rpc_urls: urls.clone(),
        })
        .collect();
    providers.sort_by_key(|p| p.name.to_lowercase());
    ServiceInfo {
        name: service.id.to_string(),
        display_name: text(&service.display_name),
        service_type: service.service_type.ibp_name(),
        network_name: service.network.clone(),
        relay_network: text(&service.relay_network),
        network_type: text(&service.network_type),
        website_url: text(&service.website),
        logo_url: text(&service.logo),
        description: text(&service.description),
        active: service.active,
        level_required: service.level_required,
        resources: service.resources,
        providers,
        member_count: config
            .catalog
            .members
            .values()
            .filter(|m| m.active && !m.maintenance && m.services.contains(&service.id))
            .count(),
        total_monthly_cost: 0.0,
    }
}

fn by_display_name(list: &mut [ServiceInfo]) {
    list.sort_by(|a, b| {
        (a.display_name.to_lowercase(), &a.name).cmp(&(b.display_name.to_lowercase(), &b.name))
    });
}

/// Relay chains (no relay network, type `Relay`) with their system and community chains
/// (matched by the relay's name), and every other service as an orphan.
fn hierarchy(config: &Config) -> serde_json::Value {
    let all: Vec<ServiceInfo> = config
        .catalog
        .services
        .values()
        .map(|s| info(s, config))
        .collect();
    let mut relays: BTreeMap<String, RelayChain> = all
        .iter()
        .filter(|s| s.relay_network.is_empty() && s.network_type == "Relay")
        .map(|s| {
            let chain = RelayChain {
                relay: s.clone(),
                system_chains: Vec::new(),
                community_chains: Vec::new(),
            };
            (s.name.clone(), chain)
        })
        .collect();
    let mut orphans = Vec::new();
    for service in all {
        if service.relay_network.is_empty() && service.network_type == "Relay" {
            continue;
        }
        let relay = relays.get_mut(&service.relay_network);
        match (relay, service.network_type.as_str()) {
            (Some(relay), "System") => relay.system_chains.push(service),
            (Some(relay), "Community") => relay.community_chains.push(service),
            _ => orphans.push(service),
        }
    }
    let mut chains: Vec<RelayChain> = relays.into_values().collect();
    for chain in &mut chains {
        by_display_name(&mut chain.system_chains);
        by_display_name(&mut chain.community_chains);
    }
    chains.sort_by(|a, b| {
        let key = |c: &RelayChain| (c.relay.display_name.to_lowercase(), c.relay.name.clone());
        key(a).cmp(&key(b))
    });
    by_display_name(&mut orphans);
    json!({ "relay_chains": chains, "orphans": orphans })
}

pub(crate) async fn services<N: Node>(
    State(node): State<N>,
    Query(params): Query<Params>,
) -> Response {
    let config = node.config();
    if let Some(name) = params.name.as_deref().filter(|n| !n.is_empty()) {
        // The original looked the name up exactly; any case is accepted here.
        return match config
            .catalog
            .services
            .values()
            .find(|s| s.id.as_str().eq_ignore_ascii_case(name))
        {
            Some(service) => Json(info(service, &config)).into_response(),
            None => {
                let message = format!("name: no service is named `{name}`");
                ApiError::new(StatusCode::NOT_FOUND, &message).into_response()
            }
        };
    }
    if params.hierarchy.as_deref() == Some("true") {
        return Json(hierarchy(&config)).into_response();
    }
    let mut list: Vec<ServiceInfo> = config
        .catalog
        .services
        .values()
        .map(|s| info(s, &config))
        .collect();
    list.sort_by(|a, b| (a.name.to_lowercase(), &a.name).cmp(&(b.name.to_lowercase(), &b.name)));
    let total = list.len();
    Json(json!({ "services": list, "total": total })).into_response()
}

/// Counts by type and network type, relay chains, active services, and the resources of
/// every service (per-node figures times its nodes), as the original.
pub(crate) async fn summary<N: Node>(State(node): State<N>) -> Response {
    let config = node.config();
    let services = &config.catalog.services;
    let mut types: BTreeMap<&str, usize> = BTreeMap::new();
    let mut networks: BTreeMap<String, usize> = BTreeMap::new();
    let mut total = Resources::default();
    for service in services.values() {
        *types.entry(service.service_type.ibp_name()).or_default() += 1;
        let network = service.network_type.clone().unwrap_or_default();
        *networks.entry(network).or_default() += 1;
        let r = service.resources;
        let nodes = f64::from(r.nodes);
        total.nodes += r.nodes;
        total.cores += r.cores * nodes;
        total.memory += r.memory * nodes;
        total.disk += r.disk * nodes;
        total.bandwidth += r.bandwidth * nodes;
    }
    let relays = services
        .values()
        .filter(|s| s.relay_network.is_none() && s.network_type.as_deref() == Some("Relay"))
        .count();
    Json(json!({
        "total_services": services.len(),
        "active_services": services.values().filter(|s| s.active).count(),
        "relay_chains": relays,
        "service_types": types,
        "network_types": networks,
        "total_resources": total,
    }))
    .into_response()
}
