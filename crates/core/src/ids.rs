//! Identifier newtypes: members, services, nodes, DNS names and country codes.
//!
//! Each type is validated when it is built, so code holding one never re-checks it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{input}`: {reason}")]
pub struct IdError {
    /// Which kind of identifier was being parsed ("member name", "DNS name", ...).
    pub what: &'static str,
    /// The rejected input, as given.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

fn id_error(what: &'static str, input: &str, reason: &'static str) -> IdError {
    IdError {
        what,
        input: input.to_owned(),
        reason,
    }
}

/// Implements `Display`, `FromStr`, `Serialize` and `Deserialize` through `parse`/`as_str`.
macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A provider (member) identity: its display name exactly as the original system's
/// wire messages carry it (`MemberName`), e.g. `Stake Plus`. Spaces are allowed;
/// leading/trailing white space and control characters are not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(String);

impl MemberId {
    /// Validates a member name.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        display_name("member name", input).map(Self)
    }

    /// The lower-case, alphanumeric-only form used as a key in alert routing files
    /// (`Stake Plus` → `stakeplus`).
    pub fn slug(&self) -> String {
        self.0
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    }
}
string_newtype!(MemberId);

/// A service identity, e.g. `Polkadot` or `Asset-Hub-Kusama`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceId(String);

impl ServiceId {
    /// Validates a service name.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        display_name("service name", input).map(Self)
    }
}
string_newtype!(ServiceId);

/// A cluster node identity (`NodeID` on the wire), e.g. `MONITOR-NODE-1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(String);

impl NodeId {
    /// Validates a node id: 1 to 128 characters of `A-Z a-z 0-9 - _ .`.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        const WHAT: &str = "node id";
        if input.is_empty() || input.len() > 128 {
            return Err(id_error(WHAT, input, "must be 1 to 128 characters"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if !input.chars().all(allowed) {
            return Err(id_error(
                WHAT,
                input,
                "only letters, digits, '-', '_' and '.' are allowed",
            ));
        }
        Ok(Self(input.to_owned()))
    }
}
string_newtype!(NodeId);

fn display_name(what: &'static str, input: &str) -> Result<String, IdError> {
    if input.trim().is_empty() {
        return Err(id_error(what, input, "must not be empty"));
    }
    if input.trim() != input {
        return Err(id_error(
            what,
            input,
            "must not start or end with white space",
        ));
    }
    if input.chars().any(char::is_control) {
        return Err(id_error(what, input, "must not contain control characters"));
    }
    if input.chars().count() > 128 {
        return Err(id_error(what, input, "must be at most 128 characters"));
    }
    Ok(input.to_owned())
}

/// A fully qualified DNS name, normalised: lower case, no trailing dot.
///
/// Labels are 1 to 63 characters of letters, digits, `-` and `_` (the latter for names
/// such as `_acme-challenge`), at most 253 characters in all.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fqdn(String);

impl Fqdn {
    /// Parses and normalises a DNS name; accepts a trailing dot.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        const WHAT: &str = "DNS name";
        let name = input
            .strip_suffix('.')
            .unwrap_or(input)
            .to_ascii_lowercase();
        if name.is_empty() {
            return Err(id_error(WHAT, input, "must not be empty"));
        }
        if name.len() > 253 {
            return Err(id_error(WHAT, input, "must be at most 253 characters"));
        }
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(id_error(
                    WHAT,
                    input,
                    "each label must be 1 to 63 characters",
                ));
            }
            let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            if !label.chars().all(allowed) {
                return Err(id_error(
                    WHAT,
                    input,
                    "only letters, digits, '-' and '_' are allowed",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(id_error(
                    WHAT,
                    input,
                    "a label must not start or end with '-'",
                ));
            }
        }
        Ok(Self(name))
    }

    /// True if `self` equals `zone` or lies below it (`a.b.c` is within `b.c`).
    pub fn is_within(&self, zone: &Fqdn) -> bool {
        self.0 == zone.0
            || (self.0.len() > zone.0.len()
                && self.0.ends_with(&zone.0)
                && self.0.as_bytes()[self.0.len() - zone.0.len() - 1] == b'.')
    }
}
string_newtype!(Fqdn);

/// An ISO 3166-1 alpha-2 country code, upper case (`DE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses a two-letter code in either case.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        match input.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Ok(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => Err(id_error(
                "country code",
                input,
                "must be two letters (ISO 3166-1 alpha-2)",
            )),
        }
    }

    /// The code as a string slice.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_normalises_case_and_trailing_dot() {
        let name = Fqdn::parse("RPC.Dotters.Network.").unwrap();
        assert_eq!(name.as_str(), "rpc.dotters.network");
        assert!(Fqdn::parse("_acme-challenge.dotters.network").is_ok());
    }

    #[test]
    fn fqdn_rejects_bad_labels() {
        for bad in ["", ".", "a..b", "-a.b", "a b.c", &"x".repeat(64)] {
            assert!(Fqdn::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn fqdn_within_zone() {
        let zone = Fqdn::parse("dotters.network").unwrap();
        assert!(Fqdn::parse("dotters.network").unwrap().is_within(&zone));
        assert!(Fqdn::parse("rpc.dotters.network").unwrap().is_within(&zone));
        assert!(!Fqdn::parse("xdotters.network").unwrap().is_within(&zone));
        assert!(!Fqdn::parse("network").unwrap().is_within(&zone));
    }

    #[test]
    fn member_names_keep_spaces_and_slug() {
        let member = MemberId::parse("Stake Plus").unwrap();
        assert_eq!(member.as_str(), "Stake Plus");
        assert_eq!(member.slug(), "stakeplus");
        assert!(MemberId::parse(" padded").is_err());
        assert!(MemberId::parse("").is_err());
    }

    #[test]
    fn country_codes_upper_case() {
        assert_eq!(CountryCode::parse("de").unwrap().as_str(), "DE");
        assert!(CountryCode::parse("DEU").is_err());
        assert!(CountryCode::parse("1A").is_err());
    }
}
