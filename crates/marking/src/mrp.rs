//! Maximum retail price of tobacco packs in base-80 (protocol.md §2.5).

use crate::CodeError;

/// Index → character of the base-80 alphabet of the operator's guide, App. 1.
pub const ALPHABET: &[u8; 80] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!\"%&'*+-./_,:;=<>?";

/// Width of the MRP field inside a 29-character pack code.
pub const WIDTH: usize = 4;

const fn build_index() -> [u8; 256] {
    let mut table = [u8::MAX; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
}

static INDEX: [u8; 256] = build_index();

/// Largest price that fits the 4-character field: 80^4 - 1 kopecks.
pub const MAX_KOPECKS: u32 = 80 * 80 * 80 * 80 - 1;

/// Encodes kopecks as at least four base-80 characters, left-padded with `A` (digit zero).
pub fn encode(kopecks: u32) -> String {
    let mut digits = Vec::with_capacity(WIDTH);
    let mut rest = kopecks;
    loop {
        digits.push(ALPHABET[(rest % 80) as usize]);
        rest /= 80;
        if rest == 0 {
            break;
        }
    }
    while digits.len() < WIDTH {
        digits.push(b'A');
    }
    digits.reverse();
    // Every byte comes from the ASCII alphabet.
    String::from_utf8(digits).unwrap_or_default()
}

/// Decodes base-80 characters into kopecks. `offset` is where `text` starts in the code, so the
/// error can name the position.
pub fn decode_at(text: &[u8], offset: usize) -> Result<u32, CodeError> {
    let mut value: u32 = 0;
    for (i, &b) in text.iter().enumerate() {
        let digit = INDEX[b as usize];
        if digit == u8::MAX {
            return Err(CodeError::NotBase80 {
                ch: char::from(b),
                position: offset + i,
            });
        }
        value = value.saturating_mul(80).saturating_add(u32::from(digit));
    }
    Ok(value)
}

/// Decodes a base-80 string into kopecks.
pub fn decode(text: &str) -> Result<u32, CodeError> {
    decode_at(text.as_bytes(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn guide_examples() {
        assert_eq!(encode(14630), "ACW.");
        assert_eq!(decode("ACW."), Ok(14630));
        assert_eq!(decode("ACVU"), Ok(14500));
        assert_eq!(decode("ADI8"), Ok(19900));
        assert_eq!(decode("AAAA"), Ok(0));
    }

    #[test]
    fn bad_digit_is_named() {
        assert_eq!(
            decode("AC#A").unwrap_err().to_string(),
            "character '#' at position 2 is not a base-80 MRP digit"
        );
    }

    proptest! {
        #[test]
        fn round_trip(k in 0..=MAX_KOPECKS) {
            let text = encode(k);
            prop_assert_eq!(text.len(), WIDTH);
            prop_assert_eq!(decode(&text), Ok(k));
        }
    }
}
