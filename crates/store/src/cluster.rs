//! Cluster state (the mesh storage seed): messages, key-value state, node state, the
//! consensus log, routes and runtime config, with transactions.
//!
//! Every write is one function over any executor, so the pool and a transaction share it.

use chrono::{DateTime, Utc};
use geodns_core::ids::NodeId;
use serde_json::{Map, Value};
use sqlx::Row;

mod writes;

pub use writes::ClusterTx;
use writes::{
    append_log, delete_where, object, put_json, query, store_message, store_state, to_i64,
};

use crate::connect::SqlStore;
use crate::error::{StoreError, db};
use crate::time::{from_ms, to_ms};
use crate::traits::{ClusterStore, Result};

/// A message between nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Unique id.
    pub id: String,
    /// Sender.
    pub from: String,
    /// Receiver (a node id, or a broadcast name).
    pub to: String,
    /// Payload.
    pub content: Vec<u8>,
    /// When it was sent.
    pub timestamp: DateTime<Utc>,
}

/// Which messages to list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageQuery {
    /// Only from this sender.
    pub from: Option<String>,
    /// Only to this receiver.
    pub to: Option<String>,
    /// Sent at or after.
    pub since: Option<DateTime<Utc>>,
    /// Sent at or before.
    pub until: Option<DateTime<Utc>>,
    /// At most this many, oldest first.
    pub limit: Option<u32>,
}

/// One consensus log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Term.
    pub term: u64,
    /// Index.
    pub index: u64,
    /// Entry.
    pub entry: Value,
    /// When it was appended.
    pub created: DateTime<Utc>,
}

fn parse_object(table: &'static str, text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(StoreError::BadRow {
            table,
            reason: "value is not a JSON object".to_owned(),
        }),
        Err(e) => Err(StoreError::BadRow {
            table,
            reason: e.to_string(),
        }),
    }
}

fn decode_message(row: &sqlx::any::AnyRow) -> Result<Message> {
    Ok(Message {
        id: row.try_get("id").map_err(db("decode message"))?,
        from: row.try_get("from_node").map_err(db("decode message"))?,
        to: row.try_get("to_node").map_err(db("decode message"))?,
        content: row.try_get("content").map_err(db("decode message"))?,
        timestamp: from_ms(
            row.try_get("ts_ms").map_err(db("decode message"))?,
            "cluster_messages",
        )?,
    })
}

impl SqlStore {
    async fn json_rows(
        &self,
        table: &'static str,
        key_column: &str,
        value_column: &str,
    ) -> Result<Vec<(String, String)>> {
        let sql = format!(
            "SELECT {key_column} AS k, {value_column} AS v FROM {table} ORDER BY {key_column}"
        );
        let rows = query(self.backend, &sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db("list values"))?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("k").map_err(db("decode"))?,
                    row.try_get("v").map_err(db("decode"))?,
                ))
            })
            .collect()
    }

    async fn json_row(
        &self,
        table: &'static str,
        key_column: &str,
        value_column: &str,
        key: &str,
    ) -> Result<Option<String>> {
        let sql = format!("SELECT {value_column} AS v FROM {table} WHERE {key_column} = ?");
        let row = query(self.backend, &sql)
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("read value"))?;
        row.map(|r| r.try_get("v").map_err(db("decode")))
            .transpose()
    }
}

impl ClusterStore for SqlStore {
    async fn store_message(&self, message: &Message) -> Result<()> {
        self.counted(async { store_message(&self.pool, self.backend, message).await }.await)
    }

