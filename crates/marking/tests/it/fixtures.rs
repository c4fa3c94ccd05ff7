//! The guide's codes: the 21 sandbox cases (protocol.md §1.14) and the samples of §5.2 / §5.4.

use marking::{Format, MarkingCode};

struct Case {
    case: &'static str,
    input: &'static str,
    ki: &'static str,
    gtin: &'static str,
    mrp: Option<u32>,
    format: Format,
}

const fn gs1(
    case: &'static str,
    input: &'static str,
    ki: &'static str,
    gtin: &'static str,
) -> Case {
    Case {
        case,
        input,
        ki,
        gtin,
        mrp: None,
        format: Format::Gs1,
    }
}

/// Sandbox cases exactly as the guide prints them, GS written as `\u001d`.
const SANDBOX: &[Case] = &[
    gs1(
        "1",
        r"0104670540176099215'W9Um\u001d93dGVz",
        "0104670540176099215'W9Um",
        "04670540176099",
    ),
    gs1(
        "2",
        r"0104670540176099215LnOjv\u001d93dGVz",
        "0104670540176099215LnOjv",
        "04670540176099",
    ),
    Case {
        mrp: Some(177_000),
        ..gs1(
            "3",
            r"010462930887704421DzkcYt2\u001d8005177000\u001d93dGVz",
            "010462930887704421DzkcYt2",
            "04629308877044",
        )
    },
    gs1(
        "4",
        r"0104670540176099215NN*cM\u001d93dGVz",
        "0104670540176099215NN*cM",
        "04670540176099",
    ),
    gs1(
        "5",
        r"0104602220006549215opFcmK\u001d93dGVz",
        "0104602220006549215opFcmK",
        "04602220006549",
    ),
    gs1(
        "6",
        r"0104670540176099215<pGKy\u001d93dGVz",
        "0104670540176099215<pGKy",
        "04670540176099",
    ),
    Case {
        mrp: Some(199_000),
        ..gs1(
            "7",
            r"010461013628057121/798DM%\u001d8005199000\u001d93dGVz",
            "010461013628057121/798DM%",
            "04610136280571",
        )
    },
    Case {
        case: "8",
        input: "04601653035829H;dV)bFACVUdGVz",
        ki: "04601653035829H;dV)bF",
        gtin: "04601653035829",
        mrp: Some(14_500),
        format: Format::Pack29,
    },
    Case {
        case: "9",
        input: "04601653035829H;vE)bFACVUdGVz",
        ki: "04601653035829H;vE)bF",
        gtin: "04601653035829",
        mrp: Some(14_500),
        format: Format::Pack29,
    },
    gs1(
        "10",
        r"0104670540176099215<pGKy\u001d93DGVz",
        "0104670540176099215<pGKy",
        "04670540176099",
    ),
    gs1(
        "11",
        r"0104670540176099215!pGKy\u001d93dGVz",
        "0104670540176099215!pGKy",
        "04670540176099",
    ),
    gs1(
        "12",
        r"0104670540176099215LpGKy\u001d93dGVz",
        "0104670540176099215LpGKy",
        "04670540176099",
    ),
    gs1(
        "13",
        r"0104670540176099215PpGKy\u001d93dGVz",
        "0104670540176099215PpGKy",
        "04670540176099",
    ),
    gs1(
        "14",
        r"0104670540176099215MpGKy\u001d93dGVz",
        "0104670540176099215MpGKy",
        "04670540176099",
    ),
    gs1(
        "15",
        r"0104813445003293215TmiV,g\u001d93dGVz",
        "0104813445003293215TmiV,g",
        "04813445003293",
    ),
    Case {
        case: "16",
        input: "00840147505712Zz;ZnRbAAAAdGVz",
        ki: "00840147505712Zz;ZnRb",
        gtin: "00840147505712",
        mrp: Some(0),
        format: Format::Pack29,
    },
    gs1(
        "17",
        r"010085060000025821WbUN7If\u001d93dGVz",
        "010085060000025821WbUN7If",
        "00850600000258",
    ),
    Case {
        mrp: Some(199_000),
        ..gs1(
            "18",
            r"010461013628057121/798DM%\u001d8005199000\u001d93dGVz",
            "010461013628057121/798DM%",
            "04610136280571",
        )
    },
    Case {
        case: "19",
        input: "04601653035829H;dV)bFADI8dGVz",
        ki: "04601653035829H;dV)bF",
        gtin: "04601653035829",
        mrp: Some(19_900),
        format: Format::Pack29,
    },
    gs1(
        "20",
        r"0108607405401894215cC3O4\u001d93dGVz",
        "0108607405401894215cC3O4",
        "08607405401894",
    ),
    gs1(
        "21",
        r#"01046700190342882151aj"K>X+mFcP\u001d93dGVz"#,
        r#"01046700190342882151aj"K>X+mFcP"#,
        "04670019034288",
    ),
];

