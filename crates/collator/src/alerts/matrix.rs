//! A Matrix client-server API client: exactly what alerts need. Password login (or an
//! access token), room alias resolution and join, sending a message under a transaction
//! id (so a retried send is not posted twice), and `whoami`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;

/// How long one request may take (the original used 10 s).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a Matrix request failed.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The homeserver could not be reached or did not answer in time; retry.
    #[error("Matrix homeserver unreachable: {0}")]
    Unreachable(String),
    /// The homeserver answered with an error.
    #[error("Matrix {status} {errcode}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Matrix error code (`M_FORBIDDEN`).
        errcode: String,
        /// Its text.
        message: String,
    },
    /// The configuration cannot work (no credentials, a bad URL).
    #[error("Matrix is misconfigured: {0}")]
    Config(String),
}

impl MatrixError {
    /// Worth retrying: unreachable, rate limited, or a server error.
    pub fn transient(&self) -> bool {
        match self {
            MatrixError::Unreachable(_) => true,
            MatrixError::Refused { status, .. } => *status == 429 || *status >= 500,
            MatrixError::Config(_) => false,
        }
    }

    /// The access token is no longer valid (log in again).
    fn unknown_token(&self) -> bool {
        matches!(self, MatrixError::Refused { status: 401, .. })
    }
}

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A fixed access token.
    Token(String),
    /// Log in with a password (again whenever the token expires).
    Password {
        /// User id or localpart.
        user: String,
        /// Password.
        password: String,
    },
}

/// A logged-in (or logging-in) client for one homeserver.
#[derive(Debug)]
pub struct MatrixClient {
    http: reqwest::Client,
    base: Url,
    credentials: Credentials,
    device: String,
    token: Option<String>,
}

impl MatrixClient {
    /// A client for the homeserver at `base`; `device` names this collator's session, so
    /// logins reuse one device instead of adding one each time.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        credentials: Credentials,
        device: &str,
    ) -> Result<Self, MatrixError> {
        let mut base = Url::parse(base)
            .map_err(|e| MatrixError::Config(format!("homeserver `{base}`: {e}")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let token = match &credentials {
            Credentials::Token(token) => Some(token.clone()),
            Credentials::Password { .. } => None,
        };
        Ok(MatrixClient {
            http,
            base,
            credentials,
            device: device.to_owned(),
            token,
        })
    }

    /// Logs in if there is no token yet.
    pub async fn login(&mut self) -> Result<(), MatrixError> {
        if self.token.is_some() {
            return Ok(());
        }
        let Credentials::Password { user, password } = &self.credentials else {
            return Err(MatrixError::Config(
                "no access token and no password".into(),
            ));
        };
        let body = json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": user },
            "password": password,
            "device_id": self.device,
            "initial_device_display_name": "geodns collator",
        });
        let answer = self
            .call(Method::POST, "v3/login", Some(&body), false)
            .await?;
        let token = answer["access_token"]
            .as_str()
            .ok_or_else(|| MatrixError::Refused {
                status: 200,
                errcode: "M_BAD_JSON".into(),
                message: "login answer has no access_token".into(),
            })?;
        self.token = Some(token.to_owned());
        tracing::info!(%user, "logged in to Matrix");
        Ok(())
    }

    /// The user the token belongs to.
    pub async fn whoami(&mut self) -> Result<String, MatrixError> {
        let answer = self.authed(Method::GET, "v3/account/whoami", None).await?;
        Ok(answer["user_id"].as_str().unwrap_or_default().to_owned())
    }

    /// Joins `room` (an id or an alias) and returns its id.
    pub async fn join(&mut self, room: &str) -> Result<String, MatrixError> {
        let path = format!("v3/join/{}", encode(room));
        let answer = self.authed(Method::POST, &path, Some(&json!({}))).await?;
        Ok(answer["room_id"].as_str().unwrap_or(room).to_owned())
    }

    /// Sends `content` as an `m.room.message` under transaction `txn` (a retry with the
    /// same id is not posted twice); returns the event id.
    pub async fn send(
        &mut self,
        room: &str,
        txn: &str,
        content: &Value,
    ) -> Result<String, MatrixError> {
        let path = format!(
            "v3/rooms/{}/send/m.room.message/{}",
            encode(room),
            encode(txn)
        );
        let answer = self.authed(Method::PUT, &path, Some(content)).await?;
        answer["event_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| MatrixError::Refused {
                status: 200,
                errcode: "M_BAD_JSON".into(),
                message: "send answer has no event_id".into(),
            })
    }

    /// A call with the token, logging in (again) when there is none or it expired.
    async fn authed(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, MatrixError> {
        self.login().await?;
        match self.call(method.clone(), path, body, true).await {
            Err(error)
                if error.unknown_token()
                    && matches!(self.credentials, Credentials::Password { .. }) =>
            {
                self.token = None;
                self.login().await?;
                self.call(method, path, body, true).await
            }
            other => other,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        authed: bool,
    ) -> Result<Value, MatrixError> {
        let url = self
            .base
            .join(&format!("_matrix/client/{path}"))
            .map_err(|e| MatrixError::Config(e.to_string()))?;
        let mut request = self.http.request(method, url).timeout(TIMEOUT);
        if authed && let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| MatrixError::Unreachable(e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| MatrixError::Unreachable(e.to_string()))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == StatusCode::OK {
            return Ok(value);
        }
        Err(MatrixError::Refused {
            status: status.as_u16(),
            errcode: value["errcode"].as_str().unwrap_or("M_UNKNOWN").to_owned(),
            message: value["error"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| text.chars().take(200).collect()),
        })
    }
}

/// Percent-encodes one path segment (`#room:server`, `!id:server`, `$event`).
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
