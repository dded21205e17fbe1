//! Customers and their schedules: syncCustomerSchedule, rebuilding many schedules set-wise (a
//! bulk import's workflow), upserts, and Do Not Call taking effect at once.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::contact::{self, CompanyTerms, Person};
use super::customer_writes::{self, MatchOn};
use super::AppError;
use crate::domain::calling_rules::parse_zone;
use crate::domain::calling_rules::StateRuleTable;
use crate::domain::company::SecretField;
use crate::domain::contact_policy::{ContactHistory, LineType};
use crate::domain::customer::{CustomerPatch, CustomerRules, TaskTypeRule};
use crate::domain::lms::LoanRecord;
use crate::domain::schedule_builder::{self, BuildInput, PlannedTask, SkipReason};
use crate::domain::Patch;
use crate::domain::ValidationError;
use crate::lms::LmsClient;
use crate::secrets::Secrets;
use crate::store::calls as call_store;
use crate::store::customers::{self, CustomerRow};
use crate::store::schedules::{self, ScheduleRow};
use crate::store::tasks::{self, NewTask, NewTaskRow, TaskRow};
use crate::store::{companies, loans, Db, StoreError};

/// Why a sync built no tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncSkip {
    /// The customer's task type has no (live) schedule.
    NoSchedule,
    Builder(SkipReason),
}

impl SyncSkip {
    /// The API's name for it (`skippedReason`).
    pub fn code(self) -> &'static str {
        match self {
            SyncSkip::NoSchedule => "NO_SCHEDULE",
            SyncSkip::Builder(SkipReason::DoNotCall) => "DO_NOT_CALL",
            SyncSkip::Builder(SkipReason::SuppressedNumber) => "SUPPRESSED_NUMBER",
            SyncSkip::Builder(SkipReason::MissingPhoneNumber) => "MISSING_PHONE_NUMBER",
            SyncSkip::Builder(SkipReason::MissingTimezone) => "MISSING_TIMEZONE",
            SyncSkip::Builder(SkipReason::NoCallingWindow) => "NO_CALLING_WINDOW",
            SyncSkip::Builder(SkipReason::NoFutureSteps) => "NO_FUTURE_STEPS",
            SyncSkip::Builder(SkipReason::ContactHold) => "CONTACT_HOLD",
            SyncSkip::Builder(SkipReason::NoConsent) => "NO_CONSENT",
        }
    }
}

pub struct SyncOutcome {
    pub customer: CustomerRow,
    pub created: bool,
    pub existing_tasks_removed: i64,
    pub tasks: Vec<TaskRow>,
    pub skipped: Option<SyncSkip>,
}

/// A customer input as a door read it: the patch, its inline loans, and whether (and for which
/// loans) to enrich it from the company's LMS first.
pub struct CustomerSubmission {
    pub patch: CustomerPatch,
    pub loans: Vec<LoanRecord>,
    /// `sync: true`: fill the fields the input omits from the LMS (phone and timezone may then
    /// stay missing: the customer is saved without a schedule).
    pub sync: bool,
    pub loan_ids: Option<Vec<String>>,
    pub loan_id: Option<String>,
}

/// A customer input made ready to write: LMS enrichment applied, loans chosen.
pub struct PreparedCustomer {
    pub patch: CustomerPatch,
    pub loans: Vec<LoanRecord>,
}

/// With `sync: true`, enriches the input from the company's LMS. The LMS is called before any
/// transaction opens, and never without `sync: true`.
pub async fn prepare(
    db: &Db,
    lms: &LmsClient,
    secrets: &Secrets,
    company_id: Uuid,
    submission: CustomerSubmission,
) -> Result<PreparedCustomer, AppError> {
    let CustomerSubmission { mut patch, loans, sync, loan_ids, loan_id } = submission;
    if !sync {
        return Ok(PreparedCustomer { patch, loans });
    }
    let (base_url, stored_key) = db.read(move |conn| companies::lms_settings(conn, company_id)).await?;
    let base_url = base_url.ok_or_else(|| {
        ValidationError::new("sync", "the company has no lmsBaseUrl (set it with updateCompanySettings)")
    })?;
    // A key this server cannot read makes the LMS unusable for this company, and says why.
    let api_key = stored_key
        .map(|stored| secrets.open(company_id, SecretField::LmsApiKey, &stored))
        .transpose()
        .map_err(|e| AppError::LmsUnavailable(format!("the company's lmsApiKey cannot be read: {e}")))?;
    let external_id = patch.external_id.trim().to_string();
    let lms = lms
        .fetch(&base_url, api_key.as_ref().map(|k| k.expose()), &external_id)
        .await
        .map_err(|e| AppError::LmsUnavailable(e.to_string()))?;
    if let Some(fields) = &lms.fields {
        crate::domain::lms::enrich(&mut patch, fields);
    }
    patch.contact_optional = true;
    let loans = crate::domain::lms::select_loans(lms.loans, loans, loan_ids.as_deref(), loan_id.as_deref());
    Ok(PreparedCustomer { patch, loans })
}

