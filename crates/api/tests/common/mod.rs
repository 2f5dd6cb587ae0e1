//! The fake node the route tests share: its results, readiness and tokens are set by
//! each test, and every change it is asked to make is recorded.
#![allow(
    clippy::unwrap_used,
    dead_code,
    unreachable_pub,
    reason = "test helpers"
)]

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use geodns_api::auth::Tokens;
use geodns_api::change::{ChangeError, OverrideChange};
use geodns_api::downtime::DowntimeQuery;
use geodns_api::requests::{DailyHits, Dimension, RequestFilter, RequestTotals};
use geodns_api::stats::{UsageBy, UsageTotal};
use geodns_api::{Check, Node, Readiness, router};
use geodns_consensus::results::Snapshot;
use geodns_core::config::{Config, Origin, SourceItems, build, parse_file};
use geodns_core::records::Outage;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Fake {
    pub official: Arc<Snapshot>,
    pub local: Arc<Snapshot>,
    pub store_ok: bool,
    pub tokens: Tokens,
    /// Every change made, as text.
    pub changes: Arc<Mutex<Vec<String>>>,
    /// The outage history.
    pub outages: Vec<Outage>,
    /// The configuration in effect.
    pub config: Arc<Config>,
    /// Every request filter asked for.
    pub asked: Arc<Mutex<Vec<RequestFilter>>>,
    /// The DNS role, when the node runs it.
    pub dns: Option<Arc<dyn geodns_api::pdns::Backend>>,
}

/// The fake's usage: two days, with an unknown ASN, an unknown member and a row without
/// a hostname.
pub fn daily(by: Dimension) -> Vec<DailyHits> {
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let hits = |date, key: &str, label: &str, hits| DailyHits {
        date,
        key: key.to_owned(),
        label: label.to_owned(),
        hits,
    };
    match by {
        Dimension::Country => vec![
            hits(day(29), "DE", "Germany", 15),
            hits(day(29), "??", "", 2),
            hits(day(30), "DE", "Germany", 1),
        ],
        Dimension::Asn => vec![
            hits(day(29), "AS3320", "Deutsche Telekom AG", 15),
            hits(day(29), "", "", 2),
        ],
        Dimension::Domain => vec![
            hits(
                day(29),
                "polkadot.dotters.network",
                "polkadot.dotters.network",
                15,
            ),
            hits(day(29), "other.example", "other.example", 3),
            hits(day(29), "", "", 2),
        ],
        Dimension::Member => vec![
            hits(day(29), "Stake Plus", "Stake Plus", 15),
            hits(day(29), "", "", 2),
        ],
    }
}

impl Node for Fake {
    fn official(&self) -> Arc<Snapshot> {
        self.official.clone()
    }
    fn local(&self) -> Arc<Snapshot> {
        self.local.clone()
    }
    fn cluster(&self) -> Value {
        json!([{"node_id": "mon-1", "role": "IBPMonitor", "active": true}])
    }
    fn consensus(&self) -> Value {
        json!({"node": "mon-1", "frozen": false})
    }
    fn now(&self) -> DateTime<Utc> {
        at(0)
    }
    fn ssl(&self) -> &'static str {
        "disabled"
    }
    async fn outages(&self, query: &DowntimeQuery) -> Result<Vec<Outage>, String> {
        // The store's rules: overlapping the window, filters, newest first, limited.
        let mut found: Vec<Outage> = self
            .outages
            .iter()
            .filter(|o| o.start <= query.to && o.end.is_none_or(|end| end >= query.from))
            .filter(|o| {
                query
                    .member
                    .as_deref()
                    .is_none_or(|m| o.key.member.as_str() == m)
            })
            .filter(|o| query.domain.as_deref().is_none_or(|d| o.key.domain == d))
            .filter(|o| query.kind.is_none_or(|k| o.key.kind == k))
            .filter(|o| {
                query
                    .ongoing
                    .is_none_or(|ongoing| o.end.is_none() == ongoing)
            })
            .cloned()
            .collect();
        found.sort_by_key(|o| std::cmp::Reverse(o.start));
        found.truncate(query.limit as usize);
        Ok(found)
    }
    async fn member_usage(
        &self,
        member: &str,
        _days: (chrono::NaiveDate, chrono::NaiveDate),
        by: UsageBy,
    ) -> Result<Vec<UsageTotal>, String> {
        if member != "Stake Plus" {
            return Ok(Vec::new());
        }
        let row = |k: &str, l: &str, h: i64| (k.to_owned(), l.to_owned(), h);
        Ok(match by {
            UsageBy::Country => vec![row("DE", "Germany", 30), row("US", "United States", 12)],
            UsageBy::Domain => vec![row(
                "polkadot.dotters.network",
                "polkadot.dotters.network",
                42,
            )],
        })
    }
    async fn routes(&self, countries: &[&str]) -> Result<Vec<Value>, String> {
        Ok(countries
            .iter()
            .map(|country| {
                let member = if *country == "US" {
                    "Stake Plus"
                } else {
                    "Rotko"
                };
                json!({"host": "polkadot.dotters.network", "country": country,
                    "ipv4": {"members": [member], "addresses": ["192.0.2.1"], "mode": "healthy"},
                    "ipv6": {"members": [], "addresses": [], "mode": "none"}})
            })
            .collect())
    }
    fn config(&self) -> Arc<Config> {
        self.config.clone()
    }
    fn service_of(&self, domain: &str) -> Option<String> {
        (domain == "polkadot.dotters.network").then(|| "Polkadot".to_owned())
    }
    fn tokens(&self) -> std::sync::Arc<Tokens> {
        std::sync::Arc::new(self.tokens.clone())
    }
    async fn set_maintenance(&self, member: &str, on: bool, by: &str) -> Result<(), ChangeError> {
        if member != "Amforc" && member != "Rotko" {
            return Err(ChangeError::UnknownMember(member.to_owned()));
        }
        self.changes
            .lock()
            .unwrap()
            .push(format!("maintenance {member} {on} by {by}"));
        Ok(())
    }
    async fn change_override(&self, change: OverrideChange, by: &str) -> Result<(), ChangeError> {
        if let OverrideChange::Set { country, .. } = &change
            && country.len() != 2
        {
            return Err(ChangeError::Invalid(format!(
                "countryCode: `{country}` is not a country code"
            )));
        }
        self.changes
            .lock()
            .unwrap()
            .push(format!("{change:?} by {by}"));
        Ok(())
    }
    async fn requests(
        &self,
        filter: &RequestFilter,
        by: Dimension,
    ) -> Result<Vec<DailyHits>, String> {
        self.asked.lock().unwrap().push(filter.clone());
        if !self.store_ok {
            return Err("connection refused".into());
        }
        // A member with more usage than one answer may hold: as many rows as allowed.
        if filter.members.iter().any(|m| m == "Busy") {
            let row = daily(by).remove(0);
            return Ok(vec![row; filter.limit as usize]);
        }
        Ok(daily(by))
    }
    async fn requests_summary(
        &self,
        days: (NaiveDate, NaiveDate),
    ) -> Result<RequestTotals, String> {
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let covered = days.0 <= day && day <= days.1;
        Ok(match covered {
            true => RequestTotals {
                requests: 18,
                countries: 2,
                asns: 1,
                members: 1,
                domains: 2,
            },
            false => RequestTotals::default(),
        })
    }
    fn dns(&self) -> Option<Arc<dyn geodns_api::pdns::Backend>> {
        self.dns.clone()
    }
    async fn metrics(&self) -> Vec<geodns_node::metrics::Family> {
        vec![
            geodns_node::metrics::Family::counter("fake_queries_total", "Queries.")
                .sample(&[("rcode", "NOERROR")], 2.0),
        ]
    }
    async fn readiness(&self) -> Readiness {
        Readiness::of(vec![
            Check {
                name: "store".into(),
                ok: self.store_ok,
                detail: if self.store_ok {
                    "ok in 2ms".into()
                } else {
                    "connection refused".into()
                },
            },
            Check {
                name: "bus".into(),
                ok: true,
                detail: "connected".into(),
            },
        ])
    }
}

