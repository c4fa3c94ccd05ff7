//! End-to-end tests: the emulator runs in-process on 127.0.0.1 ephemeral ports and is spoken to
//! over real sockets.

mod chaos;
mod errors;
mod fault_state;
mod faults;
mod feed;
mod fields;
mod harness;
mod loopback;
mod pouchdb;
mod replication;
mod sandbox;
mod stalls;
mod time_zone;
mod tls;
mod token_method;
mod units;
