//! Replication from a CouchDB-protocol source into the store (design.md §3).

mod engine;
pub mod mapping;
pub mod progress;
pub mod registration;
pub mod source;
