//! `GET /metrics`: the module's state and counters in the Prometheus text format (0.0.4).
//!
//! Written by hand rather than through a metrics crate: nearly everything is read at scrape
//! time from the status snapshot and the per-till counters the API keeps anyway, so a registry
//! would only mirror them; and several module instances share one process (`[[instance]]`),
//! which a process-global recorder cannot tell apart.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use protocol::lm::ModuleState;

use super::auth::Scheme;
use super::backend::Backend;
use super::check;
use super::clients::Verdict;
use super::error::ApiError;
use super::{ApiState, clients};

/// `Content-Type` of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the check latency buckets: fine below the 1.5 s deadline of the
/// till, where the interesting part is.
pub const LATENCY_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0,
];

/// A lock-free latency histogram (Prometheus buckets are cumulative; these are not, and are
/// summed when written).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// One per bound, then one for +Inf.
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl LatencyHistogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = LATENCY_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// True for the routes whose latency is the check latency.
pub fn is_check_path(path: &str) -> bool {
    matches!(
        path,
        "/api/v2/cis/outCheck" | "/api/v1/cis/outCheck" | "/api/v1/cis/check"
    )
}

/// `GET /metrics`; open unless the module is configured to require Basic auth for it.
pub async fn scrape<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if state.metrics_require_auth {
        state.auth.check(&headers, Scheme::Basic).await?;
    }
    let text = render(&state)?;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

/// Every metric family as text.
pub fn render<M: Backend>(state: &ApiState<M>) -> Result<String, ApiError> {
    let snapshot = state.snapshot().map_err(check::module_error)?;
    let now = state.backend.now_ms();
    let mut out = Exposition::default();

    out.family(
        "znak_lm_info",
        "gauge",
        "The module: software version, instance and participant INN.",
    );
    out.sample(
        "znak_lm_info",
        &[
            ("version", &state.software_version),
            ("inst", &snapshot.inst),
            ("inn", &snapshot.inn),
        ],
        1.0,
    );
    out.family(
        "znak_lm_status",
        "gauge",
        "Lifecycle status: 1 for the current state, 0 for the others.",
    );
    for wire in STATES {
        let current = state_name(&snapshot.state) == wire;
        out.sample(
            "znak_lm_status",
            &[("state", wire)],
            f64::from(u8::from(current)),
        );
    }
    out.family("znak_lm_grey_mode", "gauge", "1 when grey-GTIN mode is on.");
    out.sample(
        "znak_lm_grey_mode",
        &[],
        f64::from(u8::from(snapshot.grey_mode)),
    );
    out.family(
        "znak_lm_last_sync_timestamp_seconds",
        "gauge",
        "Unix time of the last completed sync of every list (0 = never).",
    );
    out.sample(
        "znak_lm_last_sync_timestamp_seconds",
        &[],
        snapshot.last_sync as f64 / 1000.0,
    );
    out.family(
        "znak_lm_seconds_since_last_sync",
        "gauge",
        "Seconds since the last completed sync (absent before the first).",
    );
    if snapshot.last_sync > 0 {
        let age = now.saturating_sub(snapshot.last_sync) as f64 / 1000.0;
        out.sample("znak_lm_seconds_since_last_sync", &[], age);
    }

    out.family(
        "znak_lm_docs",
        "gauge",
        "Documents in the local copy of each active list.",
    );
    for db in &snapshot.dbs {
        out.sample("znak_lm_docs", &[("db", db.name)], db.local_count as f64);
    }
    out.family(
        "znak_lm_db_pulled",
        "gauge",
        "1 once the first full pull of the list completed.",
    );
    for db in &snapshot.dbs {
        out.sample(
            "znak_lm_db_pulled",
            &[("db", db.name)],
            f64::from(u8::from(db.pulled)),
        );
    }
    out.family(
        "znak_lm_sync_expected_docs",
        "gauge",
        "Documents still to pull when the running (or last) pull cycle started.",
    );
    out.family(
        "znak_lm_sync_received_docs",
        "gauge",
        "Documents received in the running (or last) pull.",
    );
    out.family(
        "znak_lm_sync_progress_ratio",
        "gauge",
        "Received / expected documents of the running (or last) pull cycle, 0 to 1 (absent when nothing was expected).",
    );
    out.family(
        "znak_lm_sync_rate_docs_per_second",
        "gauge",
        "Documents per second of the running (or last) pull.",
    );
    for db in &snapshot.dbs {
        let Some(progress) = db.progress else {
            continue;
        };
        let labels = [("db", db.name)];
        out.sample(
            "znak_lm_sync_expected_docs",
            &labels,
            progress.expected as f64,
        );
        out.sample(
            "znak_lm_sync_received_docs",
            &labels,
            progress.received as f64,
        );
        if let Some(percent) = progress.percent() {
            out.sample("znak_lm_sync_progress_ratio", &labels, percent / 100.0);
        }
        out.sample(
            "znak_lm_sync_rate_docs_per_second",
            &labels,
            progress.docs_per_minute() / 60.0,
        );
    }

    out.family("znak_lm_sold_codes", "gauge", "Codes in the sold DB.");
    if let Ok(count) = state.backend.sold_count() {
        out.sample("znak_lm_sold_codes", &[], count as f64);
    }

    let tills = state.clients.snapshot();
    out.family(
        "znak_lm_checks_total",
        "counter",
        "KIs checked, by till (X-ClientId, empty when not sent) and result.",
    );
    for till in &tills {
        for verdict in Verdict::ALL {
            let count = till.by_verdict[verdict as usize];
            if count > 0 {
                let labels = [
                    ("client_id", till.client_id.as_str()),
                    ("result", verdict.as_str()),
                ];
                out.sample("znak_lm_checks_total", &labels, count as f64);
            }
        }
    }
    out.family(
        "znak_lm_requests_total",
        "counter",
        "Requests answered, by till (X-ClientId).",
    );
    for till in &tills {
        out.sample(
            "znak_lm_requests_total",
            &[("client_id", till.client_id.as_str())],
            till.requests as f64,
        );
    }
    out.family(
        "znak_lm_request_errors_total",
        "counter",
        "Requests answered with a 4xx/5xx status, by till (X-ClientId).",
    );
    for till in &tills {
        out.sample(
            "znak_lm_request_errors_total",
            &[("client_id", till.client_id.as_str())],
            till.errors as f64,
        );
    }
    out.family(
        "znak_lm_tracked_tills",
        "gauge",
        "Distinct X-ClientId values counted (capped; later ones count as \"(other)\").",
    );
    out.sample(
        "znak_lm_tracked_tills",
        &[],
        tills.len().min(clients::MAX_CLIENTS + 1) as f64,
    );

    out.histogram(
        "znak_lm_check_duration_seconds",
        "Time to answer a check request (cis/outCheck, cis/check), seconds.",
        &state.check_latency,
    );

    out.family(
        "znak_lm_auth_failures_total",
        "counter",
        "Requests refused for missing or wrong credentials.",
    );
    out.sample(
        "znak_lm_auth_failures_total",
        &[],
        state.auth.failures() as f64,
    );
    Ok(out.text)
}

