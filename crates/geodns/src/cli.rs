//! The command line: `run`, `check-config`, `import-ibp`, `db`, `cluster`, `consensus`,
//! `probe`. Output goes through one writer
//! here so `--json` output is never mixed with anything else; logs go to stderr.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use geodns_core::config::{Override, Summary, overrides_from_env};
use geodns_core::ids::NodeId;
use geodns_core::model::NodeRole;
use geodns_store::StoreConfig;
use tokio_util::sync::CancellationToken;

use crate::config_source::Loader;
use crate::import::{ImportSources, import};
use crate::logging::{self, LogFormat};

mod change;
mod cluster;
mod demo;
mod history;
mod probe;

const EXAMPLES: &str = "\
Examples:
  geodns run -c /etc/geodns/geodns.toml
  geodns run -c geodns.toml --node-id dns-eu-1 --roles dns --nats-url nats://10.0.0.5:4222
  geodns check-config -c geodns.toml --json
  geodns import-ibp --members members_professional.json --services services_rpc.json \\
      --static geodns-static.json --alerts alerts.json -o geodns.toml
  geodns db migrate --url mysql://geodns:secret@db.internal:3306/geodns
  geodns db check -c geodns.toml
  geodns db bench --url postgres://geodns@127.0.0.1/geodns --rows 100000
  geodns cluster status -c geodns.toml --json
  geodns probe -c geodns.toml --member 'Provider One' --json

Every config key can also be set by an environment variable: GEODNS_<SECTION>__<KEY>,
e.g. GEODNS_NODE__ID=dns-eu-1 or GEODNS_BUS__PASSWORD=secret.";

/// Distributed, health-checked GeoDNS.
#[derive(Debug, Parser)]
#[command(name = "geodns", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "GEODNS_LOG_FORMAT"
    )]
    log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax), e.g. `info,geodns=debug`.
    #[arg(long, global = true, env = "GEODNS_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// See geodns work: a whole cluster on this machine (three monitors voting on three
    /// fake providers, DNS, collator, API and status page), with a provider broken and
    /// repaired on schedule. Nothing to install, no traffic off the machine.
    Demo(demo::DemoArgs),
    /// Start the configured roles.
    Run(RunArgs),
    /// Validate a configuration and print what it contains.
    CheckConfig(CheckArgs),
    /// Convert the original IBP GeoDNS JSON files into a geodns TOML file.
    ImportIbp(ImportArgs),
    /// Database tools: migrate, check, bench.
    #[command(subcommand)]
    Db(DbCommand),
    /// Cluster tools: status, history.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Consensus tools: status, key.
    #[command(subcommand)]
    Consensus(ConsensusCommand),
    /// Run every eligible health check once, now, and print what each found.
    Probe(ProbeArgs),
    /// Collector tools: usage.
    #[command(subcommand)]
    Collect(CollectCommand),
    /// Put a member in maintenance or back, cluster-wide, through a node's API.
    #[command(subcommand)]
    Maintenance(change::MaintenanceCommand),
    /// Set, remove or clear country overrides, cluster-wide, through a node's API.
    #[command(subcommand)]
    Override(change::OverrideCommand),
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from the command-line definition.
    Manpage,
}

#[derive(Debug, Subcommand)]
enum CollectCommand {
    /// Collect usage from the DNS nodes now, as the collator does every hour, and store
    /// each node's rows under its id (replace mode: running it again changes nothing).
    Usage(history::CollectArgs),
}

/// `geodns probe`.
#[derive(Debug, Args)]
struct ProbeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Only this member.
    #[arg(long)]
    member: Option<String>,
    /// Only this check (its `name`, e.g. `wss`).
    #[arg(long)]
    check: Option<String>,
    /// Only targets of this service.
    #[arg(long)]
    service: Option<String>,
    /// Print one JSON array of {member, check, kind, domain, endpoint, ipv6, ok, error,
    /// latency_ms, data}.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum ConsensusCommand {
    /// Ask a running node (over NATS) for its consensus state: frozen or deciding, active
    /// monitors, counters, rejections. `--json` prints the report.
    Status(AskArgs),
    /// Print this node's `[[consensus.nodes]]` entry (id, roles, public key) for the other
    /// nodes' files, creating the key file if it does not exist yet.
    Key(ConfigArg),
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Ask a running node (over NATS) which nodes it sees, in which role, and whether
    /// active. `--json` prints one array of {node_id, role, last_heard, active}.
    Status(AskArgs),
    /// Print the consensus log from the database: every passed decision, in order.
    History(history::HistoryArgs),
}

/// Asking a running node over NATS.
#[derive(Debug, Args)]
struct AskArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The node to ask (default: `[node] id` of the file).
    #[arg(long)]
    node: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// How long to wait for the answer.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Apply pending schema migrations (a second run applies nothing).
    Migrate(DbTarget),
    /// Check the database is reachable, current and writable (write/read/delete a probe).
    Check {
        #[command(flatten)]
        target: DbTarget,
        /// Time limit for the probe.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Upsert usage rows batched and one row per statement, and print rows/s for both.
    Bench {
        #[command(flatten)]
        target: DbTarget,
        /// Rows written batched.
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Rows written one per statement (default: as many as --rows).
        #[arg(long)]
        single_rows: Option<usize>,
    },
}

