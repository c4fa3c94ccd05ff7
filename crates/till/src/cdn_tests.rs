//! The CDN rules of protocol.md §1.5 driven by a hand-moved clock (Unix ms).

use super::*;

const T0: i64 = 1_700_000_000_000;

fn measured(list: &[(&str, Option<u64>)]) -> Vec<(String, Option<u64>)> {
    list.iter().map(|(u, l)| ((*u).to_owned(), *l)).collect()
}

fn three_hosts() -> CdnState {
    let mut state = CdnState::default();
    state.apply_refresh(
        measured(&[
            ("https://a", Some(400)),
            ("https://b", Some(300)),
            ("https://c", Some(500)),
        ]),
        T0,
        0,
    );
    state
}

fn order(state: &CdnState) -> Vec<&str> {
    state.hosts.iter().map(|h| h.url.as_str()).collect()
}

#[test]
fn ordered_by_measured_latency() {
    let state = three_hosts();
    assert_eq!(order(&state), ["https://b", "https://a", "https://c"]);
}

#[test]
fn fallback_only_when_nothing_cached() {
    let mut state = CdnState::default();
    state.ensure_hosts(&builtin_fallback());
    assert_eq!(state.hosts.len(), 11);
    assert_eq!(state.hosts[0].url, "https://cdn01.crpt.ru");
    assert_eq!(state.hosts[10].url, "https://cdn11.crpt.ru");
    let mut cached = three_hosts();
    cached.ensure_hosts(&builtin_fallback());
    assert_eq!(cached.hosts.len(), 3);
}

#[test]
fn refresh_between_6h_and_6h10m_never_after_7h() {
    for jitter in [0, 1, 299_999, 600_000] {
        let mut state = CdnState::default();
        state.apply_refresh(measured(&[("https://a", Some(1))]), T0, jitter);
        let next = state.next_refresh_ms.expect("scheduled");
        assert_eq!(next - T0, REFRESH_BASE_MS + jitter);
        assert!(!state.refresh_due(next - 1));
        assert!(state.refresh_due(next));
    }
    let mut state = CdnState::default();
    state.apply_refresh(measured(&[("https://a", Some(1))]), T0, 5 * 3_600_000);
    let next = state.next_refresh_ms.expect("scheduled");
    assert!(next - T0 <= REFRESH_LATEST_MS);
    assert_eq!(next - T0, REFRESH_BASE_MS + REFRESH_JITTER_MAX_MS);
}

#[test]
fn failed_refresh_keeps_the_cached_list() {
    let mut state = three_hosts();
    state.refresh_failed(T0 + REFRESH_BASE_MS);
    assert_eq!(order(&state), ["https://b", "https://a", "https://c"]);
    assert_eq!(state.fetched_at_ms, Some(T0));
    assert_eq!(
        state.next_refresh_ms,
        Some(T0 + REFRESH_BASE_MS + REFRESH_RETRY_MS)
    );
}

#[test]
fn one_refresher_at_a_time() {
    let mut state = CdnState::default();
    assert!(state.take_refresh_lease(T0));
    assert!(!state.take_refresh_lease(T0 + 1));
    assert!(state.take_refresh_lease(T0 + REFRESH_LEASE_MS));
}

#[test]
fn three_misses_block_for_15_minutes_then_probe_decides() {
    let mut state = three_hosts();
    assert!(!state.record_miss("https://b", T0));
    assert!(!state.record_miss("https://b", T0 + 1));
    assert!(state.record_miss("https://b", T0 + 2));
    assert_eq!(
        state.pick(T0 + 3).map(|p| p.url).as_deref(),
        Some("https://a")
    );
    // Still blocked one ms before the 15 min are over; not probed either.
    assert!(state.hosts_to_probe(T0 + 2 + BLOCK_MS - 1).is_empty());
    // Due for a probe afterwards, but not used until a probe answered.
    let later = T0 + 2 + BLOCK_MS;
    assert_eq!(state.hosts_to_probe(later), ["https://b"]);
    assert_eq!(
        state.pick(later).map(|p| p.url).as_deref(),
        Some("https://a")
    );
    // Failed probe: another 15 min.
    state.probe_result("https://b", None, later);
    assert!(state.hosts_to_probe(later + BLOCK_MS - 1).is_empty());
    // Successful probe: unblocked and re-ranked by the new latency.
    state.probe_result("https://b", Some(450), later + BLOCK_MS);
    assert_eq!(order(&state), ["https://a", "https://b", "https://c"]);
    assert_eq!(
        state.pick(later + BLOCK_MS).map(|p| p.url).as_deref(),
        Some("https://a")
    );
}

