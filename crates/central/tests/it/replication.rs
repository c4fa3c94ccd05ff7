//! The list source: registration, Basic auth, `_changes` order, resume, deletions, longpoll,
//! `_local` checkpoints, restarts.

use std::time::Duration;

use protocol::registration::RegisterResponse;
use protocol::replication::{ChangesResponse, Seq};
use serde_json::{Value, json};

use crate::harness::{Emulator, INN, start, start_in};

pub async fn register(emu: &Emulator) -> RegisterResponse {
    let response = emu
        .http
        .post(format!("{}/lm/v1/register", emu.main))
        .json(&json!({"token": emu.token}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 200);
    response.json().await.expect("registration")
}

pub struct Source {
    pub reg: RegisterResponse,
    pub http: reqwest::Client,
}

impl Source {
    /// `GET {path}` with the module's credentials, the answer unread (for streamed feeds).
    pub async fn open(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.reg.replication.url))
            .basic_auth(
                &self.reg.replication.username,
                Some(&self.reg.replication.password),
            )
            .send()
            .await
            .expect("GET")
    }
}

impl Source {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.reg.replication.url))
            .basic_auth(
                &self.reg.replication.username,
                Some(&self.reg.replication.password),
            )
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }

    pub async fn changes(&self, db: &str, query: &str) -> ChangesResponse {
        let (status, body) = self.get(&format!("/{db}/_changes?{query}")).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).expect("changes shape")
    }
}

pub async fn source(emu: &Emulator) -> Source {
    Source {
        reg: register(emu).await,
        http: emu.http.clone(),
    }
}

fn rows(feed: &ChangesResponse) -> Vec<(String, bool)> {
    feed.results
        .iter()
        .map(|c| (c.id.clone(), c.deleted))
        .collect()
}

