//! Which member answers a hostname for the clients of one country, computed with the
//! query path's own selection (country overrides, nearest healthy members, fallbacks),
//! for the collator's routes table and the status page.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::answer::{Selection, pick};
use crate::countries::Country;
use crate::view::{FamilyView, View};

/// What one family of a hostname answers a country's clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FamilyRoute {
    /// Members answered, nearest first (`override:<CC>` for a literal override).
    pub members: Vec<String>,
    /// Their addresses.
    pub addresses: Vec<String>,
    /// How the answer is chosen now: `healthy`, `nearest` (none healthy), `all` or `none`.
    pub mode: &'static str,
}

/// One hostname for one country.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The hostname.
    pub host: String,
    /// ISO country code.
    pub country: String,
    /// A answers.
    pub ipv4: FamilyRoute,
    /// AAAA answers.
    pub ipv6: FamilyRoute,
}

impl View {
    /// The routes of every geo-routed hostname for `country`.
    pub fn routes(&self, country: &Country) -> Vec<Route> {
        let client = country.as_client();
        self.hosts
            .iter()
            .map(|host| {
                let family = |view: &FamilyView, v6: bool| {
                    family_route(view, pick(view, Some(&client), self.answers), v6)
                };
                Route {
                    host: host.name.to_string(),
                    country: country.code_str().to_owned(),
                    ipv4: family(&host.families[0], false),
                    ipv6: family(&host.families[1], true),
                }
            })
            .collect()
    }
}

fn family_route(view: &FamilyView, selection: Selection<'_>, v6: bool) -> FamilyRoute {
    let mode = match view.mode {
        crate::view::Mode::Healthy => "healthy",
        crate::view::Mode::Nearest => "nearest",
        crate::view::Mode::All => "all",
        crate::view::Mode::Empty => "none",
    };
    let mut route = FamilyRoute {
        members: Vec::new(),
        addresses: Vec::new(),
        mode,
    };
    let mut add = |member: &str, address: &[u8]| {
        route.members.push(member.to_owned());
        route.addresses.push(text(address, v6));
    };
    match selection {
        Selection::Nothing => {}
        Selection::Literal(address, label) => add(label, address),
        Selection::Nearest(best, found) => {
            for index in &best[..found] {
                if let Some(c) = view.candidates.get(*index) {
                    add(&c.member, &c.address);
                }
            }
        }
        Selection::All => {
            for c in &view.candidates {
                add(&c.member, &c.address);
            }
        }
    }
    route
}

fn text(address: &[u8], v6: bool) -> String {
    if v6 {
        <[u8; 16]>::try_from(address)
            .map_or_else(|_| String::new(), |a| Ipv6Addr::from(a).to_string())
    } else {
        <[u8; 4]>::try_from(address)
            .map_or_else(|_| String::new(), |a| Ipv4Addr::from(a).to_string())
    }
}