const STATES: [&str; 5] = [
    "not_configured",
    "initialization",
    "ready",
    "sync_error",
    "failure",
];

/// The wire name of a state.
pub fn state_name(state: &ModuleState) -> &'static str {
    match state {
        ModuleState::NotConfigured => "not_configured",
        ModuleState::Initialization => "initialization",
        ModuleState::Ready => "ready",
        ModuleState::SyncError => "sync_error",
        ModuleState::Failure => "failure",
        ModuleState::Unknown => "unknown",
    }
}

/// The text being written.
#[derive(Debug, Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    fn histogram(&mut self, name: &str, help: &str, histogram: &LatencyHistogram) {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (index, bound) in LATENCY_BOUNDS.iter().enumerate() {
            cumulative += histogram.buckets[index].load(Ordering::Relaxed);
            self.sample(&bucket, &[("le", &number(*bound))], cumulative as f64);
        }
        cumulative += histogram.buckets[LATENCY_BOUNDS.len()].load(Ordering::Relaxed);
        self.sample(&bucket, &[("le", "+Inf")], cumulative as f64);
        let sum = histogram.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        self.sample(&format!("{name}_sum"), &[], sum);
        // The count is the +Inf bucket, so the two agree within one scrape.
        self.sample(&format!("{name}_count"), &[], cumulative as f64);
    }
}

fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_in_the_text() {
        let histogram = LatencyHistogram::default();
        histogram.observe(Duration::from_micros(300));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(9));
        let mut out = Exposition::default();
        out.histogram("h", "help", &histogram);
        assert!(
            out.text.contains("h_bucket{le=\"0.0005\"} 1\n"),
            "{}",
            out.text
        );
        assert!(out.text.contains("h_bucket{le=\"0.005\"} 2\n"));
        assert!(out.text.contains("h_bucket{le=\"5\"} 2\n"));
        assert!(out.text.contains("h_bucket{le=\"+Inf\"} 3\n"));
        assert!(out.text.contains("h_count 3\n"));
        assert!(out.text.contains("h_sum 9.0033\n"));
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut out = Exposition::default();
        out.family("x", "gauge", "line\nbreak \\ here");
        out.sample("x", &[("client_id", "a\"b\\c\nd")], 1.5);
        assert_eq!(
            out.text,
            "# HELP x line\\nbreak \\\\ here\n# TYPE x gauge\nx{client_id=\"a\\\"b\\\\c\\nd\"} 1.5\n"
        );
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(0.0001), "0.0001");
    }
}
