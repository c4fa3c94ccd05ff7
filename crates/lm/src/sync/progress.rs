//! Progress of a pull: documents received against the count the source announced, and a rate,
//! so an admin sees "37 % of blocked_cis, 2.1 M docs/min, ~4 min left" instead of waiting blind.

/// Progress of one database's current pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Documents received in this pull (all of them, mapped or not).
    pub received: u64,
    /// Documents the source holds (`doc_count` of `GET /{db}` when the pull started).
    pub expected: u64,
    /// Unix ms when this pull started.
    pub started_ms: u64,
    /// Unix ms of the last batch.
    pub updated_ms: u64,
}

impl Progress {
    /// A pull starting at `now` towards `expected` documents.
    pub fn start(expected: u64, now: u64) -> Progress {
        Progress {
            received: 0,
            expected,
            started_ms: now,
            updated_ms: now,
        }
    }

    /// Records `docs` more received at `now`.
    pub fn add(&mut self, docs: u64, now: u64) {
        self.received += docs;
        self.updated_ms = now;
    }

    /// Percent done (0–100), when the source announced a count.
    pub fn percent(&self) -> Option<f64> {
        (self.expected > 0)
            .then(|| (self.received as f64 * 100.0 / self.expected as f64).min(100.0))
    }

    /// Documents per minute since the pull started.
    pub fn docs_per_minute(&self) -> f64 {
        let elapsed = self.updated_ms.saturating_sub(self.started_ms);
        if elapsed == 0 {
            return 0.0;
        }
        self.received as f64 * 60_000.0 / elapsed as f64
    }

    /// Estimated ms left at the current rate.
    pub fn eta_ms(&self) -> Option<u64> {
        let rate = self.docs_per_minute();
        if rate <= 0.0 || self.expected == 0 {
            return None;
        }
        let left = self.expected.saturating_sub(self.received) as f64;
        Some((left / rate * 60_000.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rate_and_eta_follow_the_clock() {
        let mut progress = Progress::start(1_000_000, 0);
        assert_eq!(progress.docs_per_minute(), 0.0);
        assert_eq!(progress.eta_ms(), None);
        progress.add(250_000, 30_000);
        assert_eq!(progress.percent(), Some(25.0));
        assert_eq!(progress.docs_per_minute(), 500_000.0);
        assert_eq!(progress.eta_ms(), Some(90_000));
    }

    #[test]
    fn unknown_total_gives_no_percent() {
        let mut progress = Progress::start(0, 0);
        progress.add(10, 1000);
        assert_eq!(progress.percent(), None);
        assert_eq!(progress.eta_ms(), None);
    }
}
