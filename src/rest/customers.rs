//! Customers in the vendors' shapes: create (`POST /v1/customers`), the idempotent schedule sync
//! (`POST /v1/customer-schedule-sync`), the Sonar-style upsert where the phone number is the
//! identity (`POST /v1/customers/upsert`, `properties` = `externalMetadata`), and the bulk add
//! of a campaign (`POST /v1/customers/add/bulk`). Each calls the use-case GraphQL calls.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::fields::{given, Fields};
use super::{answer, company, RestError};
use crate::app::bulk::{self as bulk_case, BulkReport, BulkRequest, BulkStatus};
use crate::app::consent as use_consent;
use crate::app::customers::{self as use_case, CustomerSubmission};
use crate::domain::bulk::RecordError;
use crate::domain::consumer::ConsentGiven;
use crate::domain::customer::CustomerPatch;
use crate::domain::lms::{validate_loan, LoanRecord};
use crate::domain::Patch;
use crate::http::AppState;
use crate::store::consents::ConsentRow;
use crate::store::customers::{CustomerRow, MatchOn};
use crate::store::tasks::TaskRow;

/// The Sonar-style upsert calls `externalMetadata` `properties`.
const UPSERT_ALIASES: &[(&str, &str)] = &[("externalMetadata", "properties")];

