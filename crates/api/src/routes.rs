//! Every route once: path, method, handler and documentation. The router
//! ([`crate::node::router`]) and the OpenAPI document (`/api/openapi.json`,
//! [`crate::openapi::document`]) are both built from this table, so the document cannot
//! miss or invent a route.

use std::collections::BTreeMap;

use axum::routing::{MethodRouter, delete, get, post, put};

use crate::Node;

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// `?name=value`.
    Query,
    /// `{name}` in the path.
    Path,
}

/// One parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Name.
    pub name: &'static str,
    /// Where it goes.
    pub at: At,
    /// Must be given.
    pub required: bool,
    /// What it means, with its default and rules.
    pub description: &'static str,
}

/// What a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `application/json`.
    Json,
    /// Prometheus text.
    Metrics,
    /// An HTML page.
    Html,
}

/// A route's documentation.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    /// Group.
    pub tag: &'static str,
    /// One line.
    pub summary: &'static str,
    /// More, when one line is not enough.
    pub description: Option<&'static str>,
    /// Parameters.
    pub params: &'static [Param],
    /// The JSON request body, described; `None` without one.
    pub request: Option<&'static str>,
    /// Statuses it answers with (besides 200) and when.
    pub errors: &'static [(u16, &'static str)],
    /// Needs a bearer token.
    pub auth: bool,
    /// What a 200 carries.
    pub body: Body,
}

/// One route.
#[derive(Debug)]
pub struct Route<N> {
    /// Path, `{name}` for a path parameter (axum's and OpenAPI's syntax alike).
    pub path: &'static str,
    /// `get`, `put`, `post` or `delete`.
    pub method: &'static str,
    /// The handler.
    pub handler: MethodRouter<N>,
    /// Its documentation.
    pub doc: Doc,
}

const fn query(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        at: At::Query,
        required: false,
        description,
    }
}

const fn path(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        at: At::Path,
        required: true,
        description,
    }
}

const START: Param = query("start", "First day, YYYY-MM-DD (default today, UTC).");
const END: Param = query(
    "end",
    "Last day, YYYY-MM-DD, inclusive to 23:59:59 UTC (default today); at most 366 days after start.",
);
const DAYS: &[Param] = &[START, END];
const FILTERS: &[Param] = &[
    START,
    END,
    query("country", "Country codes, comma-separated (DE,FR)."),
    query("asn", "ASNs, comma-separated (AS3320)."),
    query(
        "network",
        "Parts of network names, comma-separated, any case.",
    ),
    query(
        "service",
        "Service names, comma-separated: their hostnames.",
    ),
    query(
        "member",
        "Member names, comma-separated (spaces as + or %20).",
    ),
    query(
        "domain",
        "Hostnames, comma-separated. At most 50 filter values in all.",
    ),
];
const DOWNTIME: &[Param] = &[
    START,
    END,
    query("member", "Only this member (spaces as + or %20)."),
    query(
        "service",
        "Only this service's hostnames (and site events).",
    ),
    query("domain", "Only this hostname."),
    query("check_type", "site, domain or endpoint."),
    query("status", "ongoing or resolved."),
];
const BAD: (u16, &str) = (400, "A parameter is wrong; the error names it.");
const STORE: (u16, &str) = (500, "The store failed.");
const DENIED: [(u16, &str); 2] = [
    (401, "No token, or an unknown one; nothing changed."),
    (403, "The token may not make this change; nothing changed."),
];

const MEMBER_QUERY: &[Param] = &[query("name", "One member, by name or slug (any case).")];
const MEMBER_STATS: &[Param] = &[
    Param {
        required: true,
        ..query("name", "The member, by name or slug.")
    },
    START,
    END,
];
const SERVICE_QUERY: &[Param] = &[
    query("name", "One service (any case)."),
    query(
        "hierarchy",
        "true: relay chains with their system and community chains.",
    ),
];
const MEMBER_PATH: &[Param] = &[path("name", "The member.")];
const OVERRIDE_PATH: &[Param] = &[
    path("domain", "The hostname."),
    path("country", "Two-letter country code."),
];
const DOMAIN_PATH: &[Param] = &[path("domain", "The hostname.")];
const MAINTENANCE_ERRORS: &[(u16, &str)] =
    &[BAD, DENIED[0], DENIED[1], (404, "No such member."), STORE];
const CHANGE_ERRORS: &[(u16, &str)] = &[BAD, DENIED[0], DENIED[1], STORE];

