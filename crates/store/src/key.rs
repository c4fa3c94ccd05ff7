//! Compact keys. A blocked KI is stored as its 128-bit xxh3 fingerprint (16 bytes, fixed width,
//! so the B-tree stores no length): at 10^8 entries the chance that any two KIs collide is about
//! 10^-23, and the fingerprint of a KI is stable across versions and platforms (xxh3 is a spec).
//! GTINs (14 digits) are stored as `u64` numbers.

use std::fmt;

use xxhash_rust::xxh3::xxh3_128;

/// The 128-bit xxh3 fingerprint of a KI, the key of `blocked_cis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KiFingerprint(pub u128);

impl KiFingerprint {
    /// Fingerprint of a KI as given (no normalisation: callers pass the canonical KI).
    pub fn of(ki: &str) -> KiFingerprint {
        KiFingerprint(xxh3_128(ki.as_bytes()))
    }
}

/// A GTIN: exactly 14 ASCII digits, stored as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gtin(u64);

/// Why a GTIN string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GTIN {0:?} is not 14 digits")]
pub struct GtinError(pub String);

impl Gtin {
    /// Parses 14 ASCII digits.
    pub fn parse(text: &str) -> Result<Gtin, GtinError> {
        if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(GtinError(text.to_owned()));
        }
        text.parse::<u64>()
            .map(Gtin)
            .map_err(|_| GtinError(text.to_owned()))
    }

    /// The stored number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:014}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtin_round_trips_with_leading_zero() {
        let gtin = Gtin::parse("04850013000162").unwrap();
        assert_eq!(gtin.to_string(), "04850013000162");
    }

    #[test]
    fn gtin_rejects_wrong_length_and_non_digits() {
        assert!(Gtin::parse("4850013000162").is_err());
        assert!(Gtin::parse("0485001300016a").is_err());
        assert!(Gtin::parse("+4850013000162").is_err());
    }

    #[test]
    fn fingerprint_is_the_xxh3_128_of_the_ki_bytes() {
        let ki = "0104850013000162215aBcDe!";
        assert_eq!(KiFingerprint::of(ki).0, xxh3_128(ki.as_bytes()));
        assert_ne!(
            KiFingerprint::of(ki),
            KiFingerprint::of("0104850013000162215aBcDe?")
        );
    }
}
