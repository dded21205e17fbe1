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
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::fields::{given, Fields};
use super::{answer, company, RestError};
use crate::app::calls::{self as calls_case, CallTarget, MakeCall};
use crate::app::schedules as use_case;
use crate::app::AppError;
use crate::domain::contact_policy::LineType;
use crate::domain::customer::CustomerField;
use crate::domain::schedule::{self, CadenceStep, CallPurpose, SchedulePatch, ScheduleSettings};
use crate::domain::Patch;
use crate::http::AppState;
use crate::store::calls::CallRow;
use crate::store::schedules::{self as store, ScheduleFilter, ScheduleOrder, ScheduleRow};
use crate::store::PageRequest;

/// GraphQL input names whose snake_case is not this door's.
const ALIASES: &[(&str, &str)] = &[("maxAttemptsPer7Days", "max_attempts_per_7_days")];

/// Schedules per page unless `per_page` says otherwise (at most 500).
const PER_PAGE: i64 = 50;

/// `serializer`: the record's two shapes on the vendor's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serializer {
    /// The default.
    Schedule,
    /// The same record plus its foreign keys as ids (`company_id`): callsync's schedule has no
    /// nested related records, so nothing else changes.
    ScheduleGrid,
}

/// How a schedule is answered: its serializer, and the keys `columns` keeps (None: all).
#[derive(Debug, Clone)]
struct View {
    serializer: Serializer,
    columns: Option<Vec<String>>,
}

/// The columns on the vendor's page that callsync has no counterpart for (a 400 says so).
const VENDOR_ONLY_COLUMNS: &[&str] = &[
    "legacy_id",
    "type",
    "uuid",
    "deleted_at",
    "user_updated_at",
    "routes_show_path",
    "routes_edit_path",
    "external_record_id",
    "offer_id",
    "lead_token",
    "leads_api_key",
    "max_leads_per_remote_ip_interval",
    "max_leads_per_remote_ip",
    "recent_calls_count",
    "action_sms_provider_configuration_id",
    "action_sms_ring_pool_id",
    "action_sms_number_id",
    "action_sms_use_ring_pool",
    "action_dial_use_ring_pool",
    "during_daylight_hours",
    "available_cc_percentage",
    "calls_on_hold_limit",
    "use_machine_detection",
    "action_dial_skip_mobile",
    "off_hook_enabled",
    "skip_placing_calls_until_agent_count_exceeds",
    "paused_at",
    "unpaused_at",
    "paused_by_user_id",
    "dial_caller_name",
    "numbers_count",
    "leads_sort_order_type",
    "action_ids",
    "end_of_schedule_action_ids",
    "schedule_trigger_ids",
    "record_token_filter_end_of_schedule_id",
    "record_token_filter_end_of_schedule_data_count",
    "record_token_filter_end_of_schedule_data",
    "record_token_filter_scheduled_callback_id",
    "record_token_filter_scheduled_callback_data_count",
    "record_token_filter_scheduled_callback_data",
    "machine_detection_record_token_filter_id",
    "machine_detection_record_token_filter_data_count",
    "machine_detection_record_token_filter_data",
    "record_token_filter_id",
    "record_token_filter_data_count",
    "record_token_filter_data",
];

