//! Files in the data directory: written atomically (temporary file, fsync, rename, so a
//! crash leaves the old file or the new one, never a torn one) and read, always off the
//! runtime's threads when called from async code.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Writes `bytes` to `path` atomically; `secret` makes the file readable by its owner
/// only. Blocking: async code calls [`write`].
pub fn write_atomically(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(dir)
    {
        // Persist the rename itself; not every platform allows syncing a directory.
        dir.sync_all().ok();
    }
    Ok(())
}

/// [`write_atomically`] on the blocking pool (awaited here, so owned by the caller).
pub async fn write(path: PathBuf, bytes: Vec<u8>, secret: bool) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || write_atomically(&path, &bytes, secret))
        .await
        .unwrap_or_else(|error| Err(std::io::Error::other(error.to_string())))
}

/// Writes `bytes` to `path` off the runtime's threads; a failure is logged naming `what`.
pub async fn save(path: PathBuf, bytes: Vec<u8>, what: &str) {
    let shown = path.display().to_string();
    if let Err(error) = write(path, bytes, false).await {
        tracing::warn!(path = %shown, %error, "cannot save {what}");
    }
}

/// Reads a JSON file on the blocking pool: `None` when it is missing, or unreadable
/// (logged with the path and what was wrong).
pub async fn read_json<T: DeserializeOwned + Send + 'static>(path: PathBuf) -> Option<T> {
    tokio::task::spawn_blocking(move || read_json_blocking(&path))
        .await
        .ok()
        .flatten()
}

/// [`read_json`], blocking.
pub fn read_json_blocking<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "ignoring an unreadable file");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn written_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write(path.clone(), b"{\"a\": 1}".to_vec(), true)
            .await
            .unwrap();
        let value: serde_json::Value = read_json(path.clone()).await.unwrap();
        assert_eq!(value, serde_json::json!({"a": 1}));
        assert!(!dir.path().join("state.json.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"not json").unwrap();
        assert!(read_json::<serde_json::Value>(path).await.is_none());
        let missing = dir.path().join("missing.json");
        assert!(read_json::<serde_json::Value>(missing).await.is_none());
    }
}
