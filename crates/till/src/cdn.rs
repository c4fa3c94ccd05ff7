//! CDN host selection, blacklisting and refresh (protocol.md §1.5), as a pure state machine.
//! Every method takes the current time in Unix milliseconds, so the rules are tested with a
//! hand-moved clock; the state is plain data, persisted and shared by all tills
//! ([`crate::shared_state`]).

use serde::{Deserialize, Serialize};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// Consecutive requests without an answer in 1.5 s that block a host.
pub const MISS_LIMIT: u32 = 3;
/// How long a host stays blocked, and how much longer after a failed health probe.
pub const BLOCK_MS: i64 = 15 * MINUTE_MS;
/// The list is refreshed 6 h after a successful `cdn/info` …
pub const REFRESH_BASE_MS: i64 = 6 * HOUR_MS;
/// … plus a random 0–10 min …
pub const REFRESH_JITTER_MAX_MS: i64 = 10 * MINUTE_MS;
/// … and never later than 7 h.
pub const REFRESH_LATEST_MS: i64 = 7 * HOUR_MS;
/// After a failed refresh the cached list stays; the next attempt comes this much later.
pub const REFRESH_RETRY_MS: i64 = 5 * MINUTE_MS;
/// One process refreshes at a time; its claim expires after this long.
pub const REFRESH_LEASE_MS: i64 = 30_000;
/// Checks stay off this long after the operator's announced end of an emergency.
pub const EMERGENCY_TAIL_MS: i64 = 3 * 24 * HOUR_MS;

/// The production hosts to use when `cdn/info` never answered (protocol.md §1.1).
pub fn builtin_fallback() -> Vec<String> {
    (1..=11)
        .map(|n| format!("https://cdn{n:02}.crpt.ru"))
        .collect()
}

/// One CDN host as the tills see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// Base URL (scheme + host [+ port]).
    pub url: String,
    /// Latency measured by our own health check; `None` when never measured.
    pub latency_ms: Option<u64>,
    /// Consecutive requests without an answer within the deadline.
    pub misses: u32,
    /// Blocked until this time; after it the host is probed before use.
    pub blocked_until_ms: Option<i64>,
}

impl HostState {
    fn new(url: String, latency_ms: Option<u64>) -> Self {
        Self {
            url,
            latency_ms,
            misses: 0,
            blocked_until_ms: None,
        }
    }
}

/// Emergency mode (HTTP 203 seen): checks are off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emergency {
    pub since_ms: i64,
}

/// The host chosen for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub url: String,
    /// Every host was blocked: the marks were cleared and a refresh is due now.
    pub cleared_all: bool,
}

/// Everything the tills share about the operator's service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdnState {
    /// Ordered by measured latency, fastest first.
    pub hosts: Vec<HostState>,
    /// Last successful `cdn/info`; `None`: the list is the fallback.
    pub fetched_at_ms: Option<i64>,
    pub next_refresh_ms: Option<i64>,
    pub refresh_lease_until_ms: Option<i64>,
    pub emergency: Option<Emergency>,
    /// Last failed `cdn/info`: "all hosts blocked" does not force another attempt before
    /// [`REFRESH_RETRY_MS`] has passed, so a dead link is not hammered once per check.
    #[serde(default)]
    pub refresh_failed_at_ms: Option<i64>,
}

impl CdnState {
    /// Uses `fallback` while no list was ever fetched and none is cached.
    pub fn ensure_hosts(&mut self, fallback: &[String]) {
        if self.hosts.is_empty() {
            self.hosts = fallback
                .iter()
                .map(|u| HostState::new(u.clone(), None))
                .collect();
        }
    }

    /// True when the list should be fetched again and no other till is doing it.
    pub fn refresh_due(&self, now: i64) -> bool {
        let due = self.next_refresh_ms.is_none_or(|t| t <= now);
        let leased = self.refresh_lease_until_ms.is_some_and(|t| t > now);
        due && !leased
    }

    /// Claims the refresh for this process; false when another holds it or it is not due.
    pub fn take_refresh_lease(&mut self, now: i64) -> bool {
        if !self.refresh_due(now) {
            return false;
        }
        self.refresh_lease_until_ms = Some(now + REFRESH_LEASE_MS);
        true
    }

    /// A successful `cdn/info` plus our health checks: `(url, measured latency)`, `None` for
    /// a host whose check failed (blocked for 15 min). `jitter_ms` is the random 0–10 min.
    pub fn apply_refresh(
        &mut self,
        measured: Vec<(String, Option<u64>)>,
        now: i64,
        jitter_ms: i64,
    ) {
        let mut hosts: Vec<HostState> = measured
            .into_iter()
            .map(|(url, latency)| {
                let mut host = HostState::new(url, latency);
                if latency.is_none() {
                    host.blocked_until_ms = Some(now + BLOCK_MS);
                }
                host
            })
            .collect();
        sort_by_latency(&mut hosts);
        self.hosts = hosts;
        self.fetched_at_ms = Some(now);
        let delay = REFRESH_BASE_MS + jitter_ms.clamp(0, REFRESH_JITTER_MAX_MS);
        self.next_refresh_ms = Some(now + delay.min(REFRESH_LATEST_MS));
        self.refresh_lease_until_ms = None;
        self.refresh_failed_at_ms = None;
    }

