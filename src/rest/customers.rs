//! Customers in the vendors' shapes: create (`POST /v1/customers`), the idempotent schedule sync
//! (`POST /v1/customer-schedule-sync`), the Sonar-style upsert where the phone number is the
//! identity (`POST /v1/customers/upsert`, `properties` = `externalMetadata`), and the bulk add
//! of a campaign (`POST /v1/customers/add/bulk`). Each calls the use-case GraphQL calls.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::customer_view::customer_json;
use super::export::{Params, Query};
use super::fields::{given, Fields};
use super::{answer, answer_as, caller, Casing, RestError};
use crate::app::bulk::{self as bulk_case, BulkReport, BulkRequest, BulkStatus};
use crate::app::consent as use_consent;
use crate::app::customer_writes::MatchOn;
use crate::app::customers::{self as use_case, CustomerSubmission};
use crate::domain::bulk::RecordError;
use crate::domain::consumer::ConsentGiven;
use crate::domain::customer::{self, CustomerPatch};
use crate::domain::lms::{parse_due_date, validate_loan, LoanInput, LoanRecord};
use crate::domain::Patch;
use crate::http::AppState;
use crate::store::api_keys::KeyIdentity;
use crate::store::consents::ConsentRow;
use crate::store::customers::{self as store_customers, CustomerFilter, CustomerOrder, CustomerRow};
use crate::store::tasks::TaskRow;
use crate::store::{PageRequest, StoreError};

