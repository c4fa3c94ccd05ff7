//! Bad input: every error names what is wrong and where.

use marking::{CodeError, MarkingCode};

fn err(input: &str) -> String {
    MarkingCode::parse(input).unwrap_err().to_string()
}

#[test]
fn gtin_check_digit() {
    assert_eq!(
        err(r"0104670540176097215'W9Um\u001d93dGVz"),
        "GTIN check digit is 7, expected 9"
    );
    assert_eq!(
        err("04601653035820H;dV)bFACVUdGVz"),
        "GTIN check digit is 0, expected 9"
    );
}

#[test]
fn control_byte_position() {
    assert_eq!(
        err("01046705401760992\x07'W9Um"),
        "unexpected byte 0x07 at position 17"
    );
}

#[test]
fn structure_errors_name_the_element() {
    assert_eq!(
        err("0104670540176099"),
        "the code has no serial number (AI 21)"
    );
    assert_eq!(
        err("01046705401760"),
        "AI 01 at position 0 needs 14 characters, only 12 left"
    );
    assert_eq!(
        err("0104670540A76099215abc"),
        "AI 01 at position 10 must be digits, found byte 0x41"
    );
    assert_eq!(
        err("0104670540176099215abc\x1d\x1d93dGVz"),
        "two GS separators in a row at position 23"
    );
    assert_eq!(
        err("0104670540176099215abc\x1d215abd"),
        "AI 21 appears twice (second time at position 23)"
    );
    assert_eq!(
        err("0104670540176099215abc\x1d8005"),
        "AI 8005 at position 23 has an empty value"
    );
    assert_eq!(
        err("010467054017609921123456789012345678901\x1d93dGVz"),
        "AI 21 at position 16 is 21 characters long, at most 20 allowed"
    );
    assert!(err("hello").starts_with("not a marking code"));
    assert_eq!(err("   "), "the code is empty");
}

#[test]
fn pack_with_a_bad_price_digit() {
    assert_eq!(
        err("04601653035829H;dV)bFA#VUdGVz"),
        "unexpected byte 0x23 at position 22"
    );
    assert_eq!(
        err("04601653035829H;dV)bFA(VUdGVz"),
        "character '(' at position 22 is not a base-80 MRP digit"
    );
}

#[test]
fn lost_separators_split_only_when_unambiguous() {
    // serial 6 + 93 tail: one reading.
    let code = MarkingCode::parse("0104670540176099215'W9Um93dGVz").unwrap();
    assert_eq!(code.ki(), "0104670540176099215'W9Um");
    assert_eq!(code.km(), "0104670540176099215'W9Um\x1d93dGVz");
    // serial 13 of an LP code, or serial 7 + "93" + 4: both readings fit → an error says so.
    let e = MarkingCode::parse("0104670540176099215abcdef93dGVz").unwrap_err();
    assert_eq!(
        e,
        CodeError::AmbiguousSplit {
            len: 13,
            lengths: vec![7, 13]
        }
    );
    assert!(e.to_string().contains("ambiguous"));
    // 30 characters after 21 that no serial length splits.
    let e = MarkingCode::parse(format!("010467054017609921{}", "x".repeat(30))).unwrap_err();
    assert_eq!(e, CodeError::Unsplittable { len: 30 });
    // A serial that merely contains "91" or "93" is not split when nothing else fits.
    let code = MarkingCode::parse("0104670540176099219193ab").unwrap();
    assert_eq!(code.serial(), "9193ab");
}

#[test]
fn block_with_lost_separators_keeps_its_price() {
    let code = MarkingCode::parse("010461013628057121/798DM%800519900093dGVz").unwrap();
    assert_eq!(code.ki(), "010461013628057121/798DM%");
    assert_eq!(code.mrp(), Some(199_000));
    assert_eq!(
        code.km(),
        "010461013628057121/798DM%\x1d8005199000\x1d93dGVz"
    );
}
