//! Routes (which members answer each hostname for each country) come from the query
//! path's own selection: nearest healthy members, country overrides, fallbacks.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use geodns_consensus::results::Snapshot;
use geodns_core::ids::{CountryCode, Fqdn, MemberId};
use geodns_core::model::{CountryOverride, CountryOverrides};
use geodns_dns::countries;
use geodns_dns::route::Route;
use geodns_dns::view::View;

use common::{config, down, fixture, view};

fn route(view: &View, country: &str) -> Route {
    let country = countries::find(country).unwrap();
    view.routes(&country)
        .into_iter()
        .find(|r| r.host == "rpc.geo.example")
        .unwrap()
}

#[test]
fn each_country_gets_its_nearest_healthy_member_for_each_family() {
    let f = fixture();
    let config = config("");
    let healthy = view(
        &config,
        &f.geo,
        &Snapshot::default(),
        &CountryOverrides::new(),
    );
    for (country, member) in [
        ("DE", "Frankfurt"),
        ("US", "NewYork"),
        ("JP", "Tokyo"),
        ("BR", "SaoPaulo"),
        ("AU", "Sydney"),
        ("ZA", "Johannesburg"),
    ] {
        let route = route(&healthy, country);
        assert_eq!(route.ipv4.members, [member], "{country}");
        assert_eq!(route.ipv4.mode, "healthy");
        assert_eq!(route.country, country);
    }
    // Only two members have IPv6: Japan's nearest of them.
    let japan = route(&healthy, "JP");
    assert_eq!(japan.ipv6.addresses.len(), 1);
    assert!(japan.ipv6.addresses[0].starts_with("2001:db8::"));
    let france = healthy.routes(&countries::find("FR").unwrap());
    assert_eq!(
        france.len(),
        healthy.hosts.len(),
        "one route per geo-routed hostname"
    );

    // Frankfurt down: Germany goes to the next nearest.
    let frankfurt_down = view(
        &config,
        &f.geo,
        &down(&["Frankfurt"]),
        &CountryOverrides::new(),
    );
    assert_ne!(route(&frankfurt_down, "DE").ipv4.members, ["Frankfurt"]);
}

#[test]
fn overrides_and_the_no_healthy_policy_show_in_the_routes() {
    let f = fixture();
    let config = config("");
    let mut overrides = CountryOverrides::new();
    let host = Fqdn::parse("rpc.geo.example").unwrap();
    overrides.entry(host.clone()).or_default().insert(
        CountryCode::parse("DE").unwrap(),
        CountryOverride::Member(MemberId::parse("Sydney").unwrap()),
    );
    overrides.entry(host).or_default().insert(
        CountryCode::parse("JP").unwrap(),
        CountryOverride::Addresses {
            ipv4: Some("198.51.100.7".parse().unwrap()),
            ipv6: None,
        },
    );
    let with = view(&config, &f.geo, &Snapshot::default(), &overrides);
    assert_eq!(route(&with, "DE").ipv4.members, ["Sydney"]);
    let japan = route(&with, "JP").ipv4;
    assert_eq!(
        (japan.members[0].as_str(), japan.addresses[0].as_str()),
        ("override:JP", "198.51.100.7")
    );

    // Every member down: the configured fallback answers, and the route says so.
    let all = [
        "Frankfurt",
        "NewYork",
        "Tokyo",
        "SaoPaulo",
        "Sydney",
        "Johannesburg",
    ];
    let nobody = view(&config, &f.geo, &down(&all), &CountryOverrides::new());
    let germany = route(&nobody, "DE").ipv4;
    assert_ne!(germany.mode, "healthy", "{germany:?}");
}
