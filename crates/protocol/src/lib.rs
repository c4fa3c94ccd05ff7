//! Serde types of every wire format znak speaks. No I/O; field names are exactly those of
//! protocol.md (the contract), with `Option` for every field the reference marks optional.
//!
//! * [`true_api`] — the operator's True API for permissive mode (protocol.md §1);
//! * [`lm`] — the local module's HTTP API v1 and v2 (protocol.md §3);
//! * [`registration`] — module registration at the operator (our definition, design.md §3);
//! * [`replication`] — the CouchDB replication protocol, read side (design.md §3).

pub mod lm;
pub mod registration;
pub mod replication;
pub mod true_api;
