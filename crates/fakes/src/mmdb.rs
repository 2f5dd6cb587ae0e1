//! GeoIP test databases: MaxMind DB files with the City and ASN record layouts, written
//! from small tables, and a fixed world fixture to look clients up in.
//!
//! The files are IPv6 trees (`ip_version` 6) with IPv4 networks in the IPv4 subtree
//! (`::a.b.c.d/96`) and its aliases (`::ffff:0:0/96`, 6to4, Teredo), as MaxMind ships
//! them, so a reader finds IPv4 and IPv6 clients alike. The addresses are only data in a
//! file: nothing is ever sent to them.

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{IpVersion, Value, Writer};

/// The `database_type` of [`write_city`] files.
pub const CITY_DATABASE_TYPE: &str = "GeoLite2-City";

/// The `database_type` of [`write_asn`] files.
pub const ASN_DATABASE_TYPE: &str = "GeoLite2-ASN";

/// The build time written into every file (2026-09-21), so equal tables give equal bytes.
const BUILD_EPOCH_SECS: u64 = 1_790_000_000;

/// One network of a City database.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CityEntry {
    /// The network in CIDR form, `"81.2.69.0/24"` or `"2a01:4f8::/32"`.
    pub network: &'static str,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// ISO 3166-1 alpha-2 code, `"DE"`.
    pub country_code: &'static str,
    /// The country's English name.
    pub country_name: &'static str,
}

/// One network of an ASN database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsnEntry {
    /// The network in CIDR form.
    pub network: &'static str,
    /// The autonomous system number.
    pub asn: u32,
    /// The organisation that holds it.
    pub organization: &'static str,
}

impl CityEntry {
    /// An address inside the network (its first address plus one), to look up.
    pub fn sample_address(&self) -> IpAddr {
        sample_address(self.network)
    }
}

impl AsnEntry {
    /// An address inside the network (its first address plus one), to look up.
    pub fn sample_address(&self) -> IpAddr {
        sample_address(self.network)
    }
}

/// Writes a City database (`GeoLite2-City`) decoded by `maxminddb::geoip2::City`:
/// `country.iso_code`, `country.names.en` (and the same as `registered_country`),
/// `location.latitude`, `location.longitude`. Later entries win where networks overlap.
pub fn write_city(path: &Path, entries: &[CityEntry]) -> io::Result<()> {
    let mut writer = writer(CITY_DATABASE_TYPE, "geodns test City database");
    for entry in entries {
        insert(&mut writer, entry.network, city_record(entry))?;
    }
    finish(&writer, path)
}

/// Writes an ASN database (`GeoLite2-ASN`) decoded by `maxminddb::geoip2::Asn`:
/// `autonomous_system_number` and `autonomous_system_organization`.
pub fn write_asn(path: &Path, entries: &[AsnEntry]) -> io::Result<()> {
    let mut writer = writer(ASN_DATABASE_TYPE, "geodns test ASN database");
    for entry in entries {
        let record = Value::map([
            ("autonomous_system_number", Value::U32(entry.asn)),
            (
                "autonomous_system_organization",
                Value::String(entry.organization.to_owned()),
            ),
        ]);
        insert(&mut writer, entry.network, record)?;
    }
    finish(&writer, path)
}

/// The fixed client fixture: ten networks in seven countries on five continents.
///
/// | network           | country | city           | latitude | longitude |
/// |-------------------|---------|----------------|---------:|----------:|
/// | `81.2.69.0/24`    | DE      | Frankfurt      |    50.11 |      8.68 |
/// | `2a01:4f8::/32`   | DE      | Frankfurt      |    50.11 |      8.68 |
/// | `12.0.0.0/16`     | US      | New York       |    40.71 |    -74.00 |
/// | `2604:a880::/32`  | US      | New York       |    40.71 |    -74.00 |
/// | `126.0.0.0/16`    | JP      | Tokyo          |    35.68 |    139.69 |
/// | `177.0.0.0/16`    | BR      | São Paulo      |   -23.55 |    -46.63 |
/// | `1.120.0.0/16`    | AU      | Sydney         |   -33.87 |    151.21 |
/// | `41.0.0.0/16`     | ZA      | Johannesburg   |   -26.20 |     28.05 |
/// | `175.156.0.0/16`  | SG      | Singapore      |     1.35 |    103.82 |
/// | `2400:8900::/32`  | SG      | Singapore      |     1.35 |    103.82 |
///
/// Everything else (`10.0.0.0/8`, `127.0.0.1`, `2001:db8::/32`, ...) is not in the file.
pub fn world_cities() -> Vec<CityEntry> {
    const FRANKFURT: (f64, f64) = (50.11, 8.68);
    const NEW_YORK: (f64, f64) = (40.71, -74.0);
    const SINGAPORE: (f64, f64) = (1.35, 103.82);
    let entry =
        |network, (latitude, longitude): (f64, f64), country_code, country_name| CityEntry {
            network,
            latitude,
            longitude,
            country_code,
            country_name,
        };
    vec![
        entry("81.2.69.0/24", FRANKFURT, "DE", "Germany"),
        entry("2a01:4f8::/32", FRANKFURT, "DE", "Germany"),
        entry("12.0.0.0/16", NEW_YORK, "US", "United States"),
        entry("2604:a880::/32", NEW_YORK, "US", "United States"),
        entry("126.0.0.0/16", (35.68, 139.69), "JP", "Japan"),
        entry("177.0.0.0/16", (-23.55, -46.63), "BR", "Brazil"),
        entry("1.120.0.0/16", (-33.87, 151.21), "AU", "Australia"),
        entry("41.0.0.0/16", (-26.2, 28.05), "ZA", "South Africa"),
        entry("175.156.0.0/16", SINGAPORE, "SG", "Singapore"),
        entry("2400:8900::/32", SINGAPORE, "SG", "Singapore"),
    ]
}

