//! MaxMind database downloads: asks MaxMind for an edition's `Last-Modified` and, when it
//! differs from the one recorded beside the database (or the database is missing), fetches
//! the `.tar.gz`, takes its `.mmdb` member in memory, verifies it, and atomically replaces
//! the database file.
//!
//! The live file is memory-mapped by the server, so it is never written in place: the new
//! database goes to a temporary file in the same directory, is fsynced, and is renamed over
//! the old one. Readers holding the old mapping keep the old inode until they reopen.

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use reqwest::StatusCode;
use reqwest::header::LAST_MODIFIED;

/// MaxMind's download endpoint; `{edition}` is replaced by the edition id.
pub const DEFAULT_URL_TEMPLATE: &str =
    "https://download.maxmind.com/geoip/databases/{edition}/download?suffix=tar.gz";

/// The largest archive downloaded, and the largest database taken out of one.
pub const MAX_DOWNLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// The suffix of the file beside the database that holds MaxMind's `Last-Modified` text.
pub const MARKER_SUFFIX: &str = ".last-modified";

/// One MaxMind edition to keep current at `destination`.
#[derive(Clone, Copy)]
pub struct Edition<'a> {
    /// The URL with `{edition}` in it, usually [`DEFAULT_URL_TEMPLATE`].
    pub url_template: &'a str,
    /// The edition id, `GeoLite2-City` or `GeoLite2-ASN`.
    pub edition: &'a str,
    /// The MaxMind account id (the basic-auth user).
    pub account_id: &'a str,
    /// The licence key (the basic-auth password).
    pub license_key: &'a str,
    /// The database file the server maps.
    pub destination: &'a Path,
    /// Text the database's `database_type` must contain (`City`, `ASN`); empty for any.
    pub expect_type: &'a str,
}

/// What [`refresh`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// MaxMind's `Last-Modified` matches the marker and the database is there.
    Unchanged,
    /// A new database replaced the destination.
    Replaced {
        /// MaxMind's `Last-Modified` text, now in the marker file.
        last_modified: Option<String>,
        /// The size of the new database file.
        bytes: u64,
    },
}

/// Why a refresh failed; the database file is then as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The URL template with the edition in it is not a URL.
    #[error("the download URL for {edition} ({url}) is not valid: {source}")]
    Url {
        edition: String,
        url: String,
        source: url::ParseError,
    },
    /// The request failed before an answer (connection, TLS, timeout, cut body).
    #[error("downloading {edition} failed: {source}")]
    Request {
        edition: String,
        source: reqwest::Error,
    },
    /// HTTP 401.
    #[error("MaxMind refused the account id or licence key (HTTP 401 for {edition})")]
    Refused { edition: String },
    /// Another non-success status.
    #[error("MaxMind answered HTTP {status} for {edition}")]
    Status { edition: String, status: u16 },
    /// The archive or the database in it is larger than [`MAX_DOWNLOAD_BYTES`].
    #[error("the download of {edition} is larger than {limit} bytes")]
    TooLarge { edition: String, limit: u64 },
    /// The body does not start like a gzip stream.
    #[error("the download of {edition} is not a gzip archive")]
    NotGzip { edition: String },
    /// The gzip stream or the tar inside it is broken.
    #[error("the archive of {edition} cannot be read: {source}")]
    Archive { edition: String, source: io::Error },
    /// The archive has no member whose name ends in `.mmdb`.
    #[error("the archive of {edition} holds no .mmdb file")]
    NoDatabase { edition: String },
    /// The `.mmdb` member does not open or verify as a MaxMind database.
    #[error("the database in the archive of {edition} is not valid: {source}")]
    Invalid {
        edition: String,
        source: maxminddb::MaxMindDbError,
    },
    /// The database is of another kind than the destination expects.
    #[error(
        "the database in the archive of {edition} is a {database_type:?}, not a {expected} database"
    )]
    WrongType {
        edition: String,
        database_type: String,
        expected: String,
    },
    /// Writing, syncing or renaming a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    /// The blocking file work did not finish (panicked or was cancelled).
    #[error("the file work for {edition} did not finish: {source}")]
    Blocking {
        edition: String,
        source: tokio::task::JoinError,
    },
}

