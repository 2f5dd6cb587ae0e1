//! The conventions of Go's `encoding/json` that the original's bytes follow and serde's
//! defaults do not: `time.Time` as RFC 3339 with the fraction's trailing zeros trimmed
//! (`2006-01-02T15:04:05.999999999Z07:00`), and HTML-safe strings (`<`, `>`, `&`, U+2028
//! and U+2029 written as `\u` escapes).

use chrono::{DateTime, Utc};
use serde::Serializer;

/// A UTC time as Go's `time.Time.MarshalJSON` writes it: no fraction when it is zero,
/// otherwise up to nine digits without trailing zeros (chrono writes 3, 6 or 9).
pub(super) fn format_time(time: &DateTime<Utc>) -> String {
    let mut text = time.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = time.timestamp_subsec_nanos();
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// `serialize_with` for `DateTime<Utc>` fields; reading uses chrono's RFC 3339 parser,
/// which accepts any fraction length and offset.
pub(super) fn serialize_time<S: Serializer>(
    time: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_time(time))
}

/// Rewrites serde_json's output with Go's HTML-safe escapes. These characters can only
/// occur inside strings in JSON text, so a plain replacement is exact.
pub(super) fn escape_html(json: String) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json;
    }
    let mut escaped = String::with_capacity(json.len() + 32);
    for c in json.chars() {
        match c {
            '<' => escaped.push_str("\\u003c"),
            '>' => escaped.push_str("\\u003e"),
            '&' => escaped.push_str("\\u0026"),
            '\u{2028}' => escaped.push_str("\\u2028"),
            '\u{2029}' => escaped.push_str("\\u2029"),
            other => escaped.push(other),
        }
    }
    escaped
}
