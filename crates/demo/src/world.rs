//! The demo's world: three providers, each a fake Substrate node on its own loopback
//! address (all on one port, as real providers share the service's port), three client
//! networks on three continents in a generated GeoIP database, and the four nodes' files.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use geodns_core::geo::GeoPoint;
use geodns_fakes::mmdb::{self, AsnEntry, CityEntry};
use geodns_fakes::providers::SubstrateNode;

use crate::{DemoError, Options, config};

/// The hostname users ask for.
pub const HOSTNAME: &str = "rpc.demo.example";
/// The zone the DNS server answers for.
pub const ZONE: &str = "demo.example";
/// The genesis state root the checks expect (the fake nodes report it).
pub const STATE_ROOT: &str = "0x29d0d972cd27cbc511e9589fcb7a4506d5eb6a9e8df205f00472e5ab354a4e17";

/// A provider: a member of the service, where it is and where it listens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// The member's name.
    pub member: &'static str,
    /// Its address (loopback).
    pub ip: Ipv4Addr,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
}

/// The providers.
pub const REGIONS: [Region; 3] = [
    Region {
        member: "Frankfurt",
        ip: Ipv4Addr::new(127, 0, 0, 21),
        latitude: 50.11,
        longitude: 8.68,
    },
    Region {
        member: "Virginia",
        ip: Ipv4Addr::new(127, 0, 0, 22),
        latitude: 38.95,
        longitude: -77.45,
    },
    Region {
        member: "Singapore",
        ip: Ipv4Addr::new(127, 0, 0, 23),
        latitude: 1.35,
        longitude: 103.82,
    },
];

/// A sample client: a documentation network the GeoIP database places somewhere.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Client {
    /// Where it is.
    pub city: &'static str,
    /// Its country.
    pub country: &'static str,
    /// Its network (only data: nothing is sent to it).
    pub subnet: &'static str,
    /// An address in it, for EDNS Client Subnet.
    pub address: Ipv4Addr,
    latitude: f64,
    longitude: f64,
    country_name: &'static str,
}

/// The sample clients; the first is the one the chaos breaks the nearest provider of.
pub const CLIENTS: [Client; 3] = [
    Client {
        city: "Berlin",
        country: "DE",
        subnet: "192.0.2.0/24",
        address: Ipv4Addr::new(192, 0, 2, 1),
        latitude: 52.52,
        longitude: 13.40,
        country_name: "Germany",
    },
    Client {
        city: "New York",
        country: "US",
        subnet: "198.51.100.0/24",
        address: Ipv4Addr::new(198, 51, 100, 1),
        latitude: 40.71,
        longitude: -74.0,
        country_name: "United States",
    },
    Client {
        city: "Tokyo",
        country: "JP",
        subnet: "203.0.113.0/24",
        address: Ipv4Addr::new(203, 0, 113, 1),
        latitude: 35.68,
        longitude: 139.69,
        country_name: "Japan",
    },
];

/// The running providers and the nodes' files.
#[derive(Debug)]
pub struct World {
    /// Each region's fake node.
    pub providers: Vec<(Region, SubstrateNode)>,
    /// The port every provider listens on.
    pub port: u16,
    /// Each node's id and configuration file, monitors first.
    pub nodes: Vec<(String, PathBuf)>,
    /// Where the DNS server listens.
    pub dns: SocketAddr,
    /// Where the API listens.
    pub api: SocketAddr,
    /// The data directory.
    pub dir: PathBuf,
    /// Removes a temporary data directory when the world is dropped.
    _temporary: Option<tempfile::TempDir>,
}

impl World {
    /// Starts the providers and writes the GeoIP files, keys and node configurations.
    pub async fn prepare(options: &Options) -> Result<World, DemoError> {
        let (dir, temporary) = match &options.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temporary = tempfile::Builder::new()
                    .prefix("geodns-demo-")
                    .tempdir()
                    .map_err(|source| io("create", Path::new("temporary directory"), source))?;
                (temporary.path().to_owned(), Some(temporary))
            }
        };
        std::fs::create_dir_all(&dir).map_err(|source| io("create", &dir, source))?;
        let (providers, port) = start_providers().await?;
        write_geoip(&dir)?;
        let nodes = config::write_all(&dir, options, port)?;
        Ok(World {
            providers,
            port,
            nodes,
            dns: options.dns_listen,
            api: options.api_listen,
            dir,
            _temporary: temporary,
        })
    }

    /// The provider of `member`.
    pub fn provider(&self, member: &str) -> Option<&SubstrateNode> {
        self.providers
            .iter()
            .find(|(region, _)| region.member == member)
            .map(|(_, node)| node)
    }
}

/// The region nearest a client, by great-circle distance (as the DNS server picks).
pub fn nearest(client: &Client) -> Region {
    let point = |latitude, longitude| GeoPoint::new(latitude, longitude).ok();
    let from = point(client.latitude, client.longitude);
    let distance = |region: &Region| match (from, point(region.latitude, region.longitude)) {
        (Some(from), Some(to)) => from.distance_km(&to),
        _ => f64::INFINITY,
    };
    let mut regions = REGIONS;
    regions.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
    regions[0]
}

/// The member answering at `ip`, if any.
pub fn member_at(ip: &str) -> Option<&'static str> {
    REGIONS
        .iter()
        .find(|region| region.ip.to_string() == ip)
        .map(|region| region.member)
}

async fn start_providers() -> Result<(Vec<(Region, SubstrateNode)>, u16), DemoError> {
    let mut last = String::new();
    for _ in 0..20 {
        let first =
            SubstrateNode::start_at(SocketAddr::from((REGIONS[0].ip, 0)), "Polkadot", STATE_ROOT)
                .await;
        let first = match first {
            Ok(node) => node,
            Err(error) => return Err(DemoError::Providers(error.to_string())),
        };
        let port = first.addr().port();
        let mut providers = vec![(REGIONS[0], first)];
        for region in &REGIONS[1..] {
            match SubstrateNode::start_at(
                SocketAddr::from((region.ip, port)),
                "Polkadot",
                STATE_ROOT,
            )
            .await
            {
                Ok(node) => providers.push((*region, node)),
                Err(error) => {
                    last = error.to_string();
                    break;
                }
            }
        }
        if providers.len() == REGIONS.len() {
            return Ok((providers, port));
        }
    }
    Err(DemoError::Providers(last))
}

fn write_geoip(dir: &Path) -> Result<(), DemoError> {
    let cities: Vec<CityEntry> = CLIENTS
        .iter()
        .map(|client| CityEntry {
            network: client.subnet,
            latitude: client.latitude,
            longitude: client.longitude,
            country_code: client.country,
            country_name: client.country_name,
        })
        .collect();
    let asns: Vec<AsnEntry> = CLIENTS
        .iter()
        .zip(64496..)
        .map(|(client, asn)| AsnEntry {
            network: client.subnet,
            asn,
            organization: client.city,
        })
        .collect();
    let city = dir.join("city.mmdb");
    mmdb::write_city(&city, &cities).map_err(|source| io("write", &city, source))?;
    let asn = dir.join("asn.mmdb");
    mmdb::write_asn(&asn, &asns).map_err(|source| io("write", &asn, source))?;
    Ok(())
}

pub(crate) fn io(what: &'static str, path: &Path, source: std::io::Error) -> DemoError {
    DemoError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}
