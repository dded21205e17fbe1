//! bulkAddCustomers: validating up to 10,000 records against the campaign, importing them in
//! batches (one transaction each), and the calls of `initiateCall: true`, each decided by the
//! contact policy like makeCall, set-wise (one history query and one insert per batch). The
//! calls-per-second limit paces their hand-off instead of refusing them. Every door (GraphQL,
//! REST) calls [`add_customers`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::contact::{self, DecideRequest};
use super::customer_writes::{the_one_named, SHARED_NUMBER};
use super::AppError;
use crate::domain::bulk::{validate_records, RecordError, ValidRecord, MAX_RECORDS};
use crate::domain::calls::CallSource;
use crate::domain::contact_policy::RefusalCode;
use crate::domain::customer::{Campaign, CustomerPatch, CustomerRecord};
use crate::domain::lms::LoanRecord;
use crate::domain::ValidationError;
use crate::store::bulk::{self as bulk_store, OnExisting, BATCH_SIZE};
use crate::store::calls::{self as store, NewCall};
use crate::store::schedules::{self, ScheduleRow};
use crate::store::StoreError;
use crate::store::{customers, Db};
use crate::store::{jobs, loans};

/// Customers per transaction when initiating calls.
pub const CALL_BATCH_SIZE: usize = 500;

/// One bulk request, parsed by its door. A record the door could not read is its error.
pub struct BulkRequest {
    /// The campaign: its schedule gives every record's task type and required fields.
    pub schedule_id: String,
    pub records: Vec<Result<(CustomerPatch, Vec<LoanRecord>), RecordError>>,
    /// Queue a call to each added customer, as this agent (callConfig).
    pub initiate_call: bool,
    pub agent_id: Option<String>,
    pub disposition_id: Option<String>,
    /// Build each added customer's call schedule in the background.
    pub use_workflow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkStatus {
    Success,
    Partial,
    Failed,
}

/// What a bulk request did.
pub struct BulkReport {
    pub status: BulkStatus,
    pub message: String,
    pub total: usize,
    pub valid: usize,
    pub successful: usize,
    pub batches_processed: usize,
    /// Every record that was not added, by index.
    pub errors: Vec<RecordError>,
    /// With initiateCall: the calls queued and refused, and the transactions they took.
    pub calls: Option<(BulkCalls, usize)>,
    pub workflow_triggered: Option<bool>,
    pub job_ids: Vec<i64>,
}

impl BulkReport {
    /// As the bulk vendor's API: false if any record failed.
    pub fn success(&self) -> bool {
        self.status == BulkStatus::Success
    }

    /// Records that failed validation.
    pub fn invalid(&self) -> usize {
        self.total - self.valid
    }

