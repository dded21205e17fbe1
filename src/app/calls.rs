//! Calls: place one now (makeCall), move one forward (reportCallStatus), record attempts made
//! outside callsync, and say what makeCall would decide (callEligibility).

use crate::domain::tasks::TaskStatus;

use chrono::{DateTime, Duration, Utc};
use diesel::PgConnection;
use serde_json::Value;
use uuid::Uuid;

use super::contact::{self, DecideRequest, Person};
use super::AppError;
use crate::domain::calls::{task_status_for, transition, CallSource, CallStatus, Transition};
use crate::domain::contact_policy::{ContactHistory, ContactPolicy, LineType, Refusal};
use crate::domain::customer::normalize_phone;
use crate::domain::{bounded_text, ValidationError, MAX_NOTE_LEN, MAX_TEXT_LEN};
use crate::store::calls::{self as store, CallRow, NewCall, StatusUpdate};
use crate::store::customers::{self, CustomerRow};
use crate::store::schedules::{self, ScheduleRow};
use crate::store::StoreError;

/// Who to call and through which schedule, as makeCall and callEligibility name it.
#[derive(Debug, Clone, Default)]
pub struct CallTarget {
    /// The customer's external id: dial its number through the schedule of its task type
    /// (or `schedule_id` when given, for callEligibility).
    pub customer_external_id: Option<String>,
    pub schedule_id: Option<Uuid>,
    /// With `schedule_id`: this number (any format).
    pub phone_number: Option<String>,
}

/// A resolved callee: the customer (if any), the schedule and the E.164 number.
pub struct Resolved {
    pub customer: Option<CustomerRow>,
    pub schedule: ScheduleRow,
    pub number: String,
}

/// Finds the customer, schedule and number a call would go to. `to_field` names the number's
/// input field (`to` for makeCall, `phoneNumber` for callEligibility).
pub fn resolve(
    conn: &mut PgConnection,
    company_id: Uuid,
    target: &CallTarget,
    to_field: &str,
) -> Result<Resolved, AppError> {
    match (&target.customer_external_id, target.schedule_id) {
        (Some(external_id), schedule_id) => {
            let customer =
                customers::by_external_id(conn, company_id, external_id)?.ok_or(StoreError::NotFound)?;
            let schedule = match (schedule_id, &customer.task_type) {
                (Some(id), _) => schedules::get(conn, company_id, id)?,
                (None, Some(task_type)) => schedules::by_task_type(conn, company_id, task_type)?,
                (None, None) => None,
            }
            .ok_or_else(|| ValidationError::new("customerId", "the customer's task type has no schedule"))?;
            let number = customer
                .phone_number
                .clone()
                .ok_or_else(|| ValidationError::new("customerId", "the customer has no phone number"))?;
            Ok(Resolved { customer: Some(customer), schedule, number })
        }
        (None, Some(schedule_id)) => {
            let schedule = schedules::get(conn, company_id, schedule_id)?.ok_or(StoreError::NotFound)?;
            let raw = target.phone_number.as_deref().ok_or_else(|| ValidationError::required(to_field))?;
            let number = normalize_phone(to_field, raw)?;
            let customer = customers::by_phone(conn, company_id, &number)?;
            Ok(Resolved { customer, schedule, number })
        }
        (None, None) => {
            Err(ValidationError::new("customerId", format!("give customerId, or scheduleId and {to_field}"))
                .into())
        }
    }
}

impl Resolved {
    /// The same callee with the customer's row locked and read again (the first lock of the
    /// order every dialling path takes), so a Do Not Call or a new number committed meanwhile
    /// is what the policy sees.
    fn locked(
        self,
        conn: &mut PgConnection,
        company_id: Uuid,
        target: &CallTarget,
    ) -> Result<Resolved, AppError> {
        let Some(customer) = &self.customer else { return Ok(self) };
        let customer =
            customers::lock_many(conn, company_id, &[customer.id])?.pop().ok_or(StoreError::NotFound)?;
        let number = match (&target.customer_external_id, &customer.phone_number) {
            (Some(_), Some(phone)) => phone.clone(),
            (Some(_), None) => {
                return Err(ValidationError::new("customerId", "the customer has no phone number").into())
            }
            (None, _) => self.number,
        };
        Ok(Resolved { customer: Some(customer), schedule: self.schedule, number })
    }

