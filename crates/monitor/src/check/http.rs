//! `http`: a GET of `path` on the endpoint's host, sent to the member's address; the
//! status must be the expected one, and the body may have to contain a text or a JSON
//! value at a pointer.

use geodns_core::model::HttpOptions;
use serde_json::{Map, Value, json};

use super::jsonrpc::{http_client, reqwest_failure};
use super::{Env, Probe, socket};
use crate::outcome::{Failure, Reason};
use crate::target::Target;

/// Most body bytes read for matching.
const MAX_BODY: usize = 1 << 20;

impl Probe for HttpOptions {
    async fn probe(
        &self,
        target: &Target,
        env: &Env,
        data: &mut Map<String, Value>,
    ) -> Result<(), Failure> {
        let mut url = target
            .endpoint
            .clone()
            .ok_or_else(|| Failure::new(Reason::Config, "an http check needs an endpoint URL"))?;
        url.set_path(&self.path);
        url.set_query(None);
        let addr = socket(target, None)?;
        let (client, url) = http_client(&env.tls, &url, addr, self.connect_timeout)?;
        let mut response = client
            .get(url)
            .send()
            .await
            .map_err(|e| reqwest_failure(&e))?;
        let status = response.status().as_u16();
        data.insert("Status".into(), json!(status));
        if status != self.expect_status {
            return Err(Failure::new(
                Reason::Unhealthy,
                format!("HTTP status {status}, expected {}", self.expect_status),
            ));
        }
        if self.body_contains.is_none() && self.json_pointer.is_none() {
            return Ok(());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| reqwest_failure(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err(Failure::new(Reason::Protocol, "the body is over 1 MiB"));
            }
        }
        let text = String::from_utf8_lossy(&body);
        if let Some(needle) = &self.body_contains
            && !text.contains(needle.as_str())
        {
            return Err(Failure::new(
                Reason::Unhealthy,
                format!("the body does not contain `{needle}`"),
            ));
        }
        if let Some((pointer, expect)) = &self.json_pointer {
            let json: Value = serde_json::from_str(&text).map_err(|e| {
                Failure::new(Reason::Protocol, format!("the body is not JSON: {e}"))
            })?;
            let found = json.pointer(pointer).ok_or_else(|| {
                Failure::new(
                    Reason::Unhealthy,
                    format!("the body has nothing at `{pointer}`"),
                )
            })?;
            let found = match found {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            if let Some(expect) = expect
                && &found != expect
            {
                return Err(Failure::new(
                    Reason::Unhealthy,
                    format!("`{pointer}` is `{found}`, expected `{expect}`"),
                ));
            }
        }
        Ok(())
    }
}
