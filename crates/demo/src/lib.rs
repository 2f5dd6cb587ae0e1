//! `geodns demo`: a whole geodns cluster in one process and nothing installed. Fake
//! Substrate providers in three "regions" on 127.0.0.21–23 ([`world`]), a GeoIP database
//! that places three documentation client networks on three continents, the
//! configuration of three monitors and one edge node (DNS, collator, API) that trust each
//! other's keys ([`config`]); then a live view of the decisions and answers, with a
//! provider broken and repaired on schedule ([`show`]). The binary composes it: it runs
//! the four nodes on one in-process bus and hands this crate a handle on that bus.
//!
//! No traffic leaves the machine: providers listen on loopback, clients are only data.

#![forbid(unsafe_code)]

mod chaos;
pub mod config;
mod probe;
mod show;
pub mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use chaos::Plan;
pub use show::show;
pub use world::World;

/// What `geodns demo` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the DNS server listens.
    pub dns_listen: SocketAddr,
    /// Where the API and status page listen.
    pub api_listen: SocketAddr,
    /// Stop after this long (`None`: until interrupted).
    pub duration: Option<Duration>,
    /// Break and repair providers on schedule.
    pub chaos: bool,
    /// The first break, after start.
    pub first_break: Duration,
    /// From one break to the next.
    pub chaos_every: Duration,
    /// How long a provider stays broken.
    pub broken_for: Duration,
    /// Where the nodes keep their files (`None`: a temporary directory, removed at exit).
    pub data_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dns_listen: SocketAddr::from(([127, 0, 0, 1], 5300)),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 8300)),
            duration: None,
            chaos: true,
            first_break: Duration::from_secs(15),
            chaos_every: Duration::from_secs(60),
            broken_for: Duration::from_secs(20),
            data_dir: None,
        }
    }
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file or directory could not be written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No port was free on every provider address.
    #[error("no TCP port is free on 127.0.0.21, .22 and .23 at once: {0}")]
    Providers(String),
    /// A node key could not be made.
    #[error("node key: {0}")]
    Key(String),
}