/// createCustomer: inserts the customer (CONFLICT if the id exists) with its loans.
pub fn create_customer(
    conn: &mut PgConnection,
    company_id: Uuid,
    prepared: &PreparedCustomer,
    now: DateTime<Utc>,
) -> Result<CustomerRow, AppError> {
    let row = customer_writes::create(conn, company_id, &prepared.patch, now)?;
    loans::upsert_for_customer(conn, company_id, row.id, &prepared.loans, now)?;
    record_consent_given(conn, &row, &prepared.patch, now)?;
    Ok(row)
}

/// syncCustomerSchedule, in the caller's one transaction: upsert the customer (a stored DNC
/// customer is refused unless this sync clears the flag), cancel its pending tasks (and, when
/// it is now DNC, its queued calls), and plan the schedule anew through the contact policy.
/// Concurrent syncs of one customer serialise on the customer's row lock.
pub fn sync_customer_schedule(
    conn: &mut PgConnection,
    company_id: Uuid,
    prepared: &PreparedCustomer,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> Result<SyncOutcome, AppError> {
    let patch = &prepared.patch;
    let dnc_check = |stored: Option<&CustomerRow>| match stored {
        Some(c) if c.do_not_call && patch.do_not_call != Patch::Set(false) => Err(AppError::DoNotCall),
        _ => Ok(()),
    };
    let terms = CompanyTerms::load(conn, company_id)?;
    let campaigns = terms.campaigns();
    let rules = CustomerRules { today, now, campaigns: &campaigns };
    let (customer, created) = customer_writes::upsert_checked(
        conn,
        company_id,
        patch,
        MatchOn::Id,
        &rules,
        TaskTypeRule::Required,
        now,
        dnc_check,
    )?;
    // Before the plan: the consent given with the input decides it.
    record_consent_given(conn, &customer, patch, now)?;
    let outcome = rebuild_schedule(conn, customer, created, &terms, now)?;
    if outcome.customer.do_not_call {
        // The rebuild cancelled the pending tasks; queued calls go too, and every other
        // record's with the same number.
        mark_do_not_call(conn, company_id, &[outcome.customer.id], now)?;
    }
    loans::upsert_for_customer(conn, company_id, outcome.customer.id, &prepared.loans, now)?;
    Ok(outcome)
}

/// upsertCustomer: creates or updates the fields the input carries; setting Do Not Call
/// cancels the customer's pending tasks and queued calls in the same transaction.
pub fn upsert_customer(
    conn: &mut PgConnection,
    company_id: Uuid,
    prepared: &PreparedCustomer,
    match_on: MatchOn,
    now: DateTime<Utc>,
) -> Result<(CustomerRow, bool), AppError> {
    let patch = &prepared.patch;
    let (customer, created) = customer_writes::upsert(conn, company_id, patch, match_on, now)?;
    record_consent_given(conn, &customer, patch, now)?;
    if customer.do_not_call && patch.do_not_call == Patch::Set(true) {
        mark_do_not_call(conn, company_id, &[customer.id], now)?;
    }
    loans::upsert_for_customer(conn, company_id, customer.id, &prepared.loans, now)?;
    Ok((customer, created))
}

/// Records the consent an input carried for the customer's number (validated with the input:
/// the customer has a number).
fn record_consent_given(
    conn: &mut PgConnection,
    customer: &CustomerRow,
    patch: &CustomerPatch,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if let (Some(given), Some(number)) = (&patch.consent, &customer.phone_number) {
        super::consent::record(conn, customer.company_id, number, given, "consent", now)?;
    }
    Ok(())
}

/// cancelCommunications: the customer's PENDING tasks and its QUEUED calls not yet handed to a
/// provider are cancelled, each with an event; Do Not Call is unchanged. Locks the customer, so
/// a concurrent sync plans before or after, never in between. Returns (tasks, calls) cancelled.
pub fn cancel_communications(
    conn: &mut PgConnection,
    company_id: Uuid,
    external_id: &str,
    now: DateTime<Utc>,
) -> Result<(usize, usize), AppError> {
    let customer =
        customers::by_external_id(conn, company_id, external_id.trim())?.ok_or(StoreError::NotFound)?;
    customers::lock_many(conn, company_id, &[customer.id])?;
    stop_contact(conn, company_id, &[customer.id], &[], StopReason::Requested, now)
}

/// Do Not Call at once: cancels the PENDING tasks of these customers (and of every customer
/// with one of these numbers) and their QUEUED calls not yet handed to a provider, each with
/// an event. Returns (tasks cancelled, calls cancelled).
pub fn stop_contact(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_ids: &[i64],
    numbers: &[String],
    reason: StopReason,
    now: DateTime<Utc>,
) -> Result<(usize, usize), AppError> {
    let mut ids: Vec<i64> = customer_ids.to_vec();
    ids.extend(customers::ids_with_phones(conn, company_id, numbers)?);
    ids.sort_unstable();
    ids.dedup();
    let refs: HashMap<i64, String> =
        customers::by_ids(conn, company_id, &ids)?.into_iter().map(|c| (c.id, c.external_id)).collect();
    let refs: HashMap<i64, &str> = refs.iter().map(|(id, r)| (*id, r.as_str())).collect();
    let tasks_cancelled = tasks::cancel_pending_for_customers(conn, company_id, &ids, &refs, now)?;
    // Before the queued calls: a makeCall or hand-off to one of these numbers through another
    // record either finished first (its call is cancelled here) or decides after this commits
    // and sees the mark. After the tasks, as the dialer, which holds a task when it asks.
    call_store::lock_company_dialing(conn, company_id)?;
    let calls_cancelled =
        call_store::cancel_queued(conn, company_id, &ids, numbers, reason.code(), now)?.len();
    Ok((tasks_cancelled, calls_cancelled))
}

/// Why contact stops: the `cancelReason` of the calls it cancels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A Do Not Call mark or a suppressed number (the company's, or the consumer's own words).
    DoNotCall,
    /// A contact hold on the customer.
    ContactHold,
    /// The number's consent was revoked.
    NoConsent,
    /// cancelCommunications.
    Requested,
}

