//! `GET /metrics` scraped over a real socket from the real module fed by the emulator: every
//! line must parse as the Prometheus text format, and the values must follow what happened.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lm::api::{ApiState, Auth};
use serde_json::json;

use crate::support::{
    FAST, FakeBackend, admin, basic, ki, quick_serve_config, start_emulator, start_lm, start_with,
};

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reader of the text format 0.0.4: `# HELP`, `# TYPE` (once per family, before its
/// samples), samples `name{label="value",...} number` whose name belongs to a declared family,
/// cumulative histogram buckets ending in `+Inf` = `_count`. Panics naming the bad line.
fn parse_exposition(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    assert!(
        text.ends_with('\n'),
        "the exposition must end with a newline"
    );
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut samples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest
                .split_once(' ')
                .unwrap_or_else(|| fail(number + 1, line, "HELP without text"));
            if !valid_name(name) || !helped.insert(name.to_owned()) {
                fail(number + 1, line, "bad or repeated HELP");
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .unwrap_or_else(|| fail(number + 1, line, "TYPE without kind"));
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                fail(number + 1, line, "unknown type");
            }
            if !valid_name(name) || types.insert(name.to_owned(), kind.to_owned()).is_some() {
                fail(number + 1, line, "bad or repeated TYPE");
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            fail(number + 1, line, "unexpected comment or empty line");
        }
        let sample = parse_sample(line).unwrap_or_else(|why| fail(number + 1, line, &why));
        let family = family_of(&sample.name, &types)
            .unwrap_or_else(|| fail(number + 1, line, "sample of no declared family"));
        if types[&family] == "counter" && sample.value < 0.0 {
            fail(number + 1, line, "negative counter");
        }
        samples.push(sample);
    }
    check_histograms(&types, &samples);
    (types, samples)
}

