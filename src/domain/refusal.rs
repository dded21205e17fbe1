//! What a refusal says: its code (the API's error code), the frequency rule behind a
//! `CONTACT_LIMIT` or the reason behind `OUTSIDE_CALLING_HOURS`, and when the call would be
//! allowed.

use chrono::{DateTime, Utc};

/// The error code a refusal maps to (API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCode {
    SchedulePaused,
    DoNotCall,
    OutsideCallingHours,
    ContactLimit,
    RecentlyDialed,
    /// FDCPA 805(a)(2), 805(c): an attorney, a request to cease, a dispute.
    ContactHold,
    /// No unrevoked consent of the kind the call's purpose needs.
    NoConsent,
}

impl RefusalCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::SchedulePaused => "SCHEDULE_PAUSED",
            RefusalCode::DoNotCall => "DO_NOT_CALL",
            RefusalCode::OutsideCallingHours => "OUTSIDE_CALLING_HOURS",
            RefusalCode::ContactLimit => "CONTACT_LIMIT",
            RefusalCode::RecentlyDialed => "RECENTLY_DIALED",
            RefusalCode::ContactHold => "CONTACT_HOLD",
            RefusalCode::NoConsent => "NO_CONSENT",
        }
    }
}

/// Which frequency rule a `CONTACT_LIMIT` refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    WeeklyCap,
    DailyCap,
    ConversationQuietPeriod,
    MinGap,
    /// 3 calls in 30 days to a landline without consent.
    LandlineCap,
    /// With `OUTSIDE_CALLING_HOURS`: a time the consumer said is inconvenient.
    InconvenientTime,
}

impl LimitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReason::WeeklyCap => "WEEKLY_CAP",
            LimitReason::DailyCap => "DAILY_CAP",
            LimitReason::ConversationQuietPeriod => "CONVERSATION_QUIET_PERIOD",
            LimitReason::MinGap => "MIN_GAP",
            LimitReason::LandlineCap => "LANDLINE_CAP",
            LimitReason::InconvenientTime => "INCONVENIENT_TIME",
        }
    }
}

/// Why a call may not be placed now, and the earliest instant it may (None: no time will do).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: RefusalCode,
    pub reason: Option<LimitReason>,
    pub message: String,
    pub next_allowed_at: Option<DateTime<Utc>>,
    /// The candidate zones considered (IANA names).
    pub zones: Vec<String>,
}
