//! Fake providers on 127.0.0.1 for the monitor's health checks: a CA for their
//! certificates, a bare TLS endpoint, Substrate and Ethereum JSON-RPC nodes, an HTTP(S)
//! endpoint and TCP ports. Each runs on tokio tasks that stop when its handle drops, can be
//! switched from healthy to broken and back while running, and records the SNI and `Host`
//! it last saw so a test can check that the public hostname was presented.

mod common;
mod eth;
mod http;
mod http1;
mod pki;
mod substrate;
mod tcp;
#[cfg(test)]
mod test_client;
mod tls;

pub use common::{Observed, Seen, SeenHandle};
pub use eth::{EthBehaviour, EthNode};
pub use http::HttpEndpoint;
pub use pki::{TestPki, Validity};
pub use substrate::{SubstrateBehaviour, SubstrateNode};
pub use tcp::{AcceptingServer, TcpPorts};
pub use tls::TlsServer;
