//! `tcp`: connect to the member's address within a limit.

use geodns_core::model::TcpOptions;
use serde_json::{Map, Value, json};

use super::{Env, Probe, connect, socket};
use crate::outcome::Failure;
use crate::target::Target;

impl Probe for TcpOptions {
    async fn probe(
        &self,
        target: &Target,
        _env: &Env,
        data: &mut Map<String, Value>,
    ) -> Result<(), Failure> {
        let addr = socket(target, self.port)?;
        data.insert("Port".into(), json!(addr.port()));
        let started = tokio::time::Instant::now();
        connect::tcp(addr, self.connect_timeout).await?;
        data.insert(
            "ConnectMs".into(),
            json!(started.elapsed().as_secs_f64() * 1e3),
        );
        Ok(())
    }
}