fn fail(number: usize, line: &str, why: &str) -> ! {
    panic!("line {number}: {why}: {line:?}")
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn family_of(name: &str, types: &BTreeMap<String, String>) -> Option<String> {
    if types.contains_key(name) {
        return Some(name.to_owned());
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        (types.get(base).map(String::as_str) == Some("histogram")).then(|| base.to_owned())
    })
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or("no value after the metric name")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            let start = chars.peek().map(|(i, _)| *i).ok_or("unterminated labels")?;
            if inner[start..].starts_with('}') {
                rest = &inner[start + 1..];
                break;
            }
            let eq = inner[start..].find("=\"").ok_or("label without =\"")? + start;
            let label = &inner[start..eq];
            if !valid_name(label) || label.contains(':') {
                return Err(format!("bad label name {label:?}"));
            }
            while chars.peek().is_some_and(|(i, _)| *i < eq + 2) {
                chars.next();
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")? {
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => return Err(format!("bad escape \\{other}")),
                    },
                    (_, '"') => break,
                    (_, '\n') => return Err("raw newline in a label value".into()),
                    (_, c) => value.push(c),
                }
            }
            if labels.insert(label.to_owned(), value).is_some() {
                return Err(format!("label {label} twice"));
            }
            match chars.peek() {
                Some((_, ',')) => {
                    chars.next();
                }
                Some((_, '}')) => {}
                _ => return Err("labels must be separated by ','".into()),
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        text => text
            .parse::<f64>()
            .map_err(|_| format!("value {text:?} is not a number"))?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn check_histograms(types: &BTreeMap<String, String>, samples: &[Sample]) {
    for (family, _) in types.iter().filter(|(_, kind)| *kind == "histogram") {
        let buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
            .collect();
        let last = buckets.last().expect("a histogram has buckets");
        assert_eq!(last.labels["le"], "+Inf", "{family}: last bucket is +Inf");
        let mut previous = (f64::NEG_INFINITY, 0.0);
        for bucket in &buckets {
            let le: f64 = match bucket.labels["le"].as_str() {
                "+Inf" => f64::INFINITY,
                text => text.parse().expect("le is a number"),
            };
            assert!(
                le > previous.0 && bucket.value >= previous.1,
                "{family}: {bucket:?}"
            );
            previous = (le, bucket.value);
        }
        let count = samples
            .iter()
            .find(|s| s.name == format!("{family}_count"))
            .expect("_count");
        assert_eq!(count.value, last.value, "{family}: _count = +Inf bucket");
        assert!(samples.iter().any(|s| s.name == format!("{family}_sum")));
    }
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

async fn scrape(http: &reqwest::Client, base: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let response = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse_exposition(&response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_follow_checks_tills_sync_and_auth_failures() {
    let emulator = start_emulator().await;
    let blocked = ki(11, "5MeTrB1");
    let clean = ki(11, "5MeTrC1");
    let sold = ki(11, "5MeTrS1");
    emulator
        .admin
        .block(vec![blocked.clone()], None)
        .await
        .unwrap();
    let lm = start_lm(&emulator.url, FAST).await;

    let (_, before) = scrape(&lm.http, &lm.base).await;
    assert_eq!(
        value(&before, "znak_lm_status", &[("state", "not_configured")]),
        Some(1.0)
    );
    assert_eq!(
        value(&before, "znak_lm_status", &[("state", "ready")]),
        Some(0.0)
    );
    assert_eq!(value(&before, "znak_lm_seconds_since_last_sync", &[]), None);

    lm.init(&emulator.token, false).await;
    lm.post("/api/v2/cis/sell", json!({"cis_list": [sold]}))
        .await;
    let check = |till: &'static str, cis: &str| {
        lm.http
            .post(format!("{}/api/v2/cis/outCheck", lm.base))
            .header("Authorization", admin())
            .header("X-ClientId", till)
            .json(&json!({"cis_list": [{"cis": cis}]}))
            .send()
    };
    for cis in [&clean, &clean, &blocked] {
        assert_eq!(check("9999078900001111", cis).await.unwrap().status(), 200);
    }
    assert_eq!(
        check("9999078900002222", &sold).await.unwrap().status(),
        200
    );
    assert_eq!(
        check("9999078900002222", "not a code")
            .await
            .unwrap()
            .status(),
        200
    );
    let refused = lm
        .http
        .get(format!("{}/api/v2/cis/sold", lm.base))
        .header("Authorization", basic("admin", "wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let anonymous = lm
        .http
        .post(format!("{}/api/v2/init", lm.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let (types, after) = scrape(&lm.http, &lm.base).await;
    for family in [
        "znak_lm_info",
        "znak_lm_status",
        "znak_lm_seconds_since_last_sync",
        "znak_lm_docs",
        "znak_lm_sync_rate_docs_per_second",
        "znak_lm_sync_progress_ratio",
        "znak_lm_sold_codes",
        "znak_lm_checks_total",
        "znak_lm_check_duration_seconds",
        "znak_lm_auth_failures_total",
    ] {
        assert!(types.contains_key(family), "family {family} missing");
    }
    assert_eq!(types["znak_lm_check_duration_seconds"], "histogram");
    assert_eq!(types["znak_lm_checks_total"], "counter");
    assert_eq!(
        value(&after, "znak_lm_status", &[("state", "ready")]),
        Some(1.0)
    );
    assert_eq!(
        value(&after, "znak_lm_status", &[("state", "not_configured")]),
        Some(0.0)
    );
    let till_a = [("client_id", "9999078900001111")];
    let result = |till: &'static str, result: &'static str| {
        value(
            &after,
            "znak_lm_checks_total",
            &[("client_id", till), ("result", result)],
        )
    };
    assert_eq!(result("9999078900001111", "ok"), Some(2.0));
    assert_eq!(result("9999078900001111", "blocked"), Some(1.0));
    assert_eq!(result("9999078900002222", "sold"), Some(1.0));
    assert_eq!(result("9999078900002222", "invalid"), Some(1.0));
    assert_eq!(
        result("9999078900002222", "ok"),
        None,
        "zero series are left out"
    );
    assert_eq!(value(&after, "znak_lm_requests_total", &till_a), Some(3.0));
    assert_eq!(
        value(&after, "znak_lm_check_duration_seconds_count", &[]),
        Some(5.0)
    );
    assert_eq!(value(&after, "znak_lm_auth_failures_total", &[]), Some(2.0));
    assert_eq!(value(&after, "znak_lm_sold_codes", &[]), Some(1.0));
    assert_eq!(
        value(&after, "znak_lm_docs", &[("db", "blocked_cis")]),
        Some(1.0)
    );
    assert_eq!(
        value(&after, "znak_lm_db_pulled", &[("db", "blocked_cis")]),
        Some(1.0)
    );
    let age = value(&after, "znak_lm_seconds_since_last_sync", &[]).expect("synced");
    assert!((0.0..600.0).contains(&age), "{age}");
    let info = after.iter().find(|s| s.name == "znak_lm_info").unwrap();
    assert_eq!(info.labels["inn"], "7700000001");
    assert!(!info.labels["inst"].is_empty());
}

#[tokio::test]
async fn metrics_can_require_basic_auth() {
    let mut state = ApiState::new(FakeBackend::ready(), Auth::new(None, vec![]));
    state.metrics_require_auth = true;
    let server = start_with(Arc::new(state), quick_serve_config()).await;
    let open = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 401);
    assert!(open.headers().contains_key("www-authenticate"));
    let authorised = server
        .http
        .get(server.url("/metrics"))
        .header("Authorization", admin())
        .send()
        .await
        .unwrap();
    assert_eq!(authorised.status(), 200);
    let (_, samples) = parse_exposition(&authorised.text().await.unwrap());
    assert_eq!(
        value(&samples, "znak_lm_auth_failures_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "znak_lm_status", &[("state", "ready")]),
        Some(1.0)
    );
}

#[test]
fn the_reader_rejects_malformed_lines() {
    for bad in [
        "# TYPE x gauge\nx{a=\"1\" 1\n",
        "# TYPE x gauge\nx 1 2 3\n",
        "y 1\n",
        "# TYPE x gauge\nx{a=1} 1\n",
        "# TYPE x gauge\nx{a=\"\\q\"} 1\n",
    ] {
        let outcome = std::panic::catch_unwind(|| parse_exposition(bad));
        assert!(outcome.is_err(), "accepted {bad:?}");
    }
    let (_, samples) = parse_exposition("# TYPE x gauge\nx{a=\"q\\\"\",b=\"\"} -1.5e3\n");
    assert_eq!(samples[0].labels["a"], "q\"");
    assert_eq!(samples[0].value, -1500.0);
}
