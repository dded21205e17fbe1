//! Each company's share of the database calls of the request path: a company's calls take a
//! place among its own before the shared gate (see [`super::Db`]), so one tenant's flood queues
//! behind itself, not in front of the others.

use std::time::Duration;

use super::StoreError;

/// How long a company counts as busy after its last database call began or ended.
const BUSY_FOR: Duration = Duration::from_secs(1);

/// Each company's database calls running or waiting for a connection. A company alone on the
/// instance may run `alone` at once; while another company is busy too (it made a call within
/// [`BUSY_FOR`]), each runs at most `contended`: the database's CPU is what a flood takes from
/// the others, so a flooding tenant keeps its full share only while nobody else needs it.
pub(super) struct CompanyCalls {
    alone: usize,
    contended: usize,
    companies: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, Usage>>,
}

struct Usage {
    running: usize,
    last: std::time::Instant,
    /// Wakes the company's waiting calls one at a time, in order, as its calls end.
    freed: std::sync::Arc<tokio::sync::Notify>,
}

/// One of a company's calls; gives its place back when dropped.
pub(super) struct CompanyPermit {
    calls: std::sync::Arc<CompanyCalls>,
    company: uuid::Uuid,
}

impl Drop for CompanyPermit {
    fn drop(&mut self) {
        let mut companies = self.calls.companies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(usage) = companies.get_mut(&self.company) {
            usage.running = usage.running.saturating_sub(1);
            usage.last = std::time::Instant::now();
            usage.freed.notify_one();
        }
    }
}

/// One company's database calls at once: alone on the instance, and beside another busy one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompanyShare {
    pub alone: usize,
    pub contended: usize,
}

impl CompanyCalls {
    pub(super) fn new(share: CompanyShare) -> Self {
        let alone = share.alone.max(1);
        CompanyCalls { alone, contended: share.contended.clamp(1, alone), companies: Default::default() }
    }

    pub(super) async fn enter(
        self: &std::sync::Arc<Self>,
        company: uuid::Uuid,
        wait: Duration,
    ) -> Result<CompanyPermit, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let freed = {
                let mut companies = self.companies.lock().unwrap_or_else(|e| e.into_inner());
                let now = std::time::Instant::now();
                let busy = |usage: &Usage| usage.running > 0 || now.duration_since(usage.last) < BUSY_FOR;
                companies.retain(|_, usage| busy(usage));
                let others = companies.iter().any(|(other, usage)| *other != company && busy(usage));
                let share = if others { self.contended } else { self.alone };
                let usage = companies.entry(company).or_insert_with(|| Usage {
                    running: 0,
                    last: now,
                    freed: Default::default(),
                });
                usage.last = now;
                if usage.running < share {
                    usage.running += 1;
                    return Ok(CompanyPermit { calls: self.clone(), company });
                }
                usage.freed.clone()
            };
            // A call that ended since the lock was released left its notification stored.
            if tokio::time::timeout_at(deadline, freed.notified()).await.is_err() {
                return Err(StoreError::CompanyBusy(self.alone));
            }
        }
    }
}

tokio::task_local! {
    static COMPANY: uuid::Uuid;
}

/// Runs `work` with its database calls counted in `company`'s share (the HTTP door wraps
/// every authenticated request in it).
pub async fn as_company<F: std::future::Future>(company: uuid::Uuid, work: F) -> F::Output {
    COMPANY.scope(company, work).await
}

/// The company the running task works for, if a door said.
pub fn current_company() -> Option<uuid::Uuid> {
    COMPANY.try_with(|company| *company).ok()
}
