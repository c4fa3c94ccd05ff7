//! Scanner and transport input → canonical KM text with real GS bytes (protocol.md §5.5).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::CodeError;
use crate::gs1::{self, GS, Length};

/// FNC1 as some scanners transmit it in Latin-1 (0xE8), and the same character UTF-8 encoded.
const FNC1_LATIN1: u8 = 0xe8;
const FNC1_UTF8: &[u8] = "\u{e8}".as_bytes();

/// Textual stand-ins for the GS byte seen in 1C, Frontol, JSON-escaped and hand-typed input.
const TEXT_SEPARATORS: &[&[u8]] = &[b"\\u001d", b"\\x1d", b"<gs>"];

/// Turns raw input into the canonical KM: trimmed, prefixes gone, separators as GS bytes,
/// no leading or trailing GS, no brackets, Base64 transport undone.
pub fn normalize(input: &[u8]) -> Result<String, CodeError> {
    let mut code = clean_text(input);
    if !looks_like_code(&code)
        && let Some(decoded) = decode_base64(&code).map(|d| clean_text(&d))
        && looks_like_code(&decoded)
    {
        code = decoded;
    }
    if code.first() == Some(&b'(') {
        code = debracket(&code)?;
    }
    while code.last() == Some(&GS) {
        code.pop();
    }
    if code.is_empty() {
        return Err(CodeError::Empty);
    }
    if let Some(position) = code.iter().position(|&b| b != GS && !gs1::is_cs82(b)) {
        return Err(CodeError::UnexpectedByte {
            byte: code[position],
            position,
        });
    }
    // Every byte is ASCII now.
    String::from_utf8(code).map_err(|_| CodeError::Empty)
}

/// Steps 1–4 of protocol.md §5.5: trim, AIM prefix, `<fnc>` prefix, textual separators,
/// leading GS or FNC1.
fn clean_text(input: &[u8]) -> Vec<u8> {
    let mut s = input.trim_ascii();
    if let [b']', kind, modifier, rest @ ..] = s
        && kind.is_ascii_alphabetic()
        && modifier.is_ascii_alphanumeric()
    {
        s = rest;
    }
    for prefix in [&b"<fnc1>"[..], b"<fnc>"] {
        if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
            s = &s[prefix.len()..];
        }
    }
    let mut out = replace_separators(s);
    let lead = leading_fnc1_len(&out);
    out.drain(..lead);
    out
}

fn leading_fnc1_len(b: &[u8]) -> usize {
    let mut i = 0;
    loop {
        if b.get(i) == Some(&GS) || b.get(i) == Some(&FNC1_LATIN1) {
            i += 1;
        } else if b[i..].starts_with(FNC1_UTF8) {
            i += FNC1_UTF8.len();
        } else {
            return i;
        }
    }
}

