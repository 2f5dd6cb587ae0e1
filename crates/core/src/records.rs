//! Typed records the store keeps: DNS usage counters and provider outages, validated
//! before they reach a database so bad input never becomes a half-written row.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::ids::{MemberId, NodeId};
use crate::model::CheckKind;

/// A record that breaks a rule; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A required text field is empty.
    #[error("{field}: must not be empty")]
    Empty {
        /// Field name.
        field: &'static str,
    },
    /// A text field is longer than its column.
    #[error("{field}: longer than {max} characters")]
    TooLong {
        /// Field name.
        field: &'static str,
        /// Limit in characters.
        max: usize,
    },
    /// A value outside its allowed range or form.
    #[error("{field}: {reason}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// What is allowed.
        reason: String,
    },
    /// JSON that must be an object is something else.
    #[error("{field}: must be a JSON object, got {found}")]
    NotAnObject {
        /// Field name.
        field: &'static str,
        /// The JSON type found (`array`, `string`, ...).
        found: &'static str,
    },
}

fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<(), RecordError> {
    if required && value.trim().is_empty() {
        return Err(RecordError::Empty { field });
    }
    if value.chars().count() > max {
        return Err(RecordError::TooLong { field, max });
    }
    if value.chars().any(|c| c == '\0') {
        return Err(RecordError::Invalid {
            field,
            reason: "must not contain NUL".to_owned(),
        });
    }
    Ok(())
}

/// Earliest and latest usage dates accepted.
pub const USAGE_DATE_RANGE: (NaiveDate, NaiveDate) = match (
    NaiveDate::from_ymd_opt(2000, 1, 1),
    NaiveDate::from_ymd_opt(2199, 12, 31),
) {
    (Some(first), Some(last)) => (first, last),
    _ => panic!("constant dates are valid"),
};

/// What one usage counter counts: queries answered on one UTC day by one DNS node for one
/// hostname, member, client network and country, over IPv4 or IPv6 answers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsageKey {
    /// UTC day.
    pub date: NaiveDate,
    /// DNS node that answered.
    pub node: NodeId,
    /// Hostname asked for.
    pub domain: String,
    /// Member answered with; `(none)` when no member was available.
    pub member: String,
    /// Client's autonomous system, `AS<n>`, or empty when unknown.
    pub asn: String,
    /// Client's network (ASN organisation), possibly empty.
    pub network: String,
    /// Client's ISO country code, or `??` when unknown.
    pub country_code: String,
    /// Client's country name in English, `Unknown` when unknown.
    pub country_name: String,
    /// The answer was AAAA.
    pub ipv6: bool,
}

impl UsageKey {
    /// Checks every field against its rule and column size.
    pub fn validate(&self) -> Result<(), RecordError> {
        let (first, last) = USAGE_DATE_RANGE;
        if self.date < first || self.date > last {
            return Err(RecordError::Invalid {
                field: "date",
                reason: format!("{} is outside {first}..={last}", self.date),
            });
        }
        check_text("domain", &self.domain, 253, true)?;
        check_text("member", &self.member, 128, true)?;
        check_text("network", &self.network, 255, false)?;
        check_text("country_name", &self.country_name, 128, false)?;
        let asn_ok = self.asn.is_empty()
            || (self.asn.len() <= 12
                && self.asn.starts_with("AS")
                && self.asn.len() > 2
                && self.asn[2..].bytes().all(|b| b.is_ascii_digit()));
        if !asn_ok {
            return Err(RecordError::Invalid {
                field: "asn",
                reason: format!("`{}` is not AS<number> or empty", self.asn),
            });
        }
        let cc = self.country_code.as_bytes();
        let cc_ok =
            self.country_code == "??" || (cc.len() == 2 && cc.iter().all(u8::is_ascii_uppercase));
        if !cc_ok {
            return Err(RecordError::Invalid {
                field: "country_code",
                reason: format!(
                    "`{}` is not two upper-case letters or `??`",
                    self.country_code
                ),
            });
        }
        Ok(())
    }
}

/// A usage counter and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// What is counted.
    pub key: UsageKey,
    /// How many queries (an increment or a total, depending on the write mode).
    pub hits: i64,
}

impl UsageRow {
    /// Checks the key and that `hits` is not negative.
    pub fn validate(&self) -> Result<(), RecordError> {
        self.key.validate()?;
        if self.hits < 0 {
            return Err(RecordError::Invalid {
                field: "hits",
                reason: format!("{} is negative", self.hits),
            });
        }
        Ok(())
    }
}

