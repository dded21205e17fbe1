//! Schedules in the TrackDrive-style shape: `GET|POST /api/v1/schedules` (a list paged by
//! `page`, also as `.csv`), `GET /api/v1/schedules/new`, `GET|PUT|DELETE /api/v1/schedules/{id}`
//! and `POST /api/v1/schedules/make_call`. Bodies are the snake_case of the GraphQL names
//! (`daylight_hours_open` / `_close` are aliases of the calling hours).

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::fields::{given, Fields};
use super::{answer, company, RestError};
use crate::app::calls::{self as calls_case, CallTarget, MakeCall};
use crate::domain::contact_policy::LineType;
use crate::domain::customer::CustomerField;
use crate::domain::schedule::{self, CadenceStep, CallPurpose, SchedulePatch};
use crate::domain::Patch;
use crate::http::AppState;
use crate::store::calls::CallRow;
use crate::store::schedules::{self as store, ScheduleFilter, ScheduleOrder, ScheduleRow};
use crate::store::PageRequest;

/// GraphQL input names whose snake_case is not this door's.
const ALIASES: &[(&str, &str)] = &[("maxAttemptsPer7Days", "max_attempts_per_7_days")];

/// Schedules per page unless `per_page` says otherwise (at most 500).
const PER_PAGE: i64 = 50;

pub(crate) fn schedule_json(row: &ScheduleRow) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "task_type": row.task_type,
        "paused": row.paused,
        "time_zone": row.time_zone,
        "calling_hours_start": row.calling_hours_start,
        "calling_hours_end": row.calling_hours_end,
        "use_do_not_call": row.use_do_not_call,
        "purpose": row.purpose,
        "quiet_period_after_conversation": row.quiet_period_after_conversation,
        "cadence": row.cadence().iter().map(|s| json!({"day_offset": s.day_offset, "local_time": s.local_time})).collect::<Vec<_>>(),
        "max_attempts_per_7_days": row.max_attempts_per_7_days,
        "sortable_order": row.sortable_order,
        "lead_duplicate_timeframe_seconds": row.lead_duplicate_timeframe_seconds,
        "required_customer_fields": row.required_fields().iter().map(|f| f.code()).collect::<Vec<_>>(),
        "calls_count": row.calls_count,
        "last_call_at": row.last_call_at.map(|t| t.to_rfc3339()),
        "created_at": row.created_at.to_rfc3339(),
        "updated_at": row.updated_at.to_rfc3339(),
    })
}

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

/// A schedule body (snake_case); unknown fields are refused.
fn schedule_patch(body: &[u8]) -> Result<SchedulePatch, RestError> {
    let mut f = Fields::parse(body)?;
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
    let patch = SchedulePatch {
        purpose,
        name: f.text(&["name"])?,
        description: f.text(&["description"])?,
        task_type: f.text(&["task_type"])?,
        paused: f.flag(&["paused"])?,
        time_zone: f.text(&["time_zone"])?,
        calling_hours_start: f.text(&["calling_hours_start", "daylight_hours_open"])?,
        calling_hours_end: f.text(&["calling_hours_end", "daylight_hours_close"])?,
        use_do_not_call: f.flag(&["use_do_not_call"])?,
        quiet_period_after_conversation: f.flag(&["quiet_period_after_conversation"])?,
        cadence,
        max_attempts_per_7_days: f.int(&["max_attempts_per_7_days"])?,
        sortable_order: f.float(&["sortable_order"])?,
        lead_duplicate_timeframe_seconds: f.int(&["lead_duplicate_timeframe_seconds"])?,
        required_customer_fields,
    };
    f.finish()?;
    Ok(patch)
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

fn rest_error(e: crate::store::StoreError) -> RestError {
    match e {
        crate::store::StoreError::NotFound => RestError::not_found("schedule"),
        other => RestError::from_api(other.into(), ALIASES),
    }
}

/// `POST /api/v1/schedules`: 201 with the schedule.
pub async fn create(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let patch = schedule_patch(&body)?;
            let now = state.db().now();
            let row = state
                .db()
                .write(move |conn| store::create(conn, company_id, &patch, now))
                .await
                .map_err(rest_error)?;
            Ok(HttpResponse::Created().json(schedule_json(&row)))
        }
        .await,
    )
}

/// `GET /api/v1/schedules/new`: what a new schedule gets for every field left out.
pub async fn new(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    answer(
        &req,
        async {
            company(&state, &req).await?;
            let d = schedule::defaults();
            Ok(HttpResponse::Ok().json(json!({
                "calling_hours_start": d.calling_hours_start,
                "calling_hours_end": d.calling_hours_end,
                "use_do_not_call": d.use_do_not_call,
                "quiet_period_after_conversation": true,
                "cadence": d.cadence.iter().map(|s| json!({"day_offset": s.day_offset, "local_time": s.local_time})).collect::<Vec<_>>(),
                "max_attempts_per_7_days": d.max_attempts_per_7_days,
                "paused": d.paused,
                "required_customer_fields": CustomerField::DEFAULT_REQUIRED.iter().map(|f| f.code()).collect::<Vec<_>>(),
            })))
        }
        .await,
    )
}

