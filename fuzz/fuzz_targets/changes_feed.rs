//! The replication feed: an arbitrary `_changes` body is parsed as the sync engine parses it
//! (`lm::sync::source::ChangesPage`, whole, before anything is applied), and every row is mapped
//! for every list. Never a panic; a row maps to a change, a skip or an "unmapped" reason. The
//! full protocol type (`protocol::replication::ChangesResponse`) must survive a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::sync::mapping::{Mapped, map_change};
use lm::sync::source::ChangesPage;
use protocol::replication::ChangesResponse;
use store::ListDb;

fuzz_target!(|body: &[u8]| {
    if let Ok(page) = serde_json::from_slice::<ChangesPage>(body) {
        for change in &page.results {
            for db in ListDb::ALL {
                match map_change(db, change) {
                    Mapped::Change(_) | Mapped::Skipped => {}
                    Mapped::Unmapped(reason) => assert!(!reason.is_empty()),
                }
            }
        }
    }
    let Ok(page) = serde_json::from_slice::<ChangesResponse>(body) else {
        return;
    };
    let again = serde_json::to_vec(&page).expect("a parsed page serialises");
    let reparsed: ChangesResponse = serde_json::from_slice(&again).expect("and parses again");
    assert_eq!(reparsed.results.len(), page.results.len());
});
