//! Alerts: what a change of outage history says, and to whom. An OFFLINE message per
//! outage (member, check, domain, endpoint, family, error, the monitors that voted,
//! @-mentions of the member's contacts); on recovery the same message is edited to ONLINE
//! with the outage's duration. Formatting is pure; [`matrix`] talks to the homeserver,
//! [`outbox`] sends the alerts the store owes, retrying while Matrix is down.

pub mod matrix;
pub mod outbox;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use geodns_core::ids::MemberId;
use geodns_core::model::{AlertRouting, Member};
use serde_json::{Value, json};

use crate::decision::Decision;
use crate::writer::{Change, ChangeKind};

/// One outage as an alert shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    /// The outage's row id: the alert's identity across restarts and collators.
    pub outage: i64,
    /// Member display name.
    pub member: String,
    /// `site`, `domain` or `endpoint`.
    pub check_type: String,
    /// Check name (`wss`).
    pub check_name: String,
    /// Hostname, if any.
    pub domain: String,
    /// Endpoint URL, if any.
    pub endpoint: String,
    /// IPv6 family.
    pub ipv6: bool,
    /// The check's error.
    pub error: String,
    /// Monitors that voted, with how (`true`: agreed it is down).
    pub votes: BTreeMap<String, bool>,
    /// Matrix user ids to mention.
    pub mentions: Vec<String>,
    /// When the outage started.
    pub started: DateTime<Utc>,
    /// When it ended and how long it lasted (ONLINE).
    pub ended: Option<(DateTime<Utc>, Duration)>,
}

impl Alert {
    /// The alert of a change; mentions come from `routing`, matched to the outage's member
    /// by id, slug or display name (case-insensitive).
    pub fn of(
        change: &Change,
        routing: &AlertRouting,
        members: &BTreeMap<MemberId, Member>,
    ) -> Alert {
        let (outage, ended) = match change.kind {
            ChangeKind::Opened { id } => (id, None),
            ChangeKind::Closed { id, duration, .. } | ChangeKind::Recorded { id, duration } => {
                (id, change.ended.map(|end| (end, duration)))
            }
        };
        let mut alert = Alert::of_decision(&change.decision, routing, members);
        if let (ChangeKind::Closed { .. }, Some((end, duration))) = (change.kind, ended) {
            alert.started = end - chrono::TimeDelta::from_std(duration).unwrap_or_default();
        }
        Alert {
            outage,
            ended,
            ..alert
        }
    }

    /// What `decision` says as an alert, before its outage is known: the outage's id
    /// (0 here) and times are filled in from the stored outage
    /// ([`outbox::alert_of`]).
    pub fn of_decision(
        decision: &Decision,
        routing: &AlertRouting,
        members: &BTreeMap<MemberId, Member>,
    ) -> Alert {
        let key = &decision.key;
        Alert {
            outage: 0,
            member: key.member.to_string(),
            check_type: key.kind.as_str().to_owned(),
            check_name: key.check.clone(),
            domain: key.domain.clone(),
            endpoint: key.endpoint.clone(),
            ipv6: key.ipv6,
            error: decision.error.clone(),
            votes: decision
                .votes
                .iter()
                .map(|(node, agree)| (node.to_string(), *agree))
                .collect(),
            mentions: mentions_for(&key.member, routing, members),
            started: decision.decided_at,
            ended: None,
        }
    }

    /// The OFFLINE message (`m.room.message` content), mentioning the member's contacts.
    pub fn offline(&self) -> Value {
        let mut plain = String::new();
        let mut html = String::new();
        if !self.mentions.is_empty() {
            plain.push_str(&self.mentions.join(" "));
            plain.push('\n');
            let pills: Vec<String> = self
                .mentions
                .iter()
                .map(|user| {
                    format!(
                        "<a href=\"https://matrix.to/#/{}\">{}</a>",
                        escape(user),
                        escape(user)
                    )
                })
                .collect();
            let _ = write!(html, "{}<br>", pills.join(" "));
        }
        plain.push_str("⚠️  *OFFLINE*\n");
        html.push_str("⚠️ <b>OFFLINE</b><br>");
        self.fields(&mut plain, &mut html, true);
        let mut content = message(plain, html);
        content["m.mentions"] = json!({ "user_ids": self.mentions });
        content
    }