fn replace_separators(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    'scan: while i < s.len() {
        if matches!(s[i], b'\\' | b'<') {
            for sep in TEXT_SEPARATORS {
                if s.len() - i >= sep.len() && s[i..i + sep.len()].eq_ignore_ascii_case(sep) {
                    out.push(GS);
                    i += sep.len();
                    continue 'scan;
                }
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// A code already: GS1 and pack codes begin with 14 digits; the bracket form with `(`.
/// Base64 text of a code never does (protocol.md §5.5 item 6).
fn looks_like_code(b: &[u8]) -> bool {
    b.first() == Some(&b'(') || (b.len() >= 14 && b[..14].iter().all(u8::is_ascii_digit))
}

fn decode_base64(b: &[u8]) -> Option<Vec<u8>> {
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    standard.decode(b).or_else(|_| url_safe.decode(b)).ok()
}

/// `(01)…(21)…(93)…` → element string with GS after every variable-length element that is
/// followed by another.
fn debracket(b: &[u8]) -> Result<Vec<u8>, CodeError> {
    let mut out = Vec::with_capacity(b.len());
    let mut p = 0;
    while p < b.len() {
        if b[p] == GS {
            p += 1;
            continue;
        }
        let (spec, value_start) = bracketed_ai_at(b, p)?;
        let value_end = match spec.length {
            // A fixed-length value ends where its length says; what follows must be the next
            // bracketed AI, so a malformed one is reported rather than read as data.
            Length::Fixed(n) => {
                let end = (value_start + n).min(b.len());
                if b.get(end) == Some(&b'(') {
                    bracketed_ai_at(b, end)?;
                }
                end
            }
            Length::Variable(_) => (value_start..b.len())
                .find(|&i| b[i] == GS || (b[i] == b'(' && bracketed_ai_at(b, i).is_ok()))
                .unwrap_or(b.len()),
        };
        out.extend_from_slice(spec.ai.as_bytes());
        out.extend_from_slice(&b[value_start..value_end]);
        let more = b[value_end..].iter().any(|&c| c != GS);
        if more && matches!(spec.length, Length::Variable(_)) {
            out.push(GS);
        }
        p = value_end;
    }
    Ok(out)
}

fn bracketed_ai_at(b: &[u8], p: usize) -> Result<(&'static gs1::AiSpec, usize), CodeError> {
    if b.get(p) != Some(&b'(') {
        return Err(CodeError::UnexpectedByte {
            byte: b[p],
            position: p,
        });
    }
    let close = b[p..]
        .iter()
        .take(6)
        .position(|&c| c == b')')
        .map(|i| p + i)
        .ok_or(CodeError::UnclosedBracket { position: p })?;
    let ai = &b[p + 1..close];
    let spec = gs1::lookup_exact(ai).ok_or_else(|| CodeError::UnknownAi {
        prefix: String::from_utf8_lossy(ai).into_owned(),
        position: p,
    })?;
    Ok((spec, close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s.as_bytes()).unwrap()
    }

    const KM: &str = "0104670540176099215'W9Um\x1d93dGVz";

    #[test]
    fn textual_variants() {
        assert_eq!(n(" 0104670540176099215'W9Um\\u001d93dGVz\r\n"), KM);
        assert_eq!(n("0104670540176099215'W9Um\\u001D93dGVz"), KM);
        assert_eq!(n("0104670540176099215'W9Um<GS>93dGVz"), KM);
        assert_eq!(n("0104670540176099215'W9Um\\x1d93dGVz"), KM);
        assert_eq!(n("]d2\x1d0104670540176099215'W9Um\x1d93dGVz\x1d"), KM);
        assert_eq!(n("]C10104670540176099215'W9Um\x1d93dGVz"), KM);
        assert_eq!(n("<FNC1>0104670540176099215'W9Um\x1d93dGVz"), KM);
        assert_eq!(n("\u{e8}0104670540176099215'W9Um\x1d93dGVz"), KM);
        let mut latin1 = vec![0xe8];
        latin1.extend_from_slice(KM.as_bytes());
        assert_eq!(normalize(&latin1).unwrap(), KM);
    }

    #[test]
    fn brackets() {
        assert_eq!(n("(01)04670540176099(21)5'W9Um(93)dGVz"), KM);
        assert_eq!(
            n("(01)04610053149777(21)5d/wuU(93)dGVz(3103)123456"),
            "0104610053149777215d/wuU\x1d93dGVz\x1d3103123456"
        );
        assert_eq!(
            normalize(b"(01)04670540176099(21").unwrap_err(),
            CodeError::UnclosedBracket { position: 18 }
        );
        assert!(matches!(
            normalize(b"(77)04670540176099").unwrap_err(),
            CodeError::UnknownAi { position: 0, .. }
        ));
    }

    #[test]
    fn base64_only_when_not_a_code() {
        assert_eq!(n("MDEwNDY3MDU0MDE3NjA5OTIxNSdXOVVtHTkzZEdWeg=="), KM);
        assert_eq!(n("MDEwNDY3MDU0MDE3NjA5OTIxNSdXOVVtHTkzZEdWeg"), KM);
        // A pack code starts with 14 digits: it is never taken for Base64.
        assert_eq!(
            n("04601653035829H;dV)bFACVUdGVz"),
            "04601653035829H;dV)bFACVUdGVz"
        );
    }

    #[test]
    fn bad_bytes_are_named() {
        assert_eq!(
            normalize(b"01046705401760992\x07'W9Um")
                .unwrap_err()
                .to_string(),
            "unexpected byte 0x07 at position 17"
        );
        assert_eq!(normalize(b"  \r\n").unwrap_err(), CodeError::Empty);
        assert_eq!(normalize(b"\x1d\x1d").unwrap_err(), CodeError::Empty);
    }
}