    /// What the one decide step needs of this callee (see [`contact::decide`]).
    fn request(&self) -> DecideRequest<'_> {
        DecideRequest {
            customer: self.customer.as_ref(),
            number: &self.number,
            schedule: &self.schedule,
            own_attempt: None,
            line: None,
        }
    }
}

/// What makeCall carries besides the target.
#[derive(Debug, Clone, Default)]
pub struct MakeCall {
    pub target: CallTarget,
    /// A consent to record for the number before deciding (field `consent`).
    pub consent: Option<super::consent::ConsentGiven>,
    /// The kind of line the number is, when the caller knows.
    pub line_type: Option<LineType>,
    pub data: Option<Value>,
    pub agent_id: Option<String>,
}

/// makeCall: the contact policy decides under the locks (the customer's row, then the
/// company's dialling lock, so concurrent calls and Do Not Call changes see each other), then
/// the calls-per-second limit; the call is QUEUED until its expiry (see
/// [`ContactPolicy::expiry`]) and decided again when a provider gets it (`app::handoff`).
pub fn make_call(
    conn: &mut PgConnection,
    company_id: Uuid,
    request: &MakeCall,
    now: DateTime<Utc>,
) -> Result<CallRow, AppError> {
    bounded_text("agentId", request.agent_id.as_deref(), MAX_TEXT_LEN)?;
    if let Some(data) = &request.data {
        crate::domain::customer::json_object("data", data)?;
    }
    let resolved =
        resolve(conn, company_id, &request.target, "to")?.locked(conn, company_id, &request.target)?;
    store::lock_company_dialing(conn, company_id)?;
    if let Some(given) = &request.consent {
        super::consent::record(conn, company_id, &resolved.number, given, "consent", now)?;
    }
    let mut callee = resolved.request();
    callee.line = request.line_type;
    let decision =
        contact::decide(conn, company_id, &[callee], now, contact::HistoryWindow::dialling(now))?.remove(0);
    decision.verdict?;
    let policy = decision.policy?;
    let dialing = store::dialing_state(conn, company_id, now)?;
    if dialing.at_limit() {
        let limit = dialing.limit;
        let message = format!("the company's limit of {limit} calls per second is reached; retry shortly");
        return Err(AppError::RateLimited(message));
    }
    let mut call = NewCall::queued(
        &resolved.schedule,
        resolved.customer.as_ref(),
        &resolved.number,
        CallSource::MakeCall,
        now,
    );
    call.agent_id = request.agent_id.clone();
    call.data = request.data.clone();
    call.hand_off = dialing.has_webhook;
    call.expires_at = Some(policy.expiry(now, dialing.queued_call_ttl));
    call.line_type = request.line_type.map(LineType::code);
    Ok(store::insert_calls(conn, &[call], now)?.remove(0))
}

/// A status report from the dialer or the agent platform.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub status: CallStatus,
    pub disposition: Option<String>,
    pub duration_seconds: Option<i32>,
    pub occurred_at: Option<DateTime<Utc>>,
    /// From the provider that places the call (reportCallStatus), not callsync's own
    /// bookkeeping (a failed delivery, a stuck call): the first such report of a call never
    /// handed over is its hand-off.
    pub from_provider: bool,
    /// What the consumer said on the call, if it changes what callsync may do.
    pub outcome: Option<CallOutcome>,
}

