//! Every `znak central admin` command as scripts use it, run through the real binary against a
//! running `znak central serve`; each effect is read back from the emulator's own HTTP answers
//! (codes/check on a CDN host, cdn/info on the main host), not from the admin API.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::emulator_cli::{Central, admin, admin_refused, admin_stdin, serve};

/// A client trusting the emulator's CA under `--tls`. A macro, because reqwest is no dependency
/// of this package, so its client type cannot be named here.
macro_rules! http {
    ($till:expr) => {
        match &$till.ca_file {
            Some(ca) => central::client::http_client_trusting(Path::new(ca)),
            None => central::client::http_client(),
        }
        .expect("HTTP client")
    };
}

/// The emulator's HTTP side as a till sees it.
struct Till {
    runtime: tokio::runtime::Runtime,
    ca_file: Option<String>,
    token: String,
}

impl Till {
    fn new(central: &Central) -> Till {
        let (out, _) = admin(central, &["token", "--inn", "7700000001"]);
        let token = out.lines().last().expect("token line").to_string();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        Till {
            runtime,
            ca_file: central.ca_file.clone(),
            token,
        }
    }

    /// codes/check of one code on `cdn`: (HTTP status, the code's item when 200).
    fn check(&self, cdn: &str, code: &str) -> (u16, Value) {
        // Issued codes are printed with the GS escaped; a till sends the real byte.
        let code = code.replace("\\u001d", "\u{1d}");
        self.runtime.block_on(async {
            let response = http!(self)
                .post(format!("{cdn}/api/v4/true-api/codes/check"))
                .header("X-API-KEY", &self.token)
                .json(&json!({ "codes": [code] }))
                .send()
                .await
                .expect("codes/check");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body["codes"][0].clone())
        })
    }

    fn item(&self, cdn: &str, code: &str) -> Value {
        let (status, item) = self.check(cdn, code);
        assert_eq!(status, 200, "codes/check {code}: {item}");
        item
    }

    fn cdn_info_status(&self, main: &str) -> u16 {
        self.runtime.block_on(async {
            http!(self)
                .get(format!("{main}/api/v4/true-api/cdn/info"))
                .header("X-API-KEY", &self.token)
                .send()
                .await
                .expect("cdn/info")
                .status()
                .as_u16()
        })
    }
}

/// Issues `count` codes of `pg` through `issue --out`; the codes and the stderr progress.
fn issue(central: &Central, dir: &Path, pg: &str, count: usize) -> (Vec<String>, String) {
    let out = dir.join(format!("{pg}.txt"));
    let count_arg = count.to_string();
    let (_, stderr) = admin(
        central,
        &[
            "issue",
            "--pg",
            pg,
            "--count",
            &count_arg,
            "--out",
            out.to_str().expect("path"),
        ],
    );
    let codes: Vec<String> = std::fs::read_to_string(&out)
        .expect("codes file")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(codes.len(), count);
    (codes, stderr)
}

fn ki(code: &str) -> String {
    marking::MarkingCode::parse(code).expect("a code").ki()
}

fn gtin(code: &str) -> String {
    marking::MarkingCode::parse(code)
        .expect("a code")
        .gtin()
        .to_string()
}