/// Where the usage routes read from (their OpenAPI description).
const USAGE_SOURCE: &str = "Read from the store's usage table, which holds one cumulative count per UTC day, DNS node and key (hostname, member, network, country, family). Each DNS node writes its own rows there every `[dns] usage_flush`; a collator stores each DNS node's collected copy (`dns.usage.getUsage`, every `[collator] usage_every`) under that node in the same rows, keeping the larger total. So where a collator runs, these are the collected copies (merged with the nodes' own writes when they share the store), and where none runs, the DNS nodes' own rows. Either way each query is counted once, on a node with every role too; a node's count lags by at most its `usage_flush` or the collator's `usage_every`.";

const fn doc(tag: &'static str, summary: &'static str) -> Doc {
    Doc {
        tag,
        summary,
        description: None,
        params: &[],
        request: None,
        errors: &[],
        auth: false,
        body: Body::Json,
    }
}

fn route<N>(
    method: &'static str,
    path: &'static str,
    handler: MethodRouter<N>,
    doc: Doc,
) -> Route<N> {
    Route {
        path,
        method,
        handler,
        doc,
    }
}

/// Every route of the API.
pub fn routes<N: Node>() -> Vec<Route<N>> {
    use crate::{change, downtime, members, node, pdns, requests, services, stats, status};
    vec![
        route(
            "get",
            "/",
            get(status::page),
            Doc {
                body: Body::Html,
                ..doc(
                    "status",
                    "The status page (refreshes itself from /api/status).",
                )
            },
        ),
        route(
            "get",
            "/api/status",
            get(status::data::<N>),
            doc(
                "status",
                "What the status page shows: health per hostname and member, ongoing outages, the last day's events, routes for sample countries.",
            ),
        ),
        route(
            "get",
            "/health",
            get(node::health),
            doc("node", "Liveness: {\"status\": \"ok\"}."),
        ),
        route(
            "get",
            "/ready",
            get(node::ready::<N>),
            Doc {
                errors: &[(503, "Not ready; each failed check says why.")],
                ..doc("node", "Readiness: store, bus and snapshot checks.")
            },
        ),
        route(
            "get",
            "/results",
            get(node::results::<N>),
            doc(
                "node",
                "The original monitor's results (official, else local), header X-IBP-Results-Source.",
            ),
        ),
        route(
            "get",
            "/metrics",
            get(node::metrics::<N>),
            Doc {
                body: Body::Metrics,
                ..doc("node", "Prometheus metrics (text format 0.0.4).")
            },
        ),
        route(
            "post",
            "/dns",
            post(pdns::dns::<N>),
            Doc {
                request: Some("A PowerDNS remote backend call: {\"method\", \"parameters\"}."),
                errors: &[
                    (
                        400,
                        "Unknown method ({\"result\":\"Invalid Request\"}) or not a request.",
                    ),
                    (413, "The body is larger than 1 MB."),
                    (503, "This node does not run the dns role."),
                ],
                ..doc(
                    "powerdns",
                    "The PowerDNS remote backend (HTTP connector, post_json).",
                )
            },
        ),
        route(
            "get",
            "/api/cluster",
            get(node::cluster::<N>),
            doc("node", "The nodes this node sees."),
        ),
        route(
            "get",
            "/api/consensus",
            get(node::consensus::<N>),
            doc("node", "This node's consensus state."),
        ),
        route(
            "get",
            "/api/health",
            get(node::api_health::<N>),
            doc(
                "collator",
                "The original collator's health: status, timestamp, version, ssl.",
            ),
        ),
        route(
            "get",
            "/api/openapi.json",
            get(crate::openapi::serve::<N>),
            doc("node", "This document."),
        ),
        route(
            "get",
            "/api/members",
            get(members::members::<N>),
            Doc {
                params: MEMBER_QUERY,
                errors: &[(404, "No such member.")],
                ..doc("collator", "Members, with maintenance as `override`.")
            },
        ),
        route(
            "get",
            "/api/members/stats",
            get(stats::member_stats::<N>),
            Doc {
                description: Some(USAGE_SOURCE),
                params: MEMBER_STATS,
                errors: &[BAD, (404, "No such member."), STORE],
                ..doc(
                    "collator",
                    "A member's requests, downtime and uptime over the days asked.",
                )
            },
        ),
        route(
            "get",
            "/api/requests/country",
            get(requests::by_country::<N>),
            Doc {
                description: Some(USAGE_SOURCE),
                params: FILTERS,
                errors: &[BAD, STORE],
                ..doc("collator", "Requests per day and country.")
            },
        ),
        route(
            "get",
            "/api/requests/asn",
            get(requests::by_asn::<N>),
            Doc {
                description: Some(USAGE_SOURCE),
                params: FILTERS,
                errors: &[BAD, STORE],
                ..doc("collator", "Requests per day and network (ASN).")
            },
        ),
        route(
            "get",
            "/api/requests/service",
            get(requests::by_service::<N>),
            Doc {
                description: Some(USAGE_SOURCE),
                params: FILTERS,
                errors: &[BAD, STORE],
                ..doc(
                    "collator",
                    "Requests per day and hostname, with its service.",
                )
            },
        ),
        route(
            "get",
            "/api/requests/member",
            get(requests::by_member::<N>),
            Doc {
                description: Some(USAGE_SOURCE),
                params: FILTERS,
                errors: &[BAD, STORE],
                ..doc("collator", "Requests per day and member.")
            },
        ),
        route(
            "get",
            "/api/requests/summary",
            get(requests::summary::<N>),
            Doc {
                description: Some(USAGE_SOURCE),
                params: DAYS,
                errors: &[BAD, STORE],
                ..doc(
                    "collator",
                    "Totals and distinct counts over the days asked.",
                )
            },
        ),
        route(
            "get",
            "/api/services",
            get(services::services::<N>),
            Doc {
                params: SERVICE_QUERY,
                errors: &[(404, "No such service.")],
                ..doc("collator", "The configured services.")
            },
        ),
        route(
            "get",
            "/api/services/summary",
            get(services::summary::<N>),
            doc(
                "collator",
                "Service counts by type and network type, and total resources.",
            ),
        ),
        route(
            "get",
            "/api/downtime/events",
            get(downtime::events::<N>),
            Doc {
                params: DOWNTIME,
                errors: &[BAD, STORE],
                ..doc(
                    "collator",
                    "Outages overlapping the days asked, newest first.",
                )
            },
        ),
        route(
            "get",
            "/api/downtime/current",
            get(downtime::current::<N>),
            Doc {
                errors: &[STORE],
                ..doc("collator", "Ongoing outages.")
            },
        ),
        route(
            "get",
            "/api/downtime/summary",
            get(downtime::summary::<N>),
            Doc {
                params: DAYS,
                errors: &[BAD, STORE],
                ..doc("collator", "Outage counts and hours over the days asked.")
            },
        ),
        route(
            "put",
            "/api/members/{name}/maintenance",
            put(change::set_maintenance::<N>),
            Doc {
                params: MEMBER_PATH,
                request: Some("{\"maintenance\": true|false}"),
                errors: MAINTENANCE_ERRORS,
                auth: true,
                ..doc(
                    "change",
                    "Puts a member in maintenance or takes it out, cluster-wide.",
                )
            },
        ),
        route(
            "put",
            "/api/overrides/{domain}/{country}",
            put(change::set_override::<N>),
            Doc {
                params: OVERRIDE_PATH,
                request: Some("{\"member\": \"…\"} or {\"ipv4\": \"…\", \"ipv6\": \"…\"}"),
                errors: CHANGE_ERRORS,
                auth: true,
                ..doc(
                    "change",
                    "Sends a country's clients to a member or to literal addresses.",
                )
            },
        ),
        route(
            "delete",
            "/api/overrides/{domain}/{country}",
            delete(change::remove_override::<N>),
            Doc {
                params: OVERRIDE_PATH,
                errors: CHANGE_ERRORS,
                auth: true,
                ..doc("change", "Removes one country's override.")
            },
        ),
        route(
            "delete",
            "/api/overrides/{domain}",
            delete(change::clear_overrides::<N>),
            Doc {
                params: DOMAIN_PATH,
                errors: CHANGE_ERRORS,
                auth: true,
                ..doc("change", "Removes every override of a hostname.")
            },
        ),
    ]
}

/// The handlers by path, methods of one path merged.
pub(crate) fn by_path<N: Node>() -> BTreeMap<&'static str, MethodRouter<N>> {
    let mut paths: BTreeMap<&'static str, MethodRouter<N>> = BTreeMap::new();
    for route in routes::<N>() {
        let merged = match paths.remove(route.path) {
            Some(existing) => existing.merge(route.handler),
            None => route.handler,
        };
        paths.insert(route.path, merged);
    }
    paths
}
