//! `geodns import-ibp`: reads the original system's JSON files (paths or URLs) and writes
//! an equivalent geodns TOML node file, validated before it is written.

use std::path::Path;
use std::time::Duration;

use geodns_core::config::{
    self, CatalogFiles, CheckFile, ConfigFile, NodeSection, Origin, ProbeType, SourcesSection,
};
use geodns_core::ids::NodeId;
use geodns_core::model::{CheckKind, NodeRole};

use crate::config_source::{LoadError, load_sources};

/// Where the original system's files are.
#[derive(Debug, Clone)]
pub struct ImportSources {
    /// `members_professional.json`.
    pub members: String,
    /// `services_rpc.json`.
    pub services: String,
    /// `geodns-static.json`, optional.
    pub static_records: Option<String>,
    /// `alerts.json`, optional.
    pub alerts: Option<String>,
}

/// What an import produced.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The TOML node file.
    pub toml: String,
    /// Dropped references and other notes.
    pub warnings: Vec<String>,
}

/// Fetches the sources, validates them, and renders a self-contained node file.
pub async fn import(
    http: &reqwest::Client,
    sources: &ImportSources,
    node_id: NodeId,
) -> Result<Imported, LoadError> {
    let mut file = skeleton(node_id);
    file.sources = SourcesSection {
        members: Some(sources.members.clone()),
        services: Some(sources.services.clone()),
        static_records: sources.static_records.clone(),
        alerts: sources.alerts.clone(),
        ..SourcesSection::default()
    };
    let origin = Origin("(import)".to_owned());
    let items = load_sources(http, &file, Path::new(".")).await?;
    let config = config::build(file.clone(), &origin, items)?;
    let catalog = CatalogFiles::of(&config.catalog);
    file.sources = SourcesSection::default();
    file.members = catalog.members;
    file.services = catalog.services;
    file.records = catalog.records;
    file.overrides = catalog.overrides;
    file.alerts = catalog.alerts;
    let body = toml::to_string_pretty(&file).map_err(|error| LoadError::Read {
        origin: "(import)".to_owned(),
        message: format!("cannot render TOML: {error}"),
    })?;
    let toml = format!("{}{body}", header(sources));
    // The promise of this command: what it writes, check-config accepts.
    let reparsed = config::parse_file(&toml, &Origin("(imported file)".to_owned()))
        .map_err(geodns_core::config::ConfigErrors::from)?;
    config::build(
        reparsed,
        &Origin("(imported file)".to_owned()),
        Default::default(),
    )?;
    Ok(Imported {
        toml,
        warnings: config.warnings,
    })
}

fn header(sources: &ImportSources) -> String {
    let mut text =
        String::from("# geodns node configuration, imported from the original IBP GeoDNS files:\n");
    text.push_str(&format!(
        "#   members:  {}\n#   services: {}\n",
        sources.members, sources.services
    ));
    if let Some(path) = &sources.static_records {
        text.push_str(&format!("#   static:   {path}\n"));
    }
    if let Some(path) = &sources.alerts {
        text.push_str(&format!("#   alerts:   {path}\n"));
    }
    text.push_str("# Review [node], [listen], [storage] and [bus] before use; see README.md.\n\n");
    text
}

/// A node file with defaults and the original system's four standard checks.
fn skeleton(node_id: NodeId) -> ConfigFile {
    let mut file = ConfigFile::with_node(NodeSection {
        id: node_id,
        roles: NodeRole::ALL.to_vec(),
        data_dir: ".".into(),
    });
    file.checks = vec![
        check("ping", ProbeType::Ping, CheckKind::Site, 60, 30),
        check("ssl", ProbeType::Tls, CheckKind::Domain, 300, 90),
        check("wss", ProbeType::SubstrateRpc, CheckKind::Endpoint, 300, 90),
        check("ethrpc", ProbeType::EthRpc, CheckKind::Endpoint, 300, 30),
    ];
    file
}

fn check(name: &str, probe: ProbeType, kind: CheckKind, interval: u64, timeout: u64) -> CheckFile {
    CheckFile {
        kind: Some(kind),
        interval: Duration::from_secs(interval),
        timeout: Duration::from_secs(timeout),
        ..CheckFile::new(name, probe)
    }
}