/// What a schedule record shows besides its settings (all unset for `GET .../new`).
struct Meta {
    id: Option<Uuid>,
    company_id: Uuid,
    calls_count: i32,
    last_call_at: Option<DateTime<Utc>>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl Meta {
    fn of(row: &ScheduleRow) -> Meta {
        Meta {
            id: Some(row.id),
            company_id: row.company_id,
            calls_count: row.calls_count,
            last_call_at: row.last_call_at,
            created_at: Some(row.created_at),
            updated_at: Some(row.updated_at),
        }
    }

    fn unsaved(company_id: Uuid) -> Meta {
        Meta { id: None, company_id, calls_count: 0, last_call_at: None, created_at: None, updated_at: None }
    }
}

/// The schedule record in `serializer`'s shape. The vendor's names stand beside callsync's:
/// `daylight_hours_open` / `_close` are the calling hours, `lead_duplicate_timeframe` is
/// `lead_duplicate_timeframe_seconds`.
fn record(s: &ScheduleSettings, m: &Meta, serializer: Serializer) -> Map<String, Value> {
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
    let Value::Object(mut map) = json!({
        "id": m.id,
        "name": s.name,
        "description": s.description,
        "task_type": s.task_type,
        "paused": s.paused,
        "time_zone": s.time_zone,
        "calling_hours_start": s.calling_hours_start,
        "calling_hours_end": s.calling_hours_end,
        "daylight_hours_open": s.calling_hours_start,
        "daylight_hours_close": s.calling_hours_end,
        "use_do_not_call": s.use_do_not_call,
        "purpose": s.purpose.code(),
        "quiet_period_after_conversation": s.quiet_period_after_conversation,
        "cadence": s.cadence.iter().map(|s| json!({"day_offset": s.day_offset, "local_time": s.local_time})).collect::<Vec<_>>(),
        "max_attempts_per_7_days": s.max_attempts_per_7_days,
        "sortable_order": s.sortable_order,
        "lead_duplicate_timeframe": s.lead_duplicate_timeframe_seconds,
        "lead_duplicate_timeframe_seconds": s.lead_duplicate_timeframe_seconds,
        "required_customer_fields": s.required_customer_fields.iter().map(|f| f.code()).collect::<Vec<_>>(),
        "calls_count": m.calls_count,
        "last_call_at": time(m.last_call_at),
        "created_at": time(m.created_at),
        "updated_at": time(m.updated_at),
    }) else {
        unreachable!("a JSON object")
    };
    if serializer == Serializer::ScheduleGrid {
        map.insert("company_id".into(), json!(m.company_id));
    }
    map
}

/// Every key `columns` may name: the keys of either serializer's record.
fn known_columns() -> Vec<String> {
    let all = record(&schedule::default_settings(), &Meta::unsaved(Uuid::nil()), Serializer::ScheduleGrid);
    all.keys().cloned().collect()
}

impl View {
    fn render(&self, settings: &ScheduleSettings, meta: &Meta) -> Map<String, Value> {
        let mut map = record(settings, meta, self.serializer);
        if let Some(columns) = &self.columns {
            if self.serializer == Serializer::Schedule && columns.iter().any(|c| c == "company_id") {
                map = record(settings, meta, Serializer::ScheduleGrid);
            }
            map.retain(|key, _| columns.contains(key));
        }
        map
    }

    fn row(&self, row: &ScheduleRow) -> Map<String, Value> {
        self.render(&row.settings(), &Meta::of(row))
    }
}

fn serializer(text: Option<&str>) -> Result<Serializer, RestError> {
    match text.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("schedule") => Ok(Serializer::Schedule),
        Some("schedule_grid") => Ok(Serializer::ScheduleGrid),
        Some(other) => Err(RestError::bad_input(
            "serializer",
            format!("serializer must be schedule (the default) or schedule_grid, not {other:?}"),
        )),
    }
}

/// `columns=a,b,c` (or, in a body, a list): the keys to answer; blank is all of them.
fn columns(text: &str) -> Result<Option<Vec<String>>, RestError> {
    let asked: Vec<String> =
        text.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_ascii_lowercase).collect();
    if asked.is_empty() {
        return Ok(None);
    }
    let known = known_columns();
    if let Some(bad) = asked.iter().find(|c| !known.contains(c)) {
        let why = if VENDOR_ONLY_COLUMNS.contains(&bad.as_str()) {
            format!("callsync schedules have no {bad:?} column")
        } else {
            format!("unknown column {bad:?}")
        };
        return Err(RestError::bad_input(
            "columns",
            format!("{why}; columns may be any of: {}", known.join(", ")),
        ));
    }
    Ok(Some(asked))
}

/// The query string as a map (`serializer`, `columns`, the list's parameters).
fn query(req: &HttpRequest) -> Result<HashMap<String, String>, RestError> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| RestError::bad_input("query", format!("the query string cannot be read: {e}")))
}

/// Refuses a query parameter the endpoint does not take.
fn only(params: &HashMap<String, String>, known: &[&str]) -> Result<(), RestError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(RestError::bad_input(unknown, format!("unknown parameter {unknown:?}"))),
        None => Ok(()),
    }
}

/// The view from the query string, and for a POST or PUT also from the body (`body_*`; the
/// same parameter in both must agree).
fn view(
    params: &HashMap<String, String>,
    body_serializer: Option<String>,
    body_columns: Option<String>,
) -> Result<View, RestError> {
    let pick = |key: &str, query: Option<&String>, body: Option<String>| match (query, body) {
        (Some(q), Some(b)) if q.trim() != b.trim() => Err(RestError::bad_input(
            key,
            format!("{key} is given in the query ({q:?}) and in the body ({b:?}); send it once"),
        )),
        (Some(q), _) => Ok(Some(q.clone())),
        (None, b) => Ok(b),
    };
    let serializer = serializer(pick("serializer", params.get("serializer"), body_serializer)?.as_deref())?;
    let columns = match pick("columns", params.get("columns"), body_columns)? {
        Some(text) => columns(&text)?,
        None => None,
    };
    Ok(View { serializer, columns })
}

