//! Per-till counters keyed by `X-ClientId` (the fiscal drive number), for logs and metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// Distinct client ids remembered; later ones are counted under [`OVERFLOW_CLIENT`] so a caller
/// inventing ids cannot grow memory without bound.
pub const MAX_CLIENTS: usize = 4096;
/// Key of requests without `X-ClientId`.
pub const ANONYMOUS_CLIENT: &str = "";
/// Key of requests from clients beyond [`MAX_CLIENTS`].
pub const OVERFLOW_CLIENT: &str = "(other)";
/// Longest client id kept as sent; longer ones are cut.
const MAX_ID_LEN: usize = 64;
/// Checks remembered per till for the admin page.
pub const RECENT_CHECKS: usize = 20;

/// What a check of one KI came to, as metrics and the admin page count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// In no list, not sold.
    Ok,
    /// In a list (`isBlocked`).
    Blocked,
    /// Not blocked, but in the sold DB (a repeat sale).
    Sold,
    /// Not a marking code.
    Invalid,
    /// Refused: the module is not ready (4045/4050).
    NotReady,
}

impl Verdict {
    /// Every verdict, in the order of [`ClientSnapshot::by_verdict`].
    pub const ALL: [Verdict; 5] = [
        Verdict::Ok,
        Verdict::Blocked,
        Verdict::Sold,
        Verdict::Invalid,
        Verdict::NotReady,
    ];

    /// The label value of metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Blocked => "blocked",
            Verdict::Sold => "sold",
            Verdict::Invalid => "invalid",
            Verdict::NotReady => "not_ready",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One check as the admin page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentCheck {
    /// Unix ms of the answer.
    pub at_ms: u64,
    /// The KI (or what was sent, cut to 64 characters, when it was not one).
    pub ki: String,
    pub verdict: Verdict,
}

/// Counters of one till.
#[derive(Debug, Default)]
pub struct ClientCounters {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Requests answered with a 4xx/5xx status.
    pub errors: AtomicU64,
    /// KIs checked (`outCheck`, `cis/check`).
    pub checked: AtomicU64,
    /// KIs checked, by [`Verdict`] (index = position in [`Verdict::ALL`]).
    by_verdict: [AtomicU64; Verdict::ALL.len()],
    /// The last [`RECENT_CHECKS`] checks, oldest first.
    recent: Mutex<VecDeque<RecentCheck>>,
}

impl ClientCounters {
    /// Counts one checked KI and remembers it among the recent ones.
    pub fn record(&self, verdict: Verdict, ki: &str, at_ms: u64) {
        self.checked.fetch_add(1, Ordering::Relaxed);
        self.by_verdict[verdict.index()].fetch_add(1, Ordering::Relaxed);
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        if recent.len() >= RECENT_CHECKS {
            recent.pop_front();
        }
        recent.push_back(RecentCheck {
            at_ms,
            ki: cut(ki).to_owned(),
            verdict,
        });
    }
}

/// A copy of one till's counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientSnapshot {
    pub client_id: String,
    pub requests: u64,
    pub errors: u64,
    pub checked: u64,
    /// Checked KIs by verdict, in the order of [`Verdict::ALL`].
    pub by_verdict: [u64; Verdict::ALL.len()],
    /// The last checks, newest first.
    pub recent: Vec<RecentCheck>,
}

/// Counters of every till seen.
#[derive(Debug, Default)]
pub struct ClientStats {
    by_client: RwLock<HashMap<String, std::sync::Arc<ClientCounters>>>,
}

impl ClientStats {
    /// The counters of `client_id`, created on first sight.
    pub fn counters(&self, client_id: &str) -> std::sync::Arc<ClientCounters> {
        let client_id = cut(client_id);
        if let Ok(map) = self.by_client.read()
            && let Some(counters) = map.get(client_id)
        {
            return counters.clone();
        }
        let Ok(mut map) = self.by_client.write() else {
            return std::sync::Arc::default();
        };
        let key = if map.len() >= MAX_CLIENTS && !map.contains_key(client_id) {
            OVERFLOW_CLIENT
        } else {
            client_id
        };
        map.entry(key.to_owned()).or_default().clone()
    }

    /// Every till's counters, sorted by client id.
    pub fn snapshot(&self) -> Vec<ClientSnapshot> {
        let Ok(map) = self.by_client.read() else {
            return Vec::new();
        };
        let mut all: Vec<ClientSnapshot> = map
            .iter()
            .map(|(client_id, counters)| ClientSnapshot {
                client_id: client_id.clone(),
                requests: counters.requests.load(Ordering::Relaxed),
                errors: counters.errors.load(Ordering::Relaxed),
                checked: counters.checked.load(Ordering::Relaxed),
                by_verdict: Verdict::ALL
                    .map(|verdict| counters.by_verdict[verdict.index()].load(Ordering::Relaxed)),
                recent: counters
                    .recent
                    .lock()
                    .map(|recent| recent.iter().rev().cloned().collect())
                    .unwrap_or_default(),
            })
            .collect();
        all.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        all
    }
}

fn cut(client_id: &str) -> &str {
    if client_id.len() <= MAX_ID_LEN {
        return client_id;
    }
    let mut end = MAX_ID_LEN;
    while !client_id.is_char_boundary(end) {
        end -= 1;
    }
    &client_id[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_client_and_caps_distinct_ids() {
        let stats = ClientStats::default();
        stats
            .counters("9999078900001234")
            .requests
            .fetch_add(2, Ordering::Relaxed);
        stats
            .counters("9999078900001234")
            .checked
            .fetch_add(5, Ordering::Relaxed);
        for n in 0..MAX_CLIENTS + 10 {
            stats
                .counters(&format!("fn-{n}"))
                .requests
                .fetch_add(1, Ordering::Relaxed);
        }
        let all = stats.snapshot();
        assert_eq!(all.len(), MAX_CLIENTS + 1);
        let till = all
            .iter()
            .find(|c| c.client_id == "9999078900001234")
            .unwrap();
        assert_eq!((till.requests, till.checked), (2, 5));
        let other = all.iter().find(|c| c.client_id == OVERFLOW_CLIENT).unwrap();
        assert_eq!(other.requests, 11);
    }

    #[test]
    fn verdicts_are_counted_and_recent_checks_kept_newest_first() {
        let stats = ClientStats::default();
        let till = stats.counters("fn-1");
        for n in 0..RECENT_CHECKS as u64 + 5 {
            till.record(Verdict::Ok, &format!("ki-{n}"), n);
        }
        till.record(Verdict::Sold, "ki-sold", 100);
        let snapshot = &stats.snapshot()[0];
        assert_eq!(snapshot.checked, RECENT_CHECKS as u64 + 6);
        assert_eq!(snapshot.by_verdict, [RECENT_CHECKS as u64 + 5, 0, 1, 0, 0]);
        assert_eq!(snapshot.recent.len(), RECENT_CHECKS);
        assert_eq!(snapshot.recent[0].ki, "ki-sold");
        assert_eq!(snapshot.recent[1].ki, format!("ki-{}", RECENT_CHECKS + 4));
    }

    #[test]
    fn long_ids_are_cut_on_a_char_boundary() {
        let long = "ж".repeat(40);
        assert!(cut(&long).len() <= MAX_ID_LEN);
        assert!(long.starts_with(cut(&long)));
    }
}
