//! The till checker (protocol.md §1.2–1.13, §2).

pub mod cdn;
pub mod decision;
pub mod tag;