    /// The ONLINE message: the same fields, the duration, no mentions.
    pub fn online(&self) -> Value {
        let mut plain = String::from("✅  *ONLINE*\n");
        let mut html = String::from("✅ <b>ONLINE</b><br>");
        self.fields(&mut plain, &mut html, false);
        message(plain, html)
    }

    /// The ONLINE text as an `m.replace` edit of `event_id`.
    pub fn online_edit(&self, event_id: &str) -> Value {
        let new = self.online();
        json!({
            "msgtype": "m.text",
            "body": format!("* {}", new["body"].as_str().unwrap_or_default()),
            "format": "org.matrix.custom.html",
            "formatted_body": format!("* {}", new["formatted_body"].as_str().unwrap_or_default()),
            "m.new_content": new,
            "m.relates_to": { "rel_type": "m.replace", "event_id": event_id },
            // The edit mentions nobody: contacts were pinged by the original message.
            "m.mentions": {},
        })
    }

    fn fields(&self, plain: &mut String, html: &mut String, offline: bool) {
        let mut line = |name: &str, value: &str, bold: bool| {
            let _ = writeln!(plain, "• {name}: {value}");
            let value = escape(value);
            let value = if bold {
                format!("<b>{value}</b>")
            } else {
                value
            };
            let _ = write!(html, "• {name}: {value}<br>");
        };
        line("Member", &self.member, true);
        line(
            "Check",
            &format!("{} / {}", self.check_type, self.check_name),
            false,
        );
        if !self.domain.is_empty() {
            line("Domain", &self.domain, false);
        }
        if !self.endpoint.is_empty() {
            line("Endpoint", &self.endpoint, false);
        }
        line("IPv6", if self.ipv6 { "true" } else { "false" }, false);
        if offline {
            line("Error", &self.error, false);
        }
        line(
            "Since",
            &self.started.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            false,
        );
        if let Some((end, duration)) = self.ended {
            line(
                "Until",
                &end.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                false,
            );
            line("Duration", &human(duration), false);
        }
        if !self.votes.is_empty() {
            let votes: Vec<String> = self
                .votes
                .iter()
                .map(|(node, agree)| format!("{node} {}", if *agree { "✔" } else { "✘" }))
                .collect();
            line("Votes", &votes.join(", "), false);
        }
    }
}

/// The Matrix users to mention for `member`: its own entry, else the entry of the member
/// whose id, slug or display name matches it case-insensitively (the original looked
/// only at the lowercased name, so multi-word names never got mentions).
pub fn mentions_for(
    member: &MemberId,
    routing: &AlertRouting,
    members: &BTreeMap<MemberId, Member>,
) -> Vec<String> {
    if let Some(users) = routing.mentions.get(member) {
        return users.clone();
    }
    let wanted = member.as_str();
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let squash = |text: &str| -> String {
        text.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    routing
        .mentions
        .iter()
        .find(|(id, _)| {
            same(id.as_str(), wanted)
                || members
                    .get(*id)
                    .is_some_and(|m| same(&m.slug, wanted) || squash(&m.slug) == squash(wanted))
        })
        .map(|(_, users)| users.clone())
        .unwrap_or_default()
}

fn message(plain: String, html: String) -> Value {
    json!({
        "msgtype": "m.text",
        "body": plain.trim_end(),
        "format": "org.matrix.custom.html",
        "formatted_body": html.trim_end_matches("<br>"),
    })
}

/// `1h 5m 3s`.
pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds / 3_600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    let mut out = String::new();
    for (value, unit) in [(days, "d"), (hours, "h"), (minutes, "m")] {
        if value > 0 || !out.is_empty() {
            let _ = write!(out, "{value}{unit} ");
        }
    }
    let _ = write!(out, "{secs}s");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests;
