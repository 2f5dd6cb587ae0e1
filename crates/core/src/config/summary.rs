//! The counts `geodns check-config` prints, as text or as one JSON object.

use serde::Serialize;

use super::Config;

/// What a configuration contains, in numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Members configured.
    pub members: usize,
    /// Members active and not in maintenance.
    pub active_members: usize,
    /// Services configured.
    pub services: usize,
    /// Services active.
    pub active_services: usize,
    /// Distinct geo-routed hostnames of active services.
    pub hostnames: usize,
    /// Zones served.
    pub zones: usize,
    /// Static records.
    pub static_records: usize,
    /// Checks configured.
    pub checks: usize,
}

impl Summary {
    /// Counts what `config` holds.
    pub fn of(config: &Config) -> Self {
        let catalog = &config.catalog;
        Summary {
            members: catalog.members.len(),
            active_members: catalog
                .members
                .values()
                .filter(|m| m.active && !m.maintenance)
                .count(),
            services: catalog.services.len(),
            active_services: catalog.services.values().filter(|s| s.active).count(),
            hostnames: catalog.hostnames.len(),
            zones: catalog.zones.len(),
            static_records: catalog.records.len(),
            checks: catalog.checks.len(),
        }
    }
}
