//! Schedules in the TrackDrive-style shape: `GET|POST /api/v1/schedules` (a list paged by
//! `page`, also as `.csv`), `GET /api/v1/schedules/new`, `GET|PUT|DELETE /api/v1/schedules/{id}`
//! and `POST /api/v1/schedules/make_call`. Bodies are the snake_case of the GraphQL names, plus
//! the vendor's own names and literals as its page shows them: `daylight_hours_open` / `_close`
//! (the calling hours), `lead_duplicate_timeframe` (seconds), booleans as 1/0, true/false,
//! yes/no, on/off, `serializer` (`schedule` or `schedule_grid`), `columns`, and
//! `created_at_from` / `_to` as `2016-01-01 12:25:15 -0500`. What callsync has no counterpart
//! for (`offer_id`, `lead_token`) is refused by name, saying what to use instead.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use super::fields::{given, Fields};
use super::{answer, company, RestError};
use crate::app::calls::{self as calls_case, CallTarget, MakeCall};
use crate::app::schedules as use_case;
use crate::app::AppError;
use crate::domain::contact_policy::LineType;
use crate::domain::customer::CustomerField;
use crate::domain::schedule::{self, CadenceStep, CallPurpose, SchedulePatch};
use crate::domain::Patch;
use crate::http::AppState;
use crate::store::calls::CallRow;
use crate::store::schedules::{self as store};
use crate::store::PageRequest;

/// GraphQL input names whose snake_case is not this door's.
use super::schedule_view::*;

const ALIASES: &[(&str, &str)] = &[("maxAttemptsPer7Days", "max_attempts_per_7_days")];

/// Schedules per page unless `per_page` says otherwise (at most 500).
pub(crate) const PER_PAGE: i64 = 50;

fn call_json(row: &CallRow, lead_id: Option<&str>) -> Value {
    json!({
        "id": row.id,
        "status": row.status,
        "to": row.to_number,
        "lead_id": lead_id,
        "schedule_id": row.schedule_id,
        "agent_id": row.agent_id,
        "data": row.data,
        "source": row.source,
        "created_at": row.created_at.to_rfc3339(),
    })
}

/// A schedule body as the door reads it: the patch, the answer's `serializer` and `columns`
/// when the body carries them, and whether `lead_duplicate_timeframe` was sent by the vendor's
/// name (then an error names it so).
struct ScheduleBody {
    patch: SchedulePatch,
    serializer: Option<String>,
    columns: Option<String>,
    vendor_timeframe: bool,
}

impl ScheduleBody {
    /// The use-case's field names as this body named them.
    fn aliases(&self) -> Vec<(&'static str, &'static str)> {
        let mut aliases = ALIASES.to_vec();
        if self.vendor_timeframe {
            aliases.push(("leadDuplicateTimeframeSeconds", "lead_duplicate_timeframe"));
        }
        aliases
    }
}

/// The vendor's booleans: JSON true/false, or 1/0, true/false, yes/no, on/off as numbers or
/// strings in any case. Blank ("") leaves the field as it is; null clears (which the use-case
/// refuses for a flag).
fn vendor_flag(f: &mut Fields, key: &str) -> Result<Patch<bool>, RestError> {
    let bad = || {
        RestError::bad_input(key, format!("{key} must be a boolean: 1, true, yes, on, 0, false, no or off"))
    };
    match f.value(&[key])? {
        Patch::Keep => Ok(Patch::Keep),
        Patch::Clear => Ok(Patch::Clear),
        Patch::Set(Value::Bool(b)) => Ok(Patch::Set(b)),
        Patch::Set(Value::Number(n)) => match n.as_i64() {
            Some(1) => Ok(Patch::Set(true)),
            Some(0) => Ok(Patch::Set(false)),
            _ => Err(bad()),
        },
        Patch::Set(Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(Patch::Keep),
            "1" | "true" | "yes" | "on" => Ok(Patch::Set(true)),
            "0" | "false" | "no" | "off" => Ok(Patch::Set(false)),
            _ => Err(bad()),
        },
        Patch::Set(_) => Err(bad()),
    }
}

/// A number the vendor may send as a string ("Must be a number"); blank ("") clears.
fn vendor_number(value: Patch<Value>, key: &str) -> Result<Patch<f64>, RestError> {
    let bad = || RestError::bad_input(key, format!("{key} must be a number"));
    match value {
        Patch::Keep => Ok(Patch::Keep),
        Patch::Clear => Ok(Patch::Clear),
        Patch::Set(Value::Number(n)) => n.as_f64().map(Patch::Set).ok_or_else(bad),
        Patch::Set(Value::String(text)) if text.trim().is_empty() => Ok(Patch::Clear),
        Patch::Set(Value::String(text)) => text.trim().parse::<f64>().map(Patch::Set).map_err(|_| bad()),
        Patch::Set(_) => Err(bad()),
    }
}