pub async fn get(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let id = schedule_id(&path)?;
            let row = state.db().read(move |conn| store::get(conn, company_id, id)).await?;
            let row = row.ok_or_else(|| RestError::not_found("schedule"))?;
            Ok(HttpResponse::Ok().json(schedule_json(&row)))
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
            let patch = schedule_patch(&body)?;
            let now = state.db().now();
            let row = state
                .db()
                .write(move |conn| store::update(conn, company_id, id, &patch, now))
                .await
                .map_err(rest_error)?;
            Ok(HttpResponse::Ok().json(schedule_json(&row)))
        }
        .await,
    )
}

pub async fn delete(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let id = schedule_id(&path)?;
            let now = state.db().now();
            let cancelled = state
                .db()
                .write(move |conn| store::delete(conn, company_id, id, now))
                .await
                .map_err(rest_error)?;
            Ok(HttpResponse::Ok().json(json!({"deleted_schedule_id": id, "tasks_cancelled": cancelled})))
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

/// The list's query: `page` (from 1), `per_page`, `order`, `order_dir`, `fulltext`,
/// `created_at_from`, `created_at_to`, `paused`, `task_type`.
pub(crate) struct ListQuery {
    pub filter: ScheduleFilter,
    pub order: ScheduleOrder,
    pub desc: bool,
    pub page: i64,
    pub per_page: i64,
}

pub(crate) fn list_query(params: &HashMap<String, String>) -> Result<ListQuery, RestError> {
    let known = [
        "page",
        "per_page",
        "order",
        "order_dir",
        "fulltext",
        "created_at_from",
        "created_at_to",
        "paused",
        "task_type",
    ];
    if let Some(unknown) = params.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(RestError::bad_input(unknown, format!("unknown parameter {unknown:?}")));
    }
    let number = |key: &str, default: i64, max: i64| -> Result<i64, RestError> {
        match params.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse::<i64>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
                RestError::bad_input(key, format!("{key} must be a whole number from 1 to {max}"))
            }),
        }
    };
    let time = |key: &str| -> Result<Option<DateTime<Utc>>, RestError> {
        params
            .get(key)
            .map(|v| {
                DateTime::parse_from_rfc3339(v.trim())
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| RestError::bad_input(key, format!("{key} must be an RFC 3339 date-time")))
            })
            .transpose()
    };
    let order = match params.get("order").map(|o| o.trim().to_ascii_lowercase()).as_deref() {
        None | Some("created_at") => ScheduleOrder::CreatedAt,
        Some("updated_at") => ScheduleOrder::UpdatedAt,
        Some("name") => ScheduleOrder::Name,
        Some("task_type") => ScheduleOrder::TaskType,
        Some("paused") => ScheduleOrder::Paused,
        Some("sortable_order") => ScheduleOrder::SortableOrder,
        Some("calls_count") => ScheduleOrder::CallsCount,
        Some("last_call_at") => ScheduleOrder::LastCallAt,
        Some(_) => {
            return Err(RestError::bad_input(
                "order",
                "order must be one of created_at, updated_at, name, task_type, paused, sortable_order, calls_count, last_call_at",
            ))
        }
    };
    let desc = match params.get("order_dir").map(|o| o.trim().to_ascii_lowercase()).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(RestError::bad_input("order_dir", "order_dir must be asc or desc")),
    };
    let paused = match params.get("paused").map(|p| p.trim()) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(RestError::bad_input("paused", "paused must be true or false")),
    };
    let filter = ScheduleFilter {
        search: params.get("fulltext").cloned(),
        paused,
        task_type: params.get("task_type").cloned(),
        created_at_from: time("created_at_from")?,
        created_at_to: time("created_at_to")?,
    };
    Ok(ListQuery {
        filter,
        order,
        desc,
        page: number("page", 1, 1_000_000)?,
        per_page: number("per_page", PER_PAGE, 500)?,
    })
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
            let page = state.db().read(move |conn| store::list(conn, company_id, &filter, &request)).await?;
            let total = page.total_count.unwrap_or(0);
            Ok(HttpResponse::Ok().json(json!({
                "schedules": page.rows.iter().map(|(_, row)| schedule_json(row)).collect::<Vec<_>>(),
                "page": q.page,
                "per_page": q.per_page,
                "total_count": total,
                "total_pages": (total + q.per_page - 1) / q.per_page,
            })))
        }
        .await,
    )
}

/// `GET /api/v1/schedules.csv`: every schedule the list's filters match (no paging), as CSV.
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
            let q = list_query(&params)?;
            Ok(super::export::schedules_csv(&state, company_id, q.filter, q.order, q.desc))
        }
        .await,
    )
}
