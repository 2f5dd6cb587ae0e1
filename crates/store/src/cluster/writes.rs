//! The cluster-state writes, shared by the pool and transactions (every write is one
//! function over any executor), and [`ClusterTx`].

use geodns_core::ids::NodeId;
use geodns_core::records::{RecordError, json_object};
use serde_json::Value;
use sqlx::{Any, AssertSqlSafe, Executor, Transaction};

use super::Message;
use crate::dialect::Backend;
use crate::error::{StoreError, db, is_unique_violation};
use crate::time::{now_ms, to_ms};
use crate::traits::Result;

pub(super) fn invalid(what: &'static str, source: RecordError) -> StoreError {
    StoreError::InvalidRecord { what, source }
}

pub(super) fn check_key(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(invalid("cluster record", RecordError::Empty { field }));
    }
    if value.chars().count() > max {
        return Err(invalid(
            "cluster record",
            RecordError::TooLong { field, max },
        ));
    }
    Ok(())
}

pub(super) fn to_i64(field: &'static str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        invalid(
            "log entry",
            RecordError::Invalid {
                field,
                reason: format!("{value} is above {}", i64::MAX),
            },
        )
    })
}

pub(super) fn query(
    backend: Backend,
    sql: &str,
) -> sqlx::query::Query<'static, Any, sqlx::any::AnyArguments> {
    sqlx::query(AssertSqlSafe(backend.sql(sql).into_owned()))
}

pub(super) fn upsert(backend: Backend, table: &str, key: &str, value: &str) -> String {
    format!(
        "INSERT INTO {table} ({key}, {value}, updated_ms) VALUES (?, ?, ?){}",
        backend.upsert_set(key, &[value, "updated_ms"])
    )
}

pub(super) async fn store_message<'e, E: Executor<'e, Database = Any>>(
    e: E,
    backend: Backend,
    message: &Message,
) -> Result<()> {
    check_key("id", &message.id, 255)?;
    check_key("from", &message.from, 128)?;
    check_key("to", &message.to, 128)?;
    let result = query(backend, "INSERT INTO cluster_messages (id, from_node, to_node, content, ts_ms) VALUES (?, ?, ?, ?, ?)")
        .bind(message.id.clone())
        .bind(message.from.clone())
        .bind(message.to.clone())
        .bind(message.content.clone())
        .bind(to_ms(message.timestamp))
        .execute(e)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => Err(StoreError::Conflict {
            what: format!("message `{}`", message.id),
        }),
        Err(source) => Err(StoreError::Database {
            operation: "store message",
            source,
        }),
    }
}

pub(super) async fn store_state<'e, E: Executor<'e, Database = Any>>(
    e: E,
    backend: Backend,
    key: &str,
    value: &[u8],
) -> Result<()> {
    check_key("key", key, 255)?;
    query(
        backend,
        &upsert(backend, "cluster_state", "state_key", "value"),
    )
    .bind(key.to_owned())
    .bind(value.to_vec())
    .bind(now_ms())
    .execute(e)
    .await
    .map_err(db("store state"))?;
    Ok(())
}

pub(super) async fn delete_where<'e, E: Executor<'e, Database = Any>>(
    e: E,
    backend: Backend,
    table: &str,
    column: &str,
    key: &str,
) -> Result<bool> {
    let result = query(backend, &format!("DELETE FROM {table} WHERE {column} = ?"))
        .bind(key.to_owned())
        .execute(e)
        .await
        .map_err(db("delete"))?;
    Ok(result.rows_affected() > 0)
}

pub(super) async fn put_json<'e, E: Executor<'e, Database = Any>>(
    e: E,
    backend: Backend,
    table: &str,
    key_column: &'static str,
    value_column: &str,
    key: &str,
    value: &Value,
) -> Result<()> {
    check_key(
        key_column,
        key,
        if table == "cluster_node_state" {
            128
        } else {
            255
        },
    )?;
    query(backend, &upsert(backend, table, key_column, value_column))
        .bind(key.to_owned())
        .bind(value.to_string())
        .bind(now_ms())
        .execute(e)
        .await
        .map_err(db("store JSON value"))?;
    Ok(())
}

