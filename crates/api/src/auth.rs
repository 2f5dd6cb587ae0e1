//! Bearer tokens for the routes that change things: a root token that may change
//! anything and member tokens that may act on their own member only. Only SHA-256
//! digests are held; a presented token is hashed and compared with every digest in
//! constant time, so neither the match nor its position leaks through timing.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

/// The bearer token of a request: `None` without an `Authorization` header, `""` when the
/// header holds no `Bearer` token.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?;
    let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
    Some(token.map(str::trim).unwrap_or_default())
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The root token.
    Root,
    /// A member's token.
    Member(String),
}

impl Principal {
    /// `root` or `member:<name>`, for the event record.
    pub fn label(&self) -> String {
        match self {
            Principal::Root => "root".to_owned(),
            Principal::Member(member) => format!("member:{member}"),
        }
    }

    /// May act on `member`.
    pub fn may_act_on(&self, member: &str) -> bool {
        match self {
            Principal::Root => true,
            Principal::Member(own) => own == member,
        }
    }
}

/// The accepted tokens, as digests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    root: Option<[u8; 32]>,
    members: Vec<(String, [u8; 32])>,
    /// The PowerDNS backend's token (`[api] pdns_token_*`): it may call `POST /dns` only.
    pdns: Option<[u8; 32]>,
}

impl Tokens {
    /// The SHA-256 of `token`.
    pub fn digest(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// Parses a digest written as 64 hex digits.
    pub fn parse_hex(text: &str) -> Option<[u8; 32]> {
        let text = text.trim();
        if text.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (index, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
        }
        Some(out)
    }

    /// Sets the root token's digest.
    pub fn with_root(mut self, digest: [u8; 32]) -> Tokens {
        self.root = Some(digest);
        self
    }

    /// Adds a member token's digest.
    pub fn with_member(mut self, member: &str, digest: [u8; 32]) -> Tokens {
        self.members.push((member.to_owned(), digest));
        self
    }

    /// Sets the PowerDNS backend's token digest.
    pub fn with_pdns(mut self, digest: [u8; 32]) -> Tokens {
        self.pdns = Some(digest);
        self
    }

    /// Whether `token` is the PowerDNS backend's token.
    pub fn is_pdns(&self, token: &str) -> bool {
        self.pdns
            .as_ref()
            .is_some_and(|pdns| equal(pdns, &Tokens::digest(token)))
    }

    /// A root token is configured.
    pub fn has_root(&self) -> bool {
        self.root.is_some()
    }

    /// Member tokens configured.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// No token is configured: nothing can be changed through the API.
    pub fn is_empty(&self) -> bool {
        self.root.is_none() && self.members.is_empty()
    }

    /// Who presents `token`, if anyone.
    pub fn principal(&self, token: &str) -> Option<Principal> {
        let presented = Tokens::digest(token);
        let mut found = None;
        if let Some(root) = &self.root
            && equal(root, &presented)
        {
            found = Some(Principal::Root);
        }
        for (member, digest) in &self.members {
            // Every digest is compared; the first match is kept.
            if equal(digest, &presented) && found.is_none() {
                found = Some(Principal::Member(member.clone()));
            }
        }
        found
    }
}

/// Compares two digests in constant time.
fn equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn tokens_map_to_their_principal() {
        let tokens = Tokens::default()
            .with_root(Tokens::digest("root-secret"))
            .with_member("Amforc", Tokens::digest("amforc-secret"));
        assert_eq!(tokens.principal("root-secret"), Some(Principal::Root));
        assert_eq!(
            tokens.principal("amforc-secret"),
            Some(Principal::Member("Amforc".into()))
        );
        assert_eq!(tokens.principal("guess"), None);
        assert_eq!(tokens.principal(""), None);
        assert!(Principal::Member("Amforc".into()).may_act_on("Amforc"));
        assert!(!Principal::Member("Amforc".into()).may_act_on("Rotko"));
    }

    #[test]
    fn hex_digests_parse_only_when_whole() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(Tokens::parse_hex(hex), Some(Tokens::digest("test")));
        assert_eq!(Tokens::parse_hex(&hex[1..]), None);
        assert_eq!(Tokens::parse_hex(&hex.replace('9', "g")), None);
    }
}
