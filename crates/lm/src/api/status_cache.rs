//! The status snapshot, read from the backend once per change generation and shared by every
//! request until the backend changes or a time rule falls due ([`Snapshot::valid_until`]):
//! `status` polls and checks (which need the readiness gate, `inst` and `dbVersion`) no longer
//! read the store on every request.

use std::sync::{Arc, Mutex, PoisonError};

use super::backend::{Backend, BackendError, Snapshot};

#[derive(Debug)]
struct Cached {
    generation: u64,
    snapshot: Arc<Snapshot>,
}

/// The last snapshot and the generation it was read at.
#[derive(Debug, Default)]
pub struct StatusCache {
    slot: Mutex<Option<Cached>>,
}

impl StatusCache {
    /// The current snapshot: the cached one while the backend's generation is unchanged and
    /// `now` is before its `valid_until`, otherwise a fresh read (which is then cached).
    pub fn get<M: Backend>(&self, backend: &M) -> Result<Arc<Snapshot>, BackendError> {
        let Some(generation) = backend.generation() else {
            return backend.snapshot().map(Arc::new);
        };
        let now = backend.now_ms();
        {
            let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(cached) = slot.as_ref()
                && cached.generation == generation
                && now < cached.snapshot.valid_until
            {
                return Ok(cached.snapshot.clone());
            }
        }
        // The generation was read before the snapshot: a change during the read bumps it, and
        // the next request reads again.
        let snapshot = Arc::new(backend.snapshot()?);
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
            generation,
            snapshot: snapshot.clone(),
        });
        Ok(snapshot)
    }
}
