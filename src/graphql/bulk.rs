//! bulkAddCustomers: up to 10,000 customers into a campaign (a schedule) in one request.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};

use super::customers::CustomerInput;
use super::error::{ApiError, GqlResult};
use super::{db, tenant};
use crate::app::bulk::{self as app, add_customers, BulkReport, BulkRequest};
use crate::domain::bulk::RecordError;

/// How bulkAddCustomers places the calls of `initiateCall`.
#[derive(InputObject)]
pub struct CallConfigInput {
    /// The AI agent that takes the calls, as given to makeCall.
    agent_id: String,
    /// Stored on each call it creates (`Call.dispositionId`).
    disposition_id: Option<String>,
}

/// Up to 10,000 customers for one campaign. More records, `initiateCall` without
/// `callConfig`, or both `initiateCall` and `useWorkflow` refuse the whole request
/// (BAD_USER_INPUT).
#[derive(InputObject)]
pub struct BulkAddCustomersInput {
    /// The campaign: its schedule gives every record's task type.
    schedule_id: ID,
    /// At most 10,000; each validated on its own against the campaign's required fields. A
    /// record without `id` is matched on its phone number (a new one gets a generated id).
    records: Vec<CustomerInput>,
    /// Queue a call to each added customer (needs callConfig; not with useWorkflow).
    #[graphql(default)]
    initiate_call: bool,
    /// The agent (and disposition) of the calls; required with initiateCall.
    call_config: Option<CallConfigInput>,
    /// Build each added customer's call schedule in the background.
    #[graphql(default)]
    use_workflow: bool,
}

/// How much of a bulk import landed.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum BulkStatus {
    /// Every record was added.
    Success,
    /// Some records were added, some failed (see `results.errors`).
    Partial,
    /// No record was added.
    Failed,
}

/// A record that was not added, and why.
#[derive(SimpleObject)]
pub struct BulkRecordError {
    /// 0-based position of the record in `records`.
    index: i32,
    /// The record's id, when it had one.
    id: Option<ID>,
    /// The input field at fault (e.g. `email`, `consent.obtainedAt`), for BAD_USER_INPUT.
    field: Option<String>,
    /// The error code the record got alone (BAD_USER_INPUT, DO_NOT_CALL, INTERNAL…).
    code: String,
    /// Why, for a person.
    message: String,
}

/// Counts of a bulk import's records.
#[derive(SimpleObject)]
pub struct BulkResults {
    /// Records received.
    total: i32,
    /// Records that passed validation.
    valid: i32,
    /// Records that failed validation (`total - valid`).
    invalid: i32,
    /// Records added or updated.
    successful: i32,
    /// Records not added: invalid, refused or in a failed batch (`total - successful`).
    failed: i32,
    /// Batches written (each its own transaction).
    batches_processed: i32,
    /// Every record that was not added, by index.
    errors: Vec<BulkRecordError>,
}

/// How many of a bulk import's calls were refused with one code.
#[derive(SimpleObject)]
pub struct BulkCallRefusal {
    /// The code makeCall would have returned (DO_NOT_CALL, OUTSIDE_CALLING_HOURS, CONTACT_LIMIT…).
    code: String,
    /// Calls refused with this code.
    count: i32,
}

/// The calls of `initiateCall`.
#[derive(SimpleObject)]
pub struct BulkCallResults {
    /// Calls queued (status QUEUED).
    initiated: i32,
    /// The sum of `refused` counts.
    failed: i32,
    /// Transactions the calls took (one per 500 customers).
    batches: i32,
    /// Calls the contact policy refused, counted per code.
    refused: Vec<BulkCallRefusal>,
}

/// What bulkAddCustomers did.
#[derive(SimpleObject)]
pub struct BulkAddCustomersPayload {
    /// True only when every record was added (SUCCESS), as the bulk vendor's API.
    success: bool,
    /// SUCCESS, PARTIAL or FAILED.
    status: BulkStatus,
    /// A summary for a person, e.g. "Added 9 of 10 records".
    message: String,
    /// Counts of the records, and the errors of those not added.
    results: BulkResults,
    /// The calls queued and refused; null unless initiateCall.
    call_results: Option<BulkCallResults>,
    /// With useWorkflow: true when schedule building was started for at least one customer;
    /// null otherwise.
    workflow_triggered: Option<bool>,
    /// The jobs building the schedules (empty unless useWorkflow): follow them with `job(id)`.
    job_ids: Vec<ID>,
}

