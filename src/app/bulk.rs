//! bulkAddCustomers: importing a batch of records, and the calls of `initiateCall: true`, each
//! decided by the contact policy like makeCall, set-wise (one history query and one insert per
//! batch). The calls-per-second limit paces their hand-off instead of refusing them.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::contact::{self, Person};
use super::AppError;
use crate::domain::calls::CallSource;
use crate::domain::contact_policy::{ContactPolicy, RefusalCode};
use crate::domain::customer::CustomerRecord;
use crate::domain::lms::LoanRecord;
use crate::store::calls::{self as store, NewCall};
use crate::store::customers;
use crate::store::schedules::ScheduleRow;
use crate::store::{jobs, loans};

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

/// One batch of a bulk import, in the caller's transaction: upserts the records set-wise with
/// their inline loans; a record that says Do Not Call stops contact at once; with
/// `use_workflow`, queues the job that builds their schedules (it happens if the batch commits).
/// What one batch wrote: each record's customer (id, created) in order, and the jobs queued.
pub struct ImportedBatch {
    pub customers: Vec<(i64, bool)>,
    pub job_ids: Vec<i64>,
}

/// Returns the customers in the batch's order, and the jobs queued.
pub fn import_batch(
    conn: &mut PgConnection,
    company_id: Uuid,
    batch: &[(&CustomerRecord, &[LoanRecord])],
    use_workflow: bool,
    now: DateTime<Utc>,
) -> Result<ImportedBatch, AppError> {
    let records: Vec<&CustomerRecord> = batch.iter().map(|(r, _)| *r).collect();
    let rows = crate::store::bulk::upsert_batch(conn, company_id, &records, now)?;
    let with_loans: Vec<(i64, &[LoanRecord])> = batch
        .iter()
        .zip(&rows)
        .filter(|((_, loans), _)| !loans.is_empty())
        .map(|((_, loans), (customer_id, _))| (*customer_id, *loans))
        .collect();
    loans::upsert_for_customers(conn, company_id, &with_loans)?;
    let do_not_call: Vec<i64> =
        batch.iter().zip(&rows).filter(|((r, _), _)| r.do_not_call).map(|(_, (id, _))| *id).collect();
    if !do_not_call.is_empty() {
        super::customers::stop_contact(conn, company_id, &do_not_call, &[], now)?;
    }
    let job_ids = if use_workflow {
        let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
        jobs::enqueue_build_schedules(conn, company_id, &ids, now)?
    } else {
        Vec::new()
    };
    Ok(ImportedBatch { customers: rows, job_ids })
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
    let customers = customers::by_ids(conn, company_id, customer_ids)?;
    let terms = contact::schedule_terms(schedule)?;
    let rules = contact::state_rules(conn, company_id)?;
    store::lock_company_dialing(conn, company_id)?;
    let people: Vec<Person> = customers.iter().map(Person::of).collect();
    let contacts = contact::histories(conn, company_id, &people, contact::history_since(now))?;
    // The rate limit paces bulk calls' hand-off instead of refusing them.
    let hand_off = store::dialing_state(conn, company_id, now)?.has_webhook;
    let mut dialled: HashSet<String> = HashSet::new();
    let mut new_calls = Vec::new();
    for (customer, contact::Contact { mut history, suppressed }) in customers.iter().zip(contacts) {
        let Some(number) = customer.phone_number.clone() else {
            outcome.refuse("BAD_USER_INPUT", 1);
            continue;
        };
        let callee = contact::customer_callee(customer, suppressed);
        history.planned.clear();
        let decision =
            ContactPolicy::new(&terms, &callee, &rules).and_then(|policy| policy.decide(&history, now));
        if let Err(refusal) = decision {
            outcome.refuse(refusal.code.as_str(), 1);
            continue;
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
        new_calls.push(call);
    }
    outcome.initiated = store::insert_calls(conn, &new_calls, now)?.len();
    Ok(outcome)
}