/// A customer as the vendors' APIs show one (snake_case), with what callsync adds: the line
/// type, the consumer's inconvenient times, a contact hold and the consent on file.
pub(crate) fn customer_json(row: &CustomerRow, consent: Option<&ConsentRow>) -> Map<String, Value> {
    let value = json!({
        "id": row.external_id,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "email": row.email,
        "birthday": row.birthday.map(|d| d.to_string()),
        "ssn_last_four": row.ssn_last_four,
        "phone_number": row.phone_number,
        "timezone": row.timezone,
        "timezone_inferred": row.timezone_inferred,
        "task_type": row.task_type,
        "street_address1": row.street_address1,
        "street_address2": row.street_address2,
        "city": row.city,
        "state": row.state,
        "zip_code": row.zip_code,
        "do_not_call": row.do_not_call,
        "is_test": row.is_test,
        "external_metadata": row.external_metadata,
        "phone_line_type": row.line_type().unwrap_or_default().code(),
        "inconvenient_times": row.inconvenient_times(),
        "contact_hold": row.contact_hold_reason.as_ref().map(|reason| json!({
            "reason": reason,
            "since": row.contact_hold_since.map(|t| t.to_rfc3339()),
            "note": row.contact_hold_note,
        })),
        "consent": consent.map(|c| json!({
            "phone_number": c.phone_number,
            "type": c.consent_type,
            "source": c.source,
            "evidence": c.evidence,
            "obtained_at": c.obtained_at.to_rfc3339(),
            "revoked_at": c.revoked_at.map(|t| t.to_rfc3339()),
        })),
        "created_at": row.created_at.to_rfc3339(),
        "updated_at": row.updated_at.to_rfc3339(),
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The customer with the consent on file for its number.
fn with_consent(
    conn: &mut diesel::PgConnection,
    row: CustomerRow,
) -> Result<(CustomerRow, Option<ConsentRow>), crate::app::AppError> {
    let consent = use_consent::on_file_for(conn, &row)?;
    Ok((row, consent))
}

fn task_json(task: &TaskRow) -> Value {
    json!({
        "id": task.id,
        "schedule_id": task.schedule_id,
        "task_type": task.task_type,
        "status": task.status,
        "attempt": task.attempt,
        "scheduled_for": task.scheduled_for.to_rfc3339(),
        "local_scheduled_for": task.local_scheduled_for(),
    })
}

/// The customer fields of a snake_case body (`metadata_keys`: where this vendor puts
/// `externalMetadata`).
fn customer_patch(f: &mut Fields, metadata_keys: &[&str]) -> Result<CustomerPatch, RestError> {
    let external_id = match f.text(&["id"])? {
        Patch::Set(id) if id.trim().is_empty() => {
            return Err(RestError::bad_input("id", "id cannot be empty (omit it to match on phone_number)"))
        }
        Patch::Set(id) => id,
        _ => String::new(),
    };
    let is_test = match (f.flag(&["is_test"])?, f.flag(&["test"])?) {
        (Patch::Set(a), Patch::Set(b)) if a != b => {
            return Err(RestError::bad_input(
                "test",
                "test and is_test disagree (test is an alias of is_test)",
            ))
        }
        (Patch::Keep, alias) => alias,
        (is_test, _) => is_test,
    };
    Ok(CustomerPatch {
        external_id,
        first_name: f.text(&["first_name"])?,
        last_name: f.text(&["last_name"])?,
        email: f.text(&["email"])?,
        birthday: f.text(&["birthday"])?,
        ssn_last_four: f.text(&["ssn_last_four"])?,
        phone_number: f.text(&["phone_number", "phone"])?,
        timezone: f.text(&["timezone"])?,
        task_type: f.text(&["task_type"])?,
        street_address1: f.text(&["street_address1"])?,
        street_address2: f.text(&["street_address2"])?,
        city: f.text(&["city"])?,
        state: f.text(&["state"])?,
        zip_code: f.text(&["zip_code"])?,
        do_not_call: f.flag(&["do_not_call"])?,
        is_test,
        external_metadata: f.value(metadata_keys)?,
        phone_line_type: f.text(&["phone_line_type"])?,
        inconvenient_times: match f.value(&["inconvenient_times"])? {
            Patch::Set(value) => Patch::Set(serde_json::from_value(value).map_err(|_| {
                RestError::bad_input(
                    "inconvenient_times",
                    "inconvenient_times must be a list of {\"days\": [\"MON\"…], \"start\": \"HH:MM\", \"end\": \"HH:MM\"}",
                )
            })?),
            Patch::Clear => Patch::Clear,
            Patch::Keep => Patch::Keep,
        },
        consent: consent(f)?,
        contact_optional: false,
    })
}

/// `consent: {"type", "source", "evidence", "obtained_at"}` of a body, if given.
pub(crate) fn consent(f: &mut Fields) -> Result<Option<ConsentGiven>, RestError> {
    let map = match f.value(&["consent"])? {
        Patch::Set(Value::Object(map)) => map,
        Patch::Set(_) => return Err(RestError::bad_input("consent", "consent must be an object")),
        _ => return Ok(None),
    };
    let mut c = Fields::of(map);
    let text = |c: &mut Fields, key: &str| match c.text(&[key]) {
        Ok(Patch::Set(value)) => Ok(value),
        Ok(_) => Err(RestError::bad_input(&format!("consent.{key}"), format!("consent.{key} is required"))),
        Err(e) => Err(e),
    };
    let (consent_type, source) = (text(&mut c, "type")?, text(&mut c, "source")?);
    let obtained_at = text(&mut c, "obtained_at")?;
    let obtained_at = DateTime::parse_from_rfc3339(obtained_at.trim())
        .map_err(|_| {
            RestError::bad_input("consent.obtained_at", "consent.obtained_at must be an RFC 3339 instant")
        })?
        .with_timezone(&Utc);
    let evidence = given(c.text(&["evidence"])?);
    c.finish()?;
    Ok(Some(ConsentGiven::from_codes("consent", &consent_type, &source, evidence, obtained_at)?))
}

/// One loan in snake_case (`loans[i]` of a customer body).
fn loan(fields: Map<String, Value>, at: &str) -> Result<LoanRecord, RestError> {
    let mut f = Fields::of(fields);
    let loan = LoanRecord {
        loan_id: given(f.text(&["loan_id"])?)
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| RestError::bad_input(&format!("{at}.loan_id"), "loan_id is required"))?,
        amount: given(f.float(&["amount"])?),
        installment_amount: given(f.float(&["installment_amount"])?),
        period_months: given(f.int(&["period_months"])?),
        current_installment: given(f.int(&["current_installment"])?),
        due_date: due_date(given(f.text(&["due_date"])?), &format!("{at}.due_date"))?,
        payment_status: given(f.text(&["payment_status"])?),
    };
    f.finish()?;
    validate_loan(&loan).map_err(|e| RestError::bad_input(at, e.message))?;
    Ok(loan)
}

fn due_date(text: Option<String>, field: &str) -> Result<Option<chrono::NaiveDate>, RestError> {
    text.map(|d| {
        crate::domain::customer::parse_date(d.trim())
            .ok_or_else(|| RestError::bad_input(field, "must be a date as YYYY-MM-DD"))
    })
    .transpose()
}

/// A whole customer body: fields, inline loans, LMS enrichment asks; unknown fields refused.
fn submission(mut f: Fields, metadata_keys: &[&str]) -> Result<CustomerSubmission, RestError> {
    let patch = customer_patch(&mut f, metadata_keys)?;
    let loans = f
        .objects(&["loans"])?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, l)| loan(l, &format!("loans[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let sync = given(f.flag(&["sync"])?).unwrap_or(false);
    let loan_id = given(f.text(&["loan_id"])?);
    let loan_ids = given(f.texts(&["loan_ids"])?);
    f.finish()?;
    Ok(CustomerSubmission { patch, loans, sync, loan_ids, loan_id })
}

/// `POST /v1/customers`: 201 with the customer; 400 (with `valid_task_types` for an unknown
/// task type), 409 when the id exists.
pub async fn create(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let submission = submission(Fields::parse(&body)?, &["external_metadata"])?;
            let prepared = use_case::prepare(state.db(), state.lms(), company_id, submission).await?;
            let now = state.db().now();
            let row = state
                .db()
                .transaction(move |conn| {
                    let row = use_case::create_customer(conn, company_id, &prepared, now)?;
                    with_consent(conn, row)
                })
                .await?;
            Ok(HttpResponse::Created().json(customer_json(&row.0, row.1.as_ref())))
        }
        .await,
    )
}

/// `POST /v1/customer-schedule-sync`: the flat customer plus `schedule_created`,
/// `tasks_created`, `existing_tasks_removed` (201 when the customer was created, else 200);
/// 400 `DO_NOT_CALL` for a stored Do-Not-Call customer.
pub async fn sync(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let submission = submission(Fields::parse(&body)?, &["external_metadata"])?;
            let prepared = use_case::prepare(state.db(), state.lms(), company_id, submission).await?;
            let (now, today) = (state.db().now(), state.db().clock().today());
            let outcome = state
                .db()
                .transaction(move |conn| {
                    let outcome = use_case::sync_customer_schedule(conn, company_id, &prepared, now, today)?;
                    let consent = use_consent::on_file_for(conn, &outcome.customer)?;
                    Ok::<_, crate::app::AppError>((outcome, consent))
                })
                .await?;
            let (outcome, consent) = outcome;
            let mut body = customer_json(&outcome.customer, consent.as_ref());
            body.insert("created".into(), json!(outcome.created));
            body.insert("schedule_created".into(), json!(!outcome.tasks.is_empty()));
            body.insert("tasks_created".into(), json!(outcome.tasks.len()));
            body.insert("existing_tasks_removed".into(), json!(outcome.existing_tasks_removed));
            body.insert("skipped_reason".into(), json!(outcome.skipped.map(|s| s.code())));
            body.insert("tasks".into(), outcome.tasks.iter().map(task_json).collect());
            let status = if outcome.created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(HttpResponse::build(status).json(body))
        }
        .await,
    )
}

