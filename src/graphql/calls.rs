//! Calls: `call`, `calls`, `makeCall`, `reportCallStatus`, and the Call type.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::customers::Customer;
use super::error::{ApiError, GqlResult};
use super::loaders::{CustomerKey, ScheduleKey, TaskKey};
use super::schedules::Schedule;
use super::tasks::Task;
use super::{db, loaders, tenant, TotalCount};
use crate::app::calls::{self as use_case, AttemptInput, CallTarget, MakeCall, StatusReport};
use crate::domain::calls::{CallSource as DomainSource, CallStatus as DomainStatus};
use crate::store::calls::{self as store, CallRow};

/// Where a call stands. It moves QUEUED → RINGING → IN_PROGRESS → a final status (any status
/// may go straight to a final one); a final call never changes.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "DomainStatus")]
pub enum CallStatus {
    /// Decided and waiting for a provider to place it (see `expiresAt`, `handedOffAt`).
    Queued,
    /// The callee's phone is ringing.
    Ringing,
    /// The callee answered; the conversation is under way.
    InProgress,
    /// Final: a conversation took place (starts the quiet period after a conversation).
    Completed,
    /// Final: nobody answered.
    NoAnswer,
    /// Final: the line was busy.
    Busy,
    /// Final: the call reached voicemail.
    Voicemail,
    /// Final: the call could not be placed or broke off.
    Failed,
    /// Final: cancelled before it was placed (see `cancelReason`).
    Cancelled,
}

impl CallStatus {
    pub fn domain(self) -> DomainStatus {
        self.into()
    }

    pub fn from_db(s: &str) -> CallStatus {
        DomainStatus::parse(s).map_or(CallStatus::Queued, Into::into)
    }
}

/// Which path placed a call; every one counts toward the contact caps.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "DomainSource")]
pub enum CallSource {
    /// makeCall.
    MakeCall,
    /// The dialer, for a due task.
    Scheduled,
    /// bulkAddCustomers with initiateCall.
    Bulk,
    /// Recorded with recordCallAttempts: made outside callsync.
    External,
}

impl CallSource {
    fn from_db(s: &str) -> CallSource {
        DomainSource::parse(s).map_or(CallSource::MakeCall, Into::into)
    }
}

pub struct Call(pub CallRow);

/// One call to a number: placed by makeCall, the dialer or a bulk import, or recorded after
/// the fact with recordCallAttempts.
#[Object]
impl Call {
    /// The call's id (pass it to `reportCallStatus`).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Where the call stands.
    async fn status(&self) -> CallStatus {
        CallStatus::from_db(&self.0.status)
    }
    /// E.164.
    async fn to(&self) -> &str {
        &self.0.to_number
    }
    /// None for a one-off call to a number that is no customer's.
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Customer>> {
        let Some(id) = self.0.customer_id else { return Ok(None) };
        Ok(loaders(ctx)?.load_one(CustomerKey(id)).await.gql()?.map(Customer))
    }
    /// The schedule whose rules the call was decided by; null for an attempt recorded without
    /// one.
    async fn schedule(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Schedule>> {
        let Some(id) = self.0.schedule_id else { return Ok(None) };
        Ok(loaders(ctx)?.load_one(ScheduleKey(id)).await.gql()?.map(Schedule))
    }
    /// The task this call attempts, when the dialer placed it.
    async fn task(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Task>> {
        let Some(id) = self.0.task_id else { return Ok(None) };
        Ok(loaders(ctx)?.load_one(TaskKey(id)).await.gql()?.map(Task))
    }
    /// The AI agent (or person) that takes the call.
    async fn agent_id(&self) -> Option<&str> {
        self.0.agent_id.as_deref()
    }
    /// Which path placed the call.
    async fn source(&self) -> CallSource {
        CallSource::from_db(&self.0.source)
    }
    /// 1 when created, +1 with every change.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The bulk import's callConfig.dispositionId.
    async fn disposition_id(&self) -> Option<&str> {
        self.0.disposition_id.as_deref()
    }
    /// The provider's disposition of the call, as reported (free text).
    async fn disposition(&self) -> Option<&str> {
        self.0.disposition.as_deref()
    }
    /// How long the call lasted, in seconds, as reported.
    async fn duration_seconds(&self) -> Option<i32> {
        self.0.duration_seconds
    }
    /// Data for the agent, as given to makeCall.
    async fn data(&self) -> Option<Json<Value>> {
        self.0.data.clone().map(Json)
    }
    /// When the callee answered (the IN_PROGRESS report).
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    /// When the call reached its final status.
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at
    }
    /// QUEUED calls: when the call stops waiting for a provider (cancelled, reason EXPIRED).
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at.filter(|_| self.0.status == "QUEUED")
    }
    /// When a provider got it: its webhook delivered, claimed (claimCalls), or its first report.
    async fn handed_off_at(&self) -> Option<DateTime<Utc>> {
        self.0.handed_off_at
    }
    /// CANCELLED calls: EXPIRED, REQUESTED, or the code of the refusal at hand-off.
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancel_reason.as_deref()
    }
    /// When the call was created (queued or recorded).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the call last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A call to place now: `customerId`, or `scheduleId` with `to`.
