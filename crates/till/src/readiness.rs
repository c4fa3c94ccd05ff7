//! The local module's lifecycle as the till sees it (protocol.md §3.3): its `status` endpoint
//! polled in the background, so a module that is still initialising or has lost sync is not
//! asked for `outCheck` at all and the till hears why at once (errorCode 4045 / 4050).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::checker::Inner;

/// Poll period while the module answers its status ([PS] polls every 30 s).
pub const POLL_EVERY: Duration = Duration::from_secs(30);
/// Poll period after the status request failed (module down, bad answer).
pub const POLL_AFTER_ERROR: Duration = Duration::from_secs(5);

/// A status request that takes longer is a failed poll.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// `errorCode` the module gives for `not_configured` and `initialization` (§3.4).
pub const NOT_READY: u32 = 4045;
/// `errorCode` for `sync_error` (72 h without sync).
pub const SYNC_LOST: u32 = 4050;

/// The last known state of the module.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleReadiness {
    /// `status` as the module last reported it (`ready`, `initialization`, …); `None` until a
    /// status answer arrived.
    pub status: Option<String>,
    /// Which status endpoint answered: `v2`, or `v1` for old modules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<&'static str>,
    /// When the state was last learned (Unix ms, checker clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_at_ms: Option<i64>,
    /// Why the last poll failed, when it did (the last known `status` is kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The errorCode an `outCheck` was refused with since the last poll: believed until the
    /// next status answer (which names the state itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_with: Option<u32>,
}

impl ModuleReadiness {
    /// The errorCode the module would answer `outCheck` with in this state, if it refuses checks.
    /// Only a state the module itself reported counts: an unknown or unreachable module is
    /// still asked, since the race's deadline bounds that anyway.
    pub fn refusal(&self) -> Option<u32> {
        if self.refused_with.is_some() {
            return self.refused_with;
        }
        match self.status.as_deref()? {
            "not_configured" | "initialization" => Some(NOT_READY),
            "sync_error" => Some(SYNC_LOST),
            _ => None,
        }
    }
}

/// The shared slot the watcher writes and checks read.
#[derive(Debug, Default)]
pub(crate) struct ReadinessCell {
    state: Mutex<ModuleReadiness>,
    watching: std::sync::atomic::AtomicBool,
}

impl ReadinessCell {
    pub fn get(&self) -> ModuleReadiness {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn set(&self, change: impl FnOnce(&mut ModuleReadiness)) {
        if let Ok(mut state) = self.state.lock() {
            change(&mut state);
        }
    }

    /// An `outCheck` answered with 4045/4050: believe it until the next poll says otherwise.
    pub fn refused(&self, error_code: u32) {
        self.set(|s| s.refused_with = Some(error_code));
    }

    /// True exactly once: the caller starts the watcher.
    pub fn claim_watch(&self) -> bool {
        !self
            .watching
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    }
}

/// One poll: asks the module and records what it said. Returns when to poll next.
pub(crate) async fn poll(inner: &Inner) -> Duration {
    let Some(module) = &inner.module else {
        return POLL_EVERY;
    };
    let answer = match tokio::time::timeout(STATUS_TIMEOUT, module.lifecycle()).await {
        Ok(answer) => answer,
        Err(_) => Err(crate::module::ModuleError::Unreachable(format!(
            "no status answer within {STATUS_TIMEOUT:?}"
        ))),
    };
    let now = inner.clock.now_ms();
    match answer {
        Ok((api, raw)) => match raw.get("status").and_then(Value::as_str) {
            Some(status) => {
                let status = status.to_owned();
                let before = inner.readiness.get().status;
                if before.as_deref() != Some(status.as_str()) {
                    tracing::info!(%status, api, "local module status");
                }
                inner.readiness.set(|s| {
                    s.status = Some(status);
                    s.api = Some(api);
                    s.checked_at_ms = Some(now);
                    s.error = None;
                    s.refused_with = None;
                });
                POLL_EVERY
            }
            None => {
                let error = format!("status answer has no `status`: {raw}");
                inner.readiness.set(|s| s.error = Some(error));
                POLL_AFTER_ERROR
            }
        },
        Err(err) => {
            tracing::warn!(%err, "local module status unavailable");
            inner.readiness.set(|s| s.error = Some(err.to_string()));
            POLL_AFTER_ERROR
        }
    }
}

/// Polls for as long as the checker exists (it holds only a weak reference).
pub(crate) fn spawn_watch(inner: &Arc<Inner>) {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    tokio::spawn(async move {
        loop {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let wait = poll(&inner).await;
            drop(inner);
            tokio::time::sleep(wait).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_reported_not_ready_state_refuses() {
        let with = |status: Option<&str>| ModuleReadiness {
            status: status.map(str::to_owned),
            ..ModuleReadiness::default()
        };
        assert_eq!(with(Some("not_configured")).refusal(), Some(4045));
        assert_eq!(with(Some("initialization")).refusal(), Some(4045));
        assert_eq!(with(Some("sync_error")).refusal(), Some(4050));
        assert_eq!(with(Some("ready")).refusal(), None);
        assert_eq!(with(Some("failure")).refusal(), None);
        assert_eq!(with(None).refusal(), None);
    }
}
