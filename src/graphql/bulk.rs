//! bulkAddCustomers: up to 10,000 customers into a campaign (a schedule) in one request.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};

use super::customers::CustomerInput;
use super::error::{ApiError, GqlResult};
use super::{db, tenant};
use crate::app::bulk::{self as app, add_customers, BulkReport, BulkRequest};
use crate::domain::bulk::RecordError;

#[derive(InputObject)]
pub struct CallConfigInput {
    agent_id: String,
    disposition_id: Option<String>,
}

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
    call_config: Option<CallConfigInput>,
    /// Build each added customer's call schedule in the background.
    #[graphql(default)]
    use_workflow: bool,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum BulkStatus {
    Success,
    Partial,
    Failed,
}

#[derive(SimpleObject)]
pub struct BulkRecordError {
    index: i32,
    id: Option<ID>,
    field: Option<String>,
    code: String,
    message: String,
}

#[derive(SimpleObject)]
pub struct BulkResults {
    total: i32,
    valid: i32,
    invalid: i32,
    successful: i32,
    failed: i32,
    batches_processed: i32,
    errors: Vec<BulkRecordError>,
}

#[derive(SimpleObject)]
pub struct BulkCallRefusal {
    /// The code makeCall would have returned (DO_NOT_CALL, OUTSIDE_CALLING_HOURS, CONTACT_LIMIT…).
    code: String,
    count: i32,
}

#[derive(SimpleObject)]
pub struct BulkCallResults {
    initiated: i32,
    /// The sum of `refused` counts.
    failed: i32,
    batches: i32,
    /// Calls the contact policy refused, counted per code.
    refused: Vec<BulkCallRefusal>,
}

#[derive(SimpleObject)]
pub struct BulkAddCustomersPayload {
    /// True only when every record was added (SUCCESS), as the bulk vendor's API.
    success: bool,
    status: BulkStatus,
    message: String,
    results: BulkResults,
    call_results: Option<BulkCallResults>,
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
        Ok(BulkAddCustomersPayload::from(report))
    }
}

impl From<BulkReport> for BulkAddCustomersPayload {
    fn from(report: BulkReport) -> Self {
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
            job_ids: report.job_ids.into_iter().map(|id| ID(id.to_string())).collect(),
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