    async fn message(&self, id: &str) -> Result<Option<Message>> {
        self.counted(
            async {
                let row = query(
                self.backend,
                "SELECT id, from_node, to_node, content, ts_ms FROM cluster_messages WHERE id = ?",
            )
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("read message"))?;
                row.as_ref().map(decode_message).transpose()
            }
            .await,
        )
    }

    async fn messages(&self, filter: &MessageQuery) -> Result<Vec<Message>> {
        self.counted(async {
            let mut sql = String::from(
                "SELECT id, from_node, to_node, content, ts_ms FROM cluster_messages WHERE 1 = 1",
            );
            let mut texts = Vec::new();
            let mut numbers = Vec::new();
            if let Some(from) = &filter.from {
                sql.push_str(" AND from_node = ?");
                texts.push(from.clone());
            }
            if let Some(to) = &filter.to {
                sql.push_str(" AND to_node = ?");
                texts.push(to.clone());
            }
            if let Some(since) = filter.since {
                sql.push_str(" AND ts_ms >= ?");
                numbers.push(to_ms(since));
            }
            if let Some(until) = filter.until {
                sql.push_str(" AND ts_ms <= ?");
                numbers.push(to_ms(until));
            }
            sql.push_str(" ORDER BY ts_ms, id");
            if let Some(limit) = filter.limit {
                sql.push_str(" LIMIT ?");
                numbers.push(i64::from(limit));
            }
            // Text conditions come first in the SQL, numbers after; bind in that order.
            let mut q = query(self.backend, &sql);
            for text in texts {
                q = q.bind(text);
            }
            for number in numbers {
                q = q.bind(number);
            }
            let rows = q.fetch_all(&self.pool).await.map_err(db("list messages"))?;
            rows.iter().map(decode_message).collect()
        }.await)
    }

    async fn prune_messages(&self, before: DateTime<Utc>) -> Result<u64> {
        self.counted(
            async {
                let result = query(self.backend, "DELETE FROM cluster_messages WHERE ts_ms < ?")
                    .bind(to_ms(before))
                    .execute(&self.pool)
                    .await
                    .map_err(db("prune messages"))?;
                Ok(result.rows_affected())
            }
            .await,
        )
    }

    async fn store_state(&self, key: &str, value: &[u8]) -> Result<()> {
        self.counted(async { store_state(&self.pool, self.backend, key, value).await }.await)
    }

    async fn state(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.counted(
            async {
                let row = query(
                    self.backend,
                    "SELECT value FROM cluster_state WHERE state_key = ?",
                )
                .bind(key.to_owned())
                .fetch_optional(&self.pool)
                .await
                .map_err(db("read state"))?;
                row.map(|r| r.try_get("value").map_err(db("decode state")))
                    .transpose()
            }
            .await,
        )
    }

    async fn delete_state(&self, key: &str) -> Result<bool> {
        self.counted(
            async {
                delete_where(&self.pool, self.backend, "cluster_state", "state_key", key).await
            }
            .await,
        )
    }

    async fn states_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.counted(async {
            let condition = self.backend.starts_with("state_key");
            let sql = format!(
                "SELECT state_key, value FROM cluster_state WHERE {condition} ORDER BY state_key"
            );
            let rows = query(self.backend, &sql)
                .bind(prefix.to_owned())
                .fetch_all(&self.pool)
                .await
                .map_err(db("list state"))?;
            rows.iter()
                .map(|row| {
                    Ok((
                        row.try_get("state_key").map_err(db("decode state"))?,
                        row.try_get("value").map_err(db("decode state"))?,
                    ))
                })
                .collect()
        }.await)
    }

    async fn put_node_state(&self, node: &NodeId, state: Value) -> Result<()> {
        self.counted(
            async {
                let state = object("node state", state)?;
                put_json(
                    &self.pool,
                    self.backend,
                    "cluster_node_state",
                    "node_id",
                    "state",
                    node.as_str(),
                    &state,
                )
                .await
            }
            .await,
        )
    }

    async fn node_state(&self, node: &NodeId) -> Result<Option<Map<String, Value>>> {
        self.counted(
            async {
                let text = self
                    .json_row("cluster_node_state", "node_id", "state", node.as_str())
                    .await?;
                text.map(|t| parse_object("cluster_node_state", &t))
                    .transpose()
            }
            .await,
        )
    }

    async fn node_states(&self) -> Result<Vec<(NodeId, Map<String, Value>)>> {
        self.counted(
            async {
                let rows = self
                    .json_rows("cluster_node_state", "node_id", "state")
                    .await?;
                rows.into_iter()
                    .map(|(node, text)| {
                        let node = NodeId::parse(&node).map_err(|e| StoreError::BadRow {
                            table: "cluster_node_state",
                            reason: e.to_string(),
                        })?;
                        Ok((node, parse_object("cluster_node_state", &text)?))
                    })
                    .collect()
            }
            .await,
        )
    }

    async fn append_log(&self, term: u64, index: u64, entry: Value) -> Result<()> {
        self.counted(
            async { append_log(&self.pool, self.backend, term, index, &entry).await }.await,
        )
    }

    async fn logs(&self, from: u64, to: u64) -> Result<Vec<LogEntry>> {
        self.counted(async {
            let (from_i, to_i) = (
                to_i64("from", from)?,
                to_i64("to", to.min(i64::MAX as u64))?,
            );
            let rows = query(self.backend, "SELECT term, log_index, entry, created_ms FROM cluster_consensus_log WHERE log_index >= ? AND log_index <= ? ORDER BY log_index, term")
                .bind(from_i)
                .bind(to_i)
                .fetch_all(&self.pool)
                .await
                .map_err(db("read log"))?;
            rows.iter()
                .map(|row| {
                    let text: String = row.try_get("entry").map_err(db("decode log"))?;
                    let term: i64 = row.try_get("term").map_err(db("decode log"))?;
                    let index: i64 = row.try_get("log_index").map_err(db("decode log"))?;
                    Ok(LogEntry {
                        term: u64::try_from(term).unwrap_or(0),
                        index: u64::try_from(index).unwrap_or(0),
                        entry: serde_json::from_str(&text).map_err(|e| StoreError::BadRow {
                            table: "cluster_consensus_log",
                            reason: e.to_string(),
                        })?,
                        created: from_ms(
                            row.try_get("created_ms").map_err(db("decode log"))?,
                            "cluster_consensus_log",
                        )?,
                    })
                })
                .collect()
        }.await)
    }

    async fn last_log_index(&self) -> Result<Option<u64>> {
        self.counted(
            async {
                let row = query(
                    self.backend,
                    "SELECT MAX(log_index) AS last FROM cluster_consensus_log",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(db("read last log index"))?;
                let last: Option<i64> = row.try_get("last").map_err(db("decode last log index"))?;
                Ok(last.map(|v| u64::try_from(v).unwrap_or(0)))
            }
            .await,
        )
    }

    async fn delete_logs(&self, indices: &[u64]) -> Result<u64> {
        self.counted(
            async {
                let mut deleted = 0;
                for chunk in indices.chunks(500) {
                    let marks = vec!["?"; chunk.len()].join(", ");
                    let sql =
                        format!("DELETE FROM cluster_consensus_log WHERE log_index IN ({marks})");
                    let mut delete = query(self.backend, &sql);
                    for index in chunk {
                        delete = delete.bind(to_i64("index", *index)?);
                    }
                    let done = delete
                        .execute(&self.pool)
                        .await
                        .map_err(db("compact log"))?;
                    deleted += done.rows_affected();
                }
                Ok(deleted)
            }
            .await,
        )
    }

    async fn put_route(&self, destination: &str, route: Value) -> Result<()> {
        self.counted(
            async {
                let route = object("route", route)?;
                put_json(
                    &self.pool,
                    self.backend,
                    "cluster_routes",
                    "destination",
                    "route",
                    destination,
                    &route,
                )
                .await
            }
            .await,
        )
    }

    async fn route(&self, destination: &str) -> Result<Option<Map<String, Value>>> {
        self.counted(
            async {
                let text = self
                    .json_row("cluster_routes", "destination", "route", destination)
                    .await?;
                text.map(|t| parse_object("cluster_routes", &t)).transpose()
            }
            .await,
        )
    }

    async fn routes(&self) -> Result<Vec<(String, Map<String, Value>)>> {
        self.counted(
            async {
                let rows = self
                    .json_rows("cluster_routes", "destination", "route")
                    .await?;
                rows.into_iter()
                    .map(|(k, t)| Ok((k, parse_object("cluster_routes", &t)?)))
                    .collect()
            }
            .await,
        )
    }

    async fn delete_route(&self, destination: &str) -> Result<bool> {
        self.counted(
            async {
                delete_where(
                    &self.pool,
                    self.backend,
                    "cluster_routes",
                    "destination",
                    destination,
                )
                .await
            }
            .await,
        )
    }

    async fn put_runtime_config(&self, key: &str, value: Value) -> Result<()> {
        self.counted(
            async {
                put_json(
                    &self.pool,
                    self.backend,
                    "cluster_runtime_config",
                    "config_key",
                    "value",
                    key,
                    &value,
                )
                .await
            }
            .await,
        )
    }

    async fn runtime_config(&self, key: &str) -> Result<Option<Value>> {
        self.counted(
            async {
                let text = self
                    .json_row("cluster_runtime_config", "config_key", "value", key)
                    .await?;
                text.map(|t| {
                    serde_json::from_str(&t).map_err(|e| StoreError::BadRow {
                        table: "cluster_runtime_config",
                        reason: e.to_string(),
                    })
                })
                .transpose()
            }
            .await,
        )
    }

    async fn runtime_configs(&self) -> Result<Vec<(String, Value)>> {
        self.counted(
            async {
                let rows = self
                    .json_rows("cluster_runtime_config", "config_key", "value")
                    .await?;
                rows.into_iter()
                    .map(|(k, t)| {
                        Ok((
                            k,
                            serde_json::from_str(&t).map_err(|e| StoreError::BadRow {
                                table: "cluster_runtime_config",
                                reason: e.to_string(),
                            })?,
                        ))
                    })
                    .collect()
            }
            .await,
        )
    }

    async fn begin(&self) -> Result<ClusterTx> {
        self.counted(
            async {
                let tx = self.pool.begin().await.map_err(db("begin transaction"))?;
                Ok(ClusterTx {
                    tx,
                    backend: self.backend,
                })
            }
            .await,
        )
    }
}
