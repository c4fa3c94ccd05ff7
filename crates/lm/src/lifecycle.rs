//! The status lifecycle of protocol.md §3.2–3.3 as pure functions of a few facts and the time,
//! so every rule is tested by setting a clock, never by waiting:
//!
//! `not_configured` → (init) → `initialization` → (every list pulled) → `ready`;
//! `ready` → `sync_error` when 72 h pass since `lastSync`;
//! `initialization` → `not_configured` when no data arrives for 15 min;
//! after 10 days without contact the module re-initialises once contact returns;
//! `failure` whenever the store cannot be used.

/// No successful sync for this long → `sync_error` (protocol.md §3.3).
pub const SYNC_ERROR_AFTER_MS: u64 = 72 * 60 * 60 * 1000;
/// No data for this long during initialisation → back to `not_configured` (§3.2).
pub const INIT_STALL_MS: u64 = 15 * 60 * 1000;
/// No contact for this long → re-initialise when contact returns (§3.2).
pub const REINIT_AFTER_MS: u64 = 10 * 24 * 60 * 60 * 1000;

/// The module's status, as `GET /api/v2/status` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Never initialised (or initialisation was abandoned).
    NotConfigured,
    /// Registered; the first full pull of some list is still running.
    Initialization,
    /// Every list pulled and synced within 72 h: offline checks allowed.
    Ready,
    /// The store cannot be used.
    Failure,
    /// No successful sync for 72 h: offline checks refused.
    SyncError,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotConfigured => "not_configured",
            Status::Initialization => "initialization",
            Status::Ready => "ready",
            Status::Failure => "failure",
            Status::SyncError => "sync_error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the lifecycle rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facts {
    /// The store opened and accepts writes.
    pub store_usable: bool,
    /// The module has an identity (registration succeeded).
    pub configured: bool,
    /// Every active list finished its first full pull.
    pub pulled: bool,
    /// Unix ms of the last sync over all lists (0 = never).
    pub last_sync: u64,
    /// Unix ms of the last data received (or of the init call) while initialising.
    pub last_data: u64,
}

/// The status at `now`.
pub fn status(facts: &Facts, now: u64) -> Status {
    if !facts.store_usable {
        Status::Failure
    } else if !facts.configured || init_abandoned(facts, now) {
        Status::NotConfigured
    } else if !facts.pulled {
        Status::Initialization
    } else if now.saturating_sub(facts.last_sync) >= SYNC_ERROR_AFTER_MS {
        Status::SyncError
    } else {
        Status::Ready
    }
}

/// Unix ms when `status` changes by the clock alone, if nothing else happens: 72 h after the
/// last sync while `ready`, 15 min after the last data while initialising; `u64::MAX` otherwise
/// (the other states end only by an event: a sync, new data, an init).
pub fn valid_until(status: Status, last_sync: u64, last_data: u64) -> u64 {
    match status {
        Status::Ready => last_sync.saturating_add(SYNC_ERROR_AFTER_MS),
        Status::Initialization => last_data.saturating_add(INIT_STALL_MS),
        Status::NotConfigured | Status::Failure | Status::SyncError => u64::MAX,
    }
}

/// Initialisation received no data for 15 min: it is abandoned (`not_configured`).
pub fn init_abandoned(facts: &Facts, now: u64) -> bool {
    facts.configured && !facts.pulled && now.saturating_sub(facts.last_data) >= INIT_STALL_MS
}

/// Contact returned after 10 days without it: the module must re-initialise.
pub fn needs_reinit(last_contact: u64, now: u64) -> bool {
    last_contact != 0 && now.saturating_sub(last_contact) >= REINIT_AFTER_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_775_204_403_800;
    const MINUTE: u64 = 60 * 1000;
    const HOUR: u64 = 60 * MINUTE;

    fn ready_facts() -> Facts {
        Facts {
            store_usable: true,
            configured: true,
            pulled: true,
            last_sync: T0,
            last_data: T0,
        }
    }

    #[test]
    fn valid_until_is_the_next_time_rule() {
        let facts = ready_facts();
        let until = valid_until(Status::Ready, facts.last_sync, facts.last_data);
        assert_eq!(status(&facts, until - 1), Status::Ready);
        assert_eq!(status(&facts, until), Status::SyncError);
        let initialising = Facts {
            pulled: false,
            ..facts
        };
        let until = valid_until(Status::Initialization, T0, T0);
        assert_eq!(status(&initialising, until - 1), Status::Initialization);
        assert_eq!(status(&initialising, until), Status::NotConfigured);
        assert_eq!(valid_until(Status::SyncError, T0, T0), u64::MAX);
    }

    #[test]
    fn not_configured_until_registered() {
        let facts = Facts {
            store_usable: true,
            ..Facts::default()
        };
        assert_eq!(status(&facts, T0), Status::NotConfigured);
    }

    #[test]
    fn initialization_until_every_list_is_pulled() {
        let facts = Facts {
            pulled: false,
            last_sync: 0,
            ..ready_facts()
        };
        assert_eq!(status(&facts, T0), Status::Initialization);
        assert_eq!(status(&ready_facts(), T0), Status::Ready);
    }

    #[test]
    fn sync_error_exactly_at_72_hours_since_last_sync() {
        let facts = ready_facts();
        assert_eq!(status(&facts, T0 + 72 * HOUR - 1), Status::Ready);
        assert_eq!(status(&facts, T0 + 72 * HOUR), Status::SyncError);
    }

    #[test]
    fn initialization_without_data_for_15_minutes_falls_back_to_not_configured() {
        let facts = Facts {
            pulled: false,
            last_sync: 0,
            ..ready_facts()
        };
        assert_eq!(status(&facts, T0 + 15 * MINUTE - 1), Status::Initialization);
        assert!(!init_abandoned(&facts, T0 + 15 * MINUTE - 1));
        assert_eq!(status(&facts, T0 + 15 * MINUTE), Status::NotConfigured);
        assert!(init_abandoned(&facts, T0 + 15 * MINUTE));
        // a ready module never falls back for silence; it goes to sync_error instead
        assert!(!init_abandoned(&ready_facts(), T0 + 100 * HOUR));
    }

    #[test]
    fn failure_wins_over_everything() {
        let facts = Facts {
            store_usable: false,
            ..ready_facts()
        };
        assert_eq!(status(&facts, T0), Status::Failure);
    }

    #[test]
    fn reinit_after_ten_days_without_contact() {
        assert!(
            !needs_reinit(0, T0),
            "never contacted: nothing to re-initialise"
        );
        assert!(!needs_reinit(T0, T0 + 240 * HOUR - 1));
        assert!(needs_reinit(T0, T0 + 240 * HOUR));
    }
}