/// A query-only view (GET and DELETE): `serializer` and `columns`, nothing else.
fn query_view(req: &HttpRequest) -> Result<View, RestError> {
    let params = query(req)?;
    only(&params, &["serializer", "columns"])?;
    view(&params, None, None)
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

/// The list's query: `page` (from 1), `per_page`, `order`, `order_dir`, `fulltext`,
/// `created_at_from`, `created_at_to`, `paused`, `task_type`, and the answer's `serializer`
/// and `columns`.
pub(crate) struct ListQuery {
    pub filter: ScheduleFilter,
    pub order: ScheduleOrder,
    pub desc: bool,
    pub page: i64,
    pub per_page: i64,
    view: View,
}

/// The `order` values: the vendor's names callsync can sort by, and callsync's `task_type`.
const ORDERS: &[(&str, ScheduleOrder)] = &[
    ("sortable_order", ScheduleOrder::SortableOrder),
    ("name", ScheduleOrder::Name),
    ("paused", ScheduleOrder::Paused),
    ("time_zone", ScheduleOrder::TimeZone),
    ("last_call_at", ScheduleOrder::LastCallAt),
    ("calls_count", ScheduleOrder::CallsCount),
    ("created_at", ScheduleOrder::CreatedAt),
    ("updated_at", ScheduleOrder::UpdatedAt),
    ("use_do_not_call", ScheduleOrder::UseDoNotCall),
    ("daylight_hours_open", ScheduleOrder::CallingHoursStart),
    ("daylight_hours_close", ScheduleOrder::CallingHoursEnd),
    ("calling_hours_start", ScheduleOrder::CallingHoursStart),
    ("calling_hours_end", ScheduleOrder::CallingHoursEnd),
    ("task_type", ScheduleOrder::TaskType),
];

/// `created_at_from` / `_to`: the vendor's `2016-01-01 12:25:15 -0500`, or RFC 3339. A `+`
/// offset sent unescaped in a URL arrives as a space (`12:25:15  0500`) and is read as `+`.
fn vendor_time(key: &str, text: &str) -> Result<DateTime<Utc>, RestError> {
    let text = text.trim();
    let unescaped_plus = text
        .rsplit_once("  ")
        .filter(|(_, offset)| offset.len() == 4 && offset.bytes().all(|b| b.is_ascii_digit()))
        .map(|(time, offset)| format!("{time} +{offset}"));
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z"))
        .or_else(|e| unescaped_plus.map_or(Err(e), |t| DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S %z")))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            RestError::bad_input(
                key,
                format!("{key} must be a date-time like 2016-01-01 12:25:15 -0500 (or RFC 3339: 2016-01-01T12:25:15-05:00)"),
            )
        })
}

pub(crate) fn list_query(params: &HashMap<String, String>) -> Result<ListQuery, RestError> {
    only(
        params,
        &[
            "page",
            "per_page",
            "order",
            "order_dir",
            "fulltext",
            "created_at_from",
            "created_at_to",
            "paused",
            "task_type",
            "serializer",
            "columns",
        ],
    )?;
    let number = |key: &str, default: i64, max: i64| -> Result<i64, RestError> {
        match params.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse::<i64>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
                RestError::bad_input(key, format!("{key} must be a whole number from 1 to {max}"))
            }),
        }
    };
    let time = |key: &str| params.get(key).map(|v| vendor_time(key, v)).transpose();
    let order = match params.get("order").map(|o| o.trim().to_ascii_lowercase()) {
        None => ScheduleOrder::CreatedAt,
        Some(o) if o.is_empty() => ScheduleOrder::CreatedAt,
        Some(o) => match ORDERS.iter().find(|(name, _)| *name == o) {
            Some((_, order)) => *order,
            None => {
                let why = match o.as_str() {
                    "offer_id" => "callsync has no offers".to_string(),
                    "leads_api_key" => "callsync has no lead tokens (Leads API Keys)".to_string(),
                    _ => format!("callsync cannot sort schedules by {o:?}"),
                };
                let names: Vec<&str> = ORDERS.iter().map(|(name, _)| *name).collect();
                return Err(RestError::bad_input(
                    "order",
                    format!("{why}; order must be one of {}", names.join(", ")),
                ));
            }
        },
    };
    let desc = match params.get("order_dir").map(|o| o.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(RestError::bad_input("order_dir", "order_dir must be asc or desc")),
    };
    let paused = match params.get("paused").map(|p| p.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => None,
        Some("1" | "true" | "yes" | "on") => Some(true),
        Some("0" | "false" | "no" | "off") => Some(false),
        Some(_) => {
            return Err(RestError::bad_input(
                "paused",
                "paused must be a boolean: 1, true, yes, on, 0, false, no or off",
            ))
        }
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
        view: view(params, None, None)?,
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
