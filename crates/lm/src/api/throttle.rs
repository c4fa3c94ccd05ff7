//! Slows down guessing: every refused credential from one client address adds a debt of
//! [`ThrottlePolicy::forgive_every`]; debt drains in real time. While the debt exceeds
//! `allowed_failures` such steps the address gets 429 with `Retry-After` on every route that
//! needs credentials, before any credential is even looked at (so a right guess is not
//! revealed either). Time is tokio's, so tests drive it with `tokio::time::pause`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Addresses tracked at most; beyond it, addresses whose debt has drained are forgotten first.
const MAX_TRACKED: usize = 4096;

/// How many failures are free and how fast they are forgiven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures in a burst before 429.
    pub allowed_failures: u32,
    /// One failure is forgiven per this much time.
    pub forgive_every: Duration,
}

impl Default for ThrottlePolicy {
    /// 10 failures in a burst, then one try per 3 s.
    fn default() -> Self {
        ThrottlePolicy {
            allowed_failures: 10,
            forgive_every: Duration::from_secs(3),
        }
    }
}

/// Per-address failure debt.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    policy: ThrottlePolicy,
    /// Address → the instant its debt has drained.
    debt_until: Mutex<HashMap<IpAddr, Instant>>,
}

impl AuthThrottle {
    pub fn new(policy: ThrottlePolicy) -> AuthThrottle {
        AuthThrottle {
            policy,
            debt_until: Mutex::new(HashMap::new()),
        }
    }

    fn allowance(&self) -> Duration {
        self.policy.forgive_every * self.policy.allowed_failures
    }

    /// `Some(wait)` while `client` must wait before its next attempt.
    pub fn refused(&self, client: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let map = self
            .debt_until
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let debt = map.get(&client)?.saturating_duration_since(now);
        let over = debt.checked_sub(self.allowance())?;
        (!over.is_zero()).then_some(over)
    }

    /// Records one refused credential from `client`.
    pub fn failed(&self, client: IpAddr) {
        let now = Instant::now();
        let mut map = self
            .debt_until
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&client) {
            map.retain(|_, until| *until > now);
            if map.len() >= MAX_TRACKED {
                // Full of live debtors: the newcomer is not tracked rather than memory growing.
                return;
            }
        }
        let until = map.entry(client).or_insert(now);
        *until = (*until).max(now) + self.policy.forgive_every;
        if until.saturating_duration_since(now) > self.allowance() {
            tracing::warn!(%client, "repeated authorization failures: answering 429 for a while");
        }
    }

    /// Addresses currently tracked (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.debt_until.lock().map(|map| map.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 7));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 8));

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            allowed_failures: 3,
            forgive_every: Duration::from_secs(2),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn burst_is_allowed_then_refused_then_forgiven() {
        let throttle = AuthThrottle::new(policy());
        for _ in 0..3 {
            assert_eq!(throttle.refused(A), None);
            throttle.failed(A);
        }
        assert_eq!(throttle.refused(A), None, "exactly the allowance is free");
        throttle.failed(A);
        assert_eq!(throttle.refused(A), Some(Duration::from_secs(2)));
        assert_eq!(
            throttle.refused(B),
            None,
            "other addresses are not affected"
        );
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(throttle.refused(A), Some(Duration::from_millis(500)));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(throttle.refused(A), None);
        // Debt drains fully: after 3 × 2 s of quiet a full burst is free again.
        tokio::time::advance(Duration::from_secs(6)).await;
        for _ in 0..3 {
            throttle.failed(A);
        }
        assert_eq!(throttle.refused(A), None);
    }

    #[tokio::test(start_paused = true)]
    async fn persistent_guessing_only_gets_one_try_per_step() {
        let throttle = AuthThrottle::new(policy());
        let mut tries = 0;
        // One attempt per 100 ms for a minute: after the burst, one per 2 s gets through.
        for _ in 0..600 {
            if throttle.refused(A).is_none() {
                tries += 1;
                throttle.failed(A);
            }
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        assert!((30..=35).contains(&tries), "{tries} tries in 60 s");
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded() {
        let throttle = AuthThrottle::new(policy());
        for n in 0..(MAX_TRACKED as u32 + 100) {
            throttle.failed(IpAddr::V4(n.into()));
        }
        assert_eq!(throttle.tracked(), MAX_TRACKED);
        tokio::time::advance(Duration::from_secs(3)).await;
        throttle.failed(A);
        assert_eq!(
            throttle.tracked(),
            1,
            "drained addresses are forgotten first"
        );
    }
}