/// Identifies one health check of one member: the unit that is up or down.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckKey {
    /// Site, domain or endpoint check.
    pub kind: CheckKind,
    /// Check name (`wss`).
    pub check: String,
    /// The member checked.
    pub member: MemberId,
    /// Hostname for domain and endpoint checks, empty for site checks.
    pub domain: String,
    /// Endpoint URL for endpoint checks, empty otherwise.
    pub endpoint: String,
    /// Checked over IPv6.
    pub ipv6: bool,
}

impl CheckKey {
    /// Checks text fields against their column sizes.
    pub fn validate(&self) -> Result<(), RecordError> {
        check_text("check", &self.check, 64, true)?;
        check_text("domain", &self.domain, 253, false)?;
        check_text("endpoint", &self.endpoint, 512, false)?;
        if self.kind != CheckKind::Site && self.domain.is_empty() {
            return Err(RecordError::Empty { field: "domain" });
        }
        Ok(())
    }

    /// A stable text form, `kind|check|member|domain|endpoint|v4` (the original's alert key).
    pub fn canonical(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}",
            self.kind,
            self.check,
            self.member,
            self.domain,
            self.endpoint,
            if self.ipv6 { "v6" } else { "v4" }
        )
    }
}

impl fmt::Display for CheckKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// Votes behind a decision: node → agreed.
pub type Votes = BTreeMap<NodeId, bool>;

/// An outage as recorded when it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct OutageStart {
    /// What is down.
    pub key: CheckKey,
    /// When it went down (the decision time).
    pub start: DateTime<Utc>,
    /// Error text of the failing check.
    pub error: String,
    /// Who voted how.
    pub votes: Votes,
    /// Check data (latencies, peer counts, ...).
    pub data: Map<String, Value>,
}

impl OutageStart {
    /// Checks the key and the error text.
    pub fn validate(&self) -> Result<(), RecordError> {
        self.key.validate()?;
        check_text("error", &self.error, 65_535, false)
    }
}

/// A recorded outage; `end` is `None` while it lasts.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    /// Row id.
    pub id: i64,
    /// What is or was down.
    pub key: CheckKey,
    /// Start.
    pub start: DateTime<Utc>,
    /// End, once resolved.
    pub end: Option<DateTime<Utc>>,
    /// Error text.
    pub error: String,
    /// Votes behind the decision.
    pub votes: Votes,
    /// Check data.
    pub data: Map<String, Value>,
}

/// Accepts only a JSON object; names the field and the type found otherwise.
pub fn json_object(field: &'static str, value: Value) -> Result<Map<String, Value>, RecordError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(RecordError::NotAnObject {
            field,
            found: json_type(&other),
        }),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> UsageKey {
        UsageKey {
            date: NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
            node: NodeId::parse("dns-1").unwrap(),
            domain: "rpc.dotters.network".into(),
            member: "Stake Plus".into(),
            asn: "AS3320".into(),
            network: "Deutsche Telekom AG".into(),
            country_code: "DE".into(),
            country_name: "Germany".into(),
            ipv6: false,
        }
    }

    #[test]
    fn usage_rules() {
        assert!(
            UsageRow {
                key: key(),
                hits: 1
            }
            .validate()
            .is_ok()
        );
        let cases: Vec<(UsageRow, &str)> = vec![
            (
                UsageRow {
                    key: UsageKey {
                        member: " ".into(),
                        ..key()
                    },
                    hits: 1,
                },
                "member: must not be empty",
            ),
            (
                UsageRow {
                    key: key(),
                    hits: -1,
                },
                "hits: -1 is negative",
            ),
            (
                UsageRow {
                    key: UsageKey {
                        date: NaiveDate::from_ymd_opt(1999, 12, 31).unwrap(),
                        ..key()
                    },
                    hits: 1,
                },
                "date: 1999-12-31 is outside 2000-01-01..=2199-12-31",
            ),
            (
                UsageRow {
                    key: UsageKey {
                        asn: "3320".into(),
                        ..key()
                    },
                    hits: 1,
                },
                "asn: `3320` is not AS<number> or empty",
            ),
            (
                UsageRow {
                    key: UsageKey {
                        country_code: "de".into(),
                        ..key()
                    },
                    hits: 1,
                },
                "country_code: `de` is not two upper-case letters or `??`",
            ),
            (
                UsageRow {
                    key: UsageKey {
                        domain: "x".repeat(254),
                        ..key()
                    },
                    hits: 1,
                },
                "domain: longer than 253 characters",
            ),
        ];
        for (row, expected) in cases {
            assert_eq!(row.validate().unwrap_err().to_string(), expected);
        }
    }

    #[test]
    fn json_must_be_an_object() {
        assert_eq!(
            json_object("data", serde_json::json!([1]))
                .unwrap_err()
                .to_string(),
            "data: must be a JSON object, got an array"
        );
        assert!(json_object("data", serde_json::json!({"a": 1})).is_ok());
    }
}
