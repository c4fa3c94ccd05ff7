//! GS1 element strings as Chestny Znak uses them (protocol.md §5.2): application identifiers,
//! their lengths and character sets, and the parser over a normalised code.

use crate::CodeError;

/// ASCII 29, the group separator that ends a variable-length element.
pub const GS: u8 = 0x1d;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Digits,
    /// GS1 AI encodable character set 82.
    Cs82,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Predefined length: no GS needed after it.
    Fixed(usize),
    /// Variable up to the maximum: a GS ends it unless it is the last element.
    Variable(usize),
}

/// One application identifier the parser knows.
#[derive(Debug, Clone, Copy)]
pub struct AiSpec {
    pub ai: &'static str,
    pub charset: Charset,
    pub length: Length,
    /// Lengths this element has in Chestny Znak codes; used only to read a code whose GS
    /// separators were lost. Empty: the element cannot be read without its separator.
    pub marking_lengths: &'static [usize],
}

const fn spec(
    ai: &'static str,
    charset: Charset,
    length: Length,
    marking_lengths: &'static [usize],
) -> AiSpec {
    AiSpec {
        ai,
        charset,
        length,
        marking_lengths,
    }
}

use Charset::{Cs82, Digits};
use Length::{Fixed, Variable};

pub const GTIN: AiSpec = spec("01", Digits, Fixed(14), &[]);
pub const SERIAL: AiSpec = spec("21", Cs82, Variable(20), &[]);
const KEY_ID: AiSpec = spec("91", Cs82, Variable(90), &[4]);
const SIGNATURE: AiSpec = spec("92", Cs82, Variable(90), &[88, 44]);
const SHORT_CRYPTO: AiSpec = spec("93", Cs82, Variable(90), &[4]);
pub const BLOCK_MRP: AiSpec = spec("8005", Digits, Variable(6), &[6]);
const TNVED: AiSpec = spec("240", Cs82, Variable(30), &[4]);
const BATCH: AiSpec = spec("10", Cs82, Variable(20), &[]);
const EXPIRY: AiSpec = spec("17", Digits, Fixed(6), &[6]);
const NET_WEIGHT: [AiSpec; 6] = [
    spec("3100", Digits, Fixed(6), &[6]),
    spec("3101", Digits, Fixed(6), &[6]),
    spec("3102", Digits, Fixed(6), &[6]),
    spec("3103", Digits, Fixed(6), &[6]),
    spec("3104", Digits, Fixed(6), &[6]),
    spec("3105", Digits, Fixed(6), &[6]),
];
const VOLUME: [AiSpec; 6] = [
    spec("3350", Digits, Fixed(6), &[6]),
    spec("3351", Digits, Fixed(6), &[6]),
    spec("3352", Digits, Fixed(6), &[6]),
    spec("3353", Digits, Fixed(6), &[6]),
    spec("3354", Digits, Fixed(6), &[6]),
    spec("3355", Digits, Fixed(6), &[6]),
];

/// Finds the AI that starts `b`, longest first.
pub fn lookup(b: &[u8]) -> Option<&'static AiSpec> {
    match b {
        [b'8', b'0', b'0', b'5', ..] => Some(&BLOCK_MRP),
        [b'3', b'1', b'0', d @ b'0'..=b'5', ..] => Some(&NET_WEIGHT[usize::from(d - b'0')]),
        [b'3', b'3', b'5', d @ b'0'..=b'5', ..] => Some(&VOLUME[usize::from(d - b'0')]),
        [b'2', b'4', b'0', ..] => Some(&TNVED),
        [b'0', b'1', ..] => Some(&GTIN),
        [b'2', b'1', ..] => Some(&SERIAL),
        [b'9', b'1', ..] => Some(&KEY_ID),
        [b'9', b'2', ..] => Some(&SIGNATURE),
        [b'9', b'3', ..] => Some(&SHORT_CRYPTO),
        [b'1', b'0', ..] => Some(&BATCH),
        [b'1', b'7', ..] => Some(&EXPIRY),
        _ => None,
    }
}

/// Finds the AI written exactly as `ai` (the bracketed form gives it whole).
pub fn lookup_exact(ai: &[u8]) -> Option<&'static AiSpec> {
    lookup(ai).filter(|s| s.ai.as_bytes() == ai)
}

/// True when the AI carries the crypto part that is cut off to get the KI.
pub fn is_crypto(ai: &str) -> bool {
    matches!(ai, "91" | "92" | "93")
}

/// One element of a parsed code: its AI and where its value lies in the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ai: &'static str,
    pub start: usize,
    pub end: usize,
    /// A GS follows this element in the canonical form.
    pub gs_after: bool,
}

const fn build_cs82() -> [bool; 256] {
    let mut t = [false; 256];
    let extra = b"!\"%&'()*+,-./:;<=>?_";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = true;
        c += 1;
    }
    c = b'A';
    while c <= b'Z' {
        t[c as usize] = true;
        c += 1;
    }
    c = b'a';
    while c <= b'z' {
        t[c as usize] = true;
        c += 1;
    }
    t
}

static CS82: [bool; 256] = build_cs82();

pub fn is_cs82(b: u8) -> bool {
    CS82[b as usize]
}

