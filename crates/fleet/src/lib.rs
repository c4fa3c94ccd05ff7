//! The fleet view (`znak fleet`): reads a list of local modules ([`hosts`]), asks each for its
//! status concurrently with a deadline per host ([`poll`]: `/api/v2/status`, falling back to
//! `/api/v1/status`; our module's format or the official one's), and judges the answers
//! ([`report`]: a table worst first, JSON, and an exit code for monitoring systems).

pub mod hosts;
pub mod poll;
pub mod report;

pub use hosts::{Host, HostsError, parse_hosts};
pub use poll::{Answer, HostStatus, ModuleStatus, PollOptions, poll_all};
pub use report::{Report, Row, Severity};
