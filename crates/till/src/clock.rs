//! Wall-clock time as Unix milliseconds, injectable so the time rules can be tested.

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of "now" in Unix milliseconds. The CDN state is shared between processes, so it
/// is kept in wall-clock time rather than monotonic instants.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// Wall-clock time that moves with tokio's clock: `base` plus the tokio time elapsed since
/// creation. Under `tokio::time::pause` it advances exactly as the paused clock does.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base_ms: i64,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(base_ms: i64) -> Self {
        Self {
            base_ms,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        self.base_ms + self.start.elapsed().as_millis() as i64
    }
}
