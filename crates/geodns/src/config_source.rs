//! Loads the configuration: reads the TOML node file, applies environment and flag
//! overrides, reads secret files, fetches the `[sources]` (file paths or http(s) URLs),
//! and validates the whole into one [`Config`]. All or nothing: any failure returns an
//! error and no partial configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use geodns_core::config::{
    self, AlertsFile, Config, ConfigErrors, ConfigFile, Located, Origin, Override, SourceItems,
};
use geodns_core::ibp;

/// Largest source document accepted; the original's files are a few hundred KiB.
const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

/// Why loading failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The node file or a source file could not be read.
    #[error("{origin}: cannot read: {message}")]
    Read {
        /// The path.
        origin: String,
        /// The operating system's reason.
        message: String,
    },
    /// A source URL could not be fetched.
    #[error("{origin}: cannot fetch: {message}")]
    Fetch {
        /// The URL.
        origin: String,
        /// What went wrong (connection refused, HTTP status, timeout, too large).
        message: String,
    },
    /// The configuration was read but is invalid.
    #[error("{0}")]
    Invalid(#[from] ConfigErrors),
}

/// Where a source document lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file.
    File(PathBuf),
    /// An http(s) URL.
    Url(String),
}

impl Location {
    /// Reads `text` as a URL if it has an http(s) scheme, else as a path relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Location {
        if text.starts_with("http://") || text.starts_with("https://") {
            Location::Url(text.to_owned())
        } else {
            Location::File(base.join(text))
        }
    }

    fn origin(&self) -> Origin {
        match self {
            Location::File(path) => Origin(path.display().to_string()),
            Location::Url(url) => Origin(geodns_core::secret::redact(url)),
        }
    }
}

/// Fetches a document from a file or URL. Never holds a lock: callers swap the result in.
pub async fn fetch(
    http: &reqwest::Client,
    location: &Location,
    timeout: Duration,
) -> Result<String, LoadError> {
    match location {
        Location::File(path) => {
            tokio::fs::read_to_string(path)
                .await
                .map_err(|error| LoadError::Read {
                    origin: path.display().to_string(),
                    message: error.to_string(),
                })
        }
        Location::Url(url) => fetch_url(http, url, timeout).await,
    }
}

async fn fetch_url(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<String, LoadError> {
    let error = |message: String| LoadError::Fetch {
        origin: geodns_core::secret::redact(url),
        message,
    };
    let response = http
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| error(describe_reqwest(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(error(format!("HTTP status {status}")));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_SOURCE_BYTES as u64)
    {
        return Err(error(format!("larger than {MAX_SOURCE_BYTES} bytes")));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| error(describe_reqwest(&e)))?;
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(error(format!("larger than {MAX_SOURCE_BYTES} bytes")));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| error("body is not UTF-8".to_owned()))
}

/// reqwest's Display hides the cause ("error sending request"); include the chain.
fn describe_reqwest(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_timeout() {
        message.push_str(" (timed out)");
    }
    message
}

/// Loads and validates the configuration from a node file.
#[derive(Debug, Clone)]
pub struct Loader {
    /// Shared HTTP client for URL sources.
    http: reqwest::Client,
    /// The TOML node file.
    path: PathBuf,
    /// Environment and command-line overrides, applied in order.
    overrides: Vec<Override>,
}

impl Loader {
    /// A loader for `path` with `overrides` (environment first, then flags).
    pub fn new(http: reqwest::Client, path: PathBuf, overrides: Vec<Override>) -> Self {
        Loader {
            http,
            path,
            overrides,
        }
    }

    /// Reads, fetches and validates everything once.
    pub async fn load(&self) -> Result<Config, LoadError> {
        let origin = Origin(self.path.display().to_string());
        let text = fetch(
            &self.http,
            &Location::File(self.path.clone()),
            Duration::ZERO,
        )
        .await?;
        let file = config::parse_file_with_overrides(&text, &origin, &self.overrides)
            .map_err(ConfigErrors::from)?;
        let file = resolve_secrets(file, origin.clone()).await?;
        let base = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let sources = load_sources(&self.http, &file, &base).await?;
        Ok(config::build(file, &origin, sources)?)
    }
}

/// Reads the secret files `file` names, on a blocking thread (they are plain file reads).
async fn resolve_secrets(mut file: ConfigFile, origin: Origin) -> Result<ConfigFile, LoadError> {
    let path = origin.0.clone();
    tokio::task::spawn_blocking(move || crate::secrets::resolve(&mut file, &origin).map(|()| file))
        .await
        .map_err(|error| LoadError::Read {
            origin: path,
            message: format!("reading the secret files failed: {error}"),
        })?
        .map_err(|error| LoadError::Invalid(error.into()))
}

/// Fetches and parses every `[sources]` entry of `file`.
pub async fn load_sources(
    http: &reqwest::Client,
    file: &ConfigFile,
    base: &Path,
) -> Result<SourceItems, LoadError> {
    let timeout = file.sources.fetch_timeout;
    let mut items = SourceItems::default();
    if let Some(text) = &file.sources.members {
        let (origin, body) = fetch_located(http, text, base, timeout).await?;
        items.members = ibp::parse_members(&body, &origin)?;
    }
    if let Some(text) = &file.sources.services {
        let (origin, body) = fetch_located(http, text, base, timeout).await?;
        items.services = ibp::parse_services(&body, &origin)?;
    }
    if let Some(text) = &file.sources.static_records {
        let (origin, body) = fetch_located(http, text, base, timeout).await?;
        items.records = ibp::parse_static_records(&body, &origin)?;
    }
    if let Some(text) = &file.sources.alerts {
        let (origin, body) = fetch_located(http, text, base, timeout).await?;
        let alerts: AlertsFile = ibp::parse_alerts(&body, &origin)?;
        items.alerts = Some(Located::sourced(&origin, "matrix", alerts));
    }
    Ok(items)
}

async fn fetch_located(
    http: &reqwest::Client,
    text: &str,
    base: &Path,
    timeout: Duration,
) -> Result<(Origin, String), LoadError> {
    let location = Location::parse(text, base);
    let body = fetch(http, &location, timeout).await?;
    Ok((location.origin(), body))
}
