//! The emulator's stand-in for the operator's crypto codes: each crypto element (AI 91, 92, 93,
//! or the last 4 characters of a 29-character pack code) is derived from the store's secret seed
//! and the rest of the code. So a code issued here verifies, and any change to it does not.

use marking::{Format, MarkingCode};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Characters of the short crypto code (AI 93, AI 91 and pack codes): GS1 set 82 without the
/// characters that need escaping in JSON or URLs.
const SHORT: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-.:;=?_";
/// AI 92 signatures look like Base64.
const LONG: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The crypto value for `ai` ("91", "92", "93" or "pack") of a code whose other content is
/// `payload`, `len` characters long.
pub fn derive(seed: u64, ai: &str, payload: &str, len: usize) -> String {
    let mut out = String::with_capacity(len);
    derive_into(seed, ai, payload, len, &mut out);
    out
}

/// [`derive`], appended to `out` (issuing makes millions: no allocation per value).
pub fn derive_into(seed: u64, ai: &str, payload: &str, len: usize, out: &mut String) {
    let alphabet = if ai == "92" { LONG } else { SHORT };
    let salt = ai_salt(ai);
    let mut left = len;
    let mut block = 0u64;
    while left > 0 {
        let mut h = xxh3_64_with_seed(payload.as_bytes(), seed ^ block ^ salt);
        for _ in 0..left.min(8) {
            out.push(alphabet[(h % alphabet.len() as u64) as usize] as char);
            h /= alphabet.len() as u64;
        }
        left -= left.min(8);
        block += 1;
    }
}

fn ai_salt(ai: &str) -> u64 {
    ai.bytes()
        .fold(0u64, |acc, b| acc.rotate_left(8) ^ u64::from(b))
}

/// The part of a code the crypto covers: for GS1, every non-crypto element as AI + value in code
/// order; for a pack code, its first 25 characters (KI + MRP).
pub fn payload(code: &MarkingCode) -> String {
    match code.format() {
        Format::Pack29 => code.km().get(..25).unwrap_or(code.km()).to_string(),
        Format::Gs1 => code
            .elements()
            .filter(|(ai, _)| !marking::gs1::is_crypto(ai))
            .map(|(ai, value)| format!("{ai}{value}"))
            .collect(),
    }
}

/// Outcome of the signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// No crypto part at all (a KI was sent instead of the KM).
    Missing,
    Invalid,
}

/// Checks the crypto part of `code` against this emulator's derivation.
pub fn verify(seed: u64, code: &MarkingCode) -> Verdict {
    if !code.has_crypto() {
        return Verdict::Missing;
    }
    let payload = payload(code);
    let ok = match code.format() {
        Format::Pack29 => code.km().get(25..) == Some(derive(seed, "pack", &payload, 4).as_str()),
        Format::Gs1 => code
            .elements()
            .filter(|(ai, _)| marking::gs1::is_crypto(ai))
            .all(|(ai, value)| value == derive(seed, ai, &payload, value.len())),
    };
    if ok { Verdict::Valid } else { Verdict::Invalid }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_values_have_the_requested_length_and_depend_on_everything() {
        let a = derive(1, "93", "0104670540176099215abcdef", 4);
        assert_eq!(a.len(), 4);
        assert_eq!(derive(1, "92", "x", 88).len(), 88);
        assert_ne!(a, derive(2, "93", "0104670540176099215abcdef", 4));
        assert_ne!(a, derive(1, "93", "0104670540176099215abcdeg", 4));
        assert_ne!(derive(1, "91", "p", 4), derive(1, "93", "p", 4));
    }

    #[test]
    fn a_code_built_with_the_seed_verifies_and_a_changed_one_does_not() {
        let ki = "0104670540176099215abcdef";
        let code = MarkingCode::parse(ki).expect("ki parses");
        let tail = derive(7, "93", &payload(&code), 4);
        let km = format!("{ki}\u{1d}93{tail}");
        let parsed = MarkingCode::parse(&km).expect("km parses");
        assert_eq!(verify(7, &parsed), Verdict::Valid);
        assert_eq!(verify(8, &parsed), Verdict::Invalid);
        assert_eq!(verify(7, &code), Verdict::Missing);
    }
}