/// reportCallStatus: moves a call forward (idempotently) with its event; the task follows;
/// a conversation moves the customer's pending tasks out of the quiet period.
///
/// The first provider report of a call never handed over is its hand-off: the policy decides
/// again at the report's instant, and a refusal cancels the call. That is the one error that
/// writes: the outer result fails the transaction, the inner one is committed either way.
pub fn report_status(
    conn: &mut PgConnection,
    company_id: Uuid,
    call_id: Uuid,
    report: &StatusReport,
    now: DateTime<Utc>,
) -> Result<Result<CallRow, AppError>, AppError> {
    bounded_text("disposition", report.disposition.as_deref(), MAX_NOTE_LEN)?;
    // The customer's row first, as syncs and Do-Not-Call changes lock it: one lock order.
    let seen = store::get(conn, company_id, call_id)?;
    let customer = match seen.as_ref().and_then(|c| c.customer_id) {
        Some(id) => customers::lock_many(conn, company_id, &[id])?.pop(),
        None => None,
    };
    // A report that may be the hand-off decides under the company's dialling lock, taken
    // before the call's row as on every dialling path.
    let may_hand_off =
        |c: &CallRow| report.from_provider && c.status == "QUEUED" && c.handed_off_at.is_none();
    if seen.as_ref().is_some_and(may_hand_off) {
        store::lock_company_dialing(conn, company_id)?;
    }
    let call = store::lock_call(conn, company_id, call_id)?.ok_or(StoreError::NotFound)?;
    let from = CallStatus::parse(&call.status).unwrap_or(CallStatus::Queued);
    match transition(from, report.status) {
        Transition::Unchanged => return Ok(Ok(call)),
        Transition::Invalid => {
            return Err(AppError::InvalidTransition(format!(
                "a {} call cannot become {}",
                from.as_str(),
                report.status.as_str()
            )))
        }
        Transition::Advance => {}
    }
    if report.duration_seconds.is_some_and(|d| d < 0) {
        return Err(ValidationError::new("durationSeconds", "durationSeconds must be zero or more").into());
    }
    let at = report.occurred_at.unwrap_or(now);
    // A call cannot end before it was placed or started, nor in the future (a minute of clock
    // skew allowed).
    let not_before = call.started_at.unwrap_or(call.created_at).max(call.created_at);
    if at < not_before {
        let message = format!("occurredAt must not be before the call was placed or started ({not_before})");
        return Err(ValidationError::new("occurredAt", message).into());
    }
    if at > now + Duration::minutes(1) {
        return Err(ValidationError::new("occurredAt", "occurredAt must not be in the future").into());
    }
    if may_hand_off(&call) && report.status != CallStatus::Cancelled {
        store::lock_company_dialing(conn, company_id)?;
        let verdict = super::handoff::decide(conn, &call, customer.as_ref(), at)?;
        if super::handoff::cancel_for(conn, &call, &verdict, now)?.is_some() {
            return Ok(Err(match verdict {
                super::handoff::Verdict::Refused(refusal) => AppError::Refused(refusal),
                _ => AppError::InvalidTransition(format!(
                    "the call was cancelled before it was handed over ({})",
                    if matches!(verdict, super::handoff::Verdict::Expired) {
                        "it expired"
                    } else {
                        "its schedule was deleted"
                    }
                )),
            }));
        }
        store::mark_handed_off(conn, company_id, call.id, at)?;
    }
    let update = StatusUpdate {
        status: report.status.as_str(),
        disposition: report.disposition.as_deref(),
        duration_seconds: report.duration_seconds,
        started_at: if report.status == CallStatus::InProgress { Some(at) } else { call.started_at },
        ended_at: report.status.is_final().then_some(at),
    };
    let updated = store::update_status(conn, &call, &update, report.status.is_final(), now)?;
    if let (Some(task_id), Some(task_status)) = (updated.task_id, task_status_for(report.status)) {
        store::set_task_status(conn, company_id, task_id, task_status, now)?;
    }
    if let Some(outcome) = report.outcome {
        apply_outcome(conn, &updated, customer.as_ref(), outcome, now)?;
    }
    if let (CallStatus::Completed, Some(customer)) = (report.status, &customer) {
        if report.outcome != Some(CallOutcome::WrongNumber) {
            replan_pending(conn, customer, now)?;
        }
    }
    Ok(Ok(updated))
}