/// `POST /v1/customers/upsert`: the phone number is the identity unless `match_on: "id"`;
/// `properties` are `externalMetadata`. 201 created, 200 updated.
pub async fn upsert(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let mut f = Fields::parse(&body)?;
            let match_on = match given(f.text(&["match_on"])?).as_deref().map(str::to_ascii_lowercase) {
                None => MatchOn::PhoneNumber,
                Some(m) if m == "phone_number" || m == "phone" => MatchOn::PhoneNumber,
                Some(m) if m == "id" => MatchOn::Id,
                Some(_) => {
                    return Err(RestError::bad_input(
                        "match_on",
                        "match_on must be \"phone_number\" or \"id\"",
                    ))
                }
            };
            let submission = submission(f, &["properties", "external_metadata"])?;
            let prepared = use_case::prepare(state.db(), state.lms(), company_id, submission)
                .await
                .map_err(|e| RestError::from_app(e, UPSERT_ALIASES))?;
            let now = state.db().now();
            let (row, created) = state
                .db()
                .transaction(move |conn| {
                    let (row, created) =
                        use_case::upsert_customer(conn, company_id, &prepared, match_on, now)?;
                    Ok::<_, crate::app::AppError>((with_consent(conn, row)?, created))
                })
                .await
                .map_err(|e| RestError::from_app(e, UPSERT_ALIASES))?;
            let ((row, consent), created) = (row, created);
            let mut body = customer_json(&row, consent.as_ref());
            if let Some(metadata) = body.remove("external_metadata") {
                body.insert("properties".into(), metadata);
            }
            body.insert("created".into(), json!(created));
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(HttpResponse::build(status).json(body))
        }
        .await,
    )
}