/// The ASN fixture over the same networks as [`world_cities`], with documentation and
/// private-use AS numbers.
///
/// | network           | AS    | organisation             |
/// |-------------------|-------|--------------------------|
/// | `81.2.69.0/24`    | 64496 | Example Frankfurt Net    |
/// | `2a01:4f8::/32`   | 64496 | Example Frankfurt Net    |
/// | `12.0.0.0/16`     | 64497 | Example New York Transit |
/// | `2604:a880::/32`  | 64497 | Example New York Transit |
/// | `126.0.0.0/16`    | 64498 | Example Tokyo Broadband  |
/// | `177.0.0.0/16`    | 64499 | Example São Paulo Telecom |
/// | `1.120.0.0/16`    | 64500 | Example Sydney Internet  |
/// | `41.0.0.0/16`     | 64501 | Example Johannesburg ISP |
/// | `175.156.0.0/16`  | 64502 | Example Singapore Cloud  |
/// | `2400:8900::/32`  | 64502 | Example Singapore Cloud  |
pub fn world_asns() -> Vec<AsnEntry> {
    let entry = |network, asn, organization| AsnEntry {
        network,
        asn,
        organization,
    };
    vec![
        entry("81.2.69.0/24", 64496, "Example Frankfurt Net"),
        entry("2a01:4f8::/32", 64496, "Example Frankfurt Net"),
        entry("12.0.0.0/16", 64497, "Example New York Transit"),
        entry("2604:a880::/32", 64497, "Example New York Transit"),
        entry("126.0.0.0/16", 64498, "Example Tokyo Broadband"),
        entry("177.0.0.0/16", 64499, "Example São Paulo Telecom"),
        entry("1.120.0.0/16", 64500, "Example Sydney Internet"),
        entry("41.0.0.0/16", 64501, "Example Johannesburg ISP"),
        entry("175.156.0.0/16", 64502, "Example Singapore Cloud"),
        entry("2400:8900::/32", 64502, "Example Singapore Cloud"),
    ]
}

fn writer(database_type: &str, description: &str) -> Writer {
    Writer::builder(database_type)
        .ip_version(IpVersion::V6)
        .description(&[("en", description)])
        .build_epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(BUILD_EPOCH_SECS))
        .build()
}

fn city_record(entry: &CityEntry) -> Value {
    let country = || {
        Value::map([
            ("iso_code", Value::String(entry.country_code.to_owned())),
            (
                "names",
                Value::map([("en", Value::String(entry.country_name.to_owned()))]),
            ),
        ])
    };
    Value::map([
        ("country", country()),
        ("registered_country", country()),
        (
            "location",
            Value::map([
                ("accuracy_radius", Value::U16(100)),
                ("latitude", Value::Double(entry.latitude)),
                ("longitude", Value::Double(entry.longitude)),
            ]),
        ),
    ])
}

fn parse_network(network: &str) -> io::Result<IpNet> {
    network.parse().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad network {network:?}: {e}"),
        )
    })
}

fn insert(writer: &mut Writer, network: &str, record: Value) -> io::Result<()> {
    writer
        .insert_value(parse_network(network)?, record)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{network}: {e}")))
}

fn finish(writer: &Writer, path: &Path) -> io::Result<()> {
    let bytes = writer.to_bytes().map_err(io::Error::other)?;
    std::fs::write(path, bytes)
}

fn sample_address(network: &str) -> IpAddr {
    let network = parse_network(network).expect("fixture networks are valid CIDR");
    match network.network() {
        IpAddr::V4(first) => IpAddr::V4((u32::from(first) + 1).into()),
        IpAddr::V6(first) => IpAddr::V6((u128::from(first) + 1).into()),
    }
}