/// Checks a value against its character set; `offset` is its position in the code.
pub fn check_charset(spec: &AiSpec, value: &[u8], offset: usize) -> Result<(), CodeError> {
    for (i, &b) in value.iter().enumerate() {
        let ok = match spec.charset {
            Charset::Digits => b.is_ascii_digit(),
            Charset::Cs82 => is_cs82(b),
        };
        if !ok {
            let position = offset + i;
            return Err(match spec.charset {
                Charset::Digits => CodeError::NotNumeric {
                    ai: spec.ai,
                    position,
                    byte: b,
                },
                Charset::Cs82 => CodeError::UnexpectedByte { byte: b, position },
            });
        }
    }
    Ok(())
}

/// Parses a normalised GS1 element string (separators are real GS bytes, no leading GS).
pub fn parse_elements(b: &[u8]) -> Result<Vec<Element>, CodeError> {
    let mut elements: Vec<Element> = Vec::with_capacity(4);
    let mut p = 0;
    while p < b.len() {
        if b[p] == GS {
            return Err(CodeError::DoubleSeparator { position: p });
        }
        let spec = lookup(&b[p..]).ok_or_else(|| CodeError::UnknownAi {
            prefix: String::from_utf8_lossy(&b[p..(p + 2).min(b.len())]).into_owned(),
            position: p,
        })?;
        if elements.iter().any(|e| e.ai == spec.ai) {
            return Err(CodeError::DuplicateAi {
                ai: spec.ai,
                position: p,
            });
        }
        let start = p + spec.ai.len();
        let end = match spec.length {
            Length::Fixed(n) => {
                let available = b.len().saturating_sub(start);
                if available < n {
                    return Err(CodeError::Truncated {
                        ai: spec.ai,
                        position: p,
                        expected: n,
                        found: available,
                    });
                }
                start + n
            }
            Length::Variable(max) => {
                let end = b[start..]
                    .iter()
                    .position(|&c| c == GS)
                    .map_or(b.len(), |i| start + i);
                if end == start {
                    return Err(CodeError::EmptyValue {
                        ai: spec.ai,
                        position: p,
                    });
                }
                if end - start > max {
                    return Err(CodeError::ElementTooLong {
                        ai: spec.ai,
                        position: p,
                        len: end - start,
                        max,
                    });
                }
                end
            }
        };
        check_charset(spec, &b[start..end], start)?;
        let gs_after = b.get(end) == Some(&GS);
        elements.push(Element {
            ai: spec.ai,
            start,
            end,
            gs_after,
        });
        p = if gs_after { end + 1 } else { end };
    }
    Ok(elements)
}

/// Reads a crypto tail whose separators were lost, using the lengths the elements have in
/// marking codes. Returns every way to read it (the caller decides whether that is one).
pub fn read_tail_without_gs(b: &[u8], offset: usize) -> Option<Vec<Element>> {
    fn go(b: &[u8], p: usize, offset: usize, out: &mut Vec<Element>) -> bool {
        if p == b.len() {
            return true;
        }
        let Some(spec) = lookup(&b[p..]) else {
            return false;
        };
        if out.iter().any(|e| e.ai == spec.ai) {
            return false;
        }
        let start = p + spec.ai.len();
        for &n in spec.marking_lengths {
            let end = start + n;
            if end > b.len() || check_charset(spec, &b[start..end], 0).is_err() {
                continue;
            }
            let gs_after = matches!(spec.length, Length::Variable(_)) && end < b.len();
            out.push(Element {
                ai: spec.ai,
                start: offset + start,
                end: offset + end,
                gs_after,
            });
            if go(b, end, offset, out) {
                return true;
            }
            out.pop();
        }
        false
    }
    let mut out = Vec::with_capacity(3);
    let has_crypto = |els: &[Element]| els.iter().any(|e| matches!(e.ai, "92" | "93"));
    (go(b, 0, offset, &mut out) && has_crypto(&out)).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_prefers_longest() {
        assert_eq!(lookup(b"8005123456").map(|s| s.ai), Some("8005"));
        assert_eq!(lookup(b"3103000353").map(|s| s.ai), Some("3103"));
        assert_eq!(lookup(b"2406403").map(|s| s.ai), Some("240"));
        assert_eq!(lookup(b"21abc").map(|s| s.ai), Some("21"));
        assert!(lookup(b"99").is_none());
        assert!(lookup_exact(b"2").is_none());
    }

    #[test]
    fn unknown_ai_is_named_with_its_position() {
        let err = parse_elements(b"0104670540176099215abcde\x1d77xx").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown application identifier starting '77' at position 25"
        );
    }

    #[test]
    fn tail_reading_backtracks_over_signature_lengths() {
        let sig44 = "A".repeat(44);
        let tail = format!("91FFD092{sig44}");
        let els = read_tail_without_gs(tail.as_bytes(), 0).expect("readable");
        assert_eq!(els.iter().map(|e| e.ai).collect::<Vec<_>>(), ["91", "92"]);
        assert!(read_tail_without_gs(b"93dGV", 0).is_none());
        assert!(
            read_tail_without_gs(b"3103000353", 0).is_none(),
            "no crypto element"
        );
    }
}
