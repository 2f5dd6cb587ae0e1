//! `geodns demo`: prepares the demo's world (`geodns-demo`), runs its four nodes in this
//! process on one in-process bus, and shows what happens until the duration ends or the
//! user interrupts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use geodns_bus::MemoryBus;
use geodns_bus::envelope::Gate;
use geodns_demo::{Options, World};
use tokio_util::sync::CancellationToken;

use super::parse_duration;
use crate::config_source::Loader;

/// `geodns demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the DNS server listens (UDP and TCP).
    #[arg(long, default_value = "127.0.0.1:5300")]
    dns_listen: SocketAddr,
    /// Where the API and the status page listen.
    #[arg(long, default_value = "127.0.0.1:8300")]
    api_listen: SocketAddr,
    /// Stop after this long (e.g. `120s`); without it, until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Do not break providers.
    #[arg(long)]
    no_chaos: bool,
    /// When the first provider breaks, after start.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    first_break: Duration,
    /// From one break to the next.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    chaos_every: Duration,
    /// How long a broken provider stays broken.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    broken_for: Duration,
    /// Keep the nodes' files (databases, keys, configurations) here instead of in a
    /// temporary directory removed at exit.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl DemoArgs {
    fn options(&self) -> Options {
        Options {
            dns_listen: self.dns_listen,
            api_listen: self.api_listen,
            duration: self.duration,
            chaos: !self.no_chaos,
            first_break: self.first_break,
            chaos_every: self.chaos_every,
            broken_for: self.broken_for,
            data_dir: self.data_dir.clone(),
        }
    }
}

pub(crate) async fn demo(http: reqwest::Client, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let options = args.options();
    let world = World::prepare(&options)
        .await
        .context("cannot prepare the demo")?;
    let shutdown = CancellationToken::new();
    let signals = tokio_util::task::TaskTracker::new();
    signals.spawn(crate::run::cancel_on_signal(shutdown.clone()));
    signals.close();
    let hub = MemoryBus::new("demo");
    let nodes = futures_util::future::join_all(world.nodes.iter().map(|(id, path)| {
        let loader = Loader::new(http.clone(), path.clone(), Vec::new());
        let node = shutdown.child_token();
        let id = id.clone();
        let hub = hub.join(&id);
        // A node that cannot start (a port in use) ends the demo at once.
        let everything = shutdown.clone();
        async move {
            let result = crate::run::run_on(loader, node, Some(hub)).await;
            if result.is_err() {
                everything.cancel();
            }
            (id, result)
        }
    }));
    let viewer = viewer(&http, &world, &hub).await?;
    let mut stdout = std::io::stdout();
    let view = geodns_demo::show(&world, viewer, &options, &mut stdout, shutdown.clone());
    tokio::pin!(nodes);
    let results = tokio::select! {
        results = &mut nodes => results,
        () = view => nodes.await,
    };
    shutdown.cancel();
    signals.wait().await;
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(|(id, result)| result.err().map(|error| format!("{id}: {error:#}")))
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "demo nodes failed:\n{}",
        failed.join("\n")
    );
    Ok(ExitCode::SUCCESS)
}

/// The view's handle on the nodes' hub: it reads only what the nodes' own trust table
/// admits (monitors' signed, fresh consensus messages), as any node would.
async fn viewer(
    http: &reqwest::Client,
    world: &World,
    hub: &MemoryBus,
) -> anyhow::Result<MemoryBus> {
    let (_, edge) = world.nodes.last().context("the demo has no nodes")?;
    let config = Loader::new(http.clone(), edge.clone(), Vec::new())
        .load()
        .await
        .context("cannot read the demo's edge configuration")?;
    let table = geodns_node::trust::table(&config)?;
    let clock: geodns_bus::Clock = Arc::new(geodns_node::clock::now);
    let gate = Gate::new(("demo-view", None), table, 0, clock);
    Ok(hub.join("demo-view").with_gate(Arc::new(gate)))
}
