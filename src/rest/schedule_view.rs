//! The schedules vendor's parameters: which shape an answer takes (`serializer`, `columns`),
//! how a schedule record reads, and the list's query (`order`, dates as the vendor writes them,
//! its booleans).

use super::schedules::*;
use super::RestError;
use crate::domain::schedule::{self, ScheduleSettings};
use crate::store::schedules::{ScheduleFilter, ScheduleOrder, ScheduleRow};
use actix_web::{web, HttpRequest};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// `serializer`: the record's two shapes on the vendor's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serializer {
    /// The default.
    Schedule,
    /// The same record plus its foreign keys as ids (`company_id`): callsync's schedule has no
    /// nested related records, so nothing else changes.
    ScheduleGrid,
}

/// How a schedule is answered: its serializer, and the keys `columns` keeps (None: all).
#[derive(Debug, Clone)]
pub(crate) struct View {
    serializer: Serializer,
    columns: Option<Vec<String>>,
}

/// The columns on the vendor's page that callsync has no counterpart for (a 400 says so).
pub(crate) const VENDOR_ONLY_COLUMNS: &[&str] = &[
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
pub(crate) struct Meta {
    id: Option<Uuid>,
    company_id: Uuid,
    calls_count: i32,
    last_call_at: Option<DateTime<Utc>>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl Meta {
    pub(crate) fn of(row: &ScheduleRow) -> Meta {
        Meta {
            id: Some(row.id),
            company_id: row.company_id,
            calls_count: row.calls_count,
            last_call_at: row.last_call_at,
            created_at: Some(row.created_at),
            updated_at: Some(row.updated_at),
        }
    }

    pub(crate) fn unsaved(company_id: Uuid) -> Meta {
        Meta { id: None, company_id, calls_count: 0, last_call_at: None, created_at: None, updated_at: None }
    }
}

/// The schedule record in `serializer`'s shape. The vendor's names stand beside callsync's:
/// `daylight_hours_open` / `_close` are the calling hours, `lead_duplicate_timeframe` is
/// `lead_duplicate_timeframe_seconds`.
pub(crate) fn record(s: &ScheduleSettings, m: &Meta, serializer: Serializer) -> Map<String, Value> {
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
pub(crate) fn known_columns() -> Vec<String> {
    let all = record(&schedule::default_settings(), &Meta::unsaved(Uuid::nil()), Serializer::ScheduleGrid);
    all.keys().cloned().collect()
}

impl View {
    pub(crate) fn render(&self, settings: &ScheduleSettings, meta: &Meta) -> Map<String, Value> {
        let mut map = record(settings, meta, self.serializer);
        if let Some(columns) = &self.columns {
            if self.serializer == Serializer::Schedule && columns.iter().any(|c| c == "company_id") {
                map = record(settings, meta, Serializer::ScheduleGrid);
            }
            map.retain(|key, _| columns.contains(key));
        }
        map
    }

    pub(crate) fn row(&self, row: &ScheduleRow) -> Map<String, Value> {
        self.render(&row.settings(), &Meta::of(row))
    }
}

pub(crate) fn serializer(text: Option<&str>) -> Result<Serializer, RestError> {
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
pub(crate) fn columns(text: &str) -> Result<Option<Vec<String>>, RestError> {
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
pub(crate) fn query(req: &HttpRequest) -> Result<HashMap<String, String>, RestError> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| RestError::bad_input("query", format!("the query string cannot be read: {e}")))
}

/// Refuses a query parameter the endpoint does not take.
pub(crate) fn only(params: &HashMap<String, String>, known: &[&str]) -> Result<(), RestError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(RestError::bad_input(unknown, format!("unknown parameter {unknown:?}"))),
        None => Ok(()),
    }
}

/// The view from the query string, and for a POST or PUT also from the body (`body_*`; the
/// same parameter in both must agree).
pub(crate) fn view(
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
pub(crate) fn query_view(req: &HttpRequest) -> Result<View, RestError> {
    let params = query(req)?;
    only(&params, &["serializer", "columns"])?;
    view(&params, None, None)
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
    pub(crate) view: View,
}

/// The `order` values: the vendor's names callsync can sort by, and callsync's `task_type`.
pub(crate) const ORDERS: &[(&str, ScheduleOrder)] = &[
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
pub(crate) fn vendor_time(key: &str, text: &str) -> Result<DateTime<Utc>, RestError> {
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
        search: crate::domain::search_term("fulltext", params.get("fulltext").cloned())?,
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