/// A whole number the vendor may send as a string; blank ("") clears.
fn vendor_int(value: Patch<Value>, key: &str) -> Result<Patch<i32>, RestError> {
    match vendor_number(value, key)? {
        Patch::Set(n) if n.fract() == 0.0 && n >= f64::from(i32::MIN) && n <= f64::from(i32::MAX) => {
            Ok(Patch::Set(n as i32))
        }
        Patch::Set(_) => Err(RestError::bad_input(key, format!("{key} must be a whole number"))),
        Patch::Keep => Ok(Patch::Keep),
        Patch::Clear => Ok(Patch::Clear),
    }
}

/// A parameter of the vendor's that callsync has no counterpart for: blank or null is accepted
/// (the page allows blank), anything else is a 400 naming it and saying what to use instead.
fn not_in_callsync(f: &mut Fields, key: &str, instead: &str) -> Result<(), RestError> {
    match f.value(&[key])? {
        Patch::Keep | Patch::Clear => Ok(()),
        Patch::Set(Value::String(text)) if text.trim().is_empty() => Ok(()),
        Patch::Set(_) => Err(RestError::bad_input(key, instead)),
    }
}

const NO_OFFERS: &str =
    "callsync has no offers: a schedule stands alone and is named by its id (schedule_id); leave offer_id out";
const NO_LEAD_TOKENS: &str =
    "callsync has no lead tokens (Leads API Keys): name the schedule by its id with schedule_id";

