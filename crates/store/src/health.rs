//! The storage health check: write, read back and delete a probe row, within a deadline.

use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Row};

use crate::connect::SqlStore;
use crate::error::{StoreError, db};
use crate::time::now_ms;
use crate::traits::{HealthCheck, Result};

impl HealthCheck for SqlStore {
    async fn health(&self, timeout: Duration) -> Result<Duration> {
        self.counted(
            async {
                let started = tokio::time::Instant::now();
                let probe = format!(
                    "probe-{}-{}-{}",
                    std::process::id(),
                    now_ms(),
                    self.probes.fetch_add(1, Ordering::Relaxed)
                );
                let work = async {
                    let sql = |text: &str| AssertSqlSafe(self.backend.sql(text).into_owned());
                    sqlx::query(sql(
                        "INSERT INTO geodns_health (probe, written_ms) VALUES (?, ?)",
                    ))
                    .bind(probe.clone())
                    .bind(now_ms())
                    .execute(&self.pool)
                    .await
                    .map_err(db("health: write"))?;
                    let row = sqlx::query(sql("SELECT probe FROM geodns_health WHERE probe = ?"))
                        .bind(probe.clone())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db("health: read"))?;
                    let read: Option<String> = row
                        .map(|r| r.try_get("probe"))
                        .transpose()
                        .map_err(db("health: decode"))?;
                    if read.as_deref() != Some(probe.as_str()) {
                        return Err(StoreError::BadRow {
                            table: "geodns_health",
                            reason: "probe row not read back".to_owned(),
                        });
                    }
                    sqlx::query(sql("DELETE FROM geodns_health WHERE probe = ?"))
                        .bind(probe.clone())
                        .execute(&self.pool)
                        .await
                        .map_err(db("health: delete"))?;
                    Ok(())
                };
                match tokio::time::timeout(timeout, work).await {
                    Ok(result) => result.map(|()| started.elapsed()),
                    Err(_) => Err(StoreError::Timeout {
                        operation: "storage health check",
                        millis: timeout.as_millis(),
                    }),
                }
            }
            .await,
        )
    }
}
