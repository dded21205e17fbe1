//! A background job's life: waiting, claimed by a worker, and how it ended. The statuses are
//! stored as these codes; nothing else spells them.

/// Where a background job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for a worker (also between failed attempts).
    Pending,
    /// Claimed by a worker.
    Running,
    /// Finished: every item is done.
    Done,
    /// Stopped for good: its attempts are spent or its kind is unknown.
    Failed,
}

impl JobStatus {
    pub const ALL: [JobStatus; 4] =
        [JobStatus::Pending, JobStatus::Running, JobStatus::Done, JobStatus::Failed];

    /// The stored code (and the API's enum value).
    pub const fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Running => "RUNNING",
            JobStatus::Done => "DONE",
            JobStatus::Failed => "FAILED",
        }
    }

    pub fn from_code(code: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_code() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::from_code(status.as_str()), Some(status));
        }
        assert_eq!(JobStatus::from_code("pending"), None);
    }
}