/// A schedule body (snake_case, or camelCase); unknown fields are refused.
fn schedule_body(body: &[u8]) -> Result<ScheduleBody, RestError> {
    let mut f = Fields::parse(body)?;
    not_in_callsync(&mut f, "offer_id", NO_OFFERS)?;
    not_in_callsync(&mut f, "lead_token", NO_LEAD_TOKENS)?;
    let serializer = given(f.text(&["serializer"])?);
    let columns = match f.value(&["columns"])? {
        Patch::Set(Value::String(text)) => Some(text),
        Patch::Set(Value::Array(items)) => Some(
            items
                .iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| RestError::bad_input("columns", "columns must be a list of column names"))?
                .join(","),
        ),
        Patch::Set(_) => {
            return Err(RestError::bad_input("columns", "columns must be a comma-separated text or a list"))
        }
        Patch::Keep | Patch::Clear => None,
    };
    let cadence = match f.value(&["cadence"])? {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(Value::Array(steps)) => Patch::Set(
            steps
                .into_iter()
                .enumerate()
                .map(|(i, step)| cadence_step(step, i))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Patch::Set(_) => return Err(RestError::bad_input("cadence", "cadence must be a list of steps")),
    };
    let required_customer_fields = match f.texts(&["required_customer_fields"])? {
        Patch::Set(codes) => Patch::Set(
            codes
                .iter()
                .map(|code| {
                    CustomerField::from_code(&code.trim().to_ascii_uppercase()).ok_or_else(|| {
                        RestError::bad_input(
                            "required_customer_fields",
                            format!("unknown customer field {code:?}"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Patch::Clear => Patch::Clear,
        Patch::Keep => Patch::Keep,
    };
    let purpose = match f.text(&["purpose"])? {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(code) => Patch::Set(CallPurpose::from_code(&code).ok_or_else(|| {
            RestError::bad_input("purpose", "purpose must be COLLECTION, INFORMATIONAL or TELEMARKETING")
        })?),
    };
    // The vendor's name and callsync's for the same seconds: one or the other.
    let vendor = f.value(&["lead_duplicate_timeframe"])?;
    let ours = f.value(&["lead_duplicate_timeframe_seconds"])?;
    let vendor_timeframe = !vendor.is_keep();
    let lead_duplicate_timeframe_seconds = match (vendor.is_keep(), ours.is_keep()) {
        (false, false) => {
            return Err(RestError::bad_input(
                "lead_duplicate_timeframe",
                "lead_duplicate_timeframe is given twice (also as lead_duplicate_timeframe_seconds); send it once",
            ))
        }
        (false, true) => vendor_int(vendor, "lead_duplicate_timeframe")?,
        _ => vendor_int(ours, "lead_duplicate_timeframe_seconds")?,
    };
    let patch = SchedulePatch {
        purpose,
        name: f.text(&["name"])?,
        description: f.text(&["description"])?,
        task_type: f.text(&["task_type"])?,
        paused: vendor_flag(&mut f, "paused")?,
        time_zone: f.text(&["time_zone"])?,
        calling_hours_start: f.text(&["calling_hours_start", "daylight_hours_open"])?,
        calling_hours_end: f.text(&["calling_hours_end", "daylight_hours_close"])?,
        use_do_not_call: vendor_flag(&mut f, "use_do_not_call")?,
        quiet_period_after_conversation: vendor_flag(&mut f, "quiet_period_after_conversation")?,
        cadence,
        max_attempts_per_7_days: f.int(&["max_attempts_per_7_days"])?,
        sortable_order: vendor_number(f.value(&["sortable_order"])?, "sortable_order")?,
        lead_duplicate_timeframe_seconds,
        required_customer_fields,
    };
    f.finish()?;
    Ok(ScheduleBody { patch, serializer, columns, vendor_timeframe })
}

fn cadence_step(step: Value, i: usize) -> Result<CadenceStep, RestError> {
    let field = format!("cadence[{i}]");
    let Value::Object(map) = step else {
        return Err(RestError::bad_input(&field, format!("{field} must be an object")));
    };
    let mut s = Fields::of(map);
    let day_offset = given(s.int(&["day_offset"])?)
        .ok_or_else(|| RestError::bad_input(&format!("{field}.day_offset"), "day_offset is required"))?;
    let local_time = given(s.text(&["local_time"])?)
        .ok_or_else(|| RestError::bad_input(&format!("{field}.local_time"), "local_time is required"))?;
    s.finish()?;
    Ok(CadenceStep { day_offset, local_time })
}

fn schedule_id(text: &str) -> Result<Uuid, RestError> {
    Uuid::parse_str(text.trim()).map_err(|_| RestError::not_found("schedule"))
}

fn rest_error(e: impl Into<AppError>, aliases: &[(&str, &str)]) -> RestError {
    match e.into() {
        AppError::NotFound(_) | AppError::Store(crate::store::StoreError::NotFound) => {
            RestError::not_found("schedule")
        }
        other => RestError::from_app(other, aliases),
    }
}

/// The query and body of a POST or PUT: the patch and the answer's view.
fn write_request(req: &HttpRequest, body: &[u8]) -> Result<(ScheduleBody, View), RestError> {
    let params = query(req)?;
    only(&params, &["serializer", "columns"])?;
    let mut body = schedule_body(body)?;
    let view = view(&params, body.serializer.take(), body.columns.take())?;
    Ok((body, view))
}

/// `POST /api/v1/schedules`: 201 with the schedule.
pub async fn create(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let (body, view) = write_request(&req, &body)?;
            let aliases = body.aliases();
            let patch = body.patch;
            let now = state.db().now();
            let row = state
                .db()
                .transaction(move |conn| use_case::create(conn, company_id, &patch, now))
                .await
                .map_err(|e| rest_error(e, &aliases))?;
            Ok(HttpResponse::Created().json(view.row(&row)))
        }
        .await,
    )
}

/// `GET /api/v1/schedules/new`: a schedule record as `GET .../{id}` answers it, filled with
/// what a new schedule gets for every field left out; `id` and the times are null, and nothing
/// is saved.
pub async fn new(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let view = query_view(&req)?;
            Ok(HttpResponse::Ok()
                .json(view.render(&schedule::default_settings(), &Meta::unsaved(company_id))))
        }
        .await,
    )
}

pub async fn get(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let view = query_view(&req)?;
            let id = schedule_id(&path)?;
            let row = state.db().read(move |conn| store::get(conn, company_id, id)).await?;
            let row = row.ok_or_else(|| RestError::not_found("schedule"))?;
            Ok(HttpResponse::Ok().json(view.row(&row)))
        }
        .await,
    )
}

/// `PUT /api/v1/schedules/{id}`: updates the fields the body carries (null clears).
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let id = schedule_id(&path)?;
            let (body, view) = write_request(&req, &body)?;
            let aliases = body.aliases();
            let patch = body.patch;
            let now = state.db().now();
            let row = state
                .db()
                .transaction(move |conn| use_case::update(conn, company_id, id, &patch, now))
                .await
                .map_err(|e| rest_error(e, &aliases))?;
            Ok(HttpResponse::Ok().json(view.row(&row)))
        }
        .await,
    )
}

