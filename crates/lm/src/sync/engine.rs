//! The sync engine: after `init`, a full pull of every active list, then incremental pulls
//! forever; resumes from the stored checkpoints after restarts and link losses, with backoff.
//! Each `_changes` page is applied with its checkpoint in one store transaction while the next
//! page is already being fetched.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use protocol::registration::{Databases, ReplicationSource};
use protocol::replication::Seq;
use store::{Batch, Identity, ListDb, Store};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Poll;
use crate::lifecycle::{self, Facts};
use crate::module::{Module, active_lists};
use crate::sync::mapping::{Mapped, map_change};
use crate::sync::progress::Progress;
use crate::sync::registration::register;
use crate::sync::source::{ChangesPage, Source, SourceError};

/// How often expired sales are purged.
const PURGE_EVERY_MS: u64 = 60 * 60 * 1000;
/// Progress is logged at most this often (by the module's clock).
const LOG_EVERY_MS: u64 = 5_000;

/// How a sync cycle ended.
enum Cycle {
    /// Not registered: nothing to sync.
    Idle,
    /// Every active list is caught up.
    CaughtUp,
    /// An init, re-init or mode switch happened meanwhile: start over.
    Restart,
}

/// Why a sync cycle failed.
enum CycleError {
    /// Try again after a backoff (link, source, malformed data).
    Retry(String),
    /// The store cannot be used any more: status `failure`.
    Fatal(String),
}

impl From<SourceError> for CycleError {
    fn from(err: SourceError) -> Self {
        CycleError::Retry(err.to_string())
    }
}

impl From<store::StoreError> for CycleError {
    fn from(err: store::StoreError) -> Self {
        if err.is_fatal() {
            CycleError::Fatal(err.to_string())
        } else {
            CycleError::Retry(err.to_string())
        }
    }
}

fn remote_name(databases: &Databases, db: ListDb) -> &str {
    match db {
        ListDb::BlockedCis => &databases.blocked_cis,
        ListDb::BlockedGtin => &databases.blocked_gtin,
        ListDb::GreyGtin => &databases.grey_gtin,
        ListDb::MinPrice => &databases.min_price,
    }
}