#[derive(InputObject)]
pub struct MakeCallInput {
    /// Dial this customer's number through the schedule of its task type.
    customer_id: Option<ID>,
    /// With `to`: dial this number through this schedule.
    schedule_id: Option<ID>,
    /// With `scheduleId`: the number to dial, any format (read as US without a country code);
    /// the company's customer with that number is reused, else it is a one-off call.
    to: Option<String>,
    /// Passed to the agent.
    data: Option<Json<Value>>,
    /// The AI agent that takes the call.
    agent_id: Option<String>,
    /// A consent for the number, recorded with the call (a one-off number needs one on file or
    /// here).
    consent: Option<super::consent::ConsentInput>,
    /// The kind of line the number is, when known (default UNKNOWN, treated as a cell). A
    /// LANDLINE may get 3 calls in 30 days without consent.
    line_type: Option<LineType>,
}

/// A provider's report of a call's progress.
#[derive(InputObject)]
pub struct ReportCallStatusInput {
    /// The call (NOT_FOUND if unknown).
    call_id: ID,
    /// The call's new status: forward only, else INVALID_TRANSITION.
    status: CallStatus,
    /// The provider's disposition (free text).
    disposition: Option<String>,
    /// How long the call lasted, in seconds (0 or more).
    duration_seconds: Option<i32>,
    /// When it happened (default: now).
    occurred_at: Option<DateTime<Utc>>,
    /// What the consumer said, applied in the same transaction (see `CallOutcome`).
    outcome: Option<CallOutcome>,
}

/// The kind of line a number is on.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum LineType {
    /// A cell phone.
    Wireless,
    /// A fixed line: without consent at most 3 calls per 30 local days, COLLECTION and
    /// INFORMATIONAL only (CONTACT_LIMIT, reason LANDLINE_CAP).
    Landline,
    /// An internet phone line.
    Voip,
    /// Not known: treated as a cell.
    Unknown,
}

impl LineType {
    pub fn of(line: crate::domain::contact_policy::LineType) -> LineType {
        use crate::domain::contact_policy::LineType as Domain;
        match line {
            Domain::Wireless => LineType::Wireless,
            Domain::Landline => LineType::Landline,
            Domain::Voip => LineType::Voip,
            Domain::Unknown => LineType::Unknown,
        }
    }

    pub fn domain(self) -> crate::domain::contact_policy::LineType {
        use crate::domain::contact_policy::LineType as Domain;
        match self {
            LineType::Wireless => Domain::Wireless,
            LineType::Landline => Domain::Landline,
            LineType::Voip => Domain::Voip,
            LineType::Unknown => Domain::Unknown,
        }
    }
}

