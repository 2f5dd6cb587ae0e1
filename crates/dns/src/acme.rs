//! ACME challenge TXT content fetched from a URL: a static TXT record at
//! `_acme-challenge.*` whose content is an http(s) URL is answered with the text found
//! there. The fetch runs in the background and its result is swapped into the view; the
//! query path never waits for it.
//!
//! As in the original: a GET with a 5 s timeout, up to 3 attempts 1 s apart, at most
//! 2048 bytes read, a body over 512 bytes rejected, surrounding whitespace trimmed.

use std::time::Duration;

use url::Url;

/// How one fetch is bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeLimits {
    /// The limit for one attempt, from connecting to the end of the body.
    pub timeout: Duration,
    /// How many attempts before giving up (at least one is made).
    pub attempts: u32,
    /// The wait between attempts.
    pub pause: Duration,
    /// The most body bytes read; the rest is not fetched.
    pub max_read: usize,
    /// The longest body accepted, before trimming.
    pub max_text: usize,
}

impl Default for AcmeLimits {
    /// The original's values: 5 s, 3 attempts, 1 s apart, 2048 bytes read, 512 accepted.
    fn default() -> AcmeLimits {
        AcmeLimits {
            timeout: Duration::from_secs(5),
            attempts: 3,
            pause: Duration::from_secs(1),
            max_read: 2048,
            max_text: 512,
        }
    }
}

/// Why no TXT content was fetched. Each names the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// The server answered with a status other than 2xx.
    #[error("{url} answered HTTP {status}")]
    Status { url: Url, status: u16 },
    /// The body is longer than [`AcmeLimits::max_text`] (`bytes` counts at most
    /// [`AcmeLimits::max_read`]).
    #[error("the TXT content at {url} is too long: {bytes} bytes, more than {max}")]
    TooLong { url: Url, bytes: usize, max: usize },
    /// An attempt took longer than [`AcmeLimits::timeout`].
    #[error("{url} did not answer within {timeout:?}")]
    Timeout { url: Url, timeout: Duration },
    /// No connection, or the connection or the body broke.
    #[error("cannot fetch {url}: {source}")]
    Connection { url: Url, source: reqwest::Error },
    /// The body is not UTF-8 text.
    #[error("the TXT content at {url} is not UTF-8 text")]
    NotUtf8 { url: Url },
}

impl AcmeError {
    /// Whether another attempt may succeed: a status, a timeout or a connection error.
    /// Content that is too long or not text is taken as the server's answer.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AcmeError::Status { .. } | AcmeError::Timeout { .. } | AcmeError::Connection { .. }
        )
    }
}

/// Fetches the TXT content at `url`, retrying transient failures, and returns it trimmed
/// (possibly empty). The error is the last attempt's.
pub async fn fetch_txt(
    client: &reqwest::Client,
    url: &Url,
    limits: &AcmeLimits,
) -> Result<String, AcmeError> {
    let attempts = limits.attempts.max(1);
    let mut attempt = 1;
    loop {
        let outcome =
            match tokio::time::timeout(limits.timeout, fetch_once(client, url, limits)).await {
                Ok(outcome) => outcome,
                Err(_elapsed) => Err(timeout(url, limits)),
            };
        match outcome {
            Ok(text) => return Ok(text),
            Err(error) if attempt >= attempts || !error.is_transient() => return Err(error),
            Err(error) => {
                tracing::debug!(%error, attempt, "ACME TXT fetch failed, trying again");
                attempt += 1;
                tokio::time::sleep(limits.pause).await;
            }
        }
    }
}

/// One attempt, without its timeout.
async fn fetch_once(
    client: &reqwest::Client,
    url: &Url,
    limits: &AcmeLimits,
) -> Result<String, AcmeError> {
    let transport = |source: reqwest::Error| {
        if source.is_timeout() {
            timeout(url, limits)
        } else {
            AcmeError::Connection {
                url: url.clone(),
                source,
            }
        }
    };
    let mut response = client
        .get(url.clone())
        .timeout(limits.timeout)
        .send()
        .await
        .map_err(transport)?;
    let status = response.status();
    if !status.is_success() {
        return Err(AcmeError::Status {
            url: url.clone(),
            status: status.as_u16(),
        });
    }
    let mut body = Vec::new();
    while body.len() < limits.max_read {
        let Some(chunk) = response.chunk().await.map_err(transport)? else {
            break;
        };
        let room = limits.max_read - body.len();
        body.extend_from_slice(chunk.get(..room).unwrap_or(&chunk));
    }
    if body.len() > limits.max_text {
        return Err(AcmeError::TooLong {
            url: url.clone(),
            bytes: body.len(),
            max: limits.max_text,
        });
    }
    let text = String::from_utf8(body).map_err(|_| AcmeError::NotUtf8 { url: url.clone() })?;
    Ok(text.trim().to_owned())
}

fn timeout(url: &Url, limits: &AcmeLimits) -> AcmeError {
    AcmeError::Timeout {
        url: url.clone(),
        timeout: limits.timeout,
    }
}