impl Module {
    /// Runs the sync engine (and the hourly purge of expired sales) until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) {
        let config = &self.shared.config;
        let mut backoff = config.backoff_min;
        let mut next_purge = 0;
        while !shutdown.is_cancelled() {
            let now = self.shared.clock.now_ms();
            if now >= next_purge {
                next_purge = now + PURGE_EVERY_MS;
                match self.purge_sold() {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "expired sales purged"),
                    Err(err) => tracing::warn!(error = %err, "purging expired sales failed"),
                }
            }
            let outcome = self.cycle().await;
            self.persist_status();
            self.notify_changed();
            match outcome {
                Ok(Cycle::Restart) => continue,
                Ok(Cycle::Idle) => {
                    backoff = config.backoff_min;
                    self.pause(idle_wait(config.poll), &shutdown).await;
                }
                Ok(Cycle::CaughtUp) => {
                    backoff = config.backoff_min;
                    self.wait_for_changes(&shutdown).await;
                }
                Err(CycleError::Fatal(reason)) => {
                    tracing::error!(%reason, "store unusable: status is failure");
                    self.live().fatal = Some(reason);
                    self.notify_changed();
                    shutdown.cancelled().await;
                }
                Err(CycleError::Retry(reason)) => {
                    tracing::warn!(%reason, retry_in = ?backoff, "sync failed");
                    self.live().last_error = Some(reason);
                    self.abandon_stalled_init().await;
                    self.notify_changed();
                    self.pause(backoff, &shutdown).await;
                    backoff = (backoff * 2).min(config.backoff_max);
                }
            }
        }
    }

    async fn cycle(&self) -> Result<Cycle, CycleError> {
        let epoch = self.shared.epoch.load(Ordering::SeqCst);
        let Some(store) = self.shared.store.clone() else {
            return Err(CycleError::Fatal("the store could not be opened".into()));
        };
        let Some(identity) = store.local().identity()? else {
            return Ok(Cycle::Idle);
        };
        let replication: ReplicationSource = serde_json::from_str(&identity.source)
            .map_err(|err| CycleError::Fatal(format!("stored registration unreadable: {err}")))?;
        let source = Source::new(&replication, self.shared.config.timeouts)?;
        let inactive = active_lists(!identity.grey_mode)[0];
        let state = store.lists().db_state(inactive)?;
        if state.doc_count > 0 || state.checkpoint.is_some() {
            let _applying = self.shared.apply_lock.lock().await;
            store.lists().reset(inactive)?;
        }
        store
            .lists()
            .record_times(None, Some(self.shared.clock.now_ms()), None)?;
        let mut contacted = false;
        for db in active_lists(identity.grey_mode) {
            let remote = remote_name(&replication.databases, db);
            let info = source.info(remote).await?;
            if !contacted {
                contacted = true;
                if self.reinitialise_after_silence(&store, &identity).await? {
                    return Ok(Cycle::Restart);
                }
            }
            if !self
                .pull(epoch, &store, db, remote, &source, info.doc_count)
                .await?
            {
                return Ok(Cycle::Restart);
            }
        }
        let now = self.shared.clock.now_ms();
        store.lists().record_times(Some(now), None, Some(now))?;
        let mut live = self.live();
        live.last_error = None;
        live.last_data = now;
        Ok(Cycle::CaughtUp)
    }

    /// After 10 days without contact, contact is back: register again and re-sync from
    /// scratch. Otherwise records the contact. Returns whether it re-initialised.
    async fn reinitialise_after_silence(
        &self,
        store: &Store,
        identity: &Identity,
    ) -> Result<bool, CycleError> {
        let now = self.shared.clock.now_ms();
        let last_contact = store.lists().sync_times()?.last_contact;
        if !lifecycle::needs_reinit(last_contact, now) {
            store.lists().record_times(None, None, Some(now))?;
            return Ok(false);
        }
        tracing::warn!(last_contact, "no contact for 10 days: re-initialising");
        let response = register(
            &identity.service_url,
            &identity.token,
            self.shared.config.timeouts,
        )
        .await
        .map_err(|err| CycleError::Retry(err.to_string()))?;
        self.adopt(response, &identity.token, identity.grey_mode, false)
            .await
            .map_err(|err| CycleError::Retry(err.to_string()))?;
        Ok(true)
    }

    /// Pulls one list until the source has nothing pending. Returns false when the epoch
    /// changed under it (nothing of the newer epoch was touched).
    async fn pull(
        &self,
        epoch: u64,
        store: &Arc<Store>,
        db: ListDb,
        remote: &str,
        source: &Source,
        source_docs: u64,
    ) -> Result<bool, CycleError> {
        let state = store.lists().db_state(db)?;
        let limit = self.shared.config.batch_limit.max(1);
        let since: Option<Seq> = state
            .checkpoint
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok());
        let now = self.shared.clock.now_ms();
        self.live()
            .progress
            .insert(db, Progress::resume(source_docs, state.doc_count, now));
        let mut last_log = now;
        let mut response = source.changes(remote, since.as_ref(), limit, None).await?;
        let mut checkpoint = state.checkpoint;
        let commit_changes = self.shared.config.commit_changes.max(1);
        let mut gathered: Option<Batch> = None;
        loop {
            let rows = response.results.len() as u64;
            let caught_up = match response.pending {
                Some(pending) => pending == 0,
                None => rows < limit,
            };
            let batch = merge(gathered.take(), to_batch(db, &response, caught_up));
            let unchanged = rows == 0
                && state.pulled
                && batch.changes.is_empty()
                && batch.unmapped == 0
                && checkpoint.as_ref() == Some(&batch.checkpoint);
            let commit = caught_up || batch.changes.len() >= commit_changes;
            let next_since = response.last_seq.clone();
            let fetch_next = async {
                if caught_up {
                    None
                } else {
                    Some(source.changes(remote, Some(&next_since), limit, None).await)
                }
            };
            let to_apply = if commit && !unchanged {
                checkpoint = Some(batch.checkpoint.clone());
                Some(batch)
            } else {
                if !commit {
                    gathered = Some(batch);
                }
                None
            };
            let apply = async {
                match to_apply {
                    None => Ok(true),
                    Some(batch) => {
                        let changes = batch.changes.len();
                        let applied = self.apply(epoch, store, batch).await;
                        tracing::debug!(db = db.name(), changes, "batch committed");
                        applied
                    }
                }
            };
            let (next, applied) = tokio::join!(fetch_next, apply);
            if !applied? {
                return Ok(false);
            }
            let now = self.shared.clock.now_ms();
            let progress = {
                let mut live = self.live();
                live.last_data = now;
                let progress = live.progress.entry(db).or_default();
                progress.add(rows, now);
                *progress
            };
            self.notify_changed();
            if caught_up || now.saturating_sub(last_log) >= LOG_EVERY_MS {
                last_log = now;
                log_progress(db, &progress, caught_up);
            }
            match next {
                None => return Ok(true),
                Some(next) => response = next?,
            }
        }
    }

    async fn apply(
        &self,
        epoch: u64,
        store: &Arc<Store>,
        batch: Batch,
    ) -> Result<bool, CycleError> {
        let _applying = self.shared.apply_lock.lock().await;
        if self.shared.epoch.load(Ordering::SeqCst) != epoch {
            return Ok(false);
        }
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.lists().apply(&batch)).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(err)) => Err(err.into()),
            Err(join) => Err(CycleError::Fatal(format!(
                "applying a batch panicked: {join}"
            ))),
        }
    }

    /// During initialisation, 15 min without data sends the module back to `not_configured`.
    async fn abandon_stalled_init(&self) {
        let Some(store) = self.store() else { return };
        let Ok(Some(identity)) = store.local().identity() else {
            return;
        };
        let pulled = active_lists(identity.grey_mode)
            .into_iter()
            .all(|db| store.lists().db_state(db).is_ok_and(|state| state.pulled));
        let facts = Facts {
            store_usable: true,
            configured: true,
            pulled,
            last_sync: 0,
            last_data: self.live().last_data,
        };
        if !lifecycle::init_abandoned(&facts, self.shared.clock.now_ms()) {
            return;
        }
        let _applying = self.shared.apply_lock.lock().await;
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        tracing::warn!("no data for 15 min during initialisation: back to not_configured");
        if let Err(err) = store.local().set_identity(None) {
            tracing::error!(error = %err, "forgetting the registration failed");
        }
        self.live().progress.clear();
    }

    fn persist_status(&self) {
        let snapshot = self.status();
        let Some(store) = self.store() else { return };
        let stored = store.local().status().ok().flatten();
        if stored.as_deref() != Some(snapshot.status.as_str())
            && let Err(err) = store.local().set_status(snapshot.status.as_str())
        {
            tracing::warn!(error = %err, "persisting the status failed");
        }
    }

    async fn pause(&self, wait: Duration, shutdown: &CancellationToken) {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = self.shared.wake.notified() => {}
            _ = shutdown.cancelled() => {}
        }
    }

    /// Once caught up: wait for the poll interval, or hold longpoll requests on every active
    /// list until one reports a change.
    async fn wait_for_changes(&self, shutdown: &CancellationToken) {
        let wait = match self.shared.config.poll {
            Poll::Interval(every) => return self.pause(every, shutdown).await,
            Poll::Longpoll(wait) => wait,
        };
        let Some(store) = self.shared.store.clone() else {
            return;
        };
        let Ok(Some(identity)) = store.local().identity() else {
            return;
        };
        let Ok(replication) = serde_json::from_str::<ReplicationSource>(&identity.source) else {
            return;
        };
        let Ok(source) = Source::new(&replication, self.shared.config.timeouts) else {
            return;
        };
        let mut polls = JoinSet::new();
        for db in active_lists(identity.grey_mode) {
            let remote = remote_name(&replication.databases, db).to_owned();
            let since = store
                .lists()
                .db_state(db)
                .ok()
                .and_then(|state| state.checkpoint)
                .and_then(|text| serde_json::from_str::<Seq>(&text).ok());
            let source = source.clone();
            polls
                .spawn(async move { source.changes(&remote, since.as_ref(), 1, Some(wait)).await });
        }
        tokio::select! {
            _ = polls.join_next() => {}
            _ = self.shared.wake.notified() => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

fn idle_wait(poll: Poll) -> Duration {
    match poll {
        Poll::Interval(every) | Poll::Longpoll(every) => every,
    }
}

fn to_batch(db: ListDb, response: &ChangesPage, caught_up: bool) -> Batch {
    let mut changes = Vec::with_capacity(response.results.len());
    let mut unmapped = 0;
    for row in &response.results {
        match map_change(db, row) {
            Mapped::Change(change) => changes.push(change),
            Mapped::Skipped => {}
            Mapped::Unmapped(reason) => {
                unmapped += 1;
                tracing::warn!(db = db.name(), id = %row.id, %reason, "document skipped");
            }
        }
    }
    Batch {
        db,
        changes,
        checkpoint: serde_json::to_string(&response.last_seq).unwrap_or_else(|_| "0".into()),
        caught_up,
        unmapped,
    }
}

/// One transaction for pages gathered so far and the next: the later checkpoint covers both.
fn merge(gathered: Option<Batch>, next: Batch) -> Batch {
    let Some(mut gathered) = gathered else {
        return next;
    };
    gathered.changes.extend(next.changes);
    gathered.checkpoint = next.checkpoint;
    gathered.caught_up = next.caught_up;
    gathered.unmapped += next.unmapped;
    gathered
}

fn log_progress(db: ListDb, progress: &Progress, caught_up: bool) {
    tracing::info!(
        db = db.name(),
        received = progress.received,
        expected = progress.expected,
        percent = progress
            .percent()
            .map(|p| format!("{p:.1}"))
            .unwrap_or_default(),
        docs_per_minute = progress.docs_per_minute() as u64,
        eta_s = progress.eta_ms().map(|ms| ms / 1000).unwrap_or_default(),
        caught_up,
        "sync progress"
    );
}
