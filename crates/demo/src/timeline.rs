//! The printed timeline: elapsed time since the start, a section marker, and a line.

use std::io::Write;
use std::time::Instant;

/// Writes timestamped lines to any writer (stdout for the CLI, a buffer in tests).
pub struct Timeline<W: Write> {
    start: Instant,
    out: W,
}

impl<W: Write> Timeline<W> {
    pub fn new(out: W) -> Self {
        Timeline {
            start: Instant::now(),
            out,
        }
    }

    /// A section heading.
    pub fn section(&mut self, title: &str) {
        let _ = writeln!(self.out, "\n== {title}");
    }

    /// One event, prefixed with the time since the demo started.
    pub fn event(&mut self, text: impl AsRef<str>) {
        let ms = self.start.elapsed().as_millis();
        let _ = writeln!(
            self.out,
            "[{:>3}.{:03}s] {}",
            ms / 1000,
            ms % 1000,
            text.as_ref()
        );
        let _ = self.out.flush();
    }

    /// A detail line under the last event.
    pub fn detail(&mut self, text: impl AsRef<str>) {
        let _ = writeln!(self.out, "            {}", text.as_ref());
    }

    pub fn elapsed_ms(&self) -> u128 {
        self.start.elapsed().as_millis()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}
