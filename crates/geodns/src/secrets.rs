//! Secrets from files: `username:password` credential files and single-secret files,
//! read into the parsed configuration before validation.

use std::path::Path;

use geodns_core::config::{ConfigError, ConfigFile, Origin, Secret};

/// Reads every `*_file` secret the configuration names and fills in the value it stands for.
pub(crate) fn resolve(file: &mut ConfigFile, origin: &Origin) -> Result<(), ConfigError> {
    if let Some(path) = file.bus.credentials_file.clone() {
        let (user, password) = read_credentials(&path, origin, "bus.credentials_file")?;
        file.bus.user = Some(user);
        file.bus.password = Some(Secret(password));
        file.bus.credentials_file = None;
    }
    if let Some(path) = file.storage.credentials_file.clone() {
        let (user, password) = read_credentials(&path, origin, "storage.credentials_file")?;
        let url = file.storage.url.as_deref().ok_or_else(|| {
            invalid(
                origin,
                "storage.credentials_file",
                "needs `[storage] url` to put the credentials into".to_owned(),
            )
        })?;
        file.storage.url = Some(
            with_credentials(url, &user, &password)
                .map_err(|message| invalid(origin, "storage.url", message))?,
        );
    }
    if let Some(redis) = file.redis.as_mut()
        && let Some(path) = redis.credentials_file.clone()
    {
        let (user, password) = read_credentials(&path, origin, "redis.credentials_file")?;
        redis.url = with_credentials(&redis.url, &user, &password)
            .map_err(|message| invalid(origin, "redis.url", message))?;
    }
    if let Some(matrix) = file.matrix.as_mut()
        && let Some(path) = matrix.password_file.clone()
    {
        let text = read(&path, origin, "matrix.password_file")?;
        matrix.password = Some(Secret(text.trim_end_matches(['\r', '\n']).to_owned()));
    }
    Ok(())
}

fn invalid(origin: &Origin, path: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.clone(),
        path: path.to_owned(),
        message,
    }
}

fn read(path: &Path, origin: &Origin, field: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| {
        invalid(
            origin,
            field,
            format!("cannot read `{}`: {error}", path.display()),
        )
    })
}

/// Reads a `username:password` file (the seed's credential file format; one line).
pub(crate) fn read_credentials(
    path: &Path,
    origin: &Origin,
    field: &str,
) -> Result<(String, String), ConfigError> {
    let text = read(path, origin, field)?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    match line.split_once(':') {
        Some((user, password)) if !user.is_empty() => Ok((user.to_owned(), password.to_owned())),
        _ => Err(invalid(
            origin,
            field,
            format!(
                "`{}` must hold `username:password` on its first line",
                path.display()
            ),
        )),
    }
}

fn with_credentials(url: &str, user: &str, password: &str) -> Result<String, String> {
    if url.starts_with("sqlite:") {
        return Err("a sqlite URL takes no credentials".to_owned());
    }
    geodns_store::url_with_credentials(url, Some(user), Some(password)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_into_the_url() {
        let url = with_credentials("mysql://db.example:3306/geodns", "geo dns", "p@ss:w%").unwrap();
        assert_eq!(
            url,
            "mysql://geo%20dns:p%40ss%3Aw%25@db.example:3306/geodns"
        );
    }

    #[test]
    fn credentials_file_needs_a_colon() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds");
        std::fs::write(&path, "justauser\n").unwrap();
        let error = read_credentials(&path, &Origin("geodns.toml".into()), "bus.credentials_file")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("geodns.toml: bus.credentials_file: "),
            "{error}"
        );
        assert!(error.contains("must hold `username:password`"), "{error}");
        std::fs::write(&path, "monitor:s3cr:et\n").unwrap();
        let (user, password) =
            read_credentials(&path, &Origin("x".into()), "bus.credentials_file").unwrap();
        assert_eq!((user.as_str(), password.as_str()), ("monitor", "s3cr:et"));
    }
}
