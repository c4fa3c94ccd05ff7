//! Property tests: a code built from parts reads the same in every textual form; no input panics.

use base64::Engine as _;
use marking::{CodeError, Format, MarkingCode, gtin, mrp};
use proptest::prelude::*;

/// Serial characters seen in real codes: GS1 set 82 without the brackets (protocol.md §5.5.9).
const SERIAL_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!\"%&'*+,-./:;<=>?_";

fn gtin() -> impl Strategy<Value = String> {
    "[0-9]{13}".prop_map(|body| {
        let check = gtin::check_digit(body.as_bytes());
        format!("{body}{check}")
    })
}

fn chars(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(SERIAL_CHARS), len)
        .prop_map(|v| String::from_utf8(v).unwrap_or_default())
}

/// (elements as (ai, value, variable-length?)) of a realistic GS1 marking code.
fn gs1_code() -> impl Strategy<Value = Vec<(&'static str, String, bool)>> {
    let serial = prop_oneof![Just(6usize), Just(7), Just(13), Just(20)].prop_flat_map(chars);
    let crypto = prop_oneof![
        chars(4).prop_map(|c| vec![("93", c, true)]),
        (chars(4), chars(44)).prop_map(|(k, s)| vec![("91", k, true), ("92", s, true)]),
    ];
    let extra = prop_oneof![
        Just(None),
        "[0-9]{6}".prop_map(|w| Some(("3103", w, false))),
    ];
    let price = prop_oneof![Just(None), "[0-9]{6}".prop_map(|p| Some(("8005", p, true)))];
    (gtin(), serial, price, crypto, extra).prop_map(|(g, s, price, crypto, extra)| {
        let mut els = vec![("01", g, false), ("21", s, true)];
        els.extend(price);
        els.extend(crypto);
        els.extend(extra);
        els
    })
}

fn render(els: &[(&str, String, bool)], gs: &str) -> String {
    let mut out = String::new();
    for (i, (ai, value, variable)) in els.iter().enumerate() {
        out.push_str(ai);
        out.push_str(value);
        if *variable && i + 1 < els.len() {
            out.push_str(gs);
        }
    }
    out
}

fn brackets(els: &[(&str, String, bool)]) -> String {
    els.iter()
        .map(|(ai, value, _)| format!("({ai}){value}"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn every_textual_variant_gives_the_same_km_and_ki(els in gs1_code()) {
        let km = render(&els, "\x1d");
        let ki = format!("01{}21{}", els[0].1, els[1].1);
        let variants = [
            km.clone(),
            render(&els, "\\u001d"),
            render(&els, "\\u001D"),
            render(&els, "<GS>"),
            render(&els, "\\x1d"),
            format!("]d2{km}"),
            format!("]C1{}", render(&els, "<GS>")),
            format!("\x1d{km}\r\n"),
            format!("  {}  ", brackets(&els)),
            base64::engine::general_purpose::STANDARD.encode(&km),
        ];
        for v in &variants {
            let code = MarkingCode::parse(v);
            prop_assert!(code.is_ok(), "{v:?}: {:?}", code.err());
            let code = code.unwrap_or_else(|_| unreachable!());
            prop_assert_eq!(code.km(), km.as_str(), "variant {:?}", v);
            prop_assert_eq!(code.ki(), ki.as_str(), "variant {:?}", v);
            prop_assert_eq!(code.format(), Format::Gs1);
        }
    }

    #[test]
    fn lost_separators_never_give_a_wrong_ki(els in gs1_code()) {
        let glued = render(&els, "");
        let ki = format!("01{}21{}", els[0].1, els[1].1);
        match MarkingCode::parse(&glued) {
            Ok(code) => prop_assert_eq!(code.ki(), ki),
            Err(e) => prop_assert!(
                matches!(e, CodeError::AmbiguousSplit { .. } | CodeError::Unsplittable { .. }),
                "{glued:?}: {e}"
            ),
        }
        // A 6-character serial followed by its crypto tail has exactly one reading.
        if els[1].1.len() == 6 && els.len() == 3 {
            prop_assert!(MarkingCode::parse(&glued).is_ok());
        }
    }

    #[test]
    fn pack_codes_from_parts(g in gtin(), serial in chars(7), price in 0..=mrp::MAX_KOPECKS, crypto in chars(4)) {
        let km = format!("{g}{serial}{}{crypto}", mrp::encode(price));
        prop_assume!(!(km.starts_with("01") || km.starts_with("02")) || &km[16..18] != "21");
        let code = MarkingCode::parse(&km);
        prop_assert!(code.is_ok(), "{km:?}: {:?}", code.err());
        let code = code.unwrap_or_else(|_| unreachable!());
        prop_assert_eq!(code.format(), Format::Pack29);
        prop_assert_eq!(code.ki(), &km[..21]);
        prop_assert_eq!(code.mrp(), Some(price));
        prop_assert_eq!(code.gtin(), g.as_str());
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = MarkingCode::parse(&input);
    }

    #[test]
    fn arbitrary_code_like_text_never_panics(input in "[0-9()<>\\\\GSux1dD\\]]{0,60}") {
        let _ = MarkingCode::parse(&input);
    }
}
