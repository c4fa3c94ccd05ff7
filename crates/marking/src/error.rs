//! Why a string is not a usable marking code. Positions are 0-based byte offsets into the code
//! after textual normalisation (separators replaced, prefixes removed), which is what
//! `znak code` prints as `km`.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CodeError {
    #[error("the code is empty")]
    Empty,
    #[error("unexpected byte 0x{byte:02x} at position {position}")]
    UnexpectedByte { byte: u8, position: usize },
    #[error("unknown application identifier starting '{prefix}' at position {position}")]
    UnknownAi { prefix: String, position: usize },
    #[error(
        "not a marking code: a GS1 code starts with AI 01 (GTIN) and a pack code is 29 \
         characters; this one starts with '{found}' and is {len} characters long"
    )]
    MissingGtin { found: String, len: usize },
    #[error("the code has no serial number (AI 21)")]
    MissingSerial,
    #[error("AI {ai} appears twice (second time at position {position})")]
    DuplicateAi { ai: &'static str, position: usize },
    #[error("AI {ai} at position {position} needs {expected} characters, only {found} left")]
    Truncated {
        ai: &'static str,
        position: usize,
        expected: usize,
        found: usize,
    },
    #[error("AI {ai} at position {position} must be digits, found byte 0x{byte:02x}")]
    NotNumeric {
        ai: &'static str,
        position: usize,
        byte: u8,
    },
    #[error("AI {ai} at position {position} is {len} characters long, at most {max} allowed")]
    ElementTooLong {
        ai: &'static str,
        position: usize,
        len: usize,
        max: usize,
    },
    #[error("AI {ai} at position {position} has an empty value")]
    EmptyValue { ai: &'static str, position: usize },
    #[error("two GS separators in a row at position {position}")]
    DoubleSeparator { position: usize },
    #[error("GTIN check digit is {found}, expected {expected}")]
    GtinCheckDigit { found: u8, expected: u8 },
    #[error(
        "the GS separators seem lost: the {len} characters after AI 21 can be read with a serial of \
         {lengths:?} characters; the split is ambiguous, rescan the code"
    )]
    AmbiguousSplit { len: usize, lengths: Vec<usize> },
    #[error(
        "the serial (AI 21) is {len} characters, more than 20, and no per-group serial length \
         splits it into a serial and a crypto tail: the GS separators were probably lost"
    )]
    Unsplittable { len: usize },
    #[error("character '{ch}' at position {position} is not a base-80 MRP digit")]
    NotBase80 { ch: char, position: usize },
    #[error("bracketed element at position {position} is not closed with ')'")]
    UnclosedBracket { position: usize },
}