impl From<RecordError> for BulkRecordError {
    fn from(e: RecordError) -> Self {
        BulkRecordError {
            index: e.index as i32,
            id: e.id.map(ID),
            field: e.field,
            code: e.code,
            message: e.message,
        }
    }
}

#[derive(Default)]
pub struct BulkMutation;

#[Object]
impl BulkMutation {
    /// Adds or updates (by id, else by phone number) up to 10,000 customers of a campaign,
    /// set-wise in batches. One bad record never affects another; a batch lands whole or is
    /// reported failed.
    async fn bulk_add_customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign, its records, and what to start for the added customers.")]
        input: BulkAddCustomersInput,
    ) -> async_graphql::Result<BulkAddCustomersPayload> {
        let company_id = tenant(ctx)?;
        let records = input
            .records
            .into_iter()
            .enumerate()
            .map(|(index, mut record)| {
                let id = record_id(&record);
                // Inline loans are stored with the record (bulk records never call the LMS).
                record
                    .take_loans()
                    .and_then(|loans| record.into_patch().map(|patch| (patch, loans)))
                    .map_err(|e| api_error_to_record(index, id, e))
            })
            .collect();
        let request = BulkRequest {
            schedule_id: input.schedule_id.0,
            records,
            initiate_call: input.initiate_call,
            agent_id: input.call_config.as_ref().map(|c| c.agent_id.clone()),
            disposition_id: input.call_config.and_then(|c| c.disposition_id),
            use_workflow: input.use_workflow,
        };
        let worker = ctx.data_opt::<crate::dialer::WorkSignal>();
        let report = add_customers(db(ctx), company_id, request, || {
            if let Some(worker) = worker {
                worker.wake();
            }
        })
        .await
        .gql()?;
        let ids = super::secrets(ctx).ids();
        Ok(BulkAddCustomersPayload::of(report, |job| ID(ids.job_id(company_id, job))))
    }
}

impl BulkAddCustomersPayload {
    /// The payload of `report`, its jobs' ids as `job_id` shows them.
    fn of(report: BulkReport, job_id: impl Fn(i64) -> ID) -> Self {
        let (invalid, failed) = (report.invalid() as i32, report.failed() as i32);
        BulkAddCustomersPayload {
            success: report.success(),
            status: match report.status {
                app::BulkStatus::Success => BulkStatus::Success,
                app::BulkStatus::Partial => BulkStatus::Partial,
                app::BulkStatus::Failed => BulkStatus::Failed,
            },
            message: report.message,
            results: BulkResults {
                total: report.total as i32,
                valid: report.valid as i32,
                invalid,
                successful: report.successful as i32,
                failed,
                batches_processed: report.batches_processed as i32,
                errors: report.errors.into_iter().map(BulkRecordError::from).collect(),
            },
            call_results: report.calls.map(|(outcome, batches)| BulkCallResults {
                initiated: outcome.initiated as i32,
                failed: outcome.failed() as i32,
                batches: batches as i32,
                refused: outcome
                    .refused
                    .into_iter()
                    .map(|(code, count)| BulkCallRefusal { code, count: count as i32 })
                    .collect(),
            }),
            workflow_triggered: report.workflow_triggered,
            job_ids: report.job_ids.into_iter().map(job_id).collect(),
        }
    }
}

fn record_id(record: &CustomerInput) -> Option<String> {
    record.id_text().filter(|s| !s.trim().is_empty())
}

fn api_error_to_record(index: usize, id: Option<String>, error: ApiError) -> RecordError {
    let field = match &error {
        ApiError::BadUserInput(v) => Some(v.field.clone()),
        _ => None,
    };
    let message = match &error {
        ApiError::BadUserInput(v) => v.message.clone(),
        other => other.to_string(),
    };
    RecordError { index, id, field, code: error.code().to_string(), message }
}