/// Brings `edition.destination` up to date: a HEAD request, and a download only when
/// MaxMind's `Last-Modified` differs from the marker beside the file, or the file is
/// missing. On any error the database and its marker are left as they were.
pub async fn refresh(
    client: &reqwest::Client,
    edition: &Edition<'_>,
) -> Result<Fetched, DownloadError> {
    let url = edition.url()?;
    let marker = marker_path(edition.destination);
    let head = edition.send(client.head(url.clone())).await?;
    let last_modified = last_modified(&head);
    let present = tokio::fs::try_exists(edition.destination)
        .await
        .unwrap_or(false);
    let recorded = tokio::fs::read_to_string(&marker).await.ok();
    if present
        && last_modified.is_some()
        && recorded.as_deref().map(str::trim) == last_modified.as_deref()
    {
        return Ok(Fetched::Unchanged);
    }
    let (archive, got_last_modified) = edition.download(client, url).await?;
    // A release between the two requests: the GET's header describes what was fetched.
    let last_modified = got_last_modified.or(last_modified);
    let owned = OwnedEdition::from(edition);
    let marker_text = last_modified.clone();
    let bytes =
        tokio::task::spawn_blocking(move || owned.install(&archive, marker_text.as_deref()))
            .await
            .map_err(|source| DownloadError::Blocking {
                edition: edition.edition.to_owned(),
                source,
            })??;
    Ok(Fetched::Replaced {
        last_modified,
        bytes,
    })
}

/// The marker file beside a database: `<file name>.last-modified`.
pub fn marker_path(destination: &Path) -> PathBuf {
    let mut name = destination.file_name().unwrap_or_default().to_os_string();
    name.push(MARKER_SUFFIX);
    destination.with_file_name(name)
}

fn last_modified(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(LAST_MODIFIED)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

impl fmt::Debug for Edition<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Edition")
            .field("url_template", &self.url_template)
            .field("edition", &self.edition)
            .field("account_id", &self.account_id)
            .field("license_key", &"<redacted>")
            .field("destination", &self.destination)
            .field("expect_type", &self.expect_type)
            .finish()
    }
}

impl Edition<'_> {
    fn url(&self) -> Result<url::Url, DownloadError> {
        let url = self.url_template.replace("{edition}", self.edition);
        url::Url::parse(&url).map_err(|source| DownloadError::Url {
            edition: self.edition.to_owned(),
            url,
            source,
        })
    }

    /// Sends with the account's credentials and turns a failure status into an error.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DownloadError> {
        let response = request
            .basic_auth(self.account_id, Some(self.license_key))
            .send()
            .await
            .map_err(|source| self.request_error(source))?;
        match response.status() {
            status if status.is_success() => Ok(response),
            StatusCode::UNAUTHORIZED => Err(DownloadError::Refused {
                edition: self.edition.to_owned(),
            }),
            status => Err(DownloadError::Status {
                edition: self.edition.to_owned(),
                status: status.as_u16(),
            }),
        }
    }

    /// GETs the archive into memory, at most [`MAX_DOWNLOAD_BYTES`], with the answer's
    /// `Last-Modified`.
    async fn download(
        &self,
        client: &reqwest::Client,
        url: url::Url,
    ) -> Result<(Vec<u8>, Option<String>), DownloadError> {
        let mut response = self.send(client.get(url)).await?;
        let last_modified = last_modified(&response);
        let too_large = || DownloadError::TooLarge {
            edition: self.edition.to_owned(),
            limit: MAX_DOWNLOAD_BYTES,
        };
        if response
            .content_length()
            .is_some_and(|length| length > MAX_DOWNLOAD_BYTES)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|source| self.request_error(source))?
        {
            if body.len() as u64 + chunk.len() as u64 > MAX_DOWNLOAD_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, last_modified))
    }

    fn request_error(&self, source: reqwest::Error) -> DownloadError {
        DownloadError::Request {
            edition: self.edition.to_owned(),
            source,
        }
    }
}

/// What the blocking half needs, owned so it can move to the blocking pool.
struct OwnedEdition {
    edition: String,
    destination: PathBuf,
    expect_type: String,
}

impl From<&Edition<'_>> for OwnedEdition {
    fn from(edition: &Edition<'_>) -> OwnedEdition {
        OwnedEdition {
            edition: edition.edition.to_owned(),
            destination: edition.destination.to_owned(),
            expect_type: edition.expect_type.to_owned(),
        }
    }
}