/// What the consumer said on the call that changes what callsync may do.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "use_case::CallOutcome")]
pub enum CallOutcome {
    /// "Stop calling me": the number joins the suppressed list (source CONSUMER_OPT_OUT) and
    /// no schedule may call it.
    OptOut,
    /// Not the consumer's number: suppressed (source WRONG_NUMBER); not a conversation.
    WrongNumber,
    /// The consumer has an attorney: a contact hold on the customer.
    AttorneyRepresented,
    /// The consumer asked to stop all contact: a contact hold on the customer.
    CeaseRequested,
}

impl CallOutcome {
    fn domain(self) -> use_case::CallOutcome {
        self.into()
    }
}

/// One attempt made outside callsync (another dialer, a person).
#[derive(InputObject)]
pub struct CallAttemptInput {
    /// One of customerId (NOT_FOUND if unknown) or phoneNumber.
    customer_id: Option<ID>,
    /// The number called, any format (read as US without a country code).
    phone_number: Option<String>,
    /// In the past, at most 400 days ago.
    occurred_at: DateTime<Utc>,
    /// A final one: COMPLETED (a conversation), NO_ANSWER, BUSY, VOICEMAIL, FAILED.
    status: CallStatus,
    /// How long the call lasted, in seconds (0 or more).
    duration_seconds: Option<i32>,
    /// Who made the call.
    agent_id: Option<String>,
    /// What the consumer said, applied with the attempt (see `CallOutcome`).
    outcome: Option<CallOutcome>,
}

/// The attempts recordCallAttempts stored.
#[derive(SimpleObject)]
pub struct RecordCallAttemptsPayload {
    /// How many attempts were recorded (all of them).
    recorded: i32,
    /// The attempts as calls (source EXTERNAL), in input order.
    calls: Vec<Call>,
}

/// What makeCall would decide at an instant, the company's calls-per-second limit aside.
#[derive(SimpleObject)]
pub struct CallEligibility {
    /// True when makeCall would place the call.
    allowed: bool,
    /// The error code makeCall would return; null when allowed.
    code: Option<String>,
    /// CONTACT_LIMIT's reason: WEEKLY_CAP, DAILY_CAP, CONVERSATION_QUIET_PERIOD or MIN_GAP.
    reason: Option<String>,
    /// Why not, for a person; null when allowed.
    message: Option<String>,
    /// The earliest instant >= at when a call is allowed; null if never.
    next_allowed_at: Option<DateTime<Utc>>,
    /// The candidate zones considered.
    zones: Vec<String>,
    /// Attempts counted on the 7 local days ending with at's day.
    attempts_last_7_days: i32,
    /// When the last conversation (a COMPLETED call) with the callee ended; null if none.
    last_conversation_at: Option<DateTime<Utc>>,
}

/// Which calls to list; omitted fields do not filter.
#[derive(InputObject, Default)]
pub struct CallFilter {
    /// The customer's id (the integration's reference).
    customer_id: Option<ID>,
    /// Only calls decided by this schedule.
    schedule_id: Option<ID>,
    /// Only calls in one of these statuses.
    status: Option<Vec<CallStatus>>,
}

pub type CallConnection = Connection<String, Call, TotalCount>;

