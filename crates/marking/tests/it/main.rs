//! Integration tests of the marking library: one binary, one module per topic.

mod errors;
mod fixtures;
mod properties;
