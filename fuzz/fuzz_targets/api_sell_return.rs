//! `POST /api/v2/cis/sell` then `POST /api/v2/cis/return` with an arbitrary body (the first
//! byte picks the order), then `GET /api/v2/cis/sold`: never a 5xx, never a non-JSON answer.
#![no_main]

#[path = "common/api.rs"]
mod api;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let (a, b) = if first & 1 == 0 {
        ("/api/v2/cis/sell", "/api/v2/cis/return")
    } else {
        ("/api/v2/cis/return", "/api/v2/cis/sell")
    };
    api::call("POST", a, body);
    api::call("POST", b, body);
    api::call("GET", "/api/v2/cis/sold?limit=5", b"");
});
