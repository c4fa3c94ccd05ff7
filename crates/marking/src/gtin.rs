//! GTIN-14 with its GS1 mod-10 check digit.

use crate::CodeError;

/// Computes the GS1 check digit for the first 13 digits of a GTIN-14.
/// The caller guarantees ASCII digits.
pub fn check_digit(first13: &[u8]) -> u8 {
    let sum: u32 = first13
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Verifies a 14-digit GTIN (digits already checked by the caller).
pub fn verify(gtin: &[u8]) -> Result<(), CodeError> {
    debug_assert_eq!(gtin.len(), 14);
    let expected = check_digit(&gtin[..13]);
    let found = gtin[13] - b'0';
    if found == expected {
        Ok(())
    } else {
        Err(CodeError::GtinCheckDigit { found, expected })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_gtins_verify() {
        for g in [
            "04601653035829",
            "00840147505712",
            "00000046233219",
            "04670540176099",
        ] {
            assert_eq!(verify(g.as_bytes()), Ok(()), "{g}");
        }
    }

    #[test]
    fn wrong_check_digit_names_both_digits() {
        let err = verify(b"04670540176097").unwrap_err();
        assert_eq!(err.to_string(), "GTIN check digit is 7, expected 9");
    }
}