pub(super) async fn append_log<'e, E: Executor<'e, Database = Any>>(
    e: E,
    backend: Backend,
    term: u64,
    index: u64,
    entry: &Value,
) -> Result<()> {
    let (term_i, index_i) = (to_i64("term", term)?, to_i64("index", index)?);
    let result = query(backend, "INSERT INTO cluster_consensus_log (term, log_index, entry, created_ms) VALUES (?, ?, ?, ?)")
        .bind(term_i)
        .bind(index_i)
        .bind(entry.to_string())
        .bind(now_ms())
        .execute(e)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => Err(StoreError::Conflict {
            what: format!("log entry ({term}, {index})"),
        }),
        Err(source) => Err(StoreError::Database {
            operation: "append log entry",
            source,
        }),
    }
}

pub(super) fn object(what: &'static str, value: Value) -> Result<Value> {
    json_object(what, value)
        .map(Value::Object)
        .map_err(|source| invalid(what, source))
}

/// A transaction over cluster state: the same writes, applied together on `commit`.
/// Dropping it without `commit` rolls everything back.
#[derive(Debug)]
pub struct ClusterTx {
    pub(super) tx: Transaction<'static, Any>,
    pub(super) backend: Backend,
}

impl ClusterTx {
    /// See [`ClusterStore::store_message`].
    pub async fn store_message(&mut self, message: &Message) -> Result<()> {
        store_message(&mut *self.tx, self.backend, message).await
    }

    /// See [`ClusterStore::store_state`].
    pub async fn store_state(&mut self, key: &str, value: &[u8]) -> Result<()> {
        store_state(&mut *self.tx, self.backend, key, value).await
    }

    /// See [`ClusterStore::delete_state`].
    pub async fn delete_state(&mut self, key: &str) -> Result<bool> {
        delete_where(
            &mut *self.tx,
            self.backend,
            "cluster_state",
            "state_key",
            key,
        )
        .await
    }

    /// See [`ClusterStore::put_node_state`].
    pub async fn put_node_state(&mut self, node: &NodeId, state: Value) -> Result<()> {
        let state = object("node state", state)?;
        put_json(
            &mut *self.tx,
            self.backend,
            "cluster_node_state",
            "node_id",
            "state",
            node.as_str(),
            &state,
        )
        .await
    }

    /// See [`ClusterStore::append_log`].
    pub async fn append_log(&mut self, term: u64, index: u64, entry: Value) -> Result<()> {
        append_log(&mut *self.tx, self.backend, term, index, &entry).await
    }

    /// See [`ClusterStore::put_route`].
    pub async fn put_route(&mut self, destination: &str, route: Value) -> Result<()> {
        let route = object("route", route)?;
        put_json(
            &mut *self.tx,
            self.backend,
            "cluster_routes",
            "destination",
            "route",
            destination,
            &route,
        )
        .await
    }

    /// See [`ClusterStore::delete_route`].
    pub async fn delete_route(&mut self, destination: &str) -> Result<bool> {
        delete_where(
            &mut *self.tx,
            self.backend,
            "cluster_routes",
            "destination",
            destination,
        )
        .await
    }

    /// See [`ClusterStore::put_runtime_config`].
    pub async fn put_runtime_config(&mut self, key: &str, value: Value) -> Result<()> {
        put_json(
            &mut *self.tx,
            self.backend,
            "cluster_runtime_config",
            "config_key",
            "value",
            key,
            &value,
        )
        .await
    }

    /// Applies every write of the transaction.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(db("commit"))
    }

    /// Discards every write of the transaction.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await.map_err(db("rollback"))
    }
}
