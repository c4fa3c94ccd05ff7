//! The decision table as data: one row per prohibition case and group scope, plus the
//! waivers and the offline subset.

use marking::MarkingCode;
use protocol::lm::ModuleCode;
use protocol::true_api::CodeInfo;
use time::macros::datetime;

use super::*;

const GENERIC: &str = "0104670540176099215'W9Um\u{1d}93dGVz";
const TOBACCO_PACK: &str = "04601653035829H;dV)bFACVUdGVz"; // MRP 145.00 in the code
const TOBACCO_BLOCK: &str = "010461013628057121/798DM%\u{1d}8005199000\u{1d}93dGVz"; // 1990.00
const NOW: PrimitiveDateTime = datetime!(2026-11-24 12:00:00);

fn healthy() -> CodeInfo {
    CodeInfo {
        cis: GENERIC.into(),
        found: true,
        valid: true,
        verified: true,
        realizable: true,
        utilised: true,
        sold: Some(false),
        is_blocked: Some(false),
        ..CodeInfo::default()
    }
}

struct Row {
    name: &'static str,
    code: &'static str,
    pg: Option<u16>,
    price: Option<u64>,
    change: fn(&mut CodeInfo),
    cases: &'static [u8],
}

fn blocked_by(info: &mut CodeInfo, who: &str) {
    info.is_blocked = Some(true);
    info.ogvs = Some(vec![who.into()]);
}

#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row { name: "healthy unit", code: GENERIC, pg: Some(8), price: Some(100), change: |_| {}, cases: &[] },
    Row { name: "1 not found", code: GENERIC, pg: None, price: None, change: |i| i.found = false, cases: &[1] },
    Row { name: "1 not applied", code: GENERIC, pg: Some(2), price: None, change: |i| i.utilised = false, cases: &[1] },
    Row { name: "2 not verified", code: GENERIC, pg: Some(1), price: None, change: |i| i.verified = false, cases: &[2] },
    Row { name: "3 sold", code: GENERIC, pg: Some(27), price: None, change: |i| { i.sold = Some(true); i.realizable = false }, cases: &[3] },
    Row { name: "4 blocked, no ogvs", code: GENERIC, pg: Some(2), price: None, change: |i| i.is_blocked = Some(true), cases: &[4] },
    Row { name: "4 blocked by FNS", code: GENERIC, pg: Some(13), price: None, change: |i| blocked_by(i, "FNS"), cases: &[4] },
    Row { name: "5 not realizable", code: GENERIC, pg: Some(1), price: None, change: |i| i.realizable = false, cases: &[5] },
    Row { name: "5 gray zone outside tobacco still forbids", code: GENERIC, pg: Some(1), price: None, change: |i| { i.realizable = false; i.gray_zone = Some(true) }, cases: &[5] },
    Row { name: "5 waived: tobacco in the gray zone", code: TOBACCO_PACK, pg: Some(3), price: Some(14500), change: |i| { i.realizable = false; i.gray_zone = Some(true) }, cases: &[] },
    Row { name: "5 tobacco without gray zone", code: TOBACCO_PACK, pg: Some(3), price: Some(14500), change: |i| i.realizable = false, cases: &[5] },
    Row { name: "6 expired dairy", code: GENERIC, pg: Some(8), price: None, change: |i| i.expire_date = Some("2026-11-24T11:59:59.000Z".into()), cases: &[6] },
    Row { name: "6 expires exactly now", code: GENERIC, pg: Some(15), price: None, change: |i| i.expire_date = Some("2026-11-24T12:00:00.000Z".into()), cases: &[6] },
    Row { name: "6 not yet expired (local time, no zone shift)", code: GENERIC, pg: Some(13), price: None, change: |i| i.expire_date = Some("2026-11-24T12:00:01.000Z".into()), cases: &[] },
    Row { name: "6 not an expiry group", code: GENERIC, pg: Some(1), price: None, change: |i| i.expire_date = Some("2020-01-01T00:00:00.000Z".into()), cases: &[] },
    Row { name: "6 caviar", code: GENERIC, pg: Some(21), price: None, change: |i| i.expire_date = Some("2022-12-22T12:16:00.000Z".into()), cases: &[6] },
    Row { name: "7 tobacco pack above MRP", code: TOBACCO_PACK, pg: Some(3), price: Some(15000), change: |_| {}, cases: &[7] },
    Row { name: "7 tobacco pack discounted", code: TOBACCO_PACK, pg: Some(3), price: Some(14000), change: |_| {}, cases: &[7] },
    Row { name: "7 tobacco block at MRP", code: TOBACCO_BLOCK, pg: Some(3), price: Some(199000), change: |_| {}, cases: &[] },
    Row { name: "7 tobacco block not at MRP", code: TOBACCO_BLOCK, pg: Some(3), price: Some(190000), change: |_| {}, cases: &[7] },
    Row { name: "8 pack below ЕМЦ", code: TOBACCO_PACK, pg: Some(3), price: Some(14500), change: |i| i.smp = Some(20000), cases: &[8] },
    Row { name: "8 block below ЕМЦ × packageQuantity", code: TOBACCO_BLOCK, pg: Some(3), price: Some(199000), change: |i| { i.smp = Some(20000); i.package_quantity = Some(10) }, cases: &[8] },
    Row { name: "8 block above ЕМЦ × packageQuantity", code: TOBACCO_BLOCK, pg: Some(3), price: Some(199000), change: |i| { i.smp = Some(19000); i.package_quantity = Some(10) }, cases: &[] },
    Row { name: "8 smp ignored outside tobacco", code: GENERIC, pg: Some(15), price: Some(100), change: |i| i.smp = Some(20000), cases: &[] },
    Row { name: "9 NCP below minimum", code: GENERIC, pg: Some(16), price: Some(19999), change: |i| i.mrp = Some(20000), cases: &[9] },
    Row { name: "9 NCP at minimum", code: GENERIC, pg: Some(16), price: Some(20000), change: |i| i.mrp = Some(20000), cases: &[] },
    Row { name: "10 alternative tobacco below minimum", code: GENERIC, pg: Some(12), price: Some(100), change: |i| i.mrp = Some(20000), cases: &[10] },
    Row { name: "mrp is no minimum outside 16 and 12", code: GENERIC, pg: Some(27), price: Some(100), change: |i| i.mrp = Some(20000), cases: &[] },
    Row { name: "11 RD on water", code: GENERIC, pg: Some(13), price: None, change: |i| blocked_by(i, "RD"), cases: &[11] },
    Row { name: "11 RD on clothing", code: GENERIC, pg: Some(1), price: None, change: |i| blocked_by(i, "RD"), cases: &[11] },
    Row { name: "11 RD outside its scope is a plain block", code: GENERIC, pg: Some(8), price: None, change: |i| blocked_by(i, "RD"), cases: &[4] },
    Row { name: "12 VETRF on dairy", code: GENERIC, pg: Some(8), price: None, change: |i| blocked_by(i, "VETRF"), cases: &[12] },
    Row { name: "12 VETRF on pet food", code: GENERIC, pg: Some(20), price: None, change: |i| blocked_by(i, "VETRF"), cases: &[12] },
    Row { name: "12 VETRF outside its scope is a plain block", code: GENERIC, pg: Some(15), price: None, change: |i| blocked_by(i, "VETRF"), cases: &[4] },
    Row { name: "several cases at once", code: GENERIC, pg: Some(8), price: None, change: |i| { i.found = false; i.verified = false; i.expire_date = Some("2020-01-01T00:00:00.000Z".into()) }, cases: &[1, 2, 6] },
];

