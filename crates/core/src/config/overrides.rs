//! Overrides of single config keys from environment variables (`GEODNS_NODE__ID`) and
//! command-line flags (`--node-id`), so one file serves a whole fleet.
//!
//! Convention: `GEODNS_` + the key path in upper case with `__` between sections,
//! e.g. `GEODNS_BUS__PASSWORD` sets `[bus] password`. The value is read as a TOML value
//! when it is one (`30`, `true`, `["a","b"]`), else as a string; list keys also accept a
//! comma-separated list (`GEODNS_NODE__ROLES=monitor,dns`).

use super::error::ConfigError;

/// Prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "GEODNS_";

/// Keys holding lists, which also accept `a,b,c`.
const LIST_KEYS: &[&[&str]] = &[&["node", "roles"], &["bus", "urls"], &["dns", "zones"]];

/// One key set from outside the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Where it came from, for error messages (`GEODNS_NODE__ID`, `--node-id`).
    pub source_name: String,
    /// Key path, e.g. `["node", "id"]`.
    pub path: Vec<String>,
    /// The new value.
    pub value: toml::Value,
}

impl Override {
    /// An override from text, read as described in the module docs.
    pub fn from_text(source_name: &str, path: &[&str], text: &str) -> Self {
        let is_list_key = LIST_KEYS.contains(&path);
        let value = if is_list_key && !text.trim_start().starts_with('[') {
            toml::Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|part| !part.is_empty())
                    .map(|part| toml::Value::String(part.to_owned()))
                    .collect(),
            )
        } else {
            parse_value(text)
        };
        Override {
            source_name: source_name.to_owned(),
            path: path.iter().map(|segment| (*segment).to_owned()).collect(),
            value,
        }
    }

    /// Sets the key in `table`, creating intermediate tables.
    pub(crate) fn apply(&self, table: &mut toml::Table) -> Result<(), ConfigError> {
        let error = |message: String| ConfigError::Override {
            source_name: self.source_name.clone(),
            message,
        };
        let Some((leaf, parents)) = self.path.split_last() else {
            return Err(error("empty key path".to_owned()));
        };
        let mut current = table;
        for (depth, segment) in parents.iter().enumerate() {
            let entry = current
                .entry(segment.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            current = entry.as_table_mut().ok_or_else(|| {
                error(format!(
                    "`{}` is not a section",
                    self.path[..=depth].join(".")
                ))
            })?;
        }
        current.insert(leaf.clone(), self.value.clone());
        Ok(())
    }
}

fn parse_value(text: &str) -> toml::Value {
    let document = format!("value = {text}");
    match document.parse::<toml::Table>() {
        Ok(mut table) => table
            .remove("value")
            .unwrap_or_else(|| toml::Value::String(text.to_owned())),
        Err(_) => toml::Value::String(text.to_owned()),
    }
}

/// Reads overrides from environment variables (pass `std::env::vars()`).
///
/// Only `GEODNS_*` names containing `__` are config keys; others such as `GEODNS_CONFIG`
/// or `GEODNS_LOG` belong to the command line and are skipped.
pub fn overrides_from_env(vars: impl IntoIterator<Item = (String, String)>) -> Vec<Override> {
    let mut found: Vec<Override> = vars
        .into_iter()
        .filter_map(|(name, value)| {
            let rest = name.strip_prefix(ENV_PREFIX)?;
            if !rest.contains("__") {
                return None;
            }
            let lower = rest.to_ascii_lowercase();
            let path: Vec<&str> = lower.split("__").collect();
            Some(Override::from_text(&name, &path, &value))
        })
        .collect();
    // Environment order is arbitrary; sort so results never depend on it.
    found.sort_by(|a, b| a.source_name.cmp(&b.source_name));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<Override> {
        overrides_from_env(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    #[test]
    fn maps_names_to_paths_and_values() {
        let found = env(&[
            ("GEODNS_NODE__ID", "dns-7"),
            ("GEODNS_SOURCES__RELOAD_INTERVAL", "30"),
            ("GEODNS_NODE__ROLES", "monitor, dns"),
            ("GEODNS_CONFIG", "/etc/geodns.toml"),
            ("HOME", "/root"),
        ]);
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].path, ["node", "id"]);
        assert_eq!(found[0].value, toml::Value::String("dns-7".into()));
        assert_eq!(found[1].path, ["node", "roles"]);
        assert_eq!(
            found[1].value,
            toml::Value::Array(vec!["monitor".into(), "dns".into()])
        );
        assert_eq!(found[2].value, toml::Value::Integer(30));
    }

    #[test]
    fn refuses_to_descend_into_a_value() {
        let mut table: toml::Table = "node = 5".parse().unwrap();
        let item = Override::from_text("GEODNS_NODE__ID", &["node", "id"], "x");
        let error = item.apply(&mut table).unwrap_err();
        assert_eq!(
            error.to_string(),
            "GEODNS_NODE__ID: `node` is not a section"
        );
    }
}
