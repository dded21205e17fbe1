//! bulkAddCustomers: up to 10,000 customers into a campaign (a schedule) in one request.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use uuid::Uuid;

use super::customers::CustomerInput;
use super::error::{ApiError, GqlResult};
use super::{db, tenant, today};
use crate::app::bulk::{import_batch, initiate_calls, BulkCalls};
use crate::domain::bulk::{validate_records, RecordError, MAX_RECORDS};
use crate::domain::lms::LoanRecord;
use crate::store::bulk::BATCH_SIZE;
use crate::store::{schedules, StoreError};

/// Customers per transaction when initiating calls.
pub const CALL_BATCH_SIZE: usize = 500;

#[derive(InputObject)]
pub struct CallConfigInput {
    agent_id: String,
    disposition_id: Option<String>,
}

#[derive(InputObject)]
pub struct BulkAddCustomersInput {
    /// The campaign: its schedule gives every record's task type.
    schedule_id: ID,
    /// At most 10,000; each validated on its own with createCustomer's rules.
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
    /// False only when no record was added.
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
    /// Adds or updates (by id) up to 10,000 customers of a campaign, set-wise in batches. One
    /// bad record never affects another; a batch lands whole or is reported failed.
    async fn bulk_add_customers(
        &self,
        ctx: &Context<'_>,
        input: BulkAddCustomersInput,
    ) -> async_graphql::Result<BulkAddCustomersPayload> {
        let company_id = tenant(ctx)?;
        if input.records.len() > MAX_RECORDS {
            return Err(ApiError::bad_input("records", format!("at most {MAX_RECORDS} records per request")))
                .gql();
        }
        if input.initiate_call && input.use_workflow {
            return Err(ApiError::bad_input(
                "initiateCall",
                "initiateCall and useWorkflow cannot be combined",
            ))
            .gql();
        }
        let disposition_id = input.call_config.as_ref().and_then(|c| c.disposition_id.clone());
        let agent_id = match (&input.call_config, input.initiate_call) {
            (Some(config), true) => Some(config.agent_id.clone()),
            (None, true) => {
                return Err(ApiError::bad_input("callConfig", "initiateCall needs callConfig")).gql()
            }
            _ => None,
        };
        let schedule_id =
            Uuid::parse_str(input.schedule_id.as_str()).map_err(|_| ApiError::NotFound("schedule")).gql()?;
        let db = db(ctx).clone();
        let schedule = db
            .read(move |conn| schedules::get(conn, company_id, schedule_id)?.ok_or(StoreError::NotFound))
            .await
            .gql()?;

        let total = input.records.len();
        let mut errors: Vec<RecordError> = Vec::new();
        let mut patches = Vec::with_capacity(total);
        let mut loans: Vec<Vec<LoanRecord>> = Vec::with_capacity(total);
        for (index, mut record) in input.records.into_iter().enumerate() {
            let id = record_id(&record);
            // Inline loans are stored with the record (bulk records never call the LMS).
            let record_loans = record.take_loans();
            match record_loans.and_then(|l| record.into_patch().map(|p| (p, l))) {
                Ok((patch, record_loans)) => {
                    patches.push(patch);
                    loans.push(record_loans);
                }
                Err(e) => {
                    // Keep the index stable: an empty id fails validation below, so record the
                    // real error here and skip.
                    errors.push(api_error_to_record(index, id, e));
                    patches.push(Default::default());
                    loans.push(Vec::new());
                }
            }
        }
        let (task_type, today) = (schedule.task_type.clone(), today(ctx));
        let (valid, mut invalid) =
            tokio::task::spawn_blocking(move || validate_records(patches, &task_type, today))
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "bulk record validation failed");
                    ApiError::Internal
                })
                .gql()?;
        invalid.retain(|e| !errors.iter().any(|x| x.index == e.index));
        errors.extend(invalid);
        errors.sort_by_key(|e| e.index);
        let valid_count = valid.len();

        // Set-wise upserts, one transaction per batch.
        let mut added: Vec<i64> = Vec::with_capacity(valid_count);
        let mut job_ids: Vec<i64> = Vec::new();
        let mut batches = 0;
        let use_workflow = input.use_workflow;
        let valid = std::sync::Arc::new(valid);
        let loans = std::sync::Arc::new(loans);
        for start in (0..valid_count).step_by(BATCH_SIZE) {
            let end = (start + BATCH_SIZE).min(valid_count);
            let (records, loans) = (valid.clone(), loans.clone());
            let at = db.now();
            let result = db
                .transaction(move |conn| {
                    let batch: Vec<_> = records[start..end]
                        .iter()
                        .map(|(index, record)| (record, loans[*index].as_slice()))
                        .collect();
                    import_batch(conn, company_id, &batch, use_workflow, at)
                })
                .await;
            batches += 1;
            match result {
                Ok(batch) => {
                    added.extend(batch.customers.into_iter().map(|(id, _)| id));
                    job_ids.extend(batch.job_ids);
                    if use_workflow {
                        if let Some(worker) = ctx.data_opt::<crate::dialer::WorkSignal>() {
                            worker.wake();
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "a bulk batch failed");
                    for (index, record) in &valid[start..end] {
                        errors.push(RecordError {
                            index: *index,
                            id: Some(record.external_id.clone()),
                            field: None,
                            code: "INTERNAL".into(),
                            message: "this record's batch could not be written; retry it".into(),
                        });
                    }
                }
            }
        }
        errors.sort_by_key(|e| e.index);

        let workflow_triggered = input.use_workflow.then_some(!added.is_empty());

        let call_results = match agent_id {
            Some(agent_id) => {
                let mut outcome = BulkCalls::default();
                let mut call_batches = 0;
                for chunk in added.chunks(CALL_BATCH_SIZE) {
                    let (ids, schedule, agent) = (chunk.to_vec(), schedule.clone(), agent_id.clone());
                    let disposition = disposition_id.clone();
                    let at = db.now();
                    let result = db
                        .transaction(move |conn| {
                            initiate_calls(
                                conn,
                                company_id,
                                &schedule,
                                &ids,
                                &agent,
                                disposition.as_deref(),
                                at,
                            )
                        })
                        .await;
                    call_batches += 1;
                    match result {
                        Ok(batch) => outcome.add(batch),
                        Err(e) => {
                            tracing::error!(error = %e, "a bulk call batch failed");
                            outcome.refuse("INTERNAL", chunk.len());
                        }
                    }
                }
                Some(BulkCallResults {
                    initiated: outcome.initiated as i32,
                    failed: outcome.failed() as i32,
                    batches: call_batches,
                    refused: outcome
                        .refused
                        .into_iter()
                        .map(|(code, count)| BulkCallRefusal { code, count: count as i32 })
                        .collect(),
                })
            }
            None => None,
        };

        let successful = added.len();
        let status = match successful {
            0 => BulkStatus::Failed,
            n if n == total => BulkStatus::Success,
            _ => BulkStatus::Partial,
        };
        let message = match status {
            BulkStatus::Success => format!("all {total} records added"),
            BulkStatus::Partial => {
                format!("{successful} of {total} records added; {} failed", total - successful)
            }
            BulkStatus::Failed => format!("no record added ({total} failed)"),
        };
        Ok(BulkAddCustomersPayload {
            // As the vendor's API: false if any record failed.
            success: status == BulkStatus::Success,
            status,
            message,
            results: BulkResults {
                total: total as i32,
                valid: valid_count as i32,
                invalid: (total - valid_count) as i32,
                successful: successful as i32,
                failed: (total - successful) as i32,
                batches_processed: batches,
                errors: errors.into_iter().map(BulkRecordError::from).collect(),
            },
            call_results,
            workflow_triggered,
            job_ids: job_ids.into_iter().map(|id| ID(id.to_string())).collect(),
        })
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
