use super::*;

fn one_host(s: &mut CdnState) {
    s.ensure_hosts(&["https://a".into()]);
}

#[test]
fn update_persists_and_is_seen_by_another_handle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub/state.json");
    let one = SharedState::open(&path).expect("opens");
    let two = SharedState::open(&path).expect("opens");
    assert_eq!(two.read(), CdnState::default());
    one.update(one_host);
    assert_eq!(two.read().hosts[0].url, "https://a");
}

#[test]
fn concurrent_updates_from_threads_are_not_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    SharedState::open(&path).expect("opens").update(one_host);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let state = SharedState::open(&path).expect("opens");
            std::thread::spawn(move || {
                for _ in 0..10 {
                    state.update(|s| s.hosts[0].misses += 1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let state = SharedState::open(&path).expect("opens").read();
    assert_eq!(state.hosts[0].misses, 80);
}

#[test]
fn a_damaged_file_is_replaced_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    fs::write(&path, b"{not json").expect("writes");
    let state = SharedState::open(&path).expect("opens");
    assert_eq!(state.read(), CdnState::default());
    state.update(|s| s.enter_emergency(1));
    assert!(
        SharedState::open(&path)
            .expect("opens")
            .read()
            .emergency
            .is_some()
    );
}

#[test]
fn an_update_that_changes_nothing_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = SharedState::open(&dir.path().join("state.json")).expect("opens");
    state.update(one_host);
    assert_eq!(state.writes(), 1);
    for _ in 0..100 {
        state.update(|s| s.record_answer("https://a"));
        state.update(|s| s.pick(1).map(|p| p.url));
    }
    assert_eq!(state.writes(), 1);
}

#[tokio::test(start_paused = true)]
async fn changes_in_a_burst_go_to_the_file_in_one_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    let state = SharedState::open(&path).expect("opens");
    state.update(one_host);
    for _ in 0..50 {
        state.update(|s| s.hosts[0].misses += 1);
    }
    // The in-memory view has every change at once; the file gets them later, in one write.
    assert_eq!(state.read().hosts[0].misses, 50);
    state.flush().expect("flushes");
    assert_eq!(state.writes(), 1);
    let other = SharedState::open(&path).expect("opens");
    assert_eq!(other.read().hosts[0].misses, 50);
}

#[tokio::test(start_paused = true)]
async fn pending_changes_merge_with_another_process_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    let seed = SharedState::open(&path).expect("opens");
    seed.update(|s| s.ensure_hosts(&["https://a".into(), "https://b".into()]));
    seed.flush().expect("flushes");

    let mine = SharedState::open(&path).expect("opens");
    mine.update(|s| s.block("https://a", 1));
    // Another till blocks the other host and writes at once.
    std::thread::spawn(move || {
        let theirs = SharedState::open(&path).expect("opens");
        theirs.update(|s| s.block("https://b", 2));
        theirs.flush().expect("flushes");
    })
    .join()
    .expect("thread");
    // Their write is seen (the file changed), with our pending change replayed on it.
    let seen = mine.read();
    assert!(seen.hosts[0].blocked_until_ms.is_some());
    assert!(seen.hosts[1].blocked_until_ms.is_some());
    mine.flush().expect("flushes");
    let file = SharedState::open(seed.path()).expect("opens").read();
    assert!(file.hosts.iter().all(|h| h.blocked_until_ms.is_some()));
}

#[tokio::test(start_paused = true)]
async fn update_now_decides_on_the_file_under_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    let one = SharedState::open(&path).expect("opens");
    let two = SharedState::open(&path).expect("opens");
    assert!(
        one.update_now(|s| s.take_refresh_lease(10))
            .expect("leases")
    );
    assert!(!two.update_now(|s| s.take_refresh_lease(11)).expect("reads"));
}

#[test]
fn dropping_the_last_handle_writes_what_is_pending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let state = SharedState::open(&path).expect("opens");
        runtime.block_on(async { state.update(one_host) });
        // The runtime goes before the coalescing delay ran out: the last handle writes on drop.
        drop(runtime);
    }
    assert_eq!(
        SharedState::open(&path).expect("opens").read().hosts[0].url,
        "https://a"
    );
}
