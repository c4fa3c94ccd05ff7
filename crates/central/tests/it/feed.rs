//! `_changes` streamed: without `limit` the whole feed (equal to its pages one after another),
//! and `feed=continuous` (rows as they commit, heartbeats, `timeout`, `limit`).

use central::issue::IssueSpec;
use protocol::replication::{Change, ChangesResponse};
use serde_json::{Value, json};

use crate::harness::start;
use crate::replication::{Source, source};

/// Lines of a streamed answer, as they arrive (`""` for a heartbeat).
struct Lines {
    response: reqwest::Response,
    pending: Vec<u8>,
}

impl Lines {
    fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        Self {
            response,
            pending: Vec::new(),
        }
    }

    /// The next line; `None` when the answer ended.
    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=at).collect();
                return Some(String::from_utf8_lossy(&line[..at]).into_owned());
            }
            match self.response.chunk().await.expect("body") {
                Some(chunk) => self.pending.extend_from_slice(&chunk),
                None => {
                    assert!(self.pending.is_empty(), "a line without its newline");
                    return None;
                }
            }
        }
    }

    /// The next line that is not a heartbeat, as JSON.
    async fn row(&mut self) -> Value {
        loop {
            let line = self.next().await.expect("a line before the end");
            if !line.is_empty() {
                return serde_json::from_str(&line).expect("a JSON line");
            }
        }
    }
}

async fn issue_blocked(src_emu: &crate::harness::Emulator, count: usize) -> Vec<String> {
    let spec = IssueSpec {
        pg: 8,
        count,
        block: Some(vec!["RPN".into()]),
        ..IssueSpec::default()
    };
    src_emu.admin.issue(&spec).await.expect("issue")
}

fn ki(km: &str) -> String {
    marking::MarkingCode::parse(km).expect("a code").ki()
}

fn row_key(c: &Change) -> (String, String, bool, Option<Value>) {
    (c.seq.to_query(), c.id.clone(), c.deleted, c.doc.clone())
}

async fn all_pages(src: &Source, limit: usize) -> Vec<Change> {
    let mut since = "0".to_string();
    let mut rows = Vec::new();
    loop {
        let page = src
            .changes(
                "blocked_cis",
                &format!("since={since}&limit={limit}&include_docs=true"),
            )
            .await;
        if page.results.is_empty() {
            return rows;
        }
        since = page.last_seq.to_query();
        rows.extend(page.results);
    }
}

#[tokio::test]
async fn without_a_limit_the_feed_is_whole_and_equals_its_pages() {
    let emu = start(1).await;
    let src = source(&emu).await;
    let kms = issue_blocked(&emu, 2_500).await;
    // Deletions and re-blocks move documents to the end of the feed.
    emu.admin
        .unblock(kms[..100].to_vec())
        .await
        .expect("unblock");
    emu.admin
        .block(kms[50..60].to_vec(), Some(vec!["FNS".into()]))
        .await
        .expect("block");

    let response = src
        .open("/blocked_cis/_changes?since=0&include_docs=true")
        .await;
    assert_eq!(response.status(), 200);
    // Streamed: no length known up front.
    assert_eq!(response.content_length(), None);
    let whole: ChangesResponse = response.json().await.expect("one JSON object");
    assert_eq!(whole.results.len(), 2_500);
    assert_eq!(whole.last_seq.to_query(), "2610");
    assert_eq!(whole.pending, Some(0));
    assert_eq!(whole.results.iter().filter(|c| c.deleted).count(), 90);

    let paged = all_pages(&src, 333).await;
    let whole_rows: Vec<_> = whole.results.iter().map(row_key).collect();
    let paged_rows: Vec<_> = paged.iter().map(row_key).collect();
    assert_eq!(whole_rows, paged_rows);

    // A limit still cuts the feed and says what is left.
    let page = src.changes("blocked_cis", "since=0&limit=1000").await;
    assert_eq!(page.results.len(), 1_000);
    assert_eq!(page.last_seq, whole.results[999].seq);
    let last: u64 = page.last_seq.to_query().parse().expect("a number");
    assert_eq!(page.pending, Some(2610 - last));
}

#[tokio::test]
async fn continuous_shows_changes_as_they_happen_and_ends_at_its_limit_or_timeout() {
    let emu = start(1).await;
    let src = source(&emu).await;
    let first = issue_blocked(&emu, 1).await;
    // A long timeout: this feed ends at its limit (3 rows), whatever the machine's speed.
    let mut feed = Lines::new(
        src.open(
            "/blocked_cis/_changes?feed=continuous&since=0&limit=3&timeout=300000&include_docs=true",
        )
        .await,
    );
    let row = feed.row().await;
    assert_eq!(
        (&row["seq"], &row["doc"]["ogvs"]),
        (&json!(1), &json!(["RPN"]))
    );
    // Each change reaches the open feed once it is committed.
    let second = issue_blocked(&emu, 1).await;
    let row = feed.row().await;
    assert_eq!(
        (&row["seq"], &row["id"]),
        (&json!(2), &json!(ki(&second[0])))
    );
    emu.admin.unblock(first.clone()).await.expect("unblock");
    let row = feed.row().await;
    assert_eq!((&row["seq"], &row["deleted"]), (&json!(3), &json!(true)));
    assert_eq!(row["doc"]["_deleted"], json!(true));
    assert_eq!(feed.row().await, json!({"last_seq": 3, "pending": 0}));
    assert_eq!(feed.next().await, None);

    // A limit cuts the existing rows too, and says what is left.
    let mut feed = Lines::new(
        src.open("/blocked_cis/_changes?feed=continuous&since=1&limit=1")
            .await,
    );
    assert_eq!(feed.row().await["seq"], json!(2));
    assert_eq!(feed.row().await, json!({"last_seq": 2, "pending": 1}));
    assert_eq!(feed.next().await, None);

    // Without changes the feed ends once `timeout` ms pass: the last line names where it is.
    let mut feed = Lines::new(
        src.open("/blocked_cis/_changes?feed=continuous&since=now&timeout=50")
            .await,
    );
    assert_eq!(feed.row().await, json!({"last_seq": 3, "pending": 0}));
    assert_eq!(feed.next().await, None);
}

#[tokio::test]
async fn a_heartbeat_keeps_a_continuous_feed_open_past_its_timeout() {
    let emu = start(1).await;
    let src = source(&emu).await;
    // CouchDB: the heartbeat (a newline every N ms) overrides the timeout.
    let mut feed = Lines::new(
        src.open("/blocked_cis/_changes?feed=continuous&since=now&timeout=1&heartbeat=20")
            .await,
    );
    for _ in 0..3 {
        assert_eq!(feed.next().await.as_deref(), Some(""));
    }
    let later = issue_blocked(&emu, 1).await;
    let row = feed.row().await;
    assert_eq!(
        (&row["seq"], &row["id"]),
        (&json!(1), &json!(ki(&later[0])))
    );
    drop(feed);

    for query in [
        "feed=eventsource",
        "heartbeat=soon",
        "heartbeat=0",
        "limit=-1",
    ] {
        let (status, body) = src.get(&format!("/blocked_cis/_changes?{query}")).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("bad_request")),
            "{query}"
        );
    }
}