    /// Records not added (invalid, refused or in a failed batch).
    pub fn failed(&self) -> usize {
        self.total - self.successful
    }
}

/// bulkAddCustomers: validates every record against the campaign (on a blocking thread),
/// upserts the valid ones set-wise in batches, one transaction each (a failed batch is
/// reported per record; the others land), then queues the workflow's jobs or the calls.
pub async fn add_customers(
    db: &Db,
    company_id: Uuid,
    request: BulkRequest,
    wake_worker: impl Fn(),
) -> Result<BulkReport, AppError> {
    if request.records.len() > MAX_RECORDS {
        return Err(
            ValidationError::new("records", format!("at most {MAX_RECORDS} records per request")).into()
        );
    }
    if request.initiate_call && request.use_workflow {
        return Err(
            ValidationError::new("initiateCall", "initiateCall and useWorkflow cannot be combined").into()
        );
    }
    let agent_id = match (&request.agent_id, request.initiate_call) {
        (Some(agent), true) => Some(agent.clone()),
        (None, true) => {
            return Err(ValidationError::new("callConfig", "initiateCall needs callConfig").into())
        }
        _ => None,
    };
    let schedule_id =
        Uuid::parse_str(request.schedule_id.trim()).map_err(|_| AppError::NotFound("schedule"))?;
    let schedule = db
        .read(move |conn| schedules::get(conn, company_id, schedule_id))
        .await?
        .ok_or(AppError::NotFound("schedule"))?;

    let total = request.records.len();
    let mut errors: Vec<RecordError> = Vec::new();
    let mut patches = Vec::with_capacity(total);
    let mut loans: Vec<Vec<LoanRecord>> = Vec::with_capacity(total);
    for record in request.records {
        match record {
            Ok((patch, record_loans)) => {
                patches.push(patch);
                loans.push(record_loans);
            }
            Err(e) => {
                // Keep the indexes stable: an empty patch fails validation and is dropped below.
                errors.push(e);
                patches.push(CustomerPatch::default());
                loans.push(Vec::new());
            }
        }
    }
    let (campaign, now) = (schedule.campaign(), db.now());
    let for_validation = campaign.clone();
    let (valid, mut invalid) =
        tokio::task::spawn_blocking(move || validate_records(patches, &for_validation, now))
            .await
            .map_err(|e| StoreError::Unavailable(format!("bulk record validation failed: {e}")))?;
    invalid.retain(|e| !errors.iter().any(|x| x.index == e.index));
    errors.extend(invalid);
    let valid_count = valid.len();

    let mut added: Vec<i64> = Vec::with_capacity(valid_count);
    let mut job_ids: Vec<i64> = Vec::new();
    let mut batches = 0;
    let use_workflow = request.use_workflow;
    let valid = Arc::new(valid);
    let loans = Arc::new(loans);
    for start in (0..valid_count).step_by(BATCH_SIZE) {
        let end = (start + BATCH_SIZE).min(valid_count);
        let (records, loans, campaign) = (valid.clone(), loans.clone(), campaign.clone());
        let at = db.now();
        let result = db
            .transaction(move |conn| {
                let batch: Vec<_> =
                    records[start..end].iter().map(|r| (r, loans[r.index].as_slice())).collect();
                import_batch(conn, company_id, &campaign, &batch, use_workflow, at)
            })
            .await;
        batches += 1;
        match result {
            Ok(batch) => {
                errors.extend(batch.refused);
                added.extend(batch.customers.into_iter().map(|(id, _)| id));
                job_ids.extend(batch.job_ids);
                if use_workflow {
                    wake_worker();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "a bulk batch failed");
                for r in &valid[start..end] {
                    errors.push(RecordError {
                        index: r.index,
                        id: Some(r.record.external_id.clone()).filter(|id| !id.is_empty()),
                        field: None,
                        code: "INTERNAL".into(),
                        message: "this record's batch could not be written; retry it".into(),
                    });
                }
            }
        }
    }
    errors.sort_by_key(|e| e.index);

    let calls = match agent_id {
        Some(agent_id) => {
            Some(call_added(db, company_id, &schedule, &added, &agent_id, request.disposition_id).await)
        }
        None => None,
    };
    let successful = added.len();
    let status = match successful {
        0 => BulkStatus::Failed,
        n if n == total => BulkStatus::Success,
        _ => BulkStatus::Partial,
    };
    // The bulk vendor's words, whatever the outcome.
    let message = format!("Added {successful} of {total} records");
    Ok(BulkReport {
        status,
        message,
        total,
        valid: valid_count,
        successful,
        batches_processed: batches,
        errors,
        calls,
        workflow_triggered: use_workflow.then_some(successful > 0),
        job_ids,
    })
}

/// Queues the bulk calls, one transaction per [`CALL_BATCH_SIZE`] customers.
async fn call_added(
    db: &Db,
    company_id: Uuid,
    schedule: &ScheduleRow,
    added: &[i64],
    agent_id: &str,
    disposition_id: Option<String>,
) -> (BulkCalls, usize) {
    let mut outcome = BulkCalls::default();
    let mut call_batches = 0;
    for chunk in added.chunks(CALL_BATCH_SIZE) {
        let (ids, schedule, agent) = (chunk.to_vec(), schedule.clone(), agent_id.to_string());
        let disposition = disposition_id.clone();
        let at = db.now();
        let result = db
            .transaction(move |conn| {
                initiate_calls(conn, company_id, &schedule, &ids, &agent, disposition.as_deref(), at)
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
    (outcome, call_batches)
}

/// What a batch of bulk calls did: how many were queued, and the refusals by code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BulkCalls {
    pub initiated: usize,
    pub refused: BTreeMap<String, usize>,
}

impl BulkCalls {
    pub fn refuse(&mut self, code: &str, n: usize) {
        *self.refused.entry(code.to_string()).or_default() += n;
    }

    pub fn add(&mut self, other: BulkCalls) {
        self.initiated += other.initiated;
        for (code, n) in other.refused {
            self.refuse(&code, n);
        }
    }

    pub fn failed(&self) -> usize {
        self.refused.values().sum()
    }
}

/// What one batch wrote: each added record's customer (id, created) in order, the records
/// refused while writing, and the jobs queued.
pub struct ImportedBatch {
    pub customers: Vec<(i64, bool)>,
    pub refused: Vec<RecordError>,
    pub job_ids: Vec<i64>,
}

/// One batch of a bulk import, in the caller's transaction: resolves the records without an id
/// by their phone number (the stored customer with it, or a generated id), locks the stored
/// customers the records name and merges each record into its own by the rule of every write
/// (`apply_patch`), writes the batch set-wise with its inline loans; a record that says Do Not
/// Call stops contact at once; with `use_workflow`, queues the job that builds their schedules
/// (it happens if the batch commits).
pub fn import_batch(
    conn: &mut PgConnection,
    company_id: Uuid,
    campaign: &Campaign,
    batch: &[(&ValidRecord, &[LoanRecord])],
    use_workflow: bool,
    now: DateTime<Utc>,
) -> Result<ImportedBatch, AppError> {
    let (batch, mut refused) = resolve_phone_identities(conn, company_id, batch)?;
    let ids: Vec<&str> = batch.iter().map(|r| r.record.external_id.as_str()).collect();
    let mut stored: HashMap<String, CustomerRecord> =
        customers::lock_by_external_ids(conn, company_id, &ids)?
            .into_iter()
            .map(|row| (row.external_id.clone(), row.record()))
            .collect();

    // Records of new customers are inserted as they are; one that a concurrent writer created
    // meanwhile is merged into it like the others.
    let new: Vec<&CustomerRecord> =
        batch.iter().filter(|r| !stored.contains_key(&r.record.external_id)).map(|r| &r.record).collect();
    let mut written: HashMap<String, (i64, bool)> = HashMap::new();
    for (id, external_id) in bulk_store::write(conn, company_id, &new, OnExisting::Skip, now)? {
        written.insert(external_id, (id, true));
    }
    let raced: Vec<&str> =
        new.iter().map(|r| r.external_id.as_str()).filter(|id| !written.contains_key(*id)).collect();
    for row in customers::lock_by_external_ids(conn, company_id, &raced)? {
        stored.insert(row.external_id.clone(), row.record());
    }

    let mut merged: Vec<(usize, CustomerRecord)> = Vec::new();
    for (position, resolved) in batch.iter().enumerate() {
        let Some(existing) = stored.get(&resolved.record.external_id) else { continue };
        match resolved.valid.merged_into(existing, campaign, now) {
            Ok(record) => merged.push((position, record)),
            Err(e) => refused.push(RecordError {
                index: resolved.valid.index,
                id: Some(existing.external_id.clone()),
                field: Some(e.field),
                code: "BAD_USER_INPUT".into(),
                message: e.message,
            }),
        }
    }
    let updates: Vec<&CustomerRecord> = merged.iter().map(|(_, r)| r).collect();
    for (id, external_id) in bulk_store::write(conn, company_id, &updates, OnExisting::Overwrite, now)? {
        written.insert(external_id, (id, false));
    }
    // What was written, in the batch's order, each with what it was written as.
    let mut records: Vec<&CustomerRecord> = batch.iter().map(|r| &r.record).collect();
    for (position, record) in &merged {
        records[*position] = record;
    }
    let written: Vec<(&Resolved<'_>, &CustomerRecord, (i64, bool))> = batch
        .iter()
        .zip(records)
        .filter_map(|(resolved, record)| written.get(&record.external_id).map(|w| (resolved, record, *w)))
        .collect();

    let with_loans: Vec<(i64, &[LoanRecord])> = written
        .iter()
        .filter(|(resolved, _, _)| !resolved.loans.is_empty())
        .map(|(resolved, _, (id, _))| (*id, resolved.loans))
        .collect();
    loans::upsert_for_customers(conn, company_id, &with_loans, now)?;
    for (_, record, _) in &written {
        if let (Some(given), Some(number)) = (&record.consent, &record.phone_number) {
            super::consent::record(conn, company_id, number, given, "consent", now)?;
        }
    }
    let do_not_call: Vec<i64> = written
        .iter()
        .filter(|(resolved, _, _)| resolved.record.do_not_call)
        .map(|(_, _, (id, _))| *id)
        .collect();
    if !do_not_call.is_empty() {
        super::customers::mark_do_not_call(conn, company_id, &do_not_call, now)?;
    }
    let customers: Vec<(i64, bool)> = written.iter().map(|(_, _, w)| *w).collect();
    let job_ids = if use_workflow {
        let ids: Vec<i64> = customers.iter().map(|(id, _)| *id).collect();
        jobs::enqueue_build_schedules(conn, company_id, &ids, now)?
    } else {
        Vec::new()
    };
    refused.sort_by_key(|e| e.index);
    Ok(ImportedBatch { customers, refused, job_ids })
}

/// A record ready to write: the valid record, the customer with its id (resolved from the
/// phone number where it had none), and its loans.
struct Resolved<'a> {
    valid: &'a ValidRecord,
    record: CustomerRecord,
    loans: &'a [LoanRecord],
}

/// Gives each record without an id the id of the one stored customer with its phone number, or
/// a generated one; a number several customers share names none of them (as for every write
/// by phone): the record is refused. The numbers stay locked until the transaction ends, so a
/// concurrent import or upsert of the same new number cannot create it twice. A record that
/// resolves to a customer another record of the batch names is refused (one statement cannot
/// write a row twice).
fn resolve_phone_identities<'a>(
    conn: &mut PgConnection,
    company_id: Uuid,
    batch: &[(&'a ValidRecord, &'a [LoanRecord])],
) -> Result<(Vec<Resolved<'a>>, Vec<RecordError>), AppError> {
    let phones: Vec<String> = batch
        .iter()
        .filter(|(r, _)| r.matches_on_phone())
        .filter_map(|(r, _)| r.record.phone_number.clone())
        .collect();
    let mut known = HashMap::new();
    if !phones.is_empty() {
        customers::lock_phone_identities(conn, company_id, &phones)?;
        known = customers::external_ids_by_phone(conn, company_id, &phones)?;
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut resolved = Vec::with_capacity(batch.len());
    let mut refused = Vec::new();
    for (valid, loans) in batch {
        let mut record = valid.record.clone();
        let mut generated = false;
        if valid.matches_on_phone() {
            let phone = record.phone_number.as_deref().unwrap_or_default();
            match the_one_named(known.get(phone).cloned().unwrap_or_default()) {
                Ok(Some(id)) => record.external_id = id,
                Ok(None) => {
                    generated = true;
                    record.external_id = super::customer_writes::new_external_id();
                }
                Err(_) => {
                    refused.push(RecordError {
                        index: valid.index,
                        id: None,
                        field: Some("phoneNumber".into()),
                        code: "CONFLICT".into(),
                        message: SHARED_NUMBER.into(),
                    });
                    continue;
                }
            }
        }
        if !seen.insert(record.external_id.clone()) {
            refused.push(RecordError {
                index: valid.index,
                // A generated id names nothing that exists: leave it out.
                id: (!generated).then_some(record.external_id),
                field: Some("phoneNumber".into()),
                code: "BAD_USER_INPUT".into(),
                message: "this phone number's customer is already written by another record of this request"
                    .into(),
            });
            continue;
        }
        resolved.push(Resolved { valid, record, loans });
    }
    Ok((resolved, refused))
}

/// Queues a call to each customer the policy allows now, under the company's dialling lock.
#[allow(clippy::too_many_arguments)]
pub fn initiate_calls(
    conn: &mut PgConnection,
    company_id: Uuid,
    schedule: &ScheduleRow,
    customer_ids: &[i64],
    agent_id: &str,
    disposition_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<BulkCalls, AppError> {
    let mut outcome = BulkCalls::default();
    // The rows were written (so locked) by this transaction's upsert; the company's dialling
    // lock next, then the one decide step reads everything else.
    let customers = customers::by_ids(conn, company_id, customer_ids)?;
    store::lock_company_dialing(conn, company_id)?;
    let requests: Vec<DecideRequest<'_>> = customers
        .iter()
        .filter_map(|c| {
            let number = c.phone_number.as_deref()?;
            Some(DecideRequest { customer: Some(c), number, schedule, own_attempt: None, line: None })
        })
        .collect();
    let mut decisions =
        contact::decide(conn, company_id, &requests, now, contact::HistoryWindow::dialling(now))?.into_iter();
    // The rate limit paces bulk calls' hand-off instead of refusing them; a call the pacing
    // cannot hand over before it would expire is refused (EXPIRED) rather than left to expire.
    let dialing = store::dialing_state(conn, company_id, now)?;
    let hand_off = dialing.has_webhook;
    let mut waiting_ahead = if hand_off { store::waiting_for_webhook(conn, company_id)? } else { 0 };
    let per_second = i64::from(dialing.limit.max(1));
    let mut dialled: HashSet<String> = HashSet::new();
    let mut new_calls = Vec::new();
    for customer in &customers {
        let Some(number) = customer.phone_number.clone() else {
            outcome.refuse("BAD_USER_INPUT", 1);
            continue;
        };
        let Some(decision) = decisions.next() else { break };
        let policy = match (decision.policy, decision.verdict) {
            (Ok(policy), Ok(())) => policy,
            (_, Err(refusal)) => {
                outcome.refuse(refusal.code.as_str(), 1);
                continue;
            }
            (Err(refusal), Ok(())) => {
                outcome.refuse(refusal.code.as_str(), 1);
                continue;
            }
        };
        let expires_at = policy.expiry(now, dialing.queued_call_ttl);
        if hand_off {
            // Handed over at the company's pace after the calls already waiting.
            let handed_over_at = now + chrono::Duration::milliseconds(waiting_ahead * 1000 / per_second);
            if handed_over_at >= expires_at {
                outcome.refuse(super::handoff::EXPIRED, 1);
                continue;
            }
        }
        // Two customers sharing a number get one call.
        if !dialled.insert(number.clone()) {
            outcome.refuse(RefusalCode::RecentlyDialed.as_str(), 1);
            continue;
        }
        let mut call = NewCall::queued(schedule, Some(customer), &number, CallSource::Bulk, now);
        call.agent_id = Some(agent_id.to_string());
        call.disposition_id = disposition_id.map(str::to_string);
        call.hand_off = hand_off;
        call.expires_at = Some(expires_at);
        waiting_ahead += 1;
        new_calls.push(call);
    }
    outcome.initiated = store::insert_calls(conn, &new_calls, now)?.len();
    Ok(outcome)
}
