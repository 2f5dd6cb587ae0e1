//! `tcp`: connect to the member's address within a limit.

use geodns_core::model::TcpOptions;
use serde_json::{Map, json};

use super::{Env, Probe, connect, socket};
use crate::outcome::Outcome;
use crate::target::Target;

impl Probe for TcpOptions {
    async fn probe(&self, target: &Target, _env: &Env) -> Outcome {
        let addr = match socket(target, self.port) {
            Ok(addr) => addr,
            Err(failure) => return failure.into_outcome(Map::new()),
        };
        let mut data = Map::new();
        data.insert("Port".into(), json!(addr.port()));
        let started = tokio::time::Instant::now();
        match connect::tcp(addr, self.connect_timeout).await {
            Ok(_) => {
                data.insert(
                    "ConnectMs".into(),
                    json!(started.elapsed().as_secs_f64() * 1e3),
                );
                Outcome::ok(data)
            }
            Err(failure) => failure.into_outcome(data),
        }
    }
}
