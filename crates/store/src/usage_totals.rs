//! Usage summed over DNS nodes, one row per counter key (the shape `dns.usage.getUsage`
//! answers with): what a DNS node reports of its own table, or a collator of all nodes.

use chrono::NaiveDate;
use sqlx::Row;

use crate::connect::SqlStore;
use crate::error::db;
use crate::traits::Result;
use crate::usage::{UsageFilter, parse_date};

/// Hits of one counter key, summed over nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageTotal {
    /// Day.
    pub date: NaiveDate,
    /// Hostname.
    pub domain: String,
    /// Member.
    pub member: String,
    /// Country code.
    pub country_code: String,
    /// `AS<n>` or empty.
    pub asn: String,
    /// Network name.
    pub network: String,
    /// Country name.
    pub country_name: String,
    /// AAAA answers.
    pub ipv6: bool,
    /// Sum of hits.
    pub hits: i64,
}

const KEY: &str = "date, domain_name, member_name, country_code, network_asn, network_name, country_name, is_ipv6";

impl SqlStore {
    /// Rows matching `filter`, summed over nodes, ordered by key.
    pub async fn usage_totals(&self, filter: &UsageFilter) -> Result<Vec<UsageTotal>> {
        let hits = self.backend.int("SUM(hits)");
        let ipv6 = self.backend.int("is_ipv6");
        let head = format!(
            "SELECT date, domain_name, member_name, country_code, network_asn, network_name, \
             country_name, {ipv6} AS ipv6, {hits} AS hits"
        );
        let tail = format!(" GROUP BY {KEY} ORDER BY {KEY}");
        let rows = filter
            .statement(self.backend, &head, &tail)
            .fetch_all(&self.pool)
            .await
            .map_err(db("query usage totals"))?;
        rows.iter().map(total).collect()
    }
}

fn total(row: &sqlx::any::AnyRow) -> Result<UsageTotal> {
    let text = |name: &str| {
        row.try_get::<String, _>(name)
            .map_err(db("decode usage totals"))
    };
    let date = text("date")?;
    Ok(UsageTotal {
        date: parse_date(&date)?,
        domain: text("domain_name")?,
        member: text("member_name")?,
        country_code: text("country_code")?,
        asn: text("network_asn")?,
        network: text("network_name")?,
        country_name: text("country_name")?,
        ipv6: row
            .try_get::<i64, _>("ipv6")
            .map_err(db("decode usage totals"))?
            != 0,
        hits: row.try_get("hits").map_err(db("decode usage totals"))?,
    })
}