/// What the consumer said on a call that changes what callsync may do (reported by the agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// "Stop calling me": consent withdrawn (FCC 24-24: by any reasonable means); the number is
    /// suppressed for every schedule.
    OptOut,
    /// The number is not the consumer's (reassigned): suppressed; no conversation took place.
    WrongNumber,
    /// FDCPA 805(a)(2): the consumer has an attorney: a contact hold.
    AttorneyRepresented,
    /// FDCPA 805(c): the consumer asked the collector to cease: a contact hold.
    CeaseRequested,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::OptOut => "OPT_OUT",
            CallOutcome::WrongNumber => "WRONG_NUMBER",
            CallOutcome::AttorneyRepresented => "ATTORNEY_REPRESENTED",
            CallOutcome::CeaseRequested => "CEASE_REQUESTED",
        }
    }
}

/// Applies what the consumer said, in the reporting transaction: the outcome is kept on the
/// call; an opt-out or a wrong number suppresses the number (source CONSUMER_OPT_OUT or
/// WRONG_NUMBER, binding every schedule); an attorney or a cease request holds the customer
/// (a one-off number with no customer is suppressed as an opt-out instead). Pending tasks and
/// queued calls that the words forbid are cancelled at once, with events.
fn apply_outcome(
    conn: &mut PgConnection,
    call: &CallRow,
    customer: Option<&CustomerRow>,
    outcome: CallOutcome,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    use super::customers::{stop_contact, StopReason};
    let company_id = call.company_id;
    store::set_outcome(conn, company_id, call.id, outcome.as_str())?;
    let number = std::slice::from_ref(&call.to_number);
    let suppress = |conn: &mut PgConnection, source: &str| -> Result<(), AppError> {
        crate::store::suppressed::add_from_consumer(conn, company_id, &call.to_number, source, now)?;
        stop_contact(conn, company_id, &[], number, StopReason::DoNotCall, now)?;
        Ok(())
    };
    match (outcome, customer) {
        (CallOutcome::OptOut, _) => {
            // Consent revoked by the consumer's own words (FCC 24-24: any reasonable means).
            match super::consent::revoke(conn, company_id, &call.to_number, now) {
                Ok(_) | Err(AppError::Store(StoreError::NotFound)) => {}
                Err(other) => return Err(other),
            }
            suppress(conn, crate::store::suppressed::CONSUMER_OPT_OUT)
        }
        (CallOutcome::WrongNumber, _) => suppress(conn, crate::store::suppressed::WRONG_NUMBER),
        (CallOutcome::AttorneyRepresented | CallOutcome::CeaseRequested, Some(customer)) => {
            customers::set_contact_hold(
                conn,
                customer.company_id,
                customer.id,
                Some((outcome.as_str(), None)),
                now,
            )?;
            stop_contact(conn, company_id, &[customer.id], &[], StopReason::ContactHold, now)?;
            Ok(())
        }
        (CallOutcome::AttorneyRepresented | CallOutcome::CeaseRequested, None) => {
            suppress(conn, crate::store::suppressed::CONSUMER_OPT_OUT)
        }
    }
}