/// One page of calls, newest first.
pub(crate) async fn call_page(
    ctx: &Context<'_>,
    filter: store::CallFilter,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<CallConnection> {
    let company_id = tenant(ctx)?;
    let cursors = super::cursors(ctx, "calls")?;
    let request = cursors.time_page(ctx, first, after.as_deref(), true)?;
    let page =
        db(ctx).read_stale(move |conn| store::list(conn, company_id, &filter, &request)).await.gql()?;
    Ok(cursors.connection(after.is_some(), page, Call))
}

pub(crate) fn call_statuses(status: Option<Vec<CallStatus>>) -> Option<Vec<String>> {
    status.map(|s| s.into_iter().map(|s| s.domain().as_str().to_string()).collect())
}

fn schedule_uuid(id: Option<&ID>) -> async_graphql::Result<Option<Uuid>> {
    id.map(|id| Uuid::parse_str(id.as_str()).map_err(|_| ApiError::NotFound("schedule")).gql()).transpose()
}

#[derive(Default)]
pub struct CallQuery;

#[Object]
impl CallQuery {
    /// What makeCall would decide at `at` (default now; not in the past), the company's
    /// calls-per-second limit aside. customerId: that customer, through the schedule of its
    /// task type unless scheduleId is given. phoneNumber + scheduleId: as makeCall(scheduleId, to).
    async fn call_eligibility(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer (the integration's id); NOT_FOUND if unknown.")] customer_id: Option<
            ID,
        >,
        #[graphql(desc = "A number to dial through `scheduleId`, any format.")] phone_number: Option<String>,
        #[graphql(desc = "The schedule whose rules decide; NOT_FOUND if unknown.")] schedule_id: Option<ID>,
        #[graphql(desc = "The instant to decide at (default now); in the past is BAD_USER_INPUT.")]
        at: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<CallEligibility> {
        let company_id = tenant(ctx)?;
        let now = super::now(ctx);
        let at = at.unwrap_or(now);
        // A minute of slack for clients whose clock runs a little behind.
        if at < now - chrono::Duration::minutes(1) {
            return Err(ApiError::bad_input("at", "at must not be in the past")).gql();
        }
        let target = CallTarget {
            customer_external_id: customer_id.map(|id| id.0),
            schedule_id: schedule_uuid(schedule_id.as_ref())?,
            phone_number,
        };
        let e = db(ctx)
            .transaction(move |conn| use_case::eligibility(conn, company_id, &target, at))
            .await
            .gql()?;
        Ok(CallEligibility {
            allowed: e.refusal.is_none(),
            code: e.refusal.as_ref().map(|r| r.code.as_str().to_string()),
            reason: e.refusal.as_ref().and_then(|r| r.reason).map(|r| r.as_str().to_string()),
            message: e.refusal.map(|r| r.message),
            next_allowed_at: e.next_allowed_at,
            zones: e.zones,
            attempts_last_7_days: e.attempts_last_7_days as i32,
            last_conversation_at: e.last_conversation_at,
        })
    }

    /// A call by id; null for an unknown id or another company's call.
    async fn call(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The call's id.")] id: ID,
    ) -> async_graphql::Result<Option<Call>> {
        let company_id = tenant(ctx)?;
        let Ok(id) = Uuid::parse_str(id.as_str()) else { return Ok(None) };
        Ok(db(ctx).read(move |conn| store::get(conn, company_id, id)).await.gql()?.map(Call))
    }

    /// Calls, newest first.
    #[graphql(complexity = "super::connection_cost(first, child_complexity)")]
    async fn calls(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which calls; all when omitted.")] filter: Option<CallFilter>,
        #[graphql(desc = "Page size, 0 to 500 (default 50; BAD_USER_INPUT otherwise).")] first: Option<i32>,
        #[graphql(
            desc = "The `endCursor` of the previous page, as it came (opaque: an altered or foreign cursor is BAD_USER_INPUT)."
        )]
        after: Option<String>,
    ) -> async_graphql::Result<CallConnection> {
        let f = filter.unwrap_or_default();
        let filter = store::CallFilter {
            customer_external_id: f.customer_id.map(|id| id.0),
            customer_id: None,
            schedule_id: f.schedule_id.map(|id| Uuid::parse_str(id.as_str()).unwrap_or(Uuid::nil())),
            statuses: call_statuses(f.status),
        };
        call_page(ctx, filter, first, after).await
    }
}

#[derive(Default)]
pub struct CallMutation;

#[Object]
impl CallMutation {
    /// Calls now, if the contact policy allows it (paused schedule, Do Not Call, calling hours
    /// in every zone the callee may be in, the quiet period after a conversation, the caps, the
    /// gap, a redial within 30 seconds) and the company's calls-per-second limit is not reached.
    /// A refusal is an error with its code (SCHEDULE_PAUSED, DO_NOT_CALL, CONTACT_HOLD,
    /// NO_CONSENT, OUTSIDE_CALLING_HOURS, CONTACT_LIMIT, RATE_LIMITED, RECENTLY_DIALED…) and
    /// writes nothing; on success the call is QUEUED.
    async fn make_call(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whom to call, and the agent and data for the call.")] input: MakeCallInput,
    ) -> async_graphql::Result<Call> {
        let company_id = tenant(ctx)?;
        let request = MakeCall {
            target: CallTarget {
                customer_external_id: input.customer_id.map(|id| id.0),
                schedule_id: schedule_uuid(input.schedule_id.as_ref())?,
                phone_number: input.to,
            },
            data: input.data.map(|j| j.0),
            agent_id: input.agent_id,
            consent: input.consent.as_ref().map(super::consent::ConsentInput::given),
            line_type: input.line_type.map(LineType::domain),
        };
        let now = super::now(ctx);
        let row = db(ctx)
            .transaction(move |conn| use_case::make_call(conn, company_id, &request, now))
            .await
            .gql()?;
        Ok(Call(row))
    }

    /// For a provider that pulls instead of receiving the webhook: hands over up to `limit`
    /// (1..100) QUEUED calls, oldest first, each decided again now; refused ones are cancelled
    /// (with `cancelReason` and an event) and left out. A claimed call stays QUEUED with
    /// `handedOffAt` set until the provider reports. Concurrent claims never return the same call.
    async fn claim_calls(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10, desc = "Most calls to hand over, 1 to 100 (BAD_USER_INPUT otherwise).")]
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<Call>> {
        let company_id = tenant(ctx)?;
        let limit = limit.unwrap_or(10);
        let now = super::now(ctx);
        let claimed = db(ctx)
            .transaction(move |conn| crate::app::handoff::claim_calls(conn, company_id, limit.into(), now))
            .await
            .gql()?;
        Ok(claimed.into_iter().map(Call).collect())
    }

    /// Moves a call forward; the same status twice is not an error; a final call never changes.
    async fn report_call_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The call, its new status and what the provider knows.")]
        input: ReportCallStatusInput,
    ) -> async_graphql::Result<Call> {
        let company_id = tenant(ctx)?;
        let call_id =
            Uuid::parse_str(input.call_id.as_str()).map_err(|_| ApiError::NotFound("call")).gql()?;
        let report = StatusReport {
            status: input.status.domain(),
            disposition: input.disposition,
            duration_seconds: input.duration_seconds,
            occurred_at: input.occurred_at,
            from_provider: true,
            outcome: input.outcome.map(CallOutcome::domain),
        };
        let now = super::now(ctx);
        // A refused hand-off commits the call's cancellation and answers with the refusal.
        let row = db(ctx)
            .transaction(move |conn| use_case::report_status(conn, company_id, call_id, &report, now))
            .await
            .and_then(|reported| reported)
            .gql()?;
        Ok(Call(row))
    }

    /// Attempts made outside callsync (another dialer, a person): they count toward the caps
    /// at once, and a conversation starts the quiet period. At most 1,000; all or nothing.
    async fn record_call_attempts(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "At most 1,000; one bad item is BAD_USER_INPUT (field `attempts.N.name`) and nothing is written."
        )]
        attempts: Vec<CallAttemptInput>,
    ) -> async_graphql::Result<RecordCallAttemptsPayload> {
        let company_id = tenant(ctx)?;
        let attempts: Vec<AttemptInput> = attempts
            .into_iter()
            .map(|a| AttemptInput {
                customer_external_id: a.customer_id.map(|id| id.0),
                phone_number: a.phone_number,
                occurred_at: a.occurred_at,
                status: a.status.domain(),
                duration_seconds: a.duration_seconds,
                agent_id: a.agent_id,
                outcome: a.outcome.map(CallOutcome::domain),
            })
            .collect();
        let now = super::now(ctx);
        let rows = db(ctx)
            .transaction(move |conn| use_case::record_attempts(conn, company_id, &attempts, now))
            .await
            .gql()?;
        Ok(RecordCallAttemptsPayload {
            recorded: rows.len() as i32,
            calls: rows.into_iter().map(Call).collect(),
        })
    }
}
