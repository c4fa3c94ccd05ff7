//! The durable queue of `cis/sell` and `cis/return` calls toward the local module after
//! fiscalisation (protocol.md §2.1 step 6). The module's sold DB is what refuses a repeat sale
//! offline, so no registration may be lost: each one is written to disk (atomic rewrite under
//! a lock) before it is acknowledged, and sent in order, retried with backoff until the module
//! accepts it. Sending the same KI again is harmless (the sold DB is a set).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

use crate::module::ModuleClient;

/// First retry delay; doubles per failed attempt up to [`MAX_BACKOFF_MS`].
pub const FIRST_BACKOFF_MS: i64 = 1_000;
pub const MAX_BACKOFF_MS: i64 = 5 * 60_000;
/// How long after a delivered sale the module's sold list is read to confirm it. A module can
/// answer 201 and still lose the entry (crash before its commit, a restored backup); only the
/// list shows that. 60 s lets a module that queues writes settle.
pub const CONFIRM_AFTER_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Sell,
    Return,
}

/// One pending call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub id: u64,
    pub op: Operation,
    pub kis: Vec<String>,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A delivered sale waiting to be seen in the module's sold list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    pub id: u64,
    pub kis: Vec<String>,
    pub confirm_at_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueState {
    pub next_id: u64,
    pub pending: Vec<Pending>,
    /// Sales the module accepted, to be confirmed in its sold list (absent in older files).
    #[serde(default)]
    pub confirming: Vec<Delivered>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("sold queue {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sold queue {path} is damaged ({reason}); it is kept as is, fix or move it")]
    Damaged { path: PathBuf, reason: String },
    #[error("nothing to register: the list of codes is empty")]
    Empty,
}

/// The queue file; cheap to clone, shared by processes through its lock.
#[derive(Debug, Clone)]
pub struct SoldQueue {
    path: PathBuf,
    lock_path: PathBuf,
    /// Held for a whole [`SoldQueue::flush`]: clones deliver one at a time. Two concurrent
    /// flushes used to send the same head together and each failure added an attempt, so one
    /// outage counted many times and the backoff grew to minutes (the queue stalled for ~2 min
    /// after the module came back). Now a failure is counted once per real attempt.
    delivering: Arc<tokio::sync::Mutex<()>>,
}

