//! A task's life: planned (PENDING), being dialled, and how it ended. The statuses are stored
//! as these codes; nothing else spells them.

/// Where a planned attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Planned, not yet dialled.
    Pending,
    /// Its call is ringing or in progress.
    InProgress,
    /// Its call ended in a conversation.
    Completed,
    /// Its call ended without one (no answer, busy, voicemail, failed).
    Failed,
    /// Stopped before it was dialled (a later sync, a mark, a hold, no allowed time…).
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Pending,
        TaskStatus::InProgress,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    /// The stored code (and the API's enum value).
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::InProgress => "IN_PROGRESS",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn from_code(code: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == code)
    }
}
