//! Lenient scalar decoding for the original system's JSON files, which write numbers
//! and flags sometimes as numbers, sometimes as strings (`"MemberLevel": "6"`), and
//! sometimes as `null` or `""` when absent.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// A scalar as written: number, numeric string, boolean, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) enum Scalar {
    /// `null`, `""` or missing.
    #[default]
    Absent,
    /// Any number or numeric string.
    Number(f64),
    /// `true` / `false`.
    Bool(bool),
}

impl Scalar {
    /// As a flag: non-zero numbers and `true` are set.
    pub(crate) fn as_flag(self) -> Option<bool> {
        match self {
            Scalar::Absent => None,
            Scalar::Number(n) => Some(n != 0.0),
            Scalar::Bool(b) => Some(b),
        }
    }

    /// As a number; a boolean is 0 or 1.
    pub(crate) fn as_number(self) -> Option<f64> {
        match self {
            Scalar::Absent => None,
            Scalar::Number(n) => Some(n),
            Scalar::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        }
    }
}

/// `#[serde(deserialize_with = "scalar")]`
pub(crate) fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor)
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, a numeric string, a boolean or null")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        let text = v.trim();
        if text.is_empty() {
            return Ok(Scalar::Absent);
        }
        match text {
            "true" => return Ok(Scalar::Bool(true)),
            "false" => return Ok(Scalar::Bool(false)),
            _ => {}
        }
        text.parse::<f64>()
            .map(Scalar::Number)
            .map_err(|_| E::custom(format!("expected a number, got the string {v:?}")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
}

/// `#[serde(deserialize_with = "text")]`: a string, or a number written without quotes;
/// `null` is empty.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(TextVisitor)
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
}