#[test]
fn online_table() {
    for row in ROWS {
        let code = MarkingCode::parse(row.code).expect("fixture code parses");
        let mut info = healthy();
        (row.change)(&mut info);
        let sale = Sale {
            code: &code,
            pg: row.pg,
            price: row.price,
            local_time: NOW,
        };
        let verdict = decide_online(&info, &sale);
        let cases: Vec<u8> = verdict.violations.iter().map(|v| v.case).collect();
        assert_eq!(cases, row.cases, "row {:?}", row.name);
        assert_eq!(verdict.allows(), row.cases.is_empty(), "row {:?}", row.name);
        for violation in &verdict.violations {
            assert!(violation.message.contains("forbidden") || violation.case == 7);
            assert!(
                violation.data.is_object(),
                "row {:?} carries its data",
                row.name
            );
        }
    }
}

#[test]
fn messages_name_the_numbers() {
    let code = MarkingCode::parse(TOBACCO_BLOCK).expect("parses");
    let mut info = healthy();
    info.smp = Some(20000);
    info.package_quantity = Some(10);
    let sale = Sale {
        code: &code,
        pg: Some(3),
        price: Some(199000),
        local_time: NOW,
    };
    let verdict = decide_online(&info, &sale);
    assert_eq!(
        verdict.violations[0].message,
        "Price 1990.00 RUB is below the single minimum price 2000.00 RUB (10 packs × 200.00 RUB): sale forbidden"
    );
    assert_eq!(verdict.violations[0].data["packageQuantity"], 10);
}