/// Which database: `--url`, or the `[storage]` of a node file, or the `MYSQL_*` variables.
#[derive(Debug, Args)]
struct DbTarget {
    /// Database URL: sqlite://PATH, mysql://…, postgres://…
    #[arg(long, env = "GEODNS_DB_URL")]
    url: Option<String>,
    /// Take the database from this node configuration file instead.
    #[arg(short, long, conflicts_with = "url")]
    config: Option<PathBuf>,
    /// How long to retry connecting.
    #[arg(long, default_value = "30s", value_parser = parse_connect_retry)]
    connect_retry: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    geodns_core::duration::parse(text)
}

/// `--connect-retry`: the range of `[storage] connect_retry`, 0s to 1d.
fn parse_connect_retry(text: &str) -> Result<Duration, String> {
    let retry = geodns_core::duration::parse(text)?;
    if retry > Duration::from_secs(86_400) {
        return Err(format!(
            "{} is out of range: use 0s to 1d",
            geodns_core::duration::format(retry)
        ));
    }
    Ok(retry)
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The TOML node configuration file.
    #[arg(short, long, env = "GEODNS_CONFIG")]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Overrides `[node] id`.
    #[arg(long)]
    node_id: Option<String>,
    /// Overrides `[node] roles` (comma-separated: monitor,dns,collator,api).
    #[arg(long, value_delimiter = ',')]
    roles: Option<Vec<NodeRole>>,
    /// Overrides `[bus] urls` and sets `mode = "nats"` (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    nats_url: Option<Vec<String>>,
    /// Overrides `[storage] url`.
    #[arg(long)]
    storage_url: Option<String>,
    /// Overrides `[listen] dns`.
    #[arg(long)]
    dns_listen: Option<SocketAddr>,
    /// Overrides `[listen] api`.
    #[arg(long)]
    api_listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// members_professional.json: a path or an http(s) URL.
    #[arg(long)]
    members: String,
    /// services_rpc.json: a path or an http(s) URL.
    #[arg(long)]
    services: String,
    /// geodns-static.json: a path or an http(s) URL.
    #[arg(long = "static")]
    static_records: Option<String>,
    /// alerts.json: a path or an http(s) URL.
    #[arg(long)]
    alerts: Option<String>,
    /// Node id written into `[node] id`.
    #[arg(long, default_value = "geodns-1")]
    node_id: String,
    /// Output file (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

impl RunArgs {
    /// Flag overrides, applied after the environment's.
    fn overrides(&self) -> Vec<Override> {
        let mut found = Vec::new();
        let mut set = |flag: &str, path: &[&str], value: toml::Value| {
            found.push(Override {
                source_name: flag.to_owned(),
                path: path.iter().map(|s| (*s).to_owned()).collect(),
                value,
            });
        };
        let text = |s: &str| toml::Value::String(s.to_owned());
        if let Some(id) = &self.node_id {
            set("--node-id", &["node", "id"], text(id));
        }
        if let Some(roles) = &self.roles {
            set(
                "--roles",
                &["node", "roles"],
                toml::Value::Array(roles.iter().map(|r| text(r.as_str())).collect()),
            );
        }
        if let Some(urls) = &self.nats_url {
            set("--nats-url", &["bus", "mode"], text("nats"));
            set(
                "--nats-url",
                &["bus", "urls"],
                toml::Value::Array(urls.iter().map(|u| text(u)).collect()),
            );
        }
        if let Some(url) = &self.storage_url {
            set("--storage-url", &["storage", "url"], text(url));
        }
        if let Some(addr) = self.dns_listen {
            set("--dns-listen", &["listen", "dns"], text(&addr.to_string()));
        }
        if let Some(addr) = self.api_listen {
            set("--api-listen", &["listen", "api"], text(&addr.to_string()));
        }
        found
    }
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's view is the output: its nodes log only errors unless asked otherwise.
    let quiet = matches!(cli.command, Command::Demo(_)) && std::env::var_os("RUST_LOG").is_none();
    let filter = cli.log.as_deref().or(quiet.then_some("error"));
    logging::init(cli.log_format, filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    let http = geodns_node::http::client(Duration::from_secs(30))
        .context("cannot build the HTTP client")?;
    let env = || overrides_from_env(std::env::vars());
    match command {
        Command::Demo(args) => demo::demo(http, args).await,
        Command::Run(args) => {
            let offset = std::env::var(geodns_node::clock::OFFSET_VARIABLE).ok();
            if let Some(offset) = geodns_node::clock::set_offset_from_env(offset.as_deref())
                .map_err(anyhow::Error::msg)?
            {
                tracing::warn!(
                    offset_ms = offset.num_milliseconds(),
                    "test knob: this node's clock is moved (GEODNS_TEST_CLOCK_OFFSET_MS)"
                );
            }
            let mut overrides = env();
            overrides.extend(args.overrides());
            let loader = Loader::new(http, args.config.config.clone(), overrides);
            let shutdown = CancellationToken::new();
            let signals = tokio_util::task::TaskTracker::new();
            signals.spawn(crate::run::cancel_on_signal(shutdown.clone()));
            signals.close();
            let result = crate::run::run(loader, shutdown.clone()).await;
            shutdown.cancel();
            signals.wait().await;
            result?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig(args) => check_config(http, args, env()).await,
        Command::ImportIbp(args) => import_ibp(http, args).await,
        Command::Db(command) => db(http, command).await,
        Command::Cluster(ClusterCommand::Status(ask)) => cluster::cluster_status(http, ask).await,
        Command::Cluster(ClusterCommand::History(args)) => {
            history::cluster_history(http, args).await
        }
        Command::Collect(CollectCommand::Usage(args)) => history::collect_usage(http, args).await,
        Command::Maintenance(command) => change::maintenance(http, command).await,
        Command::Override(command) => change::override_(http, command).await,
        Command::Consensus(command) => cluster::consensus(http, command).await,
        Command::Probe(args) => probe::probe(http, args).await,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            // Into memory first: clap_complete panics when its writer fails.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "geodns", &mut script);
            std::io::stdout()
                .write_all(&script)
                .context("cannot write the completion script")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Manpage => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command)
                .render(&mut std::io::stdout())
                .context("cannot write the manual page")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn db_target(http: reqwest::Client, target: &DbTarget) -> anyhow::Result<StoreConfig> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut config = match (&target.url, &target.config) {
        (Some(url), _) => StoreConfig::new(url.clone()),
        (None, Some(path)) => {
            let loader = Loader::new(http, path.clone(), overrides_from_env(std::env::vars()));
            let config = loader.load().await?;
            crate::storage::store_config(&config, &env)?
        }
        (None, None) => match geodns_store::mysql_from_env(&env)? {
            Some(mysql) => {
                let mut config = StoreConfig::new(mysql.url);
                if let Some(max) = mysql.max_connections {
                    config.pool.max_connections = max;
                    config.pool.min_idle = config.pool.min_idle.min(max);
                }
                config
            }
            None => anyhow::bail!(
                "name a database: --url URL, -c FILE, or the MYSQL_* environment variables"
            ),
        },
    };
    config.connect_retry = target.connect_retry;
    Ok(config)
}

async fn db(http: reqwest::Client, command: DbCommand) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match command {
        DbCommand::Migrate(target) => {
            crate::db::migrate(db_target(http, &target).await?, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Check { target, timeout } => {
            let ok =
                crate::db::check(db_target(http, &target).await?, timeout, &mut stdout).await?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        DbCommand::Bench {
            target,
            rows,
            single_rows,
        } => {
            let config = db_target(http, &target).await?;
            crate::db::bench(config, rows, single_rows.unwrap_or(rows), &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn check_config(
    http: reqwest::Client,
    args: CheckArgs,
    overrides: Vec<Override>,
) -> anyhow::Result<ExitCode> {
    let loader = Loader::new(http, args.config.config.clone(), overrides);
    let config = match loader.load().await {
        Ok(config) => config,
        Err(error) => {
            let mut stderr = std::io::stderr().lock();
            writeln!(stderr, "{error}")?;
            writeln!(
                stderr,
                "configuration rejected: {}",
                args.config.config.display()
            )?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let summary = Summary::of(&config);
    let mut stderr = std::io::stderr().lock();
    for warning in &config.warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", serde_json::to_string(&summary)?)?;
    } else {
        writeln!(stdout, "configuration OK: {}", args.config.config.display())?;
        writeln!(
            stdout,
            "  node:            {} ({})",
            config.node.id,
            roles_text(&config)
        )?;
        for (label, value) in [
            ("members", summary.members),
            ("active members", summary.active_members),
            ("services", summary.services),
            ("active services", summary.active_services),
            ("hostnames", summary.hostnames),
            ("zones", summary.zones),
            ("static records", summary.static_records),
            ("checks", summary.checks),
        ] {
            writeln!(stdout, "  {:<17}{value}", format!("{label}:"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn roles_text(config: &geodns_core::config::Config) -> String {
    config
        .node
        .roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn import_ibp(http: reqwest::Client, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let node_id = NodeId::parse(&args.node_id).context("--node-id")?;
    let sources = ImportSources {
        members: args.members,
        services: args.services,
        static_records: args.static_records,
        alerts: args.alerts,
    };
    let imported = match import(&http, &sources, node_id).await {
        Ok(imported) => imported,
        Err(error) => {
            writeln!(std::io::stderr(), "{error}\nimport failed")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut stderr = std::io::stderr().lock();
    for warning in &imported.warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, &imported.toml)
                .with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(stderr, "wrote {}", path.display())?;
        }
        None => std::io::stdout()
            .lock()
            .write_all(imported.toml.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
