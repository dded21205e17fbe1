//! The call-status state machine, how a call's task follows it, and the Reg F quiet period
//! after a conversation.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::calling_rules::{local_instant, CallingWindow};
use super::schedule_builder::MIN_GAP;

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
pub fn task_status_for(status: CallStatus) -> Option<&'static str> {
    match status {
        CallStatus::Queued => None,
        CallStatus::Ringing | CallStatus::InProgress => Some("IN_PROGRESS"),
        CallStatus::Completed => Some("COMPLETED"),
        CallStatus::Cancelled => Some("CANCELLED"),
        CallStatus::NoAnswer | CallStatus::Busy | CallStatus::Voicemail | CallStatus::Failed => {
            Some("FAILED")
        }
    }
}

/// Reg F 1006.14(b)(2)(ii): after a telephone conversation (its day counts as day 1) there is no
/// call for 7 days. Returns the new instants for the `pending` tasks (sorted) that fall inside
/// the quiet period: from the 8th local day on, at the window's openings, keeping their order
/// and spacing.
pub fn quiet_period_moves(
    conversation_at: DateTime<Utc>,
    zone: Tz,
    window: &CallingWindow,
    pending: &[DateTime<Utc>],
) -> Vec<Option<DateTime<Utc>>> {
    let first_day = conversation_at.with_timezone(&zone).date_naive() + Duration::days(7);
    let quiet_until = local_instant(zone, first_day, 0);
    let horizon = quiet_until + Duration::days(400);
    let mut previous: Option<DateTime<Utc>> = None;
    pending
        .iter()
        .map(|at| {
            if *at >= quiet_until && previous.is_none_or(|p| *at >= p + MIN_GAP) {
                previous = Some(*at);
                return None;
            }
            let mut t = (*at).max(quiet_until);
            if let Some(p) = previous {
                t = t.max(p + MIN_GAP);
            }
            let moved = window.next_allowed(t, horizon);
            previous = moved.or(previous);
            moved
        })
        .collect()
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
        assert_eq!(task_status_for(Completed), Some("COMPLETED"));
        assert_eq!(task_status_for(Failed), Some("FAILED"));
        assert_eq!(task_status_for(NoAnswer), Some("FAILED"));
        assert_eq!(task_status_for(Ringing), Some("IN_PROGRESS"));
        assert_eq!(task_status_for(Queued), None);
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_conversation_moves_the_next_seven_days_of_tasks() {
        let zone: Tz = "America/New_York".parse().unwrap();
        let window = CallingWindow {
            zones: vec![zone],
            open: 8 * 60,
            close: 21 * 60,
            no_sunday: false,
            no_holidays: false,
        };
        // Conversation Monday 2026-11-23 10:00 EST: quiet through Sunday the 29th.
        let pending = [utc("2026-11-24T15:00:00Z"), utc("2026-11-26T15:00:00Z"), utc("2026-12-01T15:00:00Z")];
        let moves = quiet_period_moves(utc("2026-11-23T15:00:00Z"), zone, &window, &pending);
        assert_eq!(moves, vec![Some(utc("2026-11-30T13:00:00Z")), Some(utc("2026-11-30T13:30:00Z")), None]);
    }
}