/// The bulk vendor's record fields: the customer in snake_case, one loan flattened into it,
/// and anything else (`language`, `lead_id`, …) kept in `externalMetadata`.
fn bulk_record(
    index: usize,
    fields: Map<String, Value>,
) -> Result<(CustomerPatch, Vec<LoanRecord>), RecordError> {
    let at = |e: RestError| {
        let (field, code, message) = e.parts();
        RecordError { index, id: None, field, code, message }
    };
    let mut f = Fields::of(fields);
    let mut patch = customer_patch(&mut f, &["external_metadata"]).map_err(at)?;
    let loan_id = given(f.text(&["loan_id"]).map_err(at)?);
    let flat_loan = LoanRecord {
        loan_id: loan_id.clone().unwrap_or_default(),
        amount: given(f.float(&["loan_amount"]).map_err(at)?),
        installment_amount: given(f.float(&["emi_amount"]).map_err(at)?),
        period_months: given(f.int(&["loan_period"]).map_err(at)?),
        current_installment: given(f.int(&["current_emi"]).map_err(at)?),
        due_date: due_date(given(f.text(&["emi_due_date"]).map_err(at)?), "emi_due_date").map_err(at)?,
        payment_status: given(f.text(&["payment_status"]).map_err(at)?),
    };
    let mut loans: Vec<LoanRecord> = f
        .objects(&["loans"])
        .map_err(at)?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, l)| loan(l, &format!("loans[{i}]")))
        .collect::<Result<_, _>>()
        .map_err(at)?;
    if loan_id.is_some() {
        validate_loan(&flat_loan).map_err(|e| at(RestError::bad_input("loan_id", e.message)))?;
        loans.push(flat_loan);
    }
    // Fields with no callsync counterpart are the integration's own: kept, not refused.
    let extras = f.rest();
    if !extras.is_empty() {
        let mut metadata = match std::mem::take(&mut patch.external_metadata) {
            Patch::Set(Value::Object(map)) => map,
            Patch::Set(_) => {
                return Err(at(RestError::bad_input(
                    "external_metadata",
                    "external_metadata must be a JSON object",
                )))
            }
            _ => Map::new(),
        };
        for (key, value) in extras {
            metadata.entry(key).or_insert(value);
        }
        patch.external_metadata = Patch::Set(Value::Object(metadata));
    }
    Ok((patch, loans))
}

/// `POST /v1/customers/add/bulk`: `campaignId` and up to 10,000 `records`. 201 when every
/// record was added, 207 when some were, 400 when none was (each record's error is listed).
pub async fn bulk(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let mut f = Fields::parse(&body)?;
            let schedule_id = given(f.text(&["campaign_id"])?)
                .ok_or_else(|| RestError::bad_input("campaignId", "campaignId is required"))?;
            let records = f
                .objects(&["records", "customers"])?
                .ok_or_else(|| RestError::bad_input("records", "records is required"))?
                .into_iter()
                .enumerate()
                .map(|(i, r)| bulk_record(i, r))
                .collect();
            let initiate_call = given(f.flag(&["initiate_call"])?).unwrap_or(false);
            let use_workflow = given(f.flag(&["use_workflow"])?).unwrap_or(false);
            let (agent_id, disposition_id) = call_config(&mut f)?;
            f.finish()?;
            let request =
                BulkRequest { schedule_id, records, initiate_call, agent_id, disposition_id, use_workflow };
            let work = state.work_signal().clone();
            let report = bulk_case::add_customers(state.db(), company_id, request, || work.wake())
                .await
                .map_err(|e| {
                    RestError::from_app(
                        e,
                        &[
                            ("scheduleId", "campaignId"),
                            ("callConfig", "call_config"),
                            ("initiateCall", "initiate_call"),
                        ],
                    )
                })?;
            let status = match report.status {
                BulkStatus::Success => StatusCode::CREATED,
                BulkStatus::Partial => StatusCode::MULTI_STATUS,
                BulkStatus::Failed => StatusCode::BAD_REQUEST,
            };
            Ok(HttpResponse::build(status).json(bulk_json(report)))
        }
        .await,
    )
}

/// `call_config: {agent_id, disposition_id}` (camelCase accepted too).
fn call_config(f: &mut Fields) -> Result<(Option<String>, Option<String>), RestError> {
    match f.value(&["call_config"])? {
        Patch::Set(Value::Object(map)) => {
            let mut c = Fields::of(map);
            let agent = given(c.text(&["agent_id"])?);
            let disposition = given(c.text(&["disposition_id"])?);
            c.finish()?;
            Ok((agent, disposition))
        }
        Patch::Set(_) => Err(RestError::bad_input("call_config", "call_config must be an object")),
        _ => Ok((None, None)),
    }
}

fn bulk_json(report: BulkReport) -> Value {
    let success = report.success();
    json!({
        "success": success,
        "status": match report.status {
            BulkStatus::Success => "SUCCESS",
            BulkStatus::Partial => "PARTIAL",
            BulkStatus::Failed => "FAILED",
        },
        "message": report.message,
        "results": {
            "total": report.total,
            "valid": report.valid,
            "invalid": report.total - report.valid,
            "successful": report.successful,
            "failed": report.total - report.successful,
            "batches_processed": report.batches_processed,
            "errors": report.errors.iter().map(|e| json!({
                "index": e.index, "id": e.id, "field": e.field.as_deref().map(super::snake_case),
                "code": e.code, "message": e.message,
            })).collect::<Vec<_>>(),
        },
        "call_results": report.calls.map(|(calls, batches)| json!({
            "initiated": calls.initiated,
            "failed": calls.failed(),
            "batches": batches,
            "refused": calls.refused,
        })),
        "workflow_triggered": report.workflow_triggered,
        "job_ids": report.job_ids.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
    })
}