#[test]
fn code_commands_change_what_codes_check_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central = serve(&dir.path().join("data"), &[]);
    let till = Till::new(&central);
    let cdn = &central.cdn;

    let (milk, progress) = issue(&central, dir.path(), "milk", 4);
    assert!(progress.contains("issued 4/4"), "{progress}");
    let (tobacco, _) = issue(&central, dir.path(), "tobacco", 1);
    let (ncp, _) = issue(&central, dir.path(), "ncp", 1);
    assert_eq!(till.item(cdn, &milk[0])["isBlocked"], false);

    // issue without --out prints the codes; --status is what codes/check reports.
    let (printed, _) = admin(
        &central,
        &["issue", "--pg", "milk", "--count", "1", "--status", "sold"],
    );
    assert_eq!(till.item(cdn, printed.trim_end())["sold"], true);

    // sandbox: each printed code answers as its line says.
    let (sandbox, _) = admin(&central, &["sandbox"]);
    let blocked_case = sandbox
        .lines()
        .find(|line| line.ends_with(" isBlocked=true"))
        .expect("a blocked sandbox case");
    let km = blocked_case.split_whitespace().nth(1).expect("KM column");
    assert_eq!(till.item(cdn, km)["isBlocked"], true, "{blocked_case}");

    // block/unblock: KIs from stdin, from a file, and as arguments.
    let stdin = format!("{}\n\n{}\n", ki(&milk[0]), ki(&milk[1]));
    let (blocked, _) = admin_stdin(&central, &["block", "--ogv", "RPN", "--file", "-"], &stdin);
    assert!(blocked.starts_with("blocked: 2 of 2 changed"), "{blocked}");
    let item = till.item(cdn, &milk[1]);
    assert_eq!(
        (&item["isBlocked"], &item["ogvs"]),
        (&json!(true), &json!(["RPN"]))
    );
    let listed = dir.path().join("kis.txt");
    std::fs::write(&listed, format!("{}\n", ki(&milk[2]))).expect("write KIs");
    admin(
        &central,
        &["block", "--file", listed.to_str().expect("path")],
    );
    assert_eq!(till.item(cdn, &milk[2])["isBlocked"], true);
    let (unblocked, _) = admin(&central, &["unblock", &ki(&milk[0]), &ki(&milk[1])]);
    assert!(
        unblocked.starts_with("unblocked: 2 of 2 changed"),
        "{unblocked}"
    );
    assert_eq!(till.item(cdn, &milk[0])["isBlocked"], false);
    assert_eq!(till.item(cdn, &milk[2])["isBlocked"], true);
    admin(&central, &["unblock", &ki(&milk[2])]);

    // block-gtin reaches every code of the GTIN; unblock-gtin lifts it.
    admin(&central, &["block-gtin", &gtin(&milk[3]), "--ogv", "VETRF"]);
    let item = till.item(cdn, &milk[3]);
    assert_eq!(
        (&item["isBlocked"], &item["ogvs"]),
        (&json!(true), &json!(["VETRF"]))
    );
    admin(&central, &["unblock-gtin", &gtin(&milk[3])]);
    assert_eq!(till.item(cdn, &milk[3])["isBlocked"], false);

    // price: smp is tobacco's ЕМЦ, mrp the minimum price of nicotine products.
    let (priced, _) = admin(
        &central,
        &[
            "price",
            &gtin(&tobacco[0]),
            "--mrp",
            "20000",
            "--smp",
            "16000",
        ],
    );
    assert!(priced.starts_with("priced: 1 of 1"), "{priced}");
    assert_eq!(till.item(cdn, &tobacco[0])["smp"], 16000);
    admin(&central, &["price", &gtin(&ncp[0]), "--mrp", "31000"]);
    assert_eq!(till.item(cdn, &ncp[0])["mrp"], 31000);

    // sell: from stdin and as an argument.
    assert_eq!(till.item(cdn, &milk[0])["sold"], false);
    let (sold, _) = admin_stdin(
        &central,
        &["sell", "--file", "-"],
        &format!("{}\n", milk[0]),
    );
    assert!(sold.starts_with("sold: 1 of 1"), "{sold}");
    assert_eq!(till.item(cdn, &milk[0])["sold"], true);
    admin(&central, &["sell", &ki(&milk[1])]);
    assert_eq!(till.item(cdn, &milk[1])["sold"], true);
    assert_eq!(till.item(cdn, &milk[3])["sold"], false);
}

