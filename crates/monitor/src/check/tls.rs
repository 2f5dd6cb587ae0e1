//! `tls` (wire name `ssl`): a handshake with the member's address presenting the public
//! hostname, full chain verification, and enough validity left.

use geodns_core::model::TlsOptions;
use serde_json::{Map, Value, json};

use super::{Env, Probe, connect, socket};
use crate::outcome::{Failure, Reason};
use crate::target::Target;

impl Probe for TlsOptions {
    async fn probe(
        &self,
        target: &Target,
        env: &Env,
        data: &mut Map<String, Value>,
    ) -> Result<(), Failure> {
        let addr = socket(target, Some(target.port.unwrap_or(443)))?;
        data.insert("Port".into(), json!(addr.port()));
        let started = tokio::time::Instant::now();
        let tcp = connect::tcp(addr, self.connect_timeout).await?;
        let left = self.connect_timeout.saturating_sub(started.elapsed());
        let now = env.now();
        let stream = connect::tls(env.tls.clone(), tcp, &target.domain, left, now).await?;
        let expiry = connect::leaf_expiry(&stream)?;
        let left = expiry - now;
        let days = left.num_days();
        data.insert("ExpiryTimestamp".into(), json!(expiry.timestamp()));
        data.insert("DaysUntilExpiry".into(), json!(days));
        let minimum =
            chrono::Duration::from_std(self.min_validity).unwrap_or(chrono::Duration::MAX);
        if left < minimum {
            return Err(Failure::new(
                Reason::Expiry,
                format!(
                    "certificate expires in {days} days ({}), less than the {} days required",
                    expiry.format("%Y-%m-%d %H:%M UTC"),
                    minimum.num_days()
                ),
            ));
        }
        Ok(())
    }
}