#[test]
fn missing_price_is_a_note_not_a_pass_in_silence() {
    let code = MarkingCode::parse(TOBACCO_PACK).expect("parses");
    let sale = Sale {
        code: &code,
        pg: Some(3),
        price: None,
        local_time: NOW,
    };
    let verdict = decide_online(&healthy(), &sale);
    assert!(verdict.allows());
    assert_eq!(
        verdict.notes,
        ["no sale price given: price rules not checked"]
    );
}

#[test]
fn unknown_error_code_is_noted() {
    let code = MarkingCode::parse(GENERIC).expect("parses");
    let mut info = healthy();
    info.error_code = Some(4);
    let sale = Sale {
        code: &code,
        pg: None,
        price: None,
        local_time: NOW,
    };
    let verdict = decide_online(&info, &sale);
    assert!(verdict.allows());
    assert!(verdict.notes[0].contains("errorCode 4"));
}

fn module_code() -> ModuleCode {
    ModuleCode {
        cis: "0104670540176099215'W9Um".into(),
        gtin: "04670540176099".into(),
        is_blocked: false,
        is_grey_gtin: false,
        sold: Some(false),
        mrp: None,
        smp: None,
        print_view: None,
    }
}

type OfflineRow = (
    &'static str,
    &'static str,
    Option<u16>,
    Option<u64>,
    fn(&mut ModuleCode),
    &'static [u8],
);

#[test]
fn offline_table() {
    #[rustfmt::skip]
    let rows: &[OfflineRow] = &[
        ("clean", GENERIC, Some(8), Some(1), |_| {}, &[]),
        ("sold in this shop", GENERIC, Some(8), None, |m| m.sold = Some(true), &[3]),
        ("blocked", GENERIC, Some(13), None, |m| m.is_blocked = true, &[4]),
        ("blocked grey GTIN: online only", GENERIC, None, None, |m| { m.is_blocked = true; m.is_grey_gtin = true }, &[0]),
        ("grey GTIN not blocked", GENERIC, None, None, |m| m.is_grey_gtin = true, &[]),
        ("NCP below minimum", GENERIC, Some(16), Some(100), |m| m.mrp = Some(Some(20000)), &[9]),
        ("OTP mrp not used offline", GENERIC, Some(12), Some(100), |m| m.mrp = Some(Some(20000)), &[]),
        ("LM 2.6 smp on every code is ignored", GENERIC, Some(15), Some(100), |m| m.smp = Some(153000), &[]),
        ("tobacco below ЕМЦ", TOBACCO_PACK, Some(3), Some(14500), |m| m.smp = Some(20000), &[8]),
        ("tobacco MRP from the code offline", TOBACCO_PACK, Some(3), Some(14400), |_| {}, &[7]),
        ("sold and blocked", GENERIC, Some(1), None, |m| { m.sold = Some(true); m.is_blocked = true }, &[3, 4]),
    ];
    for (name, code, pg, price, change, cases) in rows {
        let code = MarkingCode::parse(code).expect("fixture parses");
        let mut answer = module_code();
        change(&mut answer);
        let sale = Sale {
            code: &code,
            pg: *pg,
            price: *price,
            local_time: NOW,
        };
        let verdict = decide_offline(&answer, &sale);
        let got: Vec<u8> = verdict.violations.iter().map(|v| v.case).collect();
        assert_eq!(&got, cases, "row {name:?}");
    }
}

#[test]
fn grey_gtin_message_tells_the_cashier_to_go_online() {
    let code = MarkingCode::parse(GENERIC).expect("parses");
    let mut answer = module_code();
    answer.is_blocked = true;
    answer.is_grey_gtin = true;
    let sale = Sale {
        code: &code,
        pg: None,
        price: None,
        local_time: NOW,
    };
    let verdict = decide_offline(&answer, &sale);
    assert!(
        verdict.violations[0]
            .message
            .contains("only be checked online")
    );
}

#[test]
fn expiry_parsing() {
    assert_eq!(
        parse_local("2024-08-16T00:00:00.000Z"),
        Some(datetime!(2024-08-16 00:00:00))
    );
    assert_eq!(
        parse_local("2024-08-16T10:11:12+03:00"),
        Some(datetime!(2024-08-16 10:11:12))
    );
    assert_eq!(
        parse_local("2024-08-16"),
        Some(datetime!(2024-08-16 00:00:00))
    );
    assert_eq!(parse_local("yesterday"), None);
    assert_eq!(parse_local(""), None);
}
