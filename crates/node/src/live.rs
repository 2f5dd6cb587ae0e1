//! The live configuration: an `Arc<Config>` on a watch channel that readers borrow without
//! copying, swapped whole when a reload validates (the binary's reloader calls
//! [`LiveConfig::replace`]), with the maintenance set at run time re-applied to every
//! reload.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use geodns_core::config::Config;
use geodns_core::ids::MemberId;
use tokio::sync::watch;

/// A member name that is not in the configuration.
#[derive(Debug, thiserror::Error)]
#[error("unknown member `{0}`")]
pub struct UnknownMember(pub String);

/// Handle to the live configuration. Cheap to clone; every clone sees the same state.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Readers subscribe here; `borrow()` is a refcount bump, never a deep copy.
    sender: Arc<watch::Sender<Arc<Config>>>,
    /// What was loaded plus the runtime overrides; held only to compute the next
    /// published value, never while loading.
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    /// The configuration as loaded, before runtime overrides.
    loaded: Arc<Config>,
    /// Maintenance set at run time (API, command), by member. Re-applied to every
    /// reloaded configuration so a reload never silently ends (or starts) a maintenance;
    /// it wins over the file's `maintenance` either way.
    maintenance: BTreeMap<MemberId, bool>,
}

impl State {
    fn effective(&self) -> Config {
        let mut config = (*self.loaded).clone();
        for (id, on) in &self.maintenance {
            if let Some(member) = config.catalog.members.get_mut(id) {
                member.maintenance = *on;
            }
        }
        config
    }
}

impl LiveConfig {
    /// Starts with a validated configuration.
    pub fn new(config: Config) -> Self {
        let loaded = Arc::new(config);
        let (sender, _) = watch::channel(loaded.clone());
        let state = State {
            loaded,
            maintenance: BTreeMap::new(),
        };
        LiveConfig {
            sender: Arc::new(sender),
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The current configuration.
    pub fn current(&self) -> Arc<Config> {
        self.sender.borrow().clone()
    }

    /// A receiver that is notified on every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.sender.subscribe()
    }

    /// Puts a member into maintenance (`true`) or takes it out (`false`), at once and for
    /// every later reload; this wins over `maintenance` in the configuration file.
    pub fn set_maintenance(&self, member: &str, on: bool) -> Result<(), UnknownMember> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let id = state
            .loaded
            .catalog
            .members
            .keys()
            .find(|id| id.as_str() == member)
            .cloned()
            .ok_or_else(|| UnknownMember(member.to_owned()))?;
        state.maintenance.insert(id, on);
        self.publish(&state);
        Ok(())
    }

    /// Swaps in a freshly loaded configuration. Settings that only take effect at start
    /// (node identity, listeners, storage, bus, Redis, Matrix, GeoIP, the checks' CA file)
    /// keep their running values; the names of any that changed are returned so the
    /// caller can warn.
    pub fn replace(&self, mut next: Config) -> Vec<&'static str> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let restart_needed = keep_startup_settings(&state.loaded, &mut next);
        state.loaded = Arc::new(next);
        self.publish(&state);
        restart_needed
    }

    fn publish(&self, state: &State) {
        let next = state.effective();
        self.sender.send_if_modified(|current| {
            if **current == next {
                return false;
            }
            *current = Arc::new(next);
            true
        });
    }
}

/// Copies start-up-only settings from `current` into `next`; returns those that differed.
fn keep_startup_settings(current: &Config, next: &mut Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident),*) => {$(
            if current.$field != next.$field {
                changed.push(stringify!($field));
                next.$field = current.$field.clone();
            }
        )*};
    }
    keep!(node, listen, storage, bus, redis, matrix, geoip, cluster);
    // The checks' trust roots are built once, at start; the rest of `[monitor]` reloads.
    if current.monitor.ca_file != next.monitor.ca_file {
        changed.push("monitor.ca_file");
        next.monitor.ca_file = current.monitor.ca_file.clone();
    }
    // The API's listener limits are set at start; its tokens and backend switch reload.
    let (now, then) = (&current.api, &mut next.api);
    let limits = |api: &geodns_core::config::ApiSection| {
        let caps = (api.max_connections, api.per_client, api.per_network);
        (
            caps,
            api.header_timeout,
            api.request_timeout,
            api.connection_lifetime,
        )
    };
    if limits(now) != limits(then) {
        changed.push("api limits");
        (then.max_connections, then.per_client, then.per_network) =
            (now.max_connections, now.per_client, now.per_network);
        (
            then.header_timeout,
            then.request_timeout,
            then.connection_lifetime,
        ) = (
            now.header_timeout,
            now.request_timeout,
            now.connection_lifetime,
        );
    }
    changed
}

#[cfg(test)]
mod tests {
    use geodns_core::config::{Origin, SourceItems, build, parse_file};

    use super::*;

    fn config(ca_file: &str, workers: u32) -> Config {
        let text = format!(
            "[node]\nid = \"n1\"\n\n[monitor]\nworkers = {workers}\nca_file = \"{ca_file}\"\n"
        );
        let origin = Origin("test.toml".to_owned());
        let file = parse_file(&text, &origin).expect("parses");
        build(file, &origin, SourceItems::default()).expect("valid")
    }

    #[test]
    fn the_checks_ca_file_keeps_its_start_value_while_workers_reload() {
        let live = LiveConfig::new(config("/etc/geodns/a.pem", 10));
        let changed = live.replace(config("/etc/geodns/b.pem", 20));
        assert_eq!(changed, ["monitor.ca_file"]);
        let now = live.current();
        assert_eq!(
            now.monitor.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/geodns/a.pem"))
        );
        assert_eq!(now.monitor.workers, 20);
    }
}
