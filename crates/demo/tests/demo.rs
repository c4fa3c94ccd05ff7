//! The demo runs end to end and shows every step it promises.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_plays_the_whole_story() {
    let mut out = Vec::new();
    let summary = demo::run(&mut out).await.expect("the demo succeeds");
    let text = String::from_utf8(out).expect("utf-8 timeline");
    assert_eq!(summary.checks, 8, "{text}");
    assert_eq!(summary.online, 4, "{text}");
    assert_eq!(summary.offline, 4, "{text}");
    assert_eq!(summary.refused, 4, "{text}");
    assert!(summary.blocked_synced >= 60_001, "{text}");
    for needle in [
        "status ready",
        "case 4:", // blocked, online and offline
        "case 3:", // repeat sale refused by the module's sold DB
        "case 7:", // tobacco not at its printed MRP
        "&Inst=",  // offline tag 1265 carries the module's instance
        "&Ver=",
        "the 1.5 s deadline decides",
        "the link is back",
    ] {
        assert!(text.contains(needle), "timeline lacks {needle:?}:\n{text}");
    }
}