#[test]
fn an_answer_resets_the_miss_count() {
    let mut state = three_hosts();
    state.record_miss("https://b", T0);
    state.record_miss("https://b", T0);
    state.record_answer("https://b");
    assert!(!state.record_miss("https://b", T0));
    assert!(!state.record_miss("https://b", T0));
    assert!(state.record_miss("https://b", T0));
}

#[test]
fn failover_order_skips_blocked_hosts() {
    let mut state = three_hosts();
    state.block("https://a", T0);
    assert_eq!(state.next_after("https://b").as_deref(), Some("https://c"));
    assert_eq!(state.next_after("https://c"), None);
}

#[test]
fn all_blocked_clears_marks_and_makes_refresh_due() {
    let mut state = three_hosts();
    for url in ["https://a", "https://b", "https://c"] {
        state.block(url, T0);
    }
    assert!(!state.refresh_due(T0 + 1));
    let pick = state.pick(T0 + 1).expect("a host");
    assert!(pick.cleared_all);
    assert_eq!(pick.url, "https://b");
    assert!(state.hosts.iter().all(|h| h.blocked_until_ms.is_none()));
    assert!(state.refresh_due(T0 + 1));
}

#[test]
fn all_blocked_right_after_a_failed_refresh_waits_for_the_retry() {
    let mut state = three_hosts();
    state.refresh_failed(T0);
    for url in ["https://a", "https://b", "https://c"] {
        state.block(url, T0);
    }
    assert!(state.pick(T0 + 1).expect("a host").cleared_all);
    assert!(
        !state.refresh_due(T0 + 1),
        "the failed refresh is not repeated at once"
    );
    for url in ["https://a", "https://b", "https://c"] {
        state.block(url, T0 + REFRESH_RETRY_MS);
    }
    state.pick(T0 + REFRESH_RETRY_MS).expect("a host");
    assert!(state.refresh_due(T0 + REFRESH_RETRY_MS));
}

#[test]
fn failed_health_check_at_refresh_blocks_that_host() {
    let mut state = CdnState::default();
    state.apply_refresh(
        measured(&[("https://a", None), ("https://b", Some(9))]),
        T0,
        0,
    );
    assert_eq!(order(&state), ["https://b", "https://a"]);
    state.block("https://b", T0);
    let pick = state.pick(T0).expect("a host");
    assert!(pick.cleared_all, "a was blocked by its failed health check");
}

#[test]
fn emergency_without_announced_end_lasts_until_a_normal_answer() {
    let mut state = three_hosts();
    state.enter_emergency(T0);
    assert!(state.emergency_active(T0 + 30 * 24 * 3_600_000, None));
    state.leave_emergency();
    assert!(!state.emergency_active(T0, None));
}

#[test]
fn emergency_ends_three_days_after_the_announced_end() {
    let mut state = three_hosts();
    state.enter_emergency(T0);
    let end = T0 + 3_600_000;
    assert!(state.emergency_active(end + EMERGENCY_TAIL_MS - 1, Some(end)));
    assert!(!state.emergency_active(end + EMERGENCY_TAIL_MS, Some(end)));
    assert_eq!(state.emergency, None);
}

#[test]
fn state_survives_json() {
    let mut state = three_hosts();
    state.record_miss("https://b", T0);
    state.enter_emergency(T0);
    let text = serde_json::to_string(&state).expect("writes");
    let back: CdnState = serde_json::from_str(&text).expect("reads");
    assert_eq!(back, state);
}