/// Re-places the customer's future pending tasks through the policy, counting every attempt
/// and the tasks before each one: a task the policy would now refuse (a conversation's quiet
/// period, a cap reached by calls from any path) moves to the earliest instant it allows, with a
/// RESCHEDULED event, or is cancelled when no time will do. Tasks still allowed stay put.
pub fn replan_pending(
    conn: &mut PgConnection,
    customer: &CustomerRow,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let company_id = customer.company_id;
    let pending = store::lock_pending_tasks(conn, company_id, customer.id, now)?;
    let Some(first) = pending.first() else { return Ok(0) };
    let Some(schedule) = schedules::by_ids(conn, company_id, &[first.schedule_id])?.pop() else {
        return Ok(0);
    };
    let mut history = contact::history(
        conn,
        company_id,
        &Person::of(customer),
        contact::history_since(now, customer.line_type()),
    )?
    .history;
    // The tasks being re-placed are not yet planned; overdue ones (the dialer's) still count.
    history.planned.retain(|t| *t < now);
    let placed = match contact::customer_policy(conn, customer, &schedule)? {
        Ok(policy) => {
            let nominal: Vec<DateTime<Utc>> = pending.iter().map(|t| t.scheduled_for).collect();
            keep_allowed(&policy, &history, &nominal)
        }
        Err(_) => vec![None; pending.len()],
    };
    let mut changed = 0;
    for (task, new_at) in pending.iter().zip(placed) {
        match new_at {
            Some(at) if at == task.scheduled_for => {}
            Some(at) => {
                store::reschedule_task(conn, task, at, now)?;
                changed += 1;
            }
            None => {
                store::set_task_status(conn, company_id, task.id, TaskStatus::Cancelled, now)?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// [`ContactPolicy::place`], except that a plan the policy still allows as it stands is kept.
fn keep_allowed(
    policy: &ContactPolicy,
    history: &ContactHistory,
    nominal: &[DateTime<Utc>],
) -> Vec<Option<DateTime<Utc>>> {
    let mut check = history.clone();
    let unchanged = nominal.iter().all(|t| {
        let ok = policy.allows(&check, *t);
        check.planned.push(*t);
        ok
    });
    if unchanged {
        nominal.iter().copied().map(Some).collect()
    } else {
        policy.place(history, nominal)
    }
}

/// One attempt made outside callsync.
#[derive(Debug, Clone)]
pub struct AttemptInput {
    pub customer_external_id: Option<String>,
    pub phone_number: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub status: CallStatus,
    pub duration_seconds: Option<i32>,
    pub agent_id: Option<String>,
    /// What the consumer said on the call, if it changes what callsync may do.
    pub outcome: Option<CallOutcome>,
}

/// Most attempts in one recordCallAttempts.
pub const MAX_ATTEMPTS_PER_REQUEST: usize = 1000;
/// How far back an attempt may be recorded.
pub const MAX_ATTEMPT_AGE_DAYS: i64 = 400;

/// recordCallAttempts: all or nothing. Each attempt is a final call with source EXTERNAL at
/// its own time; it counts toward caps at once, and a conversation moves pending tasks.
pub fn record_attempts(
    conn: &mut PgConnection,
    company_id: Uuid,
    attempts: &[AttemptInput],
    now: DateTime<Utc>,
) -> Result<Vec<CallRow>, AppError> {
    if attempts.len() > MAX_ATTEMPTS_PER_REQUEST {
        let message = format!("at most {MAX_ATTEMPTS_PER_REQUEST} attempts per request");
        return Err(ValidationError::new("attempts", message).into());
    }
    for (i, attempt) in attempts.iter().enumerate() {
        bounded_text(&format!("attempts.{i}.agentId"), attempt.agent_id.as_deref(), MAX_TEXT_LEN)?;
    }
    let mut new_calls = Vec::with_capacity(attempts.len());
    let mut touched: Vec<CustomerRow> = Vec::new();
    for (i, attempt) in attempts.iter().enumerate() {
        let field = |name: &str| format!("attempts.{i}.{name}");
        if !attempt.status.is_final() || attempt.status == CallStatus::Cancelled {
            let message = "status must be a final outcome: COMPLETED, NO_ANSWER, BUSY, VOICEMAIL or FAILED";
            return Err(ValidationError::new(field("status"), message).into());
        }
        if attempt.occurred_at > now {
            return Err(ValidationError::new(field("occurredAt"), "occurredAt must be in the past").into());
        }
        if attempt.occurred_at < now - Duration::days(MAX_ATTEMPT_AGE_DAYS) {
            let message = format!("occurredAt must be at most {MAX_ATTEMPT_AGE_DAYS} days ago");
            return Err(ValidationError::new(field("occurredAt"), message).into());
        }
        if attempt.duration_seconds.is_some_and(|d| d < 0) {
            return Err(ValidationError::new(
                field("durationSeconds"),
                "durationSeconds must be zero or more",
            )
            .into());
        }
        let customer = match (&attempt.customer_external_id, &attempt.phone_number) {
            (Some(id), _) => {
                Some(customers::by_external_id(conn, company_id, id)?.ok_or(StoreError::NotFound)?)
            }
            (None, Some(raw)) => {
                let number = normalize_phone(&field("phoneNumber"), raw)?;
                customers::by_phone(conn, company_id, &number)?
            }
            (None, None) => {
                return Err(ValidationError::new(field("customerId"), "give customerId or phoneNumber").into())
            }
        };
        let number = match (&customer, &attempt.phone_number) {
            (_, Some(raw)) => normalize_phone(&field("phoneNumber"), raw)?,
            (Some(c), None) => c.phone_number.clone().ok_or_else(|| {
                ValidationError::new(field("customerId"), "the customer has no phone number")
            })?,
            (None, None) => unreachable!("checked above"),
        };
        if let Some(c) = &customer {
            let conversation =
                attempt.status == CallStatus::Completed && attempt.outcome != Some(CallOutcome::WrongNumber);
            if conversation && !touched.iter().any(|t| t.id == c.id) {
                touched.push(c.clone());
            }
        }
        new_calls.push(NewCall {
            company_id,
            customer_id: customer.as_ref().map(|c| c.id),
            customer_ref: customer.as_ref().map(|c| c.external_id.clone()),
            schedule_id: None,
            task_id: None,
            to_number: number,
            status: attempt.status.as_str(),
            source: CallSource::External.as_str(),
            agent_id: attempt.agent_id.clone(),
            disposition_id: None,
            data: None,
            duration_seconds: attempt.duration_seconds,
            at: attempt.occurred_at,
            ended_at: Some(attempt.occurred_at),
            hand_off: false,
            expires_at: None,
            line_type: None,
        });
    }
    let rows = store::insert_calls(conn, &new_calls, now)?;
    for (row, attempt) in rows.iter().zip(attempts) {
        if let Some(outcome) = attempt.outcome {
            let customer = match row.customer_id {
                Some(id) => customers::lock_many(conn, company_id, &[id])?.pop(),
                None => None,
            };
            apply_outcome(conn, row, customer.as_ref(), outcome, now)?;
        }
    }
    for customer in customers::lock_many(conn, company_id, &touched.iter().map(|c| c.id).collect::<Vec<_>>())?
    {
        replan_pending(conn, &customer, now)?;
    }
    Ok(rows)
}

/// What makeCall would decide at an instant (the calls-per-second limit aside).
#[derive(Debug, Clone)]
pub struct Eligibility {
    pub refusal: Option<Refusal>,
    pub zones: Vec<String>,
    pub attempts_last_7_days: usize,
    pub last_conversation_at: Option<DateTime<Utc>>,
    pub next_allowed_at: Option<DateTime<Utc>>,
}

/// callEligibility: the same resolution, policy and history as makeCall, read-only.
pub fn eligibility(
    conn: &mut PgConnection,
    company_id: Uuid,
    target: &CallTarget,
    at: DateTime<Utc>,
) -> Result<Eligibility, AppError> {
    let resolved = resolve(conn, company_id, target, "phoneNumber")?;
    // A year back, so the last conversation shows even when it no longer binds.
    let since = at - Duration::days(MAX_ATTEMPT_AGE_DAYS);
    let contact::Decision { policy, history, verdict } = contact::decide(
        conn,
        company_id,
        &[resolved.request()],
        at,
        contact::HistoryWindow { since, as_of_at: true },
    )?
    .remove(0);
    let last_conversation_at = history.last_conversation;
    match policy {
        Err(refusal) => Ok(Eligibility {
            zones: refusal.zones.clone(),
            refusal: Some(refusal),
            attempts_last_7_days: 0,
            last_conversation_at,
            next_allowed_at: None,
        }),
        Ok(policy) => {
            let attempts_last_7_days = policy.attempts_in_week_ending(&history, at);
            let (refusal, next_allowed_at) = match verdict {
                Ok(()) => (None, Some(at)),
                Err(refusal) => {
                    let next = refusal.next_allowed_at;
                    (Some(refusal), next)
                }
            };
            Ok(Eligibility {
                refusal,
                zones: policy.zone_names(),
                attempts_last_7_days,
                last_conversation_at,
                next_allowed_at,
            })
        }
    }
}
