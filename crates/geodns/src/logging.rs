//! Log setup: `tracing` to stderr, filtered by `GEODNS_LOG` (or `RUST_LOG`), as text or JSON.
//! Colours only when stderr is a terminal: a pipe or a file gets plain text.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. The default filter keeps hickory's per-query logs off.
pub fn init(format: LogFormat, filter: Option<&str>) {
    let filter = filter
        .map(EnvFilter::new)
        .unwrap_or_else(|| EnvFilter::new("info,hickory_server=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A subscriber may already be set (tests); keep it.
    drop(result);
}
