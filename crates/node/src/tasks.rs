//! One owner for every task and thread of a node: [`Tasks`] spawns them (tokio tasks,
//! blocking jobs and named OS threads), hands the same shutdown token to all of them, and
//! joins them at shutdown within a deadline, naming any that did not stop. Nothing else in
//! the workspace calls `tokio::spawn` or `std::thread::spawn` (the tidy test checks it);
//! crates below the node runtime (the bus) spawn on the [`TaskTracker`] they are given.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Tasks that were still running when the shutdown deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("{} tasks did not stop within {grace:?}: {}", names.len(), names.join(", "))]
pub struct Unfinished {
    /// How long they had.
    pub grace: Duration,
    /// Their names (one entry per task).
    pub names: Vec<String>,
}

/// The node's task owner. Cheap to clone; clones share the tasks and the token.
#[derive(Debug, Clone)]
pub struct Tasks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tracker: TaskTracker,
    shutdown: CancellationToken,
    running: Mutex<BTreeMap<u64, String>>,
    next: AtomicU64,
}

/// Removes a task's name from the running list when the task ends (or is dropped).
struct Named {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for Named {
    fn drop(&mut self) {
        let mut running = self
            .inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        running.remove(&self.id);
    }
}

impl Tasks {
    /// An owner whose tasks stop when `shutdown` is cancelled.
    pub fn new(shutdown: CancellationToken) -> Tasks {
        Tasks {
            inner: Arc::new(Inner {
                tracker: TaskTracker::new(),
                shutdown,
                running: Mutex::default(),
                next: AtomicU64::new(0),
            }),
        }
    }

    /// The token every task watches; cancelling it starts the shutdown.
    pub fn token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// The tracker, for crates below the node runtime that spawn on it themselves (the
    /// bus's subscription pumps): what they spawn is joined with the rest.
    pub fn tracker(&self) -> &TaskTracker {
        &self.inner.tracker
    }

    fn named(&self, name: &str) -> Named {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let mut running = self
            .inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        running.insert(id, name.to_owned());
        Named {
            inner: self.inner.clone(),
            id,
        }
    }

    /// Spawns a task on the current runtime. It must end when [`Tasks::token`] is
    /// cancelled.
    pub fn spawn<F>(&self, name: &str, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let named = self.named(name);
        self.inner.tracker.spawn(async move {
            let _named = named;
            future.await
        })
    }

    /// Spawns a task that is dropped where it waits when the token is cancelled: for
    /// tasks whose every wait may be cut short (idempotent store writes, requests), so
    /// one waiting for an unreachable store does not hold up the shutdown.
    pub fn spawn_cancellable<F>(&self, name: &str, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let token = self.inner.shutdown.clone();
        self.spawn(name, async move {
            tokio::select! {
                () = token.cancelled() => {}
                () = future => {}
            }
        });
    }

    /// Runs blocking work (file I/O, CPU-heavy encoding) on the blocking pool, joined
    /// with the other tasks.
    pub fn spawn_blocking<F, T>(&self, name: &str, work: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let named = self.named(name);
        self.inner.tracker.spawn_blocking(move || {
            let _named = named;
            work()
        })
    }

    /// Starts a named OS thread (the DNS server's UDP workers). It must return soon after
    /// [`Tasks::token`] is cancelled; shutdown waits for it like for a task.
    pub fn spawn_thread<F>(&self, name: String, work: F) -> std::io::Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        let named = self.named(&name);
        let token = self.inner.tracker.token();
        std::thread::Builder::new().name(name).spawn(move || {
            let _owned = (named, token);
            work();
        })?;
        Ok(())
    }

    /// The names of the tasks and threads running now.
    pub fn running(&self) -> Vec<String> {
        let running = self
            .inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        running.values().cloned().collect()
    }

    /// Cancels the token and waits at most `grace` for every task and thread to end.
    pub async fn stop(&self, grace: Duration) -> Result<(), Unfinished> {
        self.inner.shutdown.cancel();
        self.inner.tracker.close();
        match tokio::time::timeout(grace, self.inner.tracker.wait()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(Unfinished {
                grace,
                names: self.running(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn stop_joins_tasks_blocking_jobs_and_threads() {
        let tasks = Tasks::new(CancellationToken::new());
        let token = tasks.token().clone();
        tasks.spawn("waits", async move { token.cancelled().await });
        let token = tasks.token().clone();
        tasks
            .spawn_thread("polls".to_owned(), move || {
                while !token.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
            .unwrap();
        let job = tasks.spawn_blocking("job", || 7);
        tasks.spawn_cancellable("stuck on a store", std::future::pending());
        assert_eq!(job.await.unwrap(), 7);
        let mut running = tasks.running();
        running.sort();
        assert_eq!(running, ["polls", "stuck on a store", "waits"]);
        tasks.stop(Duration::from_secs(5)).await.unwrap();
        assert!(tasks.running().is_empty());
    }

    #[tokio::test]
    async fn a_task_that_ignores_the_token_is_named() {
        let tasks = Tasks::new(CancellationToken::new());
        tasks.spawn("stubborn", std::future::pending::<()>());
        tasks.spawn("polite", {
            let token = tasks.token().clone();
            async move { token.cancelled().await }
        });
        let error = tasks.stop(Duration::from_millis(50)).await.unwrap_err();
        assert_eq!(error.names, ["stubborn"]);
        assert_eq!(
            error.to_string(),
            "1 tasks did not stop within 50ms: stubborn"
        );
    }
}
