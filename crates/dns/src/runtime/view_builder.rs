//! What a view is built from besides the configuration and the official results (zone
//! serials, fetched ACME texts, country overrides set at run time, the GeoIP databases),
//! and the rule that zones are rebuilt only when the configuration or an ACME text
//! changed: health, override and GeoIP changes reuse them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use geodns_consensus::results::Snapshot;
use geodns_core::config::Config;
use geodns_core::model::CountryOverrides;
use url::Url;

use crate::geo::GeoDb;
use crate::serial::SerialBook;
use crate::view::{Inputs, Mode, View};
use crate::zone::Zones;

/// The inputs of the next view.
#[derive(Debug)]
pub(super) struct ViewBuilder {
    serials: SerialBook,
    acme: BTreeMap<Url, String>,
    overrides: CountryOverrides,
    geo: Arc<GeoDb>,
    /// The zones of the current configuration and ACME texts; `None` when one of them
    /// changed.
    zones: Option<Arc<Zones>>,
    /// Serials changed since they were last saved.
    serials_changed: bool,
}

impl ViewBuilder {
    pub(super) fn new(serials: SerialBook, overrides: CountryOverrides, geo: Arc<GeoDb>) -> Self {
        ViewBuilder {
            serials,
            acme: BTreeMap::new(),
            overrides,
            geo,
            zones: None,
            serials_changed: false,
        }
    }

    /// The configuration changed: the zones are rebuilt with the next view.
    pub(super) fn config_changed(&mut self) {
        self.zones = None;
    }

    /// New ACME texts: the zones are rebuilt with the next view.
    pub(super) fn set_acme(&mut self, texts: BTreeMap<Url, String>) {
        self.acme = texts;
        self.zones = None;
    }

    pub(super) fn overrides_mut(&mut self) -> &mut CountryOverrides {
        &mut self.overrides
    }

    pub(super) fn set_geo(&mut self, geo: Arc<GeoDb>) {
        self.geo = geo;
    }

    /// The view of `config` and `official`, reusing the zones when they still hold.
    pub(super) fn build(&mut self, config: &Config, official: &Snapshot) -> View {
        let zones = match &self.zones {
            Some(zones) => zones.clone(),
            None => self.build_zones(config),
        };
        let inputs = Inputs {
            config,
            official: Some(official),
            runtime_overrides: &self.overrides,
            geo: self.geo.clone(),
        };
        let (view, unhealthy) = View::build(zones, &inputs);
        for item in unhealthy {
            let answer = match item.mode {
                Mode::Nearest => "the nearest member regardless of health",
                Mode::All => "every member",
                _ => "no address",
            };
            tracing::warn!(host = %item.host, ipv6 = item.ipv6, answer, "no healthy member");
        }
        view
    }

    fn build_zones(&mut self, config: &Config) -> Arc<Zones> {
        let now = geodns_node::clock::now()
            .timestamp()
            .clamp(0, i64::from(u32::MAX)) as u32;
        let zones = Arc::new(Zones::build(
            &config.catalog,
            &self.acme,
            &mut self.serials,
            now,
        ));
        for warning in &zones.warnings {
            tracing::warn!(%warning, "zone");
        }
        self.serials_changed |= self.serials.take_changed();
        self.zones = Some(zones.clone());
        zones
    }

    /// Saves the serials to `path` if they changed (off the runtime's threads).
    pub(super) async fn save_serials(&mut self, path: &Path) {
        if !std::mem::take(&mut self.serials_changed) {
            return;
        }
        let bytes = serde_json::to_vec_pretty(&self.serials).unwrap_or_default();
        geodns_node::fs::save(path.to_owned(), bytes, "the zone serials").await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use geodns_core::config::{Origin, SourceItems, build, parse_file};

    use super::*;

    fn config(ttl: u32) -> Config {
        let text = format!(
            "[node]\nid = \"d1\"\n\n[[records]]\nname = \"example.net\"\ntype = \"NS\"\n\
             content = \"ns1.example.net.\"\nttl = {ttl}\n"
        );
        let origin = Origin("test.toml".to_owned());
        build(
            parse_file(&text, &origin).unwrap(),
            &origin,
            SourceItems::default(),
        )
        .unwrap()
    }

    fn builder() -> ViewBuilder {
        let geo = Arc::new(GeoDb::empty());
        ViewBuilder::new(SerialBook::default(), CountryOverrides::new(), geo)
    }

    #[tokio::test]
    async fn zones_are_reused_until_the_configuration_or_an_acme_text_changes() {
        let mut builder = builder();
        let config = config(300);
        let official = Snapshot::default();
        let first = builder.build(&config, &official);
        let zones = builder.zones.clone().unwrap();
        assert!(builder.serials_changed, "a new zone got a serial");
        // A health, override or GeoIP change: the same zones.
        builder.set_geo(Arc::new(GeoDb::empty()));
        builder.build(&config, &official);
        assert!(Arc::ptr_eq(&zones, builder.zones.as_ref().unwrap()));
        // A configuration change: new zones.
        builder.config_changed();
        builder.build(&self::config(600), &official);
        assert!(!Arc::ptr_eq(&zones, builder.zones.as_ref().unwrap()));
        let rebuilt = builder.zones.clone().unwrap();
        builder.set_acme(BTreeMap::new());
        builder.build(&self::config(600), &official);
        assert!(!Arc::ptr_eq(&rebuilt, builder.zones.as_ref().unwrap()));
        drop(first);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serials.json");
        builder.save_serials(&path).await;
        assert!(path.exists(), "changed serials are saved");
        std::fs::remove_file(&path).unwrap();
        builder.save_serials(&path).await;
        assert!(!path.exists(), "nothing changed since: nothing written");
    }
}