impl OwnedEdition {
    /// Unpacks, checks and installs the database, then the marker; returns the size.
    fn install(&self, archive: &[u8], last_modified: Option<&str>) -> Result<u64, DownloadError> {
        let database = self.unpack(archive)?;
        self.check(&database)?;
        replace_file(&self.destination, &database)?;
        let marker = marker_path(&self.destination);
        match last_modified {
            Some(text) => replace_file(&marker, text.as_bytes())?,
            None => remove_marker(&marker)?,
        }
        Ok(database.len() as u64)
    }

    /// The first regular member whose name ends in `.mmdb`.
    fn unpack(&self, archive: &[u8]) -> Result<Vec<u8>, DownloadError> {
        if !archive.starts_with(&[0x1f, 0x8b]) {
            return Err(DownloadError::NotGzip {
                edition: self.edition.clone(),
            });
        }
        let broken = |source| DownloadError::Archive {
            edition: self.edition.clone(),
            source,
        };
        // The cap also bounds what a small but highly compressed archive can expand to.
        let decoder = GzDecoder::new(archive).take(MAX_DOWNLOAD_BYTES.saturating_mul(2));
        let mut tar = tar::Archive::new(decoder);
        for entry in tar.entries().map_err(broken)? {
            let entry = entry.map_err(broken)?;
            let is_database = entry.header().entry_type().is_file()
                && entry.path_bytes().to_ascii_lowercase().ends_with(b".mmdb");
            if is_database {
                return self.read_member(entry);
            }
        }
        Err(DownloadError::NoDatabase {
            edition: self.edition.clone(),
        })
    }

    fn read_member(&self, entry: impl io::Read) -> Result<Vec<u8>, DownloadError> {
        let mut database = Vec::new();
        entry
            .take(MAX_DOWNLOAD_BYTES + 1)
            .read_to_end(&mut database)
            .map_err(|source| DownloadError::Archive {
                edition: self.edition.clone(),
                source,
            })?;
        if database.len() as u64 > MAX_DOWNLOAD_BYTES {
            return Err(DownloadError::TooLarge {
                edition: self.edition.clone(),
                limit: MAX_DOWNLOAD_BYTES,
            });
        }
        Ok(database)
    }

    /// Opens and fully verifies the database, and checks its type.
    fn check(&self, database: &[u8]) -> Result<(), DownloadError> {
        let invalid = |source| DownloadError::Invalid {
            edition: self.edition.clone(),
            source,
        };
        let reader = maxminddb::Reader::from_source(database).map_err(invalid)?;
        reader.verify().map_err(invalid)?;
        let database_type = &reader.metadata().database_type;
        if database_type.is_empty() || !database_type.contains(self.expect_type.as_str()) {
            return Err(DownloadError::WrongType {
                edition: self.edition.clone(),
                database_type: database_type.clone(),
                expected: self.expect_type.clone(),
            });
        }
        Ok(())
    }
}

/// Writes `contents` to a temporary file beside `path`, fsyncs it, renames it over `path`
/// and fsyncs the directory. The temporary file is removed if anything fails.
fn replace_file(path: &Path, contents: &[u8]) -> Result<(), DownloadError> {
    let temporary = temporary_path(path);
    let result = write_synced(&temporary, contents).and_then(|()| {
        std::fs::rename(&temporary, path).map_err(|source| DownloadError::Write {
            path: path.to_owned(),
            source,
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
        return result;
    }
    sync_directory(path);
    Ok(())
}

fn write_synced(path: &Path, contents: &[u8]) -> Result<(), DownloadError> {
    let write = || -> io::Result<()> {
        let mut file = std::fs::File::create(path)?;
        file.write_all(contents)?;
        file.sync_all()
    };
    write().map_err(|source| DownloadError::Write {
        path: path.to_owned(),
        source,
    })
}

/// `.<file name>.<pid>.download` in the same directory, so the rename stays on one file
/// system and a directory listing does not mistake it for a database.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{}.download", std::process::id()))
}

/// Makes the rename durable. Best effort: some file systems cannot sync a directory.
fn sync_directory(path: &Path) {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(handle) = std::fs::File::open(directory) {
        let _ = handle.sync_all();
    }
}

/// A download without `Last-Modified` leaves no marker, so the next refresh downloads.
fn remove_marker(marker: &Path) -> Result<(), DownloadError> {
    match std::fs::remove_file(marker) {
        Err(source) if source.kind() != io::ErrorKind::NotFound => Err(DownloadError::Write {
            path: marker.to_owned(),
            source,
        }),
        _ => Ok(()),
    }
}