/// `DELETE /api/v1/schedules/{id}`: 200 with the schedule as it was (in `serializer`'s shape),
/// plus `deleted_schedule_id` and `tasks_cancelled`.
pub async fn delete(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let view = query_view(&req)?;
            let id = schedule_id(&path)?;
            let now = state.db().now();
            let (row, cancelled) = state
                .db()
                .transaction(move |conn| {
                    let row = store::get(conn, company_id, id)?.ok_or(AppError::NotFound("schedule"))?;
                    Ok::<_, AppError>((row, use_case::delete(conn, company_id, id, now)?))
                })
                .await
                .map_err(|e| rest_error(e, ALIASES))?;
            let mut answer = view.row(&row);
            answer.insert("deleted_schedule_id".into(), json!(id));
            answer.insert("tasks_cancelled".into(), json!(cancelled));
            Ok(HttpResponse::Ok().json(answer))
        }
        .await,
    )
}

/// `POST /api/v1/schedules/make_call`: `lead_id` (a customer's id) or `to`, through
/// `schedule_id`, with an optional `consent` for the number and `line_type`; 201 with the call,
/// 422 when the contact policy or a guard refuses it.
pub async fn make_call(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let mut f = Fields::parse(&body)?;
            not_in_callsync(&mut f, "lead_token", NO_LEAD_TOKENS)?;
            not_in_callsync(&mut f, "offer_id", NO_OFFERS)?;
            let lead_id = given(f.text(&["lead_id"])?);
            let schedule_id = match given(f.text(&["schedule_id"])?) {
                Some(id) => Some(schedule_id(&id)?),
                None => None,
            };
            let line_type = match given(f.text(&["line_type"])?) {
                Some(code) => {
                    Some(LineType::from_code(code.trim().to_ascii_uppercase().as_str()).ok_or_else(|| {
                        RestError::bad_input(
                            "line_type",
                            "line_type must be WIRELESS, LANDLINE, VOIP or UNKNOWN",
                        )
                    })?)
                }
                None => None,
            };
            let request = MakeCall {
                consent: super::customers::consent(&mut f)?,
                line_type,
                target: CallTarget {
                    customer_external_id: lead_id.clone(),
                    schedule_id,
                    phone_number: given(f.text(&["to"])?),
                },
                data: given(f.value(&["data"])?),
                agent_id: given(f.text(&["agent_id"])?),
            };
            f.finish()?;
            let now = state.db().now();
            let row = state
                .db()
                .transaction(move |conn| calls_case::make_call(conn, company_id, &request, now))
                .await
                .map_err(|e| match e {
                    crate::app::AppError::Store(crate::store::StoreError::NotFound) => {
                        RestError::not_found("lead or schedule")
                    }
                    other => RestError::from_app(
                        other,
                        &[("customerId", "lead_id"), ("scheduleId", "schedule_id")],
                    ),
                })?;
            Ok(HttpResponse::Created().json(call_json(&row, lead_id.as_deref())))
        }
        .await,
    )
}

/// `GET /api/v1/schedules`: one page, with `total_count` and `total_pages`.
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    params: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let q = list_query(&params)?;
            let request = PageRequest {
                order: q.order,
                desc: q.desc,
                after: Some((q.page - 1) * q.per_page),
                first: q.per_page,
                with_total: true,
            };
            let filter = q.filter;
            let page =
                state.db().read_stale(move |conn| store::list(conn, company_id, &filter, &request)).await?;
            let total = page.total_count.unwrap_or(0);
            Ok(HttpResponse::Ok().json(json!({
                "schedules": page.rows.iter().map(|(_, row)| q.view.row(row)).collect::<Vec<_>>(),
                "page": q.page,
                "per_page": q.per_page,
                "total_count": total,
                "total_pages": (total + q.per_page - 1) / q.per_page,
            })))
        }
        .await,
    )
}

/// `GET /api/v1/schedules.csv`: every schedule the list's filters match (no paging), as CSV
/// with the export's columns (`serializer` is accepted; `columns` is refused).
pub async fn list_csv(
    state: web::Data<AppState>,
    req: HttpRequest,
    params: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let mut params = params.into_inner();
            params.remove("page");
            params.remove("per_page");
            if params.get("columns").is_some_and(|c| !c.trim().is_empty()) {
                return Err(RestError::bad_input(
                    "columns",
                    "columns is not supported on the CSV list: it has the export's columns (use the JSON list to pick keys)",
                ));
            }
            let q = list_query(&params)?;
            Ok(super::export::schedules_csv(&state, company_id, q.filter, q.order, q.desc))
        }
        .await,
    )
}
