//! Client locations from the MaxMind City and ASN databases, memory-mapped, and a
//! per-worker cache keyed by the database record, so a record is decoded once.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use maxminddb::{MaxMindDbError, Mmap, Reader};
use serde::Deserialize;

use crate::hash::FxHashMap;

/// A point on the unit sphere; the nearest point has the largest dot product.
pub type Vec3 = [f64; 3];

/// The unit vector of a latitude and longitude in degrees.
pub fn unit(latitude: f64, longitude: f64) -> Vec3 {
    let (lat, lon) = (latitude.to_radians(), longitude.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// Dot product.
pub fn dot(a: &Vec3, b: &Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// What the City database says about a client network.
#[derive(Debug, Clone, PartialEq)]
pub struct CityInfo {
    /// Location, if the record has one.
    pub point: Option<Vec3>,
    /// ISO code, upper case, or `??`.
    pub country_code: [u8; 2],
    /// English country name, or `Unknown`.
    pub country_name: Arc<str>,
}

/// What the ASN database says about a client network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsnInfo {
    /// `AS<n>`, or empty when unknown.
    pub asn: Arc<str>,
    /// The network's organisation, possibly empty.
    pub network: Arc<str>,
}

/// The databases a view answers from.
#[derive(Debug)]
pub struct GeoDb {
    city: Option<Reader<Mmap>>,
    asn: Option<Reader<Mmap>>,
    /// Distinguishes databases in the workers' caches.
    pub generation: u64,
}

/// A database that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the GeoIP database {path}: {source}")]
pub struct GeoError {
    /// The file.
    pub path: String,
    /// Why.
    #[source]
    pub source: MaxMindDbError,
}

#[derive(Deserialize)]
struct CityRecord<'a> {
    #[serde(borrow, default)]
    country: Option<CountryRecord<'a>>,
    #[serde(default)]
    location: Option<LocationRecord>,
}

#[derive(Deserialize)]
struct CountryRecord<'a> {
    #[serde(default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<NamesRecord<'a>>,
}

#[derive(Deserialize)]
struct NamesRecord<'a> {
    #[serde(default)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct LocationRecord {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct AsnRecord<'a> {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(default)]
    autonomous_system_organization: Option<&'a str>,
}

/// Maps a database file. The file must be replaced by rename, never rewritten in place,
/// while mapped: every writer in this project (and MaxMind's `geoipupdate`) renames.
#[allow(
    unsafe_code,
    reason = "memory-mapping the GeoIP file; see the safety note"
)]
fn map(path: &Path) -> Result<Reader<Mmap>, GeoError> {
    // SAFETY: the mapped file is never modified in place: replacements are written to a
    // temporary file and renamed over the path, which leaves this mapping's inode intact.
    unsafe { Reader::open_mmap(path) }.map_err(|source| GeoError {
        path: path.display().to_string(),
        source,
    })
}

impl GeoDb {
    /// Maps the configured databases (either may be absent).
    pub fn open(
        city: Option<&Path>,
        asn: Option<&Path>,
        generation: u64,
    ) -> Result<Self, GeoError> {
        Ok(GeoDb {
            city: city.map(map).transpose()?,
            asn: asn.map(map).transpose()?,
            generation,
        })
    }

    /// No database at all.
    pub fn empty() -> Self {
        GeoDb {
            city: None,
            asn: None,
            generation: 0,
        }
    }

    /// Looks up the client in the City database (through `cache`); with `network`, also the
    /// prefix length of the database network holding the address (every address in it gets
    /// the same record, hence the same answer).
    pub fn city(
        &self,
        ip: IpAddr,
        cache: &mut GeoCache,
        network: bool,
    ) -> (Option<Arc<CityInfo>>, Option<u8>) {
        let Some(result) = self.city.as_ref().and_then(|r| r.lookup(ip).ok()) else {
            return (None, None);
        };
        let prefix = network
            .then(|| result.network().ok().map(|n| n.prefix()))
            .flatten();
        let Some(offset) = result.offset() else {
            return (None, prefix);
        };
        let key = (self.generation, offset);
        if let Some(hit) = cache.city.get(&key) {
            return (Some(hit.clone()), prefix);
        }
        let Some(record) = result.decode::<CityRecord<'_>>().ok().flatten() else {
            return (None, prefix);
        };
        let info = Arc::new(city_info(&record));
        cache.insert_city(key, info.clone());
        (Some(info), prefix)
    }

    /// Looks up the client in the ASN database (through `cache`).
    pub fn asn(&self, ip: IpAddr, cache: &mut GeoCache) -> Option<Arc<AsnInfo>> {
        let reader = self.asn.as_ref()?;
        let result = reader.lookup(ip).ok()?;
        let offset = result.offset()?;
        let key = (self.generation, offset);
        if let Some(hit) = cache.asn.get(&key) {
            return Some(hit.clone());
        }
        let record: AsnRecord<'_> = result.decode().ok()??;
        let info = Arc::new(AsnInfo {
            asn: record
                .autonomous_system_number
                .map_or_else(|| Arc::from(""), |n| Arc::from(format!("AS{n}"))),
            network: Arc::from(record.autonomous_system_organization.unwrap_or("")),
        });
        cache.insert_asn(key, info.clone());
        Some(info)
    }
}

fn city_info(record: &CityRecord<'_>) -> CityInfo {
    let point = record.location.as_ref().and_then(|l| {
        let (lat, lon) = (l.latitude?, l.longitude?);
        geodns_core::geo::GeoPoint::new(lat, lon)
            .ok()
            .map(|p| unit(p.latitude(), p.longitude()))
    });
    let country = record.country.as_ref();
    let code = country.and_then(|c| c.iso_code).map(str::as_bytes);
    let country_code = match code {
        Some([a, b]) if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            [a.to_ascii_uppercase(), b.to_ascii_uppercase()]
        }
        _ => *b"??",
    };
    let name = country
        .and_then(|c| c.names.as_ref())
        .and_then(|n| n.en)
        .filter(|_| country_code != *b"??")
        .unwrap_or("Unknown");
    CityInfo {
        point,
        country_code,
        country_name: Arc::from(name),
    }
}

/// Decoded records by (database generation, record offset); one per worker, no locks.
#[derive(Debug, Default)]
pub struct GeoCache {
    city: FxHashMap<(u64, usize), Arc<CityInfo>>,
    asn: FxHashMap<(u64, usize), Arc<AsnInfo>>,
}

/// Records kept per cache before it starts over.
const CACHE_LIMIT: usize = 1 << 16;

impl GeoCache {
    fn insert_city(&mut self, key: (u64, usize), info: Arc<CityInfo>) {
        if self.city.len() >= CACHE_LIMIT {
            self.city.clear();
        }
        self.city.insert(key, info);
    }

    fn insert_asn(&mut self, key: (u64, usize), info: Arc<AsnInfo>) {
        if self.asn.len() >= CACHE_LIMIT {
            self.asn.clear();
        }
        self.asn.insert(key, info);
    }
}
