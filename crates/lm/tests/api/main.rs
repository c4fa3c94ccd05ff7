//! End-to-end tests of the module's HTTP API over real sockets on 127.0.0.1:0.

mod admin;
mod auth;
mod conformance;
mod errors;
mod init;
mod keep_alive;
mod live;
mod metrics;
mod openapi;
mod security;
mod status_cache;
mod support;
