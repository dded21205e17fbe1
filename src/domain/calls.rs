//! The call-status state machine and how a call's task follows it.

use super::tasks::TaskStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    Queued,
    Ringing,
    InProgress,
    Completed,
    NoAnswer,
    Busy,
    Voicemail,
    Failed,
    Cancelled,
}

/// The statuses of a call not yet ended.
pub const OPEN_STATUSES: [CallStatus; 3] = [CallStatus::Queued, CallStatus::Ringing, CallStatus::InProgress];

pub const ALL_STATUSES: [CallStatus; 9] = [
    CallStatus::Queued,
    CallStatus::Ringing,
    CallStatus::InProgress,
    CallStatus::Completed,
    CallStatus::NoAnswer,
    CallStatus::Busy,
    CallStatus::Voicemail,
    CallStatus::Failed,
    CallStatus::Cancelled,
];

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Queued => "QUEUED",
            CallStatus::Ringing => "RINGING",
            CallStatus::InProgress => "IN_PROGRESS",
            CallStatus::Completed => "COMPLETED",
            CallStatus::NoAnswer => "NO_ANSWER",
            CallStatus::Busy => "BUSY",
            CallStatus::Voicemail => "VOICEMAIL",
            CallStatus::Failed => "FAILED",
            CallStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<CallStatus> {
        ALL_STATUSES.into_iter().find(|c| c.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, CallStatus::Queued | CallStatus::Ringing | CallStatus::InProgress)
    }

    /// Position along QUEUED → RINGING → IN_PROGRESS → final.
    fn rank(self) -> u8 {
        match self {
            CallStatus::Queued => 0,
            CallStatus::Ringing => 1,
            CallStatus::InProgress => 2,
            _ => 3,
        }
    }
}

/// Which path placed a call. Every source counts toward the caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallSource {
    /// `makeCall`.
    MakeCall,
    /// The dialer, for a due task.
    Scheduled,
    /// `bulkAddCustomers(initiateCall: true)`.
    Bulk,
    /// Recorded with `recordCallAttempts`: made outside callsync.
    External,
}

impl CallSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CallSource::MakeCall => "MAKE_CALL",
            CallSource::Scheduled => "SCHEDULED",
            CallSource::Bulk => "BULK",
            CallSource::External => "EXTERNAL",
        }
    }

    pub fn parse(s: &str) -> Option<CallSource> {
        [CallSource::MakeCall, CallSource::Scheduled, CallSource::Bulk, CallSource::External]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// What reporting `to` on a call that is `from` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Move to the new status.
    Advance,
    /// The same status again: nothing to do, not an error (reports are retried).
    Unchanged,
    /// Backwards, or away from a final status.
    Invalid,
}

pub fn transition(from: CallStatus, to: CallStatus) -> Transition {
    if from == to {
        Transition::Unchanged
    } else if from.is_final() || to.rank() <= from.rank() {
        Transition::Invalid
    } else {
        Transition::Advance
    }
}

/// The status a call's task takes when the call reaches `status`, if it changes.
pub fn task_status_for(status: CallStatus) -> Option<TaskStatus> {
    match status {
        CallStatus::Queued => None,
        CallStatus::Ringing | CallStatus::InProgress => Some(TaskStatus::InProgress),
        CallStatus::Completed => Some(TaskStatus::Completed),
        CallStatus::Cancelled => Some(TaskStatus::Cancelled),
        CallStatus::NoAnswer | CallStatus::Busy | CallStatus::Voicemail | CallStatus::Failed => {
            Some(TaskStatus::Failed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallStatus::*;

    #[test]
    fn every_pair_of_states() {
        for from in ALL_STATUSES {
            for to in ALL_STATUSES {
                let expected = if from == to {
                    Transition::Unchanged
                } else if from.is_final() {
                    Transition::Invalid
                } else {
                    match (from, to) {
                        (Queued, Ringing | InProgress) | (Ringing, InProgress) => Transition::Advance,
                        (_, t) if t.is_final() => Transition::Advance,
                        _ => Transition::Invalid,
                    }
                };
                assert_eq!(transition(from, to), expected, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn the_main_path_and_shortcuts() {
        assert_eq!(transition(Queued, Ringing), Transition::Advance);
        assert_eq!(transition(Ringing, InProgress), Transition::Advance);
        assert_eq!(transition(InProgress, Completed), Transition::Advance);
        assert_eq!(transition(Queued, Failed), Transition::Advance);
        assert_eq!(transition(InProgress, Ringing), Transition::Invalid);
        assert_eq!(transition(Completed, Failed), Transition::Invalid);
        assert_eq!(transition(Completed, Completed), Transition::Unchanged);
    }

    #[test]
    fn tasks_follow_calls() {
        assert_eq!(task_status_for(Completed), Some(TaskStatus::Completed));
        assert_eq!(task_status_for(Failed), Some(TaskStatus::Failed));
        assert_eq!(task_status_for(NoAnswer), Some(TaskStatus::Failed));
        assert_eq!(task_status_for(Ringing), Some(TaskStatus::InProgress));
        assert_eq!(task_status_for(Queued), None);
    }
}