#[test]
fn fault_and_emergency_commands_change_the_hosts_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central = serve(dir.path(), &[]);
    let till = Till::new(&central);
    let (codes, _) = issue(&central, dir.path(), "milk", 1);
    let cdn = &central.cdn;

    admin(&central, &["fault", "--host", "1", "--mode", "429"]);
    assert_eq!(till.check(cdn, &codes[0]).0, 429);
    admin(&central, &["fault", "--host", "1", "--mode", "off"]);
    assert_eq!(till.check(cdn, &codes[0]).0, 200);
    admin(
        &central,
        &["fault", "--host", "1", "--mode", "delay", "--ms", "50"],
    );
    assert_eq!(till.check(cdn, &codes[0]).0, 200);
    admin(&central, &["fault", "--host", "1", "--mode", "off"]);

    assert_eq!(till.cdn_info_status(&central.main), 200);
    admin(&central, &["emergency", "on"]);
    assert_eq!(till.cdn_info_status(&central.main), 203);
    assert_eq!(till.check(cdn, &codes[0]).0, 203);
    admin(&central, &["emergency", "off"]);
    assert_eq!(till.cdn_info_status(&central.main), 200);
}

#[test]
fn tls_banner_names_the_ca_file_the_admin_and_a_till_trust() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central = serve(dir.path(), &["--tls"]);
    assert!(
        central.main.starts_with("https://127.0.0.1:"),
        "{}",
        central.main
    );
    assert!(
        central.cdn.starts_with("https://127.0.0.1:"),
        "{}",
        central.cdn
    );
    let ca_file = central.ca_file.clone().expect("a CA file line");
    assert!(Path::new(&ca_file).is_file(), "{ca_file}");

    // Till::new runs `admin --ca-file CA token` over HTTPS.
    let till = Till::new(&central);
    let (codes, _) = issue(&central, dir.path(), "milk", 1);
    assert_eq!(till.item(&central.cdn, &codes[0])["found"], true);
}

#[test]
fn bad_input_is_refused_with_a_message_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central = serve(dir.path(), &[]);
    admin_refused(
        &central,
        &["fault", "--host", "1", "--mode", "sideways"],
        "sideways",
    );
    admin_refused(
        &central,
        &["issue", "--pg", "milk", "--count", "many"],
        "--count",
    );
    admin_refused(
        &central,
        &["issue", "--pg", "milk", "--count", "0"],
        "--count 0",
    );
    admin_refused(&central, &["block", "not-a-code"], "not-a-code");
    admin_refused(&central, &["sell", "--file", "-"], "no values");
    admin_refused(
        &central,
        &["block", "--file", "/nonexistent/kis.txt"],
        "cannot read",
    );
    admin_refused(
        &central,
        &["fault", "--host", "1", "--mode", "delay"],
        "needs --ms",
    );
    admin_refused(
        &central,
        &["issue", "--pg", "milk", "--count", "1", "--status", "weird"],
        "--status weird",
    );
    admin_refused(
        &central,
        &["price", "123", "--mrp", "5"],
        "a GTIN is 14 digits",
    );
}

#[test]
fn bulk_commands_report_progress_per_chunk() {
    // The admin sends 100 000 values per request and prints a progress line per request only
    // past one request's worth, so one value more than a chunk gives two lines.
    let dir = tempfile::tempdir().expect("tempdir");
    let central = serve(&dir.path().join("data"), &[]);
    let till = Till::new(&central);
    let (codes, issued) = issue(&central, dir.path(), "milk", 100_001);
    assert!(issued.contains("issued 100000/100001"), "{issued}");
    assert!(issued.contains("issued 100001/100001"), "{issued}");

    let file = dir.path().join("milk.txt");
    let (blocked, progress) = admin(&central, &["block", "--file", file.to_str().expect("path")]);
    assert!(
        blocked.starts_with("blocked: 100001 of 100001"),
        "{blocked}"
    );
    assert!(progress.contains("blocked 100000/100001"), "{progress}");
    assert!(progress.contains("blocked 100001/100001"), "{progress}");
    // The last code went in the second request.
    assert_eq!(till.item(&central.cdn, &codes[100_000])["isBlocked"], true);
}