#[test]
fn every_sandbox_case_gives_the_expected_ki_gtin_and_mrp() {
    assert_eq!(SANDBOX.len(), 21);
    for c in SANDBOX {
        let code = MarkingCode::parse(c.input).unwrap_or_else(|e| panic!("case {}: {e}", c.case));
        assert_eq!(code.ki(), c.ki, "case {} KI", c.case);
        assert_eq!(code.gtin(), c.gtin, "case {} GTIN", c.case);
        assert_eq!(code.mrp(), c.mrp, "case {} MRP", c.case);
        assert_eq!(code.format(), c.format, "case {} format", c.case);
        assert!(code.has_crypto(), "case {} is a full KM", c.case);
        // The canonical KM carries real GS bytes and no textual escapes.
        assert!(!code.km().contains("\\u001d"), "case {}", c.case);
        // A KI read again is the same KI (the module receives KIs).
        assert_eq!(
            marking::ki(c.ki).as_deref(),
            Ok(c.ki),
            "case {} KI re-read",
            c.case
        );
    }
}

#[test]
fn sandbox_hints_where_the_structure_tells() {
    let hint = |case: &str| {
        let c = SANDBOX
            .iter()
            .find(|c| c.case == case)
            .expect("case exists");
        MarkingCode::parse(c.input)
            .ok()
            .and_then(|m| m.pg_hint())
            .map(|g| g.name)
    };
    assert_eq!(hint("3"), Some("tobacco"), "block with 8005");
    assert_eq!(hint("8"), Some("tobacco"), "pack with a price");
    assert_eq!(hint("16"), Some("ncp"), "pack with zero price");
    assert_eq!(hint("1"), None, "serial 6 + 93 fits several groups");
}

#[test]
fn samples_of_the_gs1_section() {
    let dairy =
        MarkingCode::parse(r"0104610053149777215d/wuU\u001D93dGVz\u001D3103123456").unwrap();
    assert_eq!(dairy.ki(), "0104610053149777215d/wuU");
    assert_eq!(dairy.value_of("3103"), Some("123456"));
    assert_eq!(dairy.pg_hint().map(|g| g.name), Some("milk"));
    assert_eq!(
        dairy.km(),
        "0104610053149777215d/wuU\x1d93dGVz\x1d3103123456"
    );

    let beer =
        MarkingCode::parse(r"0104610053147452215d,OiLl\u001D93dGVz\u001D3350123456").unwrap();
    assert_eq!(beer.ki(), "0104610053147452215d,OiLl");
    assert_eq!(beer.pg_hint().map(|g| g.name), Some("beer"));

    let weight =
        MarkingCode::parse(r"0103041094787443215Qbag!\u001d93Zjqw\u001d3103000353").unwrap();
    assert_eq!(weight.ki(), "0103041094787443215Qbag!");
    assert_eq!(weight.value_of("93"), Some("Zjqw"));

    // Shoes, long format: the guide elides the signature; a 88-character one stands in.
    let sig = "mliP3g".repeat(15)[..88].to_owned();
    let shoes = format!(r"010463007000812321ymxGZZnG838XW\u001D2406403\u001D91ffd0\u001D92{sig}");
    let shoes = MarkingCode::parse(shoes).unwrap();
    assert_eq!(shoes.ki(), "010463007000812321ymxGZZnG838XW");
    assert_eq!(shoes.value_of("240"), Some("6403"));
    assert_eq!(shoes.pg_hint().map(|g| g.name), Some("shoes"));

    let sig = "dGVzdBL8".repeat(6)[..44].to_owned();
    let lp = MarkingCode::parse(format!(
        r"0104669000322220215t*NH>t:ngCfH\u001D91FFD0\u001D92{sig}"
    ))
    .unwrap();
    assert_eq!(lp.ki(), "0104669000322220215t*NH>t:ngCfH");
    assert_eq!(lp.serial(), "5t*NH>t:ngCfH");
}

#[test]
fn pack_sample_of_section_5_4() {
    let pack = MarkingCode::parse("00000046233219!SX-RqRADpU7Cev").unwrap();
    assert_eq!(pack.format(), Format::Pack29);
    assert_eq!(pack.ki(), "00000046233219!SX-RqR");
    assert_eq!(pack.serial(), "!SX-RqR");
    assert_eq!(pack.mrp(), marking::mrp::decode("ADpU").ok());
}

#[test]
fn a_29_character_gs1_code_is_not_taken_for_a_pack() {
    // 01 + GTIN + 21 + an 11-character serial: 29 characters, no GS, yet GS1 (§5.4 rule).
    let km = "010467054017609921abcdefg93xy";
    assert_eq!(km.len(), 29);
    let code = MarkingCode::parse(km).unwrap();
    assert_eq!(code.format(), Format::Gs1);
    assert_eq!(code.serial(), "abcdefg93xy");
    assert_eq!(code.ki(), km);
}