/// The Sonar-style upsert calls `externalMetadata` `properties`.
const UPSERT_ALIASES: &[(&str, &str)] = &[("externalMetadata", "properties")];

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
    Ok(CustomerPatch {
        external_id: customer::external_id_of(f.text(&["id"])?)?,
        is_test: customer::is_test_of(f.flag(&["is_test"])?, f.flag(&["test"])?)?,
        picture_url: f.text(&["picture_url"])?,
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
    let loan = LoanInput {
        loan_id: given(f.text(&["loan_id"])?),
        amount: given(f.float(&["amount"])?),
        installment_amount: given(f.float(&["installment_amount"])?),
        period_months: given(f.int(&["period_months"])?),
        current_installment: given(f.int(&["current_installment"])?),
        due_date: given(f.text(&["due_date"])?),
        payment_status: given(f.text(&["payment_status"])?),
    };
    f.finish()?;
    Ok(loan.record(at)?)
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

/// The body's customer, read and prepared for its write (fetched from the LMS where it asks);
/// errors name the body's fields (`aliases`: the vendor's names for ours).
async fn prepared(
    state: &AppState,
    company_id: uuid::Uuid,
    fields: Fields,
    metadata_keys: &[&str],
    aliases: &[(&str, &str)],
) -> Result<use_case::PreparedCustomer, RestError> {
    let submission = submission(fields, metadata_keys)?;
    use_case::prepare(state.db(), state.lms(), state.secrets(), company_id, submission)
        .await
        .map_err(|e| RestError::from_app(e, aliases))
}

/// The caller, and the customer of a vendor page's body (create, sync) prepared for its write.
async fn vendor_customer(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(KeyIdentity, use_case::PreparedCustomer), RestError> {
    let caller = caller(state, req).await?;
    let prepared =
        prepared(state, caller.company_id, Fields::parse(body)?, &["external_metadata"], &[]).await?;
    Ok((caller, prepared))
}

/// `POST /v1/customers`: camelCase as the create vendor's page (snake_case accepted too); 201
/// with the customer in camelCase; 400 (with `valid_task_types` for an unknown task type), 409
/// when the id exists.
pub async fn create(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    answer_as(
        &req,
        Some(Casing::Camel),
        async {
            let (caller, prepared) = vendor_customer(&state, &req, &body).await?;
            let company_id = caller.company_id;
            let now = state.db().now();
            let row = state
                .db()
                .transaction(move |conn| {
                    let row = use_case::create_customer(conn, company_id, &prepared, now)?;
                    with_consent(conn, row)
                })
                .await?;
            Ok(HttpResponse::Created().json(customer_json(
                &row.0,
                row.1.as_ref(),
                Casing::Camel,
                caller.scope,
            )))
        }
        .await,
    )
}

/// `POST /v1/customer-schedule-sync`: camelCase in, the flat customer out in camelCase plus
/// `schedule_created`, `tasks_created`, `existing_tasks_removed` in snake_case, as the vendor's
/// page (201 when the customer was created, else 200); 400 `DO_NOT_CALL` for a stored
/// Do-Not-Call customer.
pub async fn sync(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    answer_as(
        &req,
        Some(Casing::Camel),
        async {
            let (caller, prepared) = vendor_customer(&state, &req, &body).await?;
            let company_id = caller.company_id;
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
            let mut body = customer_json(&outcome.customer, consent.as_ref(), Casing::Camel, caller.scope);
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
            let caller = caller(&state, &req).await?;
            let company_id = caller.company_id;
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
            let prepared =
                prepared(&state, company_id, f, &["properties", "external_metadata"], UPSERT_ALIASES).await?;
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
            let mut body = customer_json(&row, consent.as_ref(), Casing::Snake, caller.scope);
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
    let emi_due_date = given(f.text(&["emi_due_date"]).map_err(at)?);
    let flat_loan = LoanRecord {
        loan_id: loan_id.clone().unwrap_or_default(),
        amount: given(f.float(&["loan_amount"]).map_err(at)?),
        installment_amount: given(f.float(&["emi_amount"]).map_err(at)?),
        period_months: given(f.int(&["loan_period"]).map_err(at)?),
        current_installment: given(f.int(&["current_emi"]).map_err(at)?),
        due_date: emi_due_date
            .map(|d| parse_due_date("emi_due_date", &d))
            .transpose()
            .map_err(|e| at(e.into()))?,
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

/// `POST /api/v1/customers/add/bulk` (the bulk vendor's path; `/v1/customers/add/bulk` too):
/// `campaignId` and up to 10,000 `records` (snake_case, as the vendor's page). 201 when every
/// record was added, 207 when some were, 400 when none was (each record's error is listed).
pub async fn bulk(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    // The request's top level is camelCase on the vendor's page (its records snake_case, and
    // each record's errors are named so in the answer).
    answer_as(
        &req,
        Some(Casing::Camel),
        async {
            let caller = caller(&state, &req).await?;
            let company_id = caller.company_id;
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
                .map_err(|e| RestError::from_app(e, &[("scheduleId", "campaign_id")]))?;
            let status = match report.status {
                BulkStatus::Success => StatusCode::CREATED,
                BulkStatus::Partial => StatusCode::MULTI_STATUS,
                BulkStatus::Failed => StatusCode::BAD_REQUEST,
            };
            let ids = state.secrets().ids();
            Ok(HttpResponse::build(status).json(bulk_json(report, |job| ids.job_id(company_id, job))))
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

/// The bulk vendor's answer: `callResults` only when calls were initiated, `workflowTriggered`
/// (and the jobs it queued) only when the workflow was asked for.
/// Its jobs' ids as `job_id` shows them.
fn bulk_json(report: BulkReport, job_id: impl Fn(i64) -> String) -> Value {
    let mut body = json!({
        "success": report.success(),
        "message": report.message,
        "results": {
            "total": report.total,
            "valid": report.valid,
            "invalid": report.invalid(),
            "successful": report.successful,
            "failed": report.failed(),
            "batchesProcessed": report.batches_processed,
            "errors": report.errors.iter().map(|e| json!({
                "index": e.index, "id": e.id, "field": e.field.as_deref().map(super::snake_case),
                "code": e.code, "message": e.message,
            })).collect::<Vec<_>>(),
        },
    });
    if let Some((calls, batches)) = &report.calls {
        body["callResults"] = json!({
            "initiated": calls.initiated,
            "failed": calls.failed(),
            "batches": batches,
            "refused": calls.refused,
        });
    }
    if let Some(triggered) = report.workflow_triggered {
        body["workflowTriggered"] = json!(triggered);
        body["jobIds"] = json!(report.job_ids.iter().map(|id| job_id(*id)).collect::<Vec<_>>());
    }
    body
}

/// Most customers on one page of `GET /v1/customers`.
const MAX_PER_PAGE: i64 = 500;
/// How deep `page` may reach (rows skipped); past it, GraphQL cursors or the CSV export.
const MAX_OFFSET: i64 = 100_000;

/// `GET /v1/customers`: the GraphQL list's filters as snake_case query parameters (`is_test`,
/// `do_not_call`, `contact_hold`, `task_type`, `state`, `search`, `created_at_from`,
/// `created_at_to`), `order_by` (created_at, updated_at, last_name, id), `order_direction`
/// (asc, desc), `page` (from 1) and `per_page` (1..500, default 50). Answers `{"customers",
/// "page", "per_page", "total_count"}`, each customer as the create door answers it.
pub async fn list(state: web::Data<AppState>, req: HttpRequest, params: Params) -> HttpResponse {
    answer(
        &req,
        async {
            let caller = caller(&state, &req).await?;
            let company_id = caller.company_id;
            let known = [
                "is_test",
                "do_not_call",
                "contact_hold",
                "task_type",
                "state",
                "search",
                "created_at_from",
                "created_at_to",
                "order_by",
                "order_direction",
                "page",
                "per_page",
            ];
            let q = Query::parse(params.into_inner(), &known, &[])?;
            let filter = CustomerFilter {
                is_test: q.flag("is_test")?,
                do_not_call: q.flag("do_not_call")?,
                contact_hold: q.flag("contact_hold")?,
                task_type: q.text("task_type"),
                state: q.text("state"),
                search: crate::domain::search_term("search", q.text("search"))?,
                created_at_from: q.time("created_at_from")?,
                created_at_to: q.time("created_at_to")?,
            };
            let order = match q.text("order_by").map(|o| o.trim().to_ascii_lowercase()).as_deref() {
                None | Some("created_at") => CustomerOrder::CreatedAt,
                Some("updated_at") => CustomerOrder::UpdatedAt,
                Some("last_name") => CustomerOrder::LastName,
                Some("id") => CustomerOrder::Id,
                Some(_) => {
                    let message = "order_by must be created_at, updated_at, last_name or id";
                    return Err(RestError::bad_input("order_by", message));
                }
            };
            let desc = match q.text("order_direction").map(|o| o.trim().to_ascii_lowercase()).as_deref() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(_) => return Err(RestError::bad_input("order_direction", "order_direction must be asc or desc")),
            };
            let number = |key: &str, default: i64, range: std::ops::RangeInclusive<i64>| {
                let value = q.text(key).map_or(Ok(default), |v| v.trim().parse::<i64>());
                value.ok().filter(|n| range.contains(n)).ok_or_else(|| {
                    let message = format!("{key} must be a whole number from {} to {}", range.start(), range.end());
                    RestError::bad_input(key, message)
                })
            };
            let per_page = number("per_page", 50, 1..=MAX_PER_PAGE)?;
            let page = number("page", 1, 1..=i64::MAX)?;
            let skip = (page - 1).saturating_mul(per_page);
            if skip > MAX_OFFSET {
                let message = format!(
                    "page reaches past {MAX_OFFSET} customers: narrow the filters, or page with GraphQL cursors or /export/customers.csv"
                );
                return Err(RestError::bad_input("page", message));
            }
            let (rows, total) = state
                .db()
                .read_stale(move |conn| {
                    // Keyset order, the first `skip + per_page` rows; the page is their tail.
                    let request =
                        PageRequest { order, desc, after: None, first: skip + per_page, with_total: true };
                    let listed = store_customers::list(conn, company_id, &filter, &request)?;
                    let rows: Vec<CustomerRow> =
                        listed.rows.into_iter().map(|(_, row)| row).skip(skip as usize).collect();
                    let mut with_consent = Vec::with_capacity(rows.len());
                    for row in rows {
                        let consent = use_consent::on_file_for(conn, &row)?;
                        with_consent.push((row, consent));
                    }
                    Ok::<_, StoreError>((with_consent, listed.total_count.unwrap_or(0)))
                })
                .await?;
            let customers: Vec<Map<String, Value>> =
                rows.iter().map(|(row, consent)| customer_json(row, consent.as_ref(), Casing::Camel, caller.scope)).collect();
            Ok(HttpResponse::Ok().json(json!({
                "customers": customers,
                "page": page,
                "per_page": per_page,
                "total_count": total,
            })))
        }
        .await,
    )
}

/// `GET /v1/customers/{id}`: the customer as the create door answers it; 404 when the company
/// has no customer with that id.
pub async fn show(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    answer(
        &req,
        async {
            let caller = caller(&state, &req).await?;
            let company_id = caller.company_id;
            let id = path.into_inner();
            let found = state
                .db()
                .read(move |conn| {
                    let Some(row) = store_customers::by_external_id(conn, company_id, id.trim())? else {
                        return Ok(None);
                    };
                    let consent = use_consent::on_file_for(conn, &row)?;
                    Ok::<_, StoreError>(Some((row, consent)))
                })
                .await?;
            let (row, consent) = found.ok_or_else(|| RestError::not_found("customer"))?;
            Ok(HttpResponse::Ok().json(customer_json(&row, consent.as_ref(), Casing::Camel, caller.scope)))
        }
        .await,
    )
}
