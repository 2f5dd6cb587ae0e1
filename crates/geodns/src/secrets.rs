//! Secrets from files, read into the parsed configuration before validation: the
//! `username:password` credential files of `[bus]`, `[storage]` and `[redis]`, the NKey
//! seed file and the Matrix password file. Parsing and error wording are
//! `geodns_core::secret`'s, shared with the seeds' environment variables.
//!
//! These are blocking reads: `Loader::load` runs [`resolve`] on a blocking thread.

use std::path::Path;

use geodns_core::config::{ConfigError, ConfigFile, Origin};
use geodns_core::secret::{
    Credentials, SecretError, SecretUrl, parse_credentials, parse_secret, with_credentials,
};

/// Reads every `*_file` secret the configuration names and fills in the value it stands for.
pub(crate) fn resolve(file: &mut ConfigFile, origin: &Origin) -> Result<(), ConfigError> {
    let invalid = |path: &str, error: SecretError| ConfigError::Invalid {
        origin: origin.clone(),
        path: path.to_owned(),
        message: error.to_string(),
    };
    let credentials =
        |path: &Path, field: &str| read_credentials(path).map_err(|e| invalid(field, e));
    if let Some(path) = file.bus.credentials_file.take() {
        let Credentials { user, password } = credentials(&path, "bus.credentials_file")?;
        file.bus.user = Some(user);
        file.bus.password = Some(password);
    }
    if let Some(path) = file.bus.nkey_seed_file.take() {
        let seed = parse_secret(&path, std::fs::read_to_string(&path))
            .map_err(|e| invalid("bus.nkey_seed_file", e))?;
        file.bus.nkey_seed = Some(seed);
    }
    if let Some(path) = file.storage.credentials_file.take() {
        let found = credentials(&path, "storage.credentials_file")?;
        let url = file
            .storage
            .url
            .as_ref()
            .ok_or_else(|| ConfigError::Invalid {
                origin: origin.clone(),
                path: "storage.credentials_file".to_owned(),
                message: "needs `[storage] url` to put the credentials into".to_owned(),
            })?;
        file.storage.url = Some(put_into(url, &found).map_err(|e| invalid("storage.url", e))?);
    }
    if let Some(redis) = file.redis.as_mut()
        && let Some(path) = redis.credentials_file.take()
    {
        let found = credentials(&path, "redis.credentials_file")?;
        redis.url = put_into(&redis.url, &found).map_err(|e| invalid("redis.url", e))?;
    }
    if let Some(matrix) = file.matrix.as_mut()
        && let Some(path) = matrix.password_file.take()
    {
        let password = parse_secret(&path, std::fs::read_to_string(&path))
            .map_err(|e| invalid("matrix.password_file", e))?;
        matrix.password = Some(password);
    }
    Ok(())
}

/// Reads a `username:password` file.
pub(crate) fn read_credentials(path: &Path) -> Result<Credentials, SecretError> {
    parse_credentials(path, std::fs::read_to_string(path))
}

fn put_into(url: &SecretUrl, credentials: &Credentials) -> Result<SecretUrl, SecretError> {
    let Credentials { user, password } = credentials;
    with_credentials(url.expose(), Some(user), Some(password.expose())).map(SecretUrl::new)
}

#[cfg(test)]
mod tests {
    use geodns_core::secret::Secret;

    use super::*;

    fn parse(text: &str) -> ConfigFile {
        geodns_core::config::parse_file_with_overrides(text, &Origin("geodns.toml".into()), &[])
            .unwrap()
    }

    #[test]
    fn credential_files_fill_in_every_section() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::write(&creds, "geo dns:p@ss:w%\r\n").unwrap();
        let seed = dir.path().join("seed");
        std::fs::write(&seed, "SUAEXAMPLESEED\n").unwrap();
        let text = format!(
            "[node]\nid = \"n\"\n[bus]\ncredentials_file = {c:?}\nnkey_seed_file = {s:?}\n\
             [storage]\nurl = \"mysql://db.example:3306/geodns\"\ncredentials_file = {c:?}\n\
             [redis]\nurl = \"redis://127.0.0.1:6379\"\ncredentials_file = {c:?}\n",
            c = creds.display().to_string(),
            s = seed.display().to_string(),
        );
        let mut file = parse(&text);
        resolve(&mut file, &Origin("geodns.toml".into())).unwrap();
        assert_eq!(
            file.storage.url.as_ref().map(SecretUrl::expose),
            Some("mysql://geo%20dns:p%40ss%3Aw%25@db.example:3306/geodns")
        );
        assert_eq!(
            file.redis.as_ref().map(|r| r.url.expose()),
            Some("redis://geo%20dns:p%40ss%3Aw%25@127.0.0.1:6379")
        );
        assert_eq!(file.bus.user.as_deref(), Some("geo dns"));
        assert_eq!(
            file.bus.password.as_ref().map(Secret::expose),
            Some("p@ss:w%")
        );
        assert_eq!(
            file.bus.nkey_seed.as_ref().map(Secret::expose),
            Some("SUAEXAMPLESEED")
        );
    }

    #[test]
    fn errors_name_the_file_field_and_the_rule() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::write(&creds, "justauser\n").unwrap();
        let text = format!(
            "[node]\nid = \"n\"\n[bus]\ncredentials_file = {:?}\n",
            creds.display().to_string()
        );
        let error = resolve(&mut parse(&text), &Origin("geodns.toml".into()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!(
                "geodns.toml: bus.credentials_file: `{}` must hold `username:password` on its first line, with a non-empty user name",
                creds.display()
            )
        );
        let text = "[node]\nid = \"n\"\n[storage]\nurl = \"sqlite://x.db\"\ncredentials_file = \"/nonexistent/creds\"\n";
        let error = resolve(&mut parse(text), &Origin("geodns.toml".into()))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "geodns.toml: storage.credentials_file: cannot read `/nonexistent/creds`: "
            ),
            "{error}"
        );
    }
}
