//! Serde structs for the original system's JSON files, field names as the Go code writes
//! them. Unknown fields are ignored on purpose: the files carry logos, payments, etc.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::lenient::{Scalar, scalar, text};

#[derive(Debug, Deserialize)]
pub(super) struct IbpMember {
    #[serde(rename = "Details", alias = "details", default)]
    pub(super) details: Option<Details>,
    #[serde(rename = "Membership", alias = "membership", default)]
    pub(super) membership: Option<Membership>,
    #[serde(rename = "Service", alias = "service", default)]
    pub(super) service: Option<MemberService>,
    #[serde(rename = "ServiceAssignments", alias = "serviceAssignments", default)]
    pub(super) assignments: Option<BTreeMap<String, Vec<String>>>,
    #[serde(rename = "Location", alias = "location", default)]
    pub(super) location: Option<Location>,
    #[serde(
        rename = "Override",
        alias = "override",
        default,
        deserialize_with = "scalar"
    )]
    pub(super) override_flag: Scalar,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Details {
    #[serde(rename = "Name", alias = "name", default, deserialize_with = "text")]
    pub(super) name: String,
    #[serde(
        rename = "Website",
        alias = "website",
        default,
        deserialize_with = "text"
    )]
    pub(super) website: String,
    #[serde(rename = "Logo", alias = "logo", default, deserialize_with = "text")]
    pub(super) logo: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Membership {
    #[serde(
        rename = "MemberLevel",
        alias = "memberLevel",
        default,
        deserialize_with = "scalar"
    )]
    pub(super) member_level: Scalar,
    /// Unix seconds.
    #[serde(
        rename = "Joined",
        alias = "joined",
        default,
        deserialize_with = "scalar"
    )]
    pub(super) joined: Scalar,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct MemberService {
    #[serde(
        rename = "Active",
        alias = "active",
        default,
        deserialize_with = "scalar"
    )]
    pub(super) active: Scalar,
    #[serde(
        rename = "ServiceIPv4",
        alias = "serviceIPv4",
        default,
        deserialize_with = "text"
    )]
    pub(super) service_ipv4: String,
    #[serde(
        rename = "ServiceIPv6",
        alias = "serviceIPv6",
        default,
        deserialize_with = "text"
    )]
    pub(super) service_ipv6: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Location {
    #[serde(
        rename = "Region",
        alias = "region",
        default,
        deserialize_with = "text"
    )]
    pub(super) region: String,
    #[serde(
        rename = "Latitude",
        alias = "latitude",
        default,
        deserialize_with = "scalar"
    )]
    pub(super) latitude: Scalar,
    #[serde(
        rename = "Longitude",
        alias = "longitude",
        default,
        deserialize_with = "scalar"
    )]
    pub(super) longitude: Scalar,
}

#[derive(Debug, Deserialize)]
pub(super) struct IbpService {
    #[serde(rename = "Configuration", alias = "configuration", default)]
    pub(super) configuration: Option<ServiceConfiguration>,
    #[serde(rename = "Resources", alias = "resources", default)]
    pub(super) resources: Option<ServiceResources>,
    #[serde(rename = "Providers", alias = "providers", default)]
    pub(super) providers: Option<BTreeMap<String, Provider>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ServiceConfiguration {
    #[serde(rename = "Name", alias = "name", default, deserialize_with = "text")]
    pub(super) name: String,
    #[serde(
        rename = "ServiceType",
        alias = "serviceType",
        default,
        deserialize_with = "text"
    )]
    pub(super) service_type: String,
    #[serde(
        rename = "Active",
        alias = "active",
        default,
        deserialize_with = "scalar"
    )]
    pub(super) active: Scalar,
    #[serde(
        rename = "LevelRequired",
        alias = "levelRequired",
        default,
        deserialize_with = "scalar"
    )]
    pub(super) level_required: Scalar,
    #[serde(
        rename = "NetworkName",
        alias = "networkName",
        default,
        deserialize_with = "text"
    )]
    pub(super) network_name: String,
    #[serde(
        rename = "RelayNetwork",
        alias = "relayNetwork",
        default,
        deserialize_with = "text"
    )]
    pub(super) relay_network: String,
    #[serde(
        rename = "NetworkType",
        alias = "networkType",
        default,
        deserialize_with = "text"
    )]
    pub(super) network_type: String,
    #[serde(
        rename = "DisplayName",
        alias = "displayName",
        default,
        deserialize_with = "text"
    )]
    pub(super) display_name: String,
    #[serde(
        rename = "WebsiteURL",
        alias = "websiteURL",
        default,
        deserialize_with = "text"
    )]
    pub(super) website_url: String,
    #[serde(
        rename = "LogoURL",
        alias = "logoURL",
        default,
        deserialize_with = "text"
    )]
    pub(super) logo_url: String,
    #[serde(
        rename = "Description",
        alias = "description",
        default,
        deserialize_with = "text"
    )]
    pub(super) description: String,
    #[serde(
        rename = "StateRootHash",
        alias = "stateRootHash",
        default,
        deserialize_with = "text"
    )]
    pub(super) state_root_hash: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ServiceResources {
    #[serde(default, deserialize_with = "scalar")]
    pub(super) nodes: Scalar,
    #[serde(default, deserialize_with = "scalar")]
    pub(super) cores: Scalar,
    #[serde(default, deserialize_with = "scalar")]
    pub(super) memory: Scalar,
    #[serde(default, deserialize_with = "scalar")]
    pub(super) disk: Scalar,
    #[serde(default, deserialize_with = "scalar")]
    pub(super) bandwidth: Scalar,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Provider {
    #[serde(rename = "RpcUrls", alias = "rpcUrls", default)]
    pub(super) rpc_urls: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct IbpRecord {
    #[serde(deserialize_with = "text")]
    pub(super) qname: String,
    #[serde(deserialize_with = "text")]
    pub(super) qtype: String,
    #[serde(default, deserialize_with = "text")]
    pub(super) content: String,
    #[serde(default, deserialize_with = "scalar")]
    pub(super) ttl: Scalar,
}

#[derive(Debug, Deserialize)]
pub(super) struct IbpAlerts {
    #[serde(default)]
    pub(super) matrix: Option<MatrixAlerts>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct MatrixAlerts {
    #[serde(default)]
    pub(super) room: Option<String>,
    #[serde(default)]
    pub(super) members: Option<BTreeMap<String, Vec<String>>>,
}
