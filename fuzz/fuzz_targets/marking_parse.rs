//! Normalisation + parsing of arbitrary bytes: never panics, and whatever parses is stable —
//! the canonical KM parses again to the same code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marking::MarkingCode;

fuzz_target!(|data: &[u8]| {
    if let Ok(code) = MarkingCode::parse(data) {
        let again = MarkingCode::parse(code.km()).expect("a canonical KM parses");
        assert_eq!(again.km(), code.km());
        assert_eq!(again.ki(), code.ki());
        assert_eq!(again.format(), code.format());
    }
});
