//! The operators' tokens of `[api]`: SHA-256 digests as written, or token files read (on
//! a blocking thread) and hashed. Errors name the field and the file.
//!
//! At start a bad token is an error (the API does not start). Afterwards the tokens are
//! read again whenever the configuration is reloaded and every `[sources]
//! reload_interval` (a token file may change alone), and swapped in whole: a revoked
//! token is refused within one reload interval. A token that cannot be read then is
//! left out, not kept (a deleted file revokes its token), and the error logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use geodns_core::config::{ApiSection, Config};
use geodns_node::LiveConfig;
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

use crate::auth::Tokens;

/// Why a token of `[api]` cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// A `*_sha256` value is not a SHA-256 digest.
    #[error("{field}: not 64 hex digits")]
    Digest {
        /// The field, e.g. `api.root_token`.
        field: String,
    },
    /// A token file cannot be read.
    #[error("{field}: cannot read {}: {source}", path.display())]
    Read {
        /// The field.
        field: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A token file holds no token.
    #[error("{field}: {} is empty", path.display())]
    Empty {
        /// The field.
        field: String,
        /// The file.
        path: PathBuf,
    },
    /// A member token names no member.
    #[error("{field}.member: no member `{member}`")]
    UnknownMember {
        /// The field.
        field: String,
        /// The name given.
        member: String,
    },
    /// The blocking read could not run.
    #[error("cannot read the API tokens: {0}")]
    Task(String),
}

/// The tokens of `config`.
pub async fn read(config: &Config) -> Result<Tokens, TokenError> {
    let (api, members) = inputs(config);
    tokio::task::spawn_blocking(move || read_blocking(&api, &members))
        .await
        .map_err(|error| TokenError::Task(error.to_string()))?
}

/// What reading the tokens needs: `[api]` and the member names.
fn inputs(config: &Config) -> (ApiSection, Vec<String>) {
    let members = config.catalog.members.keys().map(|m| m.to_string());
    (config.api.clone(), members.collect())
}

fn digest(
    sha: Option<&str>,
    file: Option<&Path>,
    field: &str,
) -> Result<Option<[u8; 32]>, TokenError> {
    if let Some(sha) = sha {
        let field = field.to_owned();
        return Tokens::parse_hex(sha)
            .map(Some)
            .ok_or(TokenError::Digest { field });
    }
    let Some(path) = file else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
        field: field.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenError::Empty {
            field: field.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(Some(Sha256::digest(token.as_bytes()).into()))
}

/// [`read`], blocking.
pub fn read_blocking(api: &ApiSection, members: &[String]) -> Result<Tokens, TokenError> {
    let (tokens, mut errors) = read_each(api, members);
    match errors.is_empty() {
        true => Ok(tokens),
        false => Err(errors.swap_remove(0)),
    }
}

/// Every token that can be read, and why the others cannot.
fn read_each(api: &ApiSection, members: &[String]) -> (Tokens, Vec<TokenError>) {
    let mut tokens = Tokens::default();
    let mut errors = Vec::new();
    let root = api.root_token_sha256.as_deref();
    match digest(root, api.root_token_file.as_deref(), "api.root_token") {
        Ok(Some(root)) => tokens = tokens.with_root(root),
        Ok(None) => {}
        Err(error) => errors.push(error),
    }
    let pdns = api.pdns_token_sha256.as_deref();
    match digest(pdns, api.pdns_token_file.as_deref(), "api.pdns_token") {
        Ok(Some(pdns)) => tokens = tokens.with_pdns(pdns),
        Ok(None) => {}
        Err(error) => errors.push(error),
    }
    for (index, token) in api.member_tokens.iter().enumerate() {
        let field = format!("api.member_tokens[{index}]");
        if !members.iter().any(|m| m == &token.member) {
            errors.push(TokenError::UnknownMember {
                field,
                member: token.member.clone(),
            });
            continue;
        }
        let sha = token.token_sha256.as_deref();
        match digest(sha, token.token_file.as_deref(), &field) {
            Ok(Some(member)) => tokens = tokens.with_member(&token.member, member),
            Ok(None) => {}
            Err(error) => errors.push(error),
        }
    }
    (tokens, errors)
}

/// Reads the tokens again on every configuration change and every reload interval,
/// swapping them into `current` when they changed, until `shutdown`.
pub async fn run_reload(
    live: LiveConfig,
    current: Arc<ArcSwap<Tokens>>,
    shutdown: CancellationToken,
) {
    let mut configs = live.subscribe();
    loop {
        let interval = live.current().sources.reload_interval;
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = configs.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(interval) => {}
        }
        let (api, members) = inputs(&live.current());
        let Ok((tokens, errors)) =
            tokio::task::spawn_blocking(move || read_each(&api, &members)).await
        else {
            continue;
        };
        for error in &errors {
            tracing::error!(%error, "an API token cannot be used; it is refused until fixed");
        }
        if **current.load() != tokens {
            tracing::info!(
                root = tokens.has_root(),
                members = tokens.member_count(),
                "API tokens changed"
            );
            current.store(Arc::new(tokens));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn token_files_are_hashed_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("root");
        std::fs::write(&file, "s3cret\n").unwrap();
        let expected: [u8; 32] = Sha256::digest(b"s3cret").into();
        assert_eq!(
            digest(None, Some(&file), "api.root_token").unwrap(),
            Some(expected)
        );
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest(Some(&hex), None, "x").unwrap(), Some(expected));
        assert_eq!(
            digest(Some("abc"), None, "api.root_token")
                .unwrap_err()
                .to_string(),
            "api.root_token: not 64 hex digits"
        );
        std::fs::write(&file, " \n").unwrap();
        let empty = digest(None, Some(&file), "api.member_tokens[0]").unwrap_err();
        assert_eq!(
            empty.to_string(),
            format!("api.member_tokens[0]: {} is empty", file.display())
        );
        let missing = dir.path().join("missing");
        let error = digest(None, Some(&missing), "api.root_token").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("api.root_token: cannot read "),
            "{error}"
        );
        assert_eq!(digest(None, None, "x").unwrap(), None);
    }
}
