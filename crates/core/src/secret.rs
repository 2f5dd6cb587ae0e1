//! Secrets: values whose `Debug` and `Display` never show them, URLs whose credentials
//! never print, and the one parser of secret files (`username:password` credential files
//! and single-secret files) that every crate uses.
//!
//! Reading a file is the caller's job (this crate does no I/O): pass the path and what
//! `std::fs::read_to_string(path)` returned, so the read error and the format error are
//! worded in one place.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

/// What stands in for a secret in every output.
pub const REDACTED: &str = "***";

/// A secret string (password, token, seed) whose `Debug` and `Display` are redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret itself, for handing to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A URL that may carry credentials (`mysql://user:password@host/db`). `Debug` and
/// `Display` show it with the password (and password-like parameters) as `***`; only
/// [`SecretUrl::expose`] gives the real text, for the client library.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    /// The URL with its credentials, for the client library only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL as it may be printed.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl From<String> for SecretUrl {
    fn from(url: String) -> Self {
        SecretUrl(url)
    }
}

impl From<&String> for SecretUrl {
    fn from(url: &String) -> Self {
        SecretUrl(url.clone())
    }
}

impl From<&str> for SecretUrl {
    fn from(url: &str) -> Self {
        SecretUrl(url.to_owned())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecretUrl").field(&self.redacted()).finish()
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Why a secret or a URL with credentials could not be used. Never holds the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A credentials file without `username:password` on its first line.
    #[error("`{}` must hold `username:password` on its first line, with a non-empty user name", path.display())]
    Credentials {
        /// The file.
        path: PathBuf,
    },
    /// A single-secret file with nothing in it.
    #[error("`{}` is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A URL that cannot take the credentials.
    #[error("invalid URL `{url}`: {reason}")]
    Url {
        /// The URL, redacted.
        url: String,
        /// Why.
        reason: String,
    },
}

/// A user name and password from a credentials file (`Debug` shows `Secret(***)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name (never empty).
    pub user: String,
    /// Password (may be empty).
    pub password: Secret,
}

/// Parses a credentials file: `username:password` on the first line (the seeds' format).
/// The password is everything after the first `:` (it may hold `:` itself); a trailing
/// `\r` (a file written on Windows) is dropped; the user name must not be empty.
/// `read` is what `std::fs::read_to_string(path)` returned.
pub fn parse_credentials(
    path: &Path,
    read: io::Result<String>,
) -> Result<Credentials, SecretError> {
    let text = read.map_err(|source| SecretError::Read {
        path: path.to_owned(),
        source,
    })?;
    let line = text.lines().next().unwrap_or("");
    match line.split_once(':') {
        Some((user, password)) if !user.trim().is_empty() => Ok(Credentials {
            user: user.trim().to_owned(),
            password: Secret(password.to_owned()),
        }),
        _ => Err(SecretError::Credentials {
            path: path.to_owned(),
        }),
    }
}

/// Parses a single-secret file (a password, a token, an NKey seed): the whole text less
/// trailing line breaks and surrounding blanks; an empty file is an error.
pub fn parse_secret(path: &Path, read: io::Result<String>) -> Result<Secret, SecretError> {
    let text = read.map_err(|source| SecretError::Read {
        path: path.to_owned(),
        source,
    })?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(Secret(secret.to_owned()))
}

/// Percent-encodes everything but unreserved characters, so `%`, `@`, `:` and `/` in a
/// user name or password survive the trip through a URL.
pub fn encode_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Undoes percent-encoding (`%40` → `@`); a `%` not followed by two hex digits stays.
pub fn decode_userinfo(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` with this user name and password (either may be absent), safely encoded.
pub fn with_credentials(
    url: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> Result<String, SecretError> {
    let bad = |reason: &str| SecretError::Url {
        url: redact(url),
        reason: reason.to_owned(),
    };
    let mut parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if parsed.cannot_be_a_base() || parsed.host().is_none() {
        return Err(bad("it has no host to put credentials before"));
    }
    if let Some(user) = user {
        parsed
            .set_username(&encode_userinfo(user))
            .map_err(|()| bad("cannot set the user name"))?;
    }
    if let Some(password) = password {
        parsed
            .set_password(Some(&encode_userinfo(password)))
            .map_err(|()| bad("cannot set the password"))?;
    }
    Ok(parsed.to_string())
}

/// Query and key/value parameters whose values are secrets.
const SECRET_KEYS: [&str; 6] = ["password", "pass", "pwd", "token", "secret", "auth_token"];

/// Any text that may hold credentials, fit for a log: a URL's password (and, for NATS, a
/// lone token) becomes `***`, as do the values of `password=`, `token=`, … parameters, in
/// URLs, libpq key/value strings and Go DSNs (`user:pass@tcp(host)/db`) alike. Works on
/// text that is not a valid URL too, since error messages quote what was wrong.
pub fn redact(text: &str) -> String {
    let (head, rest) = match text.find("://") {
        Some(end) => text.split_at(end + 3),
        None => ("", text),
    };
    let authority_end = if head.is_empty() {
        // A Go DSN: the credentials end at the last `@` before the address.
        rest.rfind('@').map_or(0, |at| at + 1)
    } else {
        rest.find(['/', '?', '#']).unwrap_or(rest.len())
    };
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            let token_scheme = ["nats://", "tls://", "ws://", "wss://"].contains(&head);
            let userinfo = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:{REDACTED}"),
                None if token_scheme => REDACTED.to_owned(),
                None => userinfo.to_owned(),
            };
            format!("{userinfo}{host}")
        }
        None => authority.to_owned(),
    };
    format!("{head}{authority}{}", redact_parameters(tail))
}

/// `…?user=a&password=b` → `…?user=a&password=***`; also whitespace- and `;`-separated
/// `key=value` pairs.
fn redact_parameters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        let key_start = before
            .rfind(['?', '&', ';', ' ', '\t', '\n'])
            .map_or(0, |i| i + 1);
        let key = before[key_start..].to_ascii_lowercase();
        out.push_str(before);
        out.push('=');
        let after = &after[1..];
        let value_end = after
            .find(['&', ';', ' ', '\t', '\n', '#'])
            .unwrap_or(after.len());
        if SECRET_KEYS.contains(&key.as_str()) && value_end > 0 {
            out.push_str(REDACTED);
        } else {
            out.push_str(&after[..value_end]);
        }
        rest = &after[value_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