impl SoldQueue {
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| QueueError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let queue = Self {
            path: path.to_owned(),
            lock_path: path.with_extension("lock"),
            delivering: Arc::default(),
        };
        queue.read()?;
        Ok(queue)
    }

    /// Durably records a call; returns its id.
    pub fn enqueue(&self, op: Operation, kis: Vec<String>, now: i64) -> Result<u64, QueueError> {
        if kis.is_empty() {
            return Err(QueueError::Empty);
        }
        self.update(|q| {
            let id = q.next_id;
            q.next_id += 1;
            q.pending.push(Pending {
                id,
                op,
                kis: kis.clone(),
                attempts: 0,
                next_attempt_ms: now,
                last_error: None,
            });
            id
        })
    }

    pub fn read(&self) -> Result<QueueState, QueueError> {
        let _lock = self.lock()?;
        self.load()
    }

    /// Sends due calls in order; stops at the first failure (a return must not overtake its
    /// sale). Returns how many were delivered.
    /// A flush running in another clone is waited for, then this one sees its result (a head
    /// that just failed is not due again), so concurrent callers never multiply attempts.
    pub async fn flush(&self, module: &ModuleClient, now: i64) -> Result<usize, QueueError> {
        let _one_at_a_time = self.delivering.lock().await;
        let mut delivered = 0;
        loop {
            let Some(head) = self.read()?.pending.into_iter().next() else {
                return Ok(delivered);
            };
            if head.next_attempt_ms > now {
                return Ok(delivered);
            }
            let result = module.register(&head.kis, head.op == Operation::Sell).await;
            match result {
                Ok(outcomes) => {
                    for o in outcomes.results.iter().filter(|o| !o.success) {
                        tracing::warn!(cis = %o.cis, op = ?head.op, "module did not change its sold DB for this code");
                    }
                    self.update(|q| {
                        q.pending.retain(|p| p.id != head.id);
                        match head.op {
                            Operation::Sell => q.confirming.push(Delivered {
                                id: head.id,
                                kis: head.kis.clone(),
                                confirm_at_ms: now + CONFIRM_AFTER_MS,
                            }),
                            // Returned: "not sold" is now right; a sale re-sent after this
                            // would undo the return.
                            Operation::Return => forget_kis(&mut q.confirming, &head.kis),
                        }
                    })?;
                    tracing::info!(id = head.id, op = ?head.op, count = head.kis.len(), "registered at the module");
                    delivered += 1;
                }
                Err(err) => {
                    tracing::warn!(id = head.id, %err, "module registration failed; will retry");
                    let message = err.to_string();
                    self.update(|q| {
                        if let Some(p) = q.pending.iter_mut().find(|p| p.id == head.id) {
                            p.attempts += 1;
                            p.next_attempt_ms = now + backoff_ms(p.attempts);
                            p.last_error = Some(message.clone());
                        }
                    })?;
                    return Ok(delivered);
                }
            }
        }
    }

    /// When there is something to do next (Unix ms): the head's next attempt or the earliest
    /// confirmation; `None` when nothing is pending or unconfirmed.
    pub fn next_due_ms(&self) -> Result<Option<i64>, QueueError> {
        let state = self.read()?;
        let head = state.pending.first().map(|p| p.next_attempt_ms);
        let confirm = state.confirming.iter().map(|d| d.confirm_at_ms).min();
        Ok(head.into_iter().chain(confirm).min())
    }

    /// Reads the module's sold list for the delivered sales that are due and queues again
    /// every KI the module lost. Returns how many KIs were sent again. A KI with a return
    /// queued is not re-sent (the return wins). When the list cannot be read, the confirmation
    /// is tried again [`CONFIRM_AFTER_MS`] later.
    pub async fn confirm(&self, module: &ModuleClient, now: i64) -> Result<usize, QueueError> {
        let _one_at_a_time = self.delivering.lock().await;
        if !self
            .read()?
            .confirming
            .iter()
            .any(|d| d.confirm_at_ms <= now)
        {
            return Ok(0);
        }
        let sold = match module.sold_list().await {
            Ok(sold) => sold,
            Err(err) => {
                tracing::warn!(%err, "module sold list unavailable; confirming later");
                self.update(|q| {
                    for d in q.confirming.iter_mut().filter(|d| d.confirm_at_ms <= now) {
                        d.confirm_at_ms = now + CONFIRM_AFTER_MS;
                    }
                })?;
                return Ok(0);
            }
        };
        self.update(|q| {
            let returning: Vec<String> = q
                .pending
                .iter()
                .filter(|p| p.op == Operation::Return)
                .flat_map(|p| p.kis.clone())
                .collect();
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut q.confirming)
                .into_iter()
                .partition(|d| d.confirm_at_ms <= now);
            q.confirming = later;
            let mut lost: Vec<String> = due
                .iter()
                .flat_map(|d| d.kis.iter())
                .filter(|ki| !sold.contains(ki.as_str()) && !returning.contains(ki))
                .cloned()
                .collect();
            lost.sort();
            lost.dedup();
            if !lost.is_empty() {
                tracing::warn!(
                    count = lost.len(),
                    "module lost sales from its sold DB; sending them again"
                );
                let id = q.next_id;
                q.next_id += 1;
                q.pending.push(Pending {
                    id,
                    op: Operation::Sell,
                    kis: lost.clone(),
                    attempts: 0,
                    next_attempt_ms: now,
                    last_error: Some("missing from the module's sold list; sent again".into()),
                });
            }
            lost.len()
        })
    }

    fn update<R>(&self, mut change: impl FnMut(&mut QueueState) -> R) -> Result<R, QueueError> {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        let result = change(&mut state);
        self.store(&state)?;
        Ok(result)
    }

    fn io(&self, source: std::io::Error) -> QueueError {
        QueueError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn lock(&self) -> Result<File, QueueError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| self.io(e))?;
        file.lock_exclusive().map_err(|e| self.io(e))?;
        Ok(file)
    }

    fn load(&self) -> Result<QueueState, QueueError> {
        match fs::read(&self.path) {
            // Unlike the CDN cache this is data that must not be lost: refuse, never reset.
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| QueueError::Damaged {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(QueueState::default()),
            Err(e) => Err(self.io(e)),
        }
    }

    fn store(&self, state: &QueueState) -> Result<(), QueueError> {
        let tmp = self.path.with_extension("tmp");
        let bytes = serde_json::to_vec(state).map_err(|e| self.io(e.into()))?;
        let mut file = File::create(&tmp).map_err(|e| self.io(e))?;
        file.write_all(&bytes).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))?;
        fs::rename(&tmp, &self.path).map_err(|e| self.io(e))
    }
}

/// Drops these KIs from the sales awaiting confirmation (and entries left empty).
fn forget_kis(confirming: &mut Vec<Delivered>, kis: &[String]) {
    for d in confirming.iter_mut() {
        d.kis.retain(|ki| !kis.contains(ki));
    }
    confirming.retain(|d| !d.kis.is_empty());
}

/// 1 s, 2 s, 4 s … capped at 5 min.
pub fn backoff_ms(attempts: u32) -> i64 {
    let shift = attempts.saturating_sub(1).min(20);
    (FIRST_BACKOFF_MS << shift).min(MAX_BACKOFF_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(40), MAX_BACKOFF_MS);
    }

    #[test]
    fn enqueued_calls_survive_reopening_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("q.json");
        let queue = SoldQueue::open(&path).expect("opens");
        assert_eq!(
            queue
                .enqueue(Operation::Sell, vec!["a".into()], 1)
                .expect("queued"),
            0
        );
        assert_eq!(
            queue
                .enqueue(Operation::Return, vec!["a".into()], 2)
                .expect("queued"),
            1
        );
        assert!(matches!(
            queue.enqueue(Operation::Sell, vec![], 3),
            Err(QueueError::Empty)
        ));
        let reopened = SoldQueue::open(&path)
            .expect("opens")
            .read()
            .expect("reads");
        let ops: Vec<Operation> = reopened.pending.iter().map(|p| p.op).collect();
        assert_eq!(ops, [Operation::Sell, Operation::Return]);
    }

    #[test]
    fn a_damaged_queue_is_refused_not_reset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("q.json");
        fs::write(&path, b"[garbage").expect("writes");
        let err = SoldQueue::open(&path).expect_err("refused");
        assert!(err.to_string().contains("damaged"));
        assert_eq!(fs::read(&path).expect("kept"), b"[garbage");
    }
}