impl StopReason {
    pub fn code(self) -> &'static str {
        match self {
            StopReason::DoNotCall => "DO_NOT_CALL",
            StopReason::ContactHold => "CONTACT_HOLD",
            StopReason::NoConsent => "NO_CONSENT",
            StopReason::Requested => super::handoff::REQUESTED,
        }
    }
}

/// placeContactHold: the customer is held (`reason` one of ATTORNEY_REPRESENTED,
/// CEASE_REQUESTED, DISPUTE, OTHER) from `now` until released; its pending tasks and queued
/// calls are cancelled at once, with events. Placing it again keeps `since` and takes the new
/// reason and note.
pub fn place_contact_hold(
    conn: &mut PgConnection,
    company_id: Uuid,
    external_id: &str,
    reason: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CustomerRow, AppError> {
    if note.is_some_and(|n| n.chars().count() > 2000) {
        return Err(
            crate::domain::ValidationError::new("note", "note must be at most 2000 characters").into()
        );
    }
    let customer =
        customers::by_external_id(conn, company_id, external_id.trim())?.ok_or(StoreError::NotFound)?;
    customers::lock_many(conn, company_id, &[customer.id])?;
    let held =
        customers::set_contact_hold(conn, customer.company_id, customer.id, Some((reason, note)), now)?;
    stop_contact(conn, company_id, &[held.id], &[], StopReason::ContactHold, now)?;
    Ok(held)
}

/// releaseContactHold: the customer may be called again (a sync plans anew); NOT_FOUND for an
/// unknown customer, and releasing a customer not held changes nothing.
pub fn release_contact_hold(
    conn: &mut PgConnection,
    company_id: Uuid,
    external_id: &str,
    now: DateTime<Utc>,
) -> Result<CustomerRow, AppError> {
    let customer =
        customers::by_external_id(conn, company_id, external_id.trim())?.ok_or(StoreError::NotFound)?;
    let locked = customers::lock_many(conn, company_id, &[customer.id])?.pop().ok_or(StoreError::NotFound)?;
    if locked.contact_hold_reason.is_none() {
        return Ok(locked);
    }
    Ok(customers::set_contact_hold(conn, customer.company_id, customer.id, None, now)?)
}

/// These customers are now marked Do Not Call: the mark is their numbers', so the pending
/// tasks and queued calls of every customer with one of those numbers, and one-off calls to
/// them, are cancelled too (each with an event).
pub fn mark_do_not_call(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(usize, usize), AppError> {
    let numbers: Vec<String> = customers::by_ids(conn, company_id, customer_ids)?
        .into_iter()
        .filter_map(|c| c.phone_number)
        .collect();
    stop_contact(conn, company_id, customer_ids, &numbers, StopReason::DoNotCall, now)
}

/// Cancels the customer's pending tasks and plans its schedule anew (the customer's row must be
/// locked by the caller's transaction; `created`: it was inserted by that transaction, so it has
/// no tasks to cancel).
pub fn rebuild_schedule(
    conn: &mut PgConnection,
    customer: CustomerRow,
    created: bool,
    terms: &CompanyTerms,
    now: DateTime<Utc>,
) -> Result<SyncOutcome, AppError> {
    let company_id = customer.company_id;
    let existing_tasks_removed = if created {
        0
    } else {
        tasks::cancel_pending_for_customer(conn, company_id, customer.id, &customer.external_id, now)?.len()
            as i64
    };
    let Some(schedule) = customer.task_type.as_deref().and_then(|t| terms.schedule_for(t)) else {
        let skipped = Some(SyncSkip::NoSchedule);
        return Ok(SyncOutcome { customer, created, existing_tasks_removed, tasks: Vec::new(), skipped });
    };
    let since = contact::history_since(now, customer.line_type());
    let contact = contact::history(conn, company_id, &Person::of(&customer), since)?;
    let (planned, skipped, zone) =
        plan(&customer, schedule, contact.marks, &contact.history, &terms.rules, now)?;
    let new_tasks: Vec<NewTask> =
        planned.iter().map(|t| NewTask { attempt: t.attempt, scheduled_for: t.scheduled_for }).collect();
    let tasks = tasks::insert_pending(conn, &customer, schedule, &zone, &new_tasks, now)?;
    Ok(SyncOutcome { customer, created, existing_tasks_removed, tasks, skipped })
}

/// The builder's plan for one customer under `schedule`: tasks, why none, and the zone.
fn plan(
    customer: &CustomerRow,
    schedule: &ScheduleRow,
    marks: contact::NumberMarks,
    history: &ContactHistory,
    rules: &StateRuleTable,
    now: DateTime<Utc>,
) -> Result<(Vec<PlannedTask>, Option<SyncSkip>, String), StoreError> {
    let cadence = schedule.cadence();
    let terms = contact::schedule_terms(schedule)?;
    let callee = contact::customer_callee(customer, marks);
    let input = BuildInput {
        cadence: &cadence,
        schedule: &terms,
        callee: &callee,
        has_phone: customer.phone_number.is_some(),
        has_timezone: customer.timezone.as_deref().and_then(parse_zone).is_some(),
        rules,
        history,
        now,
    };
    Ok(match schedule_builder::build(&input) {
        Ok(plan) => (plan.tasks, None, plan.zone.name().to_string()),
        Err(reason) => (Vec::new(), Some(SyncSkip::Builder(reason)), String::new()),
    })
}

/// [`rebuild_schedule`] for many customers at once, set-wise: a handful of statements for the
/// whole set. Locks the customers (in id order, so concurrent callers cannot deadlock).
/// Returns the number of tasks created.
pub fn rebuild_schedules(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let customers = customers::lock_many(conn, company_id, customer_ids)?;
    let ids: Vec<i64> = customers.iter().map(|c| c.id).collect();
    let refs: HashMap<i64, &str> = customers.iter().map(|c| (c.id, c.external_id.as_str())).collect();
    tasks::cancel_pending_for_customers(conn, company_id, &ids, &refs, now)?;
    let schedules: HashMap<String, ScheduleRow> =
        schedules::live_schedules(conn, company_id)?.into_iter().map(|s| (s.task_type.clone(), s)).collect();
    let people: Vec<Person> = customers.iter().map(Person::of).collect();
    let landline = customers.iter().find_map(|c| c.line_type().filter(|l| *l == LineType::Landline));
    let contacts = contact::histories(conn, company_id, &people, contact::history_since(now, landline))?;
    let rules = contact::state_rules(conn, company_id)?;
    let mut rows = Vec::new();
    for (customer, contact) in customers.iter().zip(&contacts) {
        let Some(schedule) = customer.task_type.as_ref().and_then(|t| schedules.get(t)) else { continue };
        let (planned, _, zone) = plan(customer, schedule, contact.marks, &contact.history, &rules, now)?;
        rows.extend(planned.into_iter().map(|t| NewTaskRow {
            customer_id: customer.id,
            schedule_id: schedule.id,
            task_type: schedule.task_type.clone(),
            time_zone: zone.clone(),
            attempt: t.attempt,
            scheduled_for: t.scheduled_for,
        }));
    }
    Ok(tasks::insert_pending_many(conn, company_id, &rows, &refs, now)?)
}
