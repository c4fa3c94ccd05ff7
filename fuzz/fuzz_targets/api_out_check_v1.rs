//! `POST /api/v1/cis/outCheck` with an arbitrary body: never a 5xx, never a non-JSON answer.
#![no_main]

#[path = "common/api.rs"]
mod api;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| api::call("POST", "/api/v1/cis/outCheck", body));
