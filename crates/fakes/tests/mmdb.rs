//! The GeoIP test databases read back with `maxminddb`, as the DNS server reads them.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::IpAddr;

use geodns_fakes::mmdb::{self, AsnEntry, CityEntry};
use maxminddb::{Reader, geoip2};

fn city_of<'a>(entries: &'a [CityEntry], network: &str) -> &'a CityEntry {
    entries.iter().find(|e| e.network == network).unwrap()
}

fn asn_of<'a>(entries: &'a [AsnEntry], network: &str) -> &'a AsnEntry {
    entries.iter().find(|e| e.network == network).unwrap()
}

fn check_city(reader: &Reader<Vec<u8>>, entry: &CityEntry, address: IpAddr) {
    let result = reader.lookup(address).unwrap();
    let city: geoip2::City<'_> = result.decode().unwrap().unwrap();
    assert_eq!(city.location.latitude, Some(entry.latitude), "{address}");
    assert_eq!(city.location.longitude, Some(entry.longitude), "{address}");
    assert_eq!(city.country.iso_code, Some(entry.country_code), "{address}");
    assert_eq!(
        city.country.names.english,
        Some(entry.country_name),
        "{address}"
    );
    assert_eq!(result.network().unwrap().to_string(), entry.network);
}

#[test]
fn city_database_answers_ipv4_and_ipv6_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoLite2-City.mmdb");
    let entries = mmdb::world_cities();
    mmdb::write_city(&path, &entries).unwrap();

    let reader = Reader::open_readfile(&path).unwrap();
    assert_eq!(reader.metadata().database_type, mmdb::CITY_DATABASE_TYPE);
    assert_eq!(reader.metadata().ip_version, 6);
    reader.verify().unwrap();

    let frankfurt = city_of(&entries, "81.2.69.0/24");
    check_city(&reader, frankfurt, "81.2.69.142".parse().unwrap());
    let new_york_v6 = city_of(&entries, "2604:a880::/32");
    check_city(&reader, new_york_v6, "2604:a880:1:2::3".parse().unwrap());
    for entry in &entries {
        check_city(&reader, entry, entry.sample_address());
    }

    // The IPv4-mapped form finds the IPv4 record too.
    let mapped: IpAddr = "::ffff:81.2.69.142".parse().unwrap();
    let city: geoip2::City<'_> = reader.lookup(mapped).unwrap().decode().unwrap().unwrap();
    assert_eq!(city.country.iso_code, Some("DE"));

    for absent in ["10.1.2.3", "127.0.0.1", "2001:db8::1", "81.2.70.1"] {
        let result = reader.lookup(absent.parse().unwrap()).unwrap();
        assert!(!result.has_data(), "{absent} should not be found");
    }
}

#[test]
fn asn_database_answers_ipv4_and_ipv6_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoLite2-ASN.mmdb");
    let entries = mmdb::world_asns();
    mmdb::write_asn(&path, &entries).unwrap();

    let reader = Reader::open_readfile(&path).unwrap();
    assert_eq!(reader.metadata().database_type, mmdb::ASN_DATABASE_TYPE);
    reader.verify().unwrap();

    let cases = [
        ("81.2.69.0/24", "81.2.69.200"),
        ("2400:8900::/32", "2400:8900:ffff::1"),
    ];
    for (network, address) in cases {
        let entry = asn_of(&entries, network);
        let result = reader.lookup(address.parse().unwrap()).unwrap();
        let asn: geoip2::Asn<'_> = result.decode().unwrap().unwrap();
        assert_eq!(asn.autonomous_system_number, Some(entry.asn));
        assert_eq!(asn.autonomous_system_organization, Some(entry.organization));
        assert_eq!(result.network().unwrap().to_string(), network);
    }
}

#[test]
fn fixtures_cover_several_countries_and_both_families() {
    let cities = mmdb::world_cities();
    let mut countries: Vec<_> = cities.iter().map(|e| e.country_code).collect();
    countries.sort_unstable();
    countries.dedup();
    assert!(cities.len() >= 8);
    assert!(countries.len() >= 6);
    assert!(cities.iter().any(|e| e.sample_address().is_ipv6()));
    assert!(cities.iter().any(|e| e.sample_address().is_ipv4()));
    let asn_networks: Vec<_> = mmdb::world_asns().iter().map(|e| e.network).collect();
    let city_networks: Vec<_> = cities.iter().map(|e| e.network).collect();
    assert_eq!(asn_networks, city_networks);
}

#[test]
fn bad_network_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let entry = CityEntry {
        network: "81.2.69.0/33",
        ..mmdb::world_cities()[0]
    };
    let error = mmdb::write_city(&dir.path().join("x.mmdb"), &[entry]).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("81.2.69.0/33"), "{error}");
}
