//! `geodns maintenance on|off MEMBER` and `geodns override set|remove|clear`: the API's
//! changes from the command line, sent to a running node's API with a bearer token.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use geodns_core::config::overrides_from_env;
use serde_json::json;

use super::ConfigArg;
use crate::config_source::Loader;

/// Where to send a change, and with which token.
#[derive(Debug, Args)]
pub(super) struct Target {
    #[command(flatten)]
    config: ConfigArg,
    /// The API to call (default: `http://` and the file's `[listen] api`).
    #[arg(long)]
    url: Option<String>,
    /// File holding the bearer token (else `GEODNS_API_TOKEN`).
    #[arg(long)]
    token_file: Option<std::path::PathBuf>,
}

/// `geodns maintenance`.
#[derive(Debug, Subcommand)]
pub(super) enum MaintenanceCommand {
    /// Take a member out of every answer, cluster-wide, until `off` (kept across restarts).
    On {
        /// The member's name.
        member: String,
        #[command(flatten)]
        target: Target,
    },
    /// Put a member back into the answers.
    Off {
        /// The member's name.
        member: String,
        #[command(flatten)]
        target: Target,
    },
}

/// `geodns override`.
#[derive(Debug, Subcommand)]
pub(super) enum OverrideCommand {
    /// Send COUNTRY's clients for DOMAIN to a member (while healthy) or to literal addresses.
    Set {
        /// Hostname.
        domain: String,
        /// ISO country code.
        country: String,
        /// The member.
        #[arg(long, conflicts_with_all = ["ipv4", "ipv6"], required_unless_present_any = ["ipv4", "ipv6"])]
        member: Option<String>,
        /// Literal IPv4 answer.
        #[arg(long)]
        ipv4: Option<String>,
        /// Literal IPv6 answer.
        #[arg(long)]
        ipv6: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Remove COUNTRY's override of DOMAIN.
    Remove {
        /// Hostname.
        domain: String,
        /// ISO country code.
        country: String,
        #[command(flatten)]
        target: Target,
    },
    /// Remove every override of DOMAIN.
    Clear {
        /// Hostname.
        domain: String,
        #[command(flatten)]
        target: Target,
    },
}

pub(super) async fn maintenance(
    http: reqwest::Client,
    command: MaintenanceCommand,
) -> anyhow::Result<ExitCode> {
    let (member, on, target) = match command {
        MaintenanceCommand::On { member, target } => (member, true, target),
        MaintenanceCommand::Off { member, target } => (member, false, target),
    };
    let path = ["api", "members", member.as_str(), "maintenance"];
    send(
        http,
        &target,
        reqwest::Method::PUT,
        &path,
        Some(json!({ "maintenance": on })),
    )
    .await
}

pub(super) async fn override_(
    http: reqwest::Client,
    command: OverrideCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        OverrideCommand::Set {
            domain,
            country,
            member,
            ipv4,
            ipv6,
            target,
        } => {
            let body = json!({
                "member": member.unwrap_or_default(),
                "ipv4": ipv4.unwrap_or_default(),
                "ipv6": ipv6.unwrap_or_default(),
            });
            let path = ["api", "overrides", domain.as_str(), country.as_str()];
            send(http, &target, reqwest::Method::PUT, &path, Some(body)).await
        }
        OverrideCommand::Remove {
            domain,
            country,
            target,
        } => {
            let path = ["api", "overrides", domain.as_str(), country.as_str()];
            send(http, &target, reqwest::Method::DELETE, &path, None).await
        }
        OverrideCommand::Clear { domain, target } => {
            let path = ["api", "overrides", domain.as_str()];
            send(http, &target, reqwest::Method::DELETE, &path, None).await
        }
    }
}

async fn send(
    http: reqwest::Client,
    target: &Target,
    method: reqwest::Method,
    path: &[&str],
    body: Option<serde_json::Value>,
) -> anyhow::Result<ExitCode> {
    let base = match &target.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let overrides = overrides_from_env(std::env::vars());
            let config = Loader::new(http.clone(), target.config.config.clone(), overrides)
                .load()
                .await?;
            format!("http://{}", config.listen.api)
        }
    };
    let token = match &target.token_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?,
        None => std::env::var("GEODNS_API_TOKEN")
            .context("name the token: --token-file FILE or GEODNS_API_TOKEN")?,
    };
    let mut url = reqwest::Url::parse(&base).with_context(|| format!("--url `{base}`"))?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("--url `{base}` cannot take a path"))?
        .pop_if_empty()
        .extend(path);
    let mut request = http.request(method, url).bearer_auth(token.trim());
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the API at {base}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let mut stdout = std::io::stdout().lock();
    if status.is_success() {
        writeln!(stdout, "{text}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or(text);
    eprintln!("{status}: {message}");
    Ok(ExitCode::FAILURE)
}