#[tokio::test]
async fn registration_hands_out_working_credentials() {
    let emu = start(1).await;
    let reg = register(&emu).await;
    assert_eq!(reg.inn, INN);
    assert_eq!(reg.inst.len(), 36);
    assert_eq!(reg.replication.url, format!("{}/replication", emu.main));
    assert_eq!(reg.replication.databases.blocked_cis, "blocked_cis");

    let url = format!("{}/blocked_cis", reg.replication.url);
    let anonymous = emu.http.get(&url).send().await.expect("GET");
    assert_eq!(anonymous.status(), 401);
    let wrong = emu
        .http
        .get(&url)
        .basic_auth(&reg.replication.username, Some("nope"))
        .send()
        .await
        .expect("GET");
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(body["error"], "unauthorized");

    let bad = emu
        .http
        .post(format!("{}/lm/v1/register", emu.main))
        .json(&json!({"token": "x"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(bad.status(), 401);
    let bad = emu
        .http
        .post(format!("{}/lm/v1/register", emu.main))
        .body("{")
        .send()
        .await
        .expect("POST");
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn feed_shows_exactly_the_admin_changes_in_order_and_resumes_anywhere() {
    let emu = start(1).await;
    let src = source(&emu).await;
    let spec = central::issue::IssueSpec {
        pg: 8,
        count: 4,
        ..Default::default()
    };
    let codes = emu.admin.issue(&spec).await.expect("issue");
    let kis: Vec<String> = codes.iter().map(|c| marking::ki(c).expect("ki")).collect();

    emu.admin
        .block(
            vec![codes[0].clone(), codes[1].clone()],
            Some(vec!["RPN".into()]),
        )
        .await
        .expect("block");
    emu.admin
        .block(vec![kis[2].clone()], None)
        .await
        .expect("block");
    emu.admin
        .unblock(vec![kis[0].clone()])
        .await
        .expect("unblock");
    emu.admin
        .block(vec![kis[3].clone()], Some(vec!["FNS".into()]))
        .await
        .expect("block");

    let feed = src
        .changes("blocked_cis", "since=0&include_docs=true")
        .await;
    let expected = vec![
        (kis[1].clone(), false),
        (kis[2].clone(), false),
        (kis[0].clone(), true),
        (kis[3].clone(), false),
    ];
    assert_eq!(rows(&feed), expected);
    assert_eq!(feed.last_seq, Seq::Number(5));
    assert_eq!(feed.pending, Some(0));
    let doc = feed.results[0].doc.as_ref().expect("doc");
    assert_eq!(doc["_id"], json!(kis[1]));
    assert_eq!(doc["gtin"], json!(&kis[1][2..16]));
    assert_eq!(doc["ogvs"], json!(["RPN"]));
    assert!(
        feed.results[1]
            .doc
            .as_ref()
            .expect("doc")
            .get("ogvs")
            .is_none()
    );
    assert_eq!(feed.results[2].doc.as_ref().expect("doc")["_deleted"], true);

    // Resume from every seq the feed handed out: the rest of the feed, in order.
    for (i, change) in feed.results.iter().enumerate() {
        let since = change.seq.to_query();
        let rest = src.changes("blocked_cis", &format!("since={since}")).await;
        assert_eq!(rows(&rest), expected[i + 1..].to_vec(), "since={since}");
        assert!(rest.results.iter().all(|c| c.doc.is_none()));
    }
    // Paging with limit walks the same feed.
    let mut since = "0".to_string();
    let mut paged = Vec::new();
    loop {
        let page = src
            .changes(
                "blocked_cis",
                &format!("since={since}&limit=1&style=all_docs"),
            )
            .await;
        if page.results.is_empty() {
            break;
        }
        paged.extend(rows(&page));
        since = page.last_seq.to_query();
    }
    assert_eq!(paged, expected);

    // grey_gtin follows: one GTIN, created once.
    let grey = src.changes("grey_gtin", "since=0").await;
    assert_eq!(rows(&grey), vec![(kis[0][2..16].to_string(), false)]);

    // Prices and GTIN blocks have their own feeds.
    let gtin = kis[0][2..16].to_string();
    emu.admin
        .price(vec![gtin.clone()], Some(20000), Some(15000))
        .await
        .expect("price");
    emu.admin
        .block_gtin(vec![gtin.clone()], Some(vec!["FTS".into()]))
        .await
        .expect("block gtin");
    emu.admin
        .unblock_gtin(vec![gtin.clone()])
        .await
        .expect("unblock gtin");
    let prices = src.changes("min_price", "include_docs=true").await;
    let doc = prices.results[0].doc.as_ref().expect("doc");
    assert_eq!((&doc["mrp"], &doc["smp"]), (&json!(20000), &json!(15000)));
    let gtins = src.changes("blocked_gtin", "").await;
    assert_eq!(rows(&gtins), vec![(gtin.clone(), true)]);

    let (status, info) = src.get("/blocked_cis").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            &info["doc_count"],
            &info["update_seq"],
            &info["doc_del_count"]
        ),
        (&json!(3), &json!(5), &json!(1))
    );
    let (status, doc) = src
        .get(&format!("/blocked_cis/{}", urlencode(&kis[1])))
        .await;
    assert_eq!((status, &doc["_id"]), (200, &json!(kis[1])));
    let (status, doc) = src
        .get(&format!("/blocked_cis/{}", urlencode(&kis[0])))
        .await;
    assert_eq!((status, &doc["reason"]), (404, &json!("deleted")));
    let (status, _) = src.get("/blocked_series").await;
    assert_eq!(status, 404);
    let (status, body) = src.get("/blocked_cis/_changes?since=banana").await;
    assert_eq!((status, &body["error"]), (400, &json!("bad_request")));
}

fn urlencode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn longpoll_waits_for_a_change_or_the_timeout() {
    let emu = start(1).await;
    let src = source(&emu).await;
    let started = tokio::time::Instant::now();
    let quiet = src
        .changes("blocked_cis", "feed=longpoll&since=0&timeout=30000")
        .await;
    assert!(quiet.results.is_empty());
    assert!(started.elapsed() >= Duration::from_secs(30));

    let waiting = tokio::spawn(async move {
        src.changes(
            "blocked_cis",
            "feed=longpoll&since=now&timeout=60000&include_docs=true",
        )
        .await
    });
    // Virtual time: the longpoll is parked on the server well before this returns.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let woke_at = tokio::time::Instant::now();
    emu.admin
        .block(vec!["0104670540176099215'W9Um".into()], None)
        .await
        .expect("block");
    let feed = waiting.await.expect("join");
    assert_eq!(
        rows(&feed),
        vec![("0104670540176099215'W9Um".to_string(), false)]
    );
    assert!(
        woke_at.elapsed() < Duration::from_secs(50),
        "longpoll waited for its timeout"
    );
}

#[tokio::test]
async fn local_checkpoints_and_everything_survive_a_restart() {
    let emu = start(1).await;
    let src = source(&emu).await;
    emu.admin
        .block(vec!["0104670540176099215'W9Um".into()], None)
        .await
        .expect("block");
    let put = emu
        .http
        .put(format!(
            "{}/blocked_cis/_local/abc",
            src.reg.replication.url
        ))
        .basic_auth(
            &src.reg.replication.username,
            Some(&src.reg.replication.password),
        )
        .json(&json!({"last_seq": 1, "session_id": "s"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status(), 201);
    let answer: Value = put.json().await.expect("json");
    assert_eq!(
        (&answer["ok"], &answer["id"], &answer["rev"]),
        (&json!(true), &json!("_local/abc"), &json!("0-1"))
    );
    // A write that does not name the stored revision is a conflict, as in CouchDB.
    let url = format!("{}/blocked_cis/_local/abc", src.reg.replication.url);
    for (body, status) in [
        (json!({"last_seq": 2}), 409),
        (json!({"last_seq": 2, "_rev": "0-9"}), 409),
        (json!({"last_seq": 1, "_rev": "0-1"}), 201),
        (json!({"last_seq": 1, "_rev": "0-1"}), 409),
    ] {
        let put = emu
            .http
            .put(&url)
            .basic_auth(
                &src.reg.replication.username,
                Some(&src.reg.replication.password),
            )
            .json(&body)
            .send()
            .await
            .expect("PUT");
        assert_eq!(put.status().as_u16(), status, "{body}");
        let answer: Value = put.json().await.expect("json");
        if status == 409 {
            assert_eq!(answer["error"], json!("conflict"), "{answer}");
        }
    }

    let token = emu.token.clone();
    let mut reg = src.reg.clone();
    let dir = emu.stop().await;
    let emu = start_in(dir, 1).await;
    // New ports after the restart; the credentials are the old ones.
    reg.replication.url = format!("{}/replication", emu.main);
    let src = Source {
        reg,
        http: emu.http.clone(),
    };
    let (status, doc) = src.get("/blocked_cis/_local/abc").await;
    assert_eq!(
        (status, &doc["last_seq"], &doc["_rev"]),
        (200, &json!(1), &json!("0-2"))
    );
    let feed = src.changes("blocked_cis", "since=0").await;
    assert_eq!(feed.results.len(), 1);
    let (status, _) = emu
        .get(&format!("{}/api/v4/true-api/cdn/info", emu.main))
        .await;
    assert_eq!(status, 200);
    let old_token = emu
        .http
        .get(format!("{}/api/v4/true-api/cdn/info", emu.main))
        .header("X-API-KEY", token)
        .send()
        .await
        .expect("GET");
    assert_eq!(old_token.status(), 200);
}
