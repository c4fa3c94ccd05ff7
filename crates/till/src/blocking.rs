//! A blocking facade for synchronous POS code: the async checker on its own small runtime.

use crate::checker::{CheckError, CheckRequest, Checker, SetupError};
use crate::config::TillConfig;
use crate::outcome::CheckOutcome;
use crate::queue::{Operation, QueueError, SoldQueue};

/// The till checker for callers without an async runtime. Background upkeep (CDN refresh,
/// probes) runs on the facade's own worker thread between calls.
pub struct BlockingChecker {
    runtime: tokio::runtime::Runtime,
    checker: Checker,
    queue: SoldQueue,
}

impl BlockingChecker {
    pub fn new(config: TillConfig) -> Result<Self, SetupError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("till-checker")
            .enable_all()
            .build()
            .map_err(SetupError::Runtime)?;
        let queue = SoldQueue::open(&config.queue_path())?;
        let checker = Checker::new(config)?;
        Ok(Self {
            runtime,
            checker,
            queue,
        })
    }

    /// Checks one item; returns within the deadline plus processing time.
    pub fn check(&self, request: CheckRequest) -> Result<CheckOutcome, CheckError> {
        self.runtime.block_on(self.checker.check(request))
    }

    /// Refreshes the CDN list when due and probes blocked hosts.
    pub fn maintain(&self) {
        self.runtime.block_on(self.checker.maintain());
    }

    /// Records a fiscalised sale (`sell`) or return of these KIs, durably, and tries to deliver
    /// what is due now (and to confirm sales delivered earlier). Returns the queue id.
    pub fn register(&self, op: Operation, kis: Vec<String>) -> Result<u64, QueueError> {
        let id = self.queue.enqueue(op, kis, self.checker.now())?;
        if let Some(module) = self.checker.module() {
            self.runtime.block_on(async {
                self.queue.flush(module, self.checker.now()).await?;
                // Sales delivered a minute ago are looked up in the module's sold list.
                if self.queue.confirm(module, self.checker.now()).await? > 0 {
                    self.queue.flush(module, self.checker.now()).await?;
                }
                Ok::<_, QueueError>(())
            })?;
        }
        Ok(id)
    }

    pub fn checker(&self) -> &Checker {
        &self.checker
    }
}