pub fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 10, minute, 0).unwrap()
}

/// Serves `node` on 127.0.0.1; returns its base URL.
pub async fn serve(node: Fake) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // The node's own accept loop, as `geodns run` serves it (peer addresses included).
    let limits = geodns_api::serve::Limits::of(&node.config.api);
    let slots = geodns_node::slots::Slots::new(limits.caps);
    let tasks = geodns_node::Tasks::new(tokio_util::sync::CancellationToken::new());
    tokio::spawn(geodns_api::serve::serve(
        listener,
        None,
        router(node),
        (slots, limits),
        tasks,
    ));
    format!("http://{address}")
}

/// A node with nothing decided, a working store, a root token `root-secret` and a token
/// `amforc-secret` for Amforc.
pub fn empty() -> Fake {
    Fake {
        official: Arc::default(),
        local: Arc::default(),
        store_ok: true,
        tokens: Tokens::default()
            .with_root(Tokens::digest("root-secret"))
            .with_member("Amforc", Tokens::digest("amforc-secret")),
        changes: Arc::default(),
        outages: Vec::new(),
        config: config(),
        asked: Arc::default(),
        dns: None,
    }
}

/// Two members (one in maintenance, one with a join date) and a service.
pub fn config() -> Arc<Config> {
    config_with("")
}

/// [`config`] with `extra` TOML (e.g. an `[api]` section) added.
pub fn config_with(extra: &str) -> Arc<Config> {
    let text = format!("{extra}\n{CATALOG}");
    config_from(&text)
}

const CATALOG: &str = r#"
[node]
id = "api-test"

[[services]]
name = "Polkadot"
type = "substrate_rpc"
endpoints = ["wss://polkadot.dotters.network"]

[[members]]
name = "Stake Plus"
slug = "stakeplus"
level = 6
ipv4 = "192.0.2.1"
ipv6 = "2001:db8::1"
latitude = 35.08
longitude = -106.65
region = "NA"
services = ["Polkadot"]
website = "https://stake.plus"
joined = "2023-11-14"

[[members]]
name = "Rotko"
level = 5
ipv4 = "192.0.2.2"
latitude = 50.1
longitude = 8.7
region = "EU"
maintenance = true
"#;

/// A configuration from TOML text (panics naming what is wrong).
pub fn config_from(text: &str) -> Arc<Config> {
    let origin = Origin("api-test.toml".to_owned());
    Arc::new(
        build(
            parse_file(text, &origin).unwrap(),
            &origin,
            SourceItems::default(),
        )
        .unwrap(),
    )
}

/// GETs `path`: status, headers and the JSON body.
pub async fn get(base: &str, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client.get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    (status, headers, body)
}

/// GETs `path`: status and the JSON body.
pub async fn get_json(base: &str, path: &str) -> (u16, Value) {
    let (status, _, body) = get(base, path).await;
    (status, body)
}
