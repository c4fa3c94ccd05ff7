//! Chestny Znak marking codes, with no I/O.
//!
//! * [`normalize`] turns scanner and transport input into the canonical KM (real GS bytes);
//! * [`MarkingCode::parse`] reads it as a GS1 element string or a 29-character pack code and
//!   gives the KI, GTIN, serial, MRP and a product-group hint;
//! * [`mrp`] is the base-80 price of tobacco packs; [`group`] the product-group table.
//!
//! Every function returns [`CodeError`] for bad input and never panics.

pub mod code;
pub mod error;
pub mod group;
pub mod gs1;
pub mod gtin;
pub mod mrp;
mod normalize;

pub use code::{Format, MarkingCode};
pub use error::CodeError;
pub use group::ProductGroup;
pub use gs1::GS;
pub use normalize::normalize;

/// The KI of any accepted input: what the local module and `/cis/sell` expect.
pub fn ki(input: impl AsRef<[u8]>) -> Result<String, CodeError> {
    MarkingCode::parse(input).map(|c| c.ki())
}