    /// `cdn/info` failed: keep the cached list and try again later.
    pub fn refresh_failed(&mut self, now: i64) {
        self.next_refresh_ms = Some(now + REFRESH_RETRY_MS);
        self.refresh_lease_until_ms = None;
        self.refresh_failed_at_ms = Some(now);
    }

    /// The fastest host not blocked. When every host is blocked, the marks are cleared and a
    /// refresh is made due (protocol.md §1.5; unless one failed less than
    /// [`REFRESH_RETRY_MS`] ago), and the fastest host is used.
    pub fn pick(&mut self, now: i64) -> Option<Pick> {
        if let Some(host) = self.hosts.iter().find(|h| h.blocked_until_ms.is_none()) {
            return Some(Pick {
                url: host.url.clone(),
                cleared_all: false,
            });
        }
        let first = self.hosts.first()?.url.clone();
        for host in &mut self.hosts {
            host.blocked_until_ms = None;
            host.misses = 0;
        }
        if self
            .refresh_failed_at_ms
            .is_none_or(|t| now - t >= REFRESH_RETRY_MS)
        {
            self.next_refresh_ms = Some(now);
        }
        Some(Pick {
            url: first,
            cleared_all: true,
        })
    }

    /// The host after `url` in priority order that is not blocked.
    pub fn next_after(&self, url: &str) -> Option<String> {
        let start = self.hosts.iter().position(|h| h.url == url)? + 1;
        self.hosts[start..]
            .iter()
            .find(|h| h.blocked_until_ms.is_none())
            .map(|h| h.url.clone())
    }

    /// A request got no answer within the deadline; true when this blocked the host.
    pub fn record_miss(&mut self, url: &str, now: i64) -> bool {
        let Some(host) = self.host_mut(url) else {
            return false;
        };
        host.misses += 1;
        if host.misses >= MISS_LIMIT {
            host.misses = 0;
            host.blocked_until_ms = Some(now + BLOCK_MS);
            return true;
        }
        false
    }

    /// Any answer resets the miss counter.
    pub fn record_answer(&mut self, url: &str) {
        if let Some(host) = self.host_mut(url) {
            host.misses = 0;
        }
    }

    /// Repeated 429/5xx, or unreachable: blocked for 15 min.
    pub fn block(&mut self, url: &str, now: i64) {
        if let Some(host) = self.host_mut(url) {
            host.misses = 0;
            host.blocked_until_ms = Some(now + BLOCK_MS);
        }
    }

    /// Hosts whose block has run out: they are probed before they are used again.
    pub fn hosts_to_probe(&self, now: i64) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| h.blocked_until_ms.is_some_and(|t| t <= now))
            .map(|h| h.url.clone())
            .collect()
    }

    /// The result of a health probe: an answer unblocks and re-ranks, none blocks again.
    pub fn probe_result(&mut self, url: &str, latency_ms: Option<u64>, now: i64) {
        let Some(host) = self.host_mut(url) else {
            return;
        };
        match latency_ms {
            Some(latency) => {
                host.blocked_until_ms = None;
                host.misses = 0;
                host.latency_ms = Some(latency);
                sort_by_latency(&mut self.hosts);
            }
            None => host.blocked_until_ms = Some(now + BLOCK_MS),
        }
    }

    pub fn enter_emergency(&mut self, now: i64) {
        if self.emergency.is_none() {
            self.emergency = Some(Emergency { since_ms: now });
        }
    }

    pub fn leave_emergency(&mut self) {
        self.emergency = None;
    }

    /// Whether checks are off. With the operator's announced end configured, they stay off
    /// until 3 days after it (and the flag is dropped then); without it, until the service
    /// answers normally.
    pub fn emergency_active(&mut self, now: i64, announced_end_ms: Option<i64>) -> bool {
        if self.emergency.is_none() {
            return false;
        }
        match announced_end_ms {
            Some(end) if now >= end + EMERGENCY_TAIL_MS => {
                self.emergency = None;
                false
            }
            _ => true,
        }
    }

    fn host_mut(&mut self, url: &str) -> Option<&mut HostState> {
        self.hosts.iter_mut().find(|h| h.url == url)
    }
}

fn sort_by_latency(hosts: &mut [HostState]) {
    hosts.sort_by_key(|h| h.latency_ms.unwrap_or(u64::MAX));
}

#[cfg(test)]
#[path = "cdn_tests.rs"]
mod tests;
