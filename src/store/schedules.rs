//! Schedules (a company's task types): create, update, soft delete, list.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use super::schema::schedules;
use super::{is_unique_violation, like_pattern, Page, PageRequest, StoreError};
use crate::domain::customer::{Campaign, CustomerField};
use crate::domain::schedule::{CadenceStep, CallPurpose, ScheduleSettings};
use crate::domain::ValidationError;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedules, check_for_backend(Pg))]
pub struct ScheduleRow {
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub task_type: String,
    pub paused: bool,
    pub time_zone: Option<String>,
    pub calling_hours_start: String,
    pub calling_hours_end: String,
    pub use_do_not_call: bool,
    pub quiet_period_after_conversation: bool,
    pub cadence: Value,
    pub max_attempts_per_7_days: i32,
    pub sortable_order: Option<f64>,
    pub lead_duplicate_timeframe_seconds: Option<i32>,
    pub calls_count: i32,
    pub last_call_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub required_customer_fields: Vec<String>,
    /// COLLECTION, INFORMATIONAL or TELEMARKETING.
    pub purpose: String,
}

impl ScheduleRow {
    /// The schedule as customer validation sees it.
    pub fn campaign(&self) -> Campaign {
        Campaign { task_type: self.task_type.clone(), required: self.required_fields() }
    }

    /// `requiredCustomerFields` (validated when written).
    pub fn required_fields(&self) -> Vec<CustomerField> {
        self.required_customer_fields.iter().filter_map(|code| CustomerField::from_code(code)).collect()
    }

    pub fn cadence(&self) -> Vec<CadenceStep> {
        serde_json::from_value(self.cadence.clone()).unwrap_or_default()
    }

    pub fn purpose(&self) -> CallPurpose {
        CallPurpose::from_code(&self.purpose).unwrap_or_default()
    }

    pub fn settings(&self) -> ScheduleSettings {
        ScheduleSettings {
            purpose: self.purpose(),
            name: self.name.clone(),
            description: self.description.clone(),
            task_type: self.task_type.clone(),
            paused: self.paused,
            time_zone: self.time_zone.clone(),
            calling_hours_start: self.calling_hours_start.clone(),
            calling_hours_end: self.calling_hours_end.clone(),
            use_do_not_call: self.use_do_not_call,
            quiet_period_after_conversation: self.quiet_period_after_conversation,
            cadence: self.cadence(),
            max_attempts_per_7_days: self.max_attempts_per_7_days,
            sortable_order: self.sortable_order,
            lead_duplicate_timeframe_seconds: self.lead_duplicate_timeframe_seconds,
            required_customer_fields: self.required_fields(),
        }
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = schedules, treat_none_as_null = true)]
struct ScheduleValues<'a> {
    company_id: Uuid,
    name: &'a str,
    description: Option<&'a str>,
    task_type: &'a str,
    paused: bool,
    time_zone: Option<&'a str>,
    calling_hours_start: &'a str,
    calling_hours_end: &'a str,
    use_do_not_call: bool,
    quiet_period_after_conversation: bool,
    cadence: Value,
    max_attempts_per_7_days: i32,
    sortable_order: Option<f64>,
    lead_duplicate_timeframe_seconds: Option<i32>,
    required_customer_fields: Vec<&'static str>,
    purpose: &'static str,
    updated_at: DateTime<Utc>,
}

impl<'a> ScheduleValues<'a> {
    fn new(company_id: Uuid, s: &'a ScheduleSettings, now: DateTime<Utc>) -> Self {
        ScheduleValues {
            company_id,
            name: &s.name,
            description: s.description.as_deref(),
            task_type: &s.task_type,
            paused: s.paused,
            time_zone: s.time_zone.as_deref(),
            calling_hours_start: &s.calling_hours_start,
            calling_hours_end: &s.calling_hours_end,
            use_do_not_call: s.use_do_not_call,
            quiet_period_after_conversation: s.quiet_period_after_conversation,
            cadence: serde_json::to_value(&s.cadence).unwrap_or(Value::Array(vec![])),
            max_attempts_per_7_days: s.max_attempts_per_7_days,
            sortable_order: s.sortable_order,
            lead_duplicate_timeframe_seconds: s.lead_duplicate_timeframe_seconds,
            required_customer_fields: s.required_customer_fields.iter().map(|f| f.code()).collect(),
            purpose: s.purpose.code(),
            updated_at: now,
        }
    }
}

const TASK_TYPE_INDEX: &str = "schedules_company_task_type";

fn task_type_conflict(err: diesel::result::Error, task_type: &str) -> StoreError {
    if is_unique_violation(&err, TASK_TYPE_INDEX) {
        StoreError::conflict("taskType", format!("a schedule with task type {task_type:?} already exists"))
    } else {
        err.into()
    }
}

fn live(company_id: Uuid) -> schedules::BoxedQuery<'static, Pg> {
    schedules::table
        .filter(schedules::company_id.eq(company_id))
        .filter(schedules::deleted_at.is_null())
        .into_boxed()
}

pub fn get(conn: &mut PgConnection, company_id: Uuid, id: Uuid) -> Result<Option<ScheduleRow>, StoreError> {
    Ok(live(company_id)
        .filter(schedules::id.eq(id))
        .select(ScheduleRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn by_ids(
    conn: &mut PgConnection,
    company_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<ScheduleRow>, StoreError> {
    // Deleted schedules still resolve here: a task or call keeps showing where it came from.
    Ok(schedules::table
        .filter(schedules::company_id.eq(company_id))
        .filter(schedules::id.eq_any(ids))
        .select(ScheduleRow::as_select())
        .load(conn)?)
}

/// The company's live schedules.
pub fn live_schedules(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<ScheduleRow>, StoreError> {
    Ok(live(company_id).select(ScheduleRow::as_select()).load(conn)?)
}

pub fn by_task_type(
    conn: &mut PgConnection,
    company_id: Uuid,
    task_type: &str,
) -> Result<Option<ScheduleRow>, StoreError> {
    Ok(live(company_id)
        .filter(schedules::task_type.eq(task_type))
        .select(ScheduleRow::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts a schedule; a live schedule with the same task type is a conflict.
pub fn insert(
    conn: &mut PgConnection,
    company_id: Uuid,
    settings: &ScheduleSettings,
    now: DateTime<Utc>,
) -> Result<ScheduleRow, StoreError> {
    diesel::insert_into(schedules::table)
        .values((ScheduleValues::new(company_id, settings, now), schedules::created_at.eq(now)))
        .returning(ScheduleRow::as_returning())
        .get_result(conn)
        .map_err(|e| task_type_conflict(e, &settings.task_type))
}

/// The live schedule, locked until the transaction ends.
pub fn lock(conn: &mut PgConnection, company_id: Uuid, id: Uuid) -> Result<Option<ScheduleRow>, StoreError> {
    Ok(schedules::table
        .filter(schedules::company_id.eq(company_id))
        .filter(schedules::id.eq(id))
        .filter(schedules::deleted_at.is_null())
        .select(ScheduleRow::as_select())
        .for_update()
        .first(conn)
        .optional()?)
}

/// Writes `settings` over schedule `id`; another live schedule's task type is a conflict.
pub fn update(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: Uuid,
    settings: &ScheduleSettings,
    now: DateTime<Utc>,
) -> Result<ScheduleRow, StoreError> {
    diesel::update(schedules::table.find((company_id, id)))
        .set(ScheduleValues::new(company_id, settings, now))
        .returning(ScheduleRow::as_returning())
        .get_result(conn)
        .map_err(|e| task_type_conflict(e, &settings.task_type))
}

/// Hides the live schedule (its task type is free again); false when there is none.
pub fn hide(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let hidden = diesel::update(
        schedules::table
            .filter(schedules::company_id.eq(company_id))
            .filter(schedules::id.eq(id))
            .filter(schedules::deleted_at.is_null()),
    )
    .set(schedules::deleted_at.eq(now))
    .execute(conn)?;
    Ok(hidden > 0)
}

#[derive(Debug, Clone, Default)]
pub struct ScheduleFilter {
    pub search: Option<String>,
    pub paused: Option<bool>,
    pub task_type: Option<String>,
    pub created_at_from: Option<DateTime<Utc>>,
    pub created_at_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleOrder {
    CreatedAt,
    UpdatedAt,
    Name,
    TaskType,
    Paused,
    SortableOrder,
    CallsCount,
    LastCallAt,
    TimeZone,
    UseDoNotCall,
    CallingHoursStart,
    CallingHoursEnd,
}

/// A company has few schedules, so pages are offsets (opaque to clients).
/// An offset cursor's payload, before the door seals it (`crate::ids`).
pub fn encode_offset_cursor(offset: i64) -> String {
    format!("offset:{offset}")
}

pub fn decode_offset_cursor(text: &str) -> Result<i64, ValidationError> {
    let bad = || ValidationError::new("after", "invalid cursor");
    text.strip_prefix("offset:").and_then(|n| n.parse::<i64>().ok()).filter(|n| *n >= 0).ok_or_else(bad)
}

fn filtered<'a>(company_id: Uuid, f: &'a ScheduleFilter) -> schedules::BoxedQuery<'a, Pg> {
    let mut q = live(company_id);
    if let Some(search) = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = like_pattern(search);
        q = q.filter(
            schedules::name
                .ilike(pattern.clone())
                .or(schedules::description.ilike(pattern).assume_not_null()),
        );
    }
    if let Some(v) = f.paused {
        q = q.filter(schedules::paused.eq(v));
    }
    if let Some(v) = &f.task_type {
        q = q.filter(schedules::task_type.eq(v.clone()));
    }
    if let Some(from) = f.created_at_from {
        q = q.filter(schedules::created_at.ge(from));
    }
    if let Some(to) = f.created_at_to {
        q = q.filter(schedules::created_at.lt(to));
    }
    q
}

pub fn list(
    conn: &mut PgConnection,
    company_id: Uuid,
    filter: &ScheduleFilter,
    page: &PageRequest<ScheduleOrder, i64>,
) -> Result<Page<ScheduleRow>, StoreError> {
    let (desc, first, offset) = (page.desc, page.first, page.after.unwrap_or(0));
    use diesel::expression::expression_types::NotSelectable;
    let total_count =
        if page.with_total { Some(filtered(company_id, filter).count().get_result(conn)?) } else { None };
    type Order = Box<dyn BoxableExpression<schedules::table, Pg, SqlType = NotSelectable>>;
    // Nulls last in both directions: schedules without a value sort after those with one.
    macro_rules! by {
        ($col:expr) => {
            if desc {
                Box::new($col.desc().nulls_last()) as Order
            } else {
                Box::new($col.asc().nulls_last()) as Order
            }
        };
    }
    let primary: Order = match page.order {
        ScheduleOrder::CreatedAt => by!(schedules::created_at),
        ScheduleOrder::UpdatedAt => by!(schedules::updated_at),
        ScheduleOrder::Name => by!(schedules::name),
        ScheduleOrder::TaskType => by!(schedules::task_type),
        ScheduleOrder::Paused => by!(schedules::paused),
        ScheduleOrder::SortableOrder => by!(schedules::sortable_order),
        ScheduleOrder::CallsCount => by!(schedules::calls_count),
        ScheduleOrder::LastCallAt => by!(schedules::last_call_at),
        ScheduleOrder::TimeZone => by!(schedules::time_zone),
        ScheduleOrder::UseDoNotCall => by!(schedules::use_do_not_call),
        ScheduleOrder::CallingHoursStart => by!(schedules::calling_hours_start),
        ScheduleOrder::CallingHoursEnd => by!(schedules::calling_hours_end),
    };
    // Ties stay in creation order whichever the direction, so pages are stable and unsurprising.
    let mut rows: Vec<ScheduleRow> = filtered(company_id, filter)
        .order(primary)
        .then_order_by((schedules::created_at.asc(), schedules::id.asc()))
        .offset(offset)
        .limit(first + 1)
        .select(ScheduleRow::as_select())
        .load(conn)?;
    let has_next_page = rows.len() as i64 > first;
    rows.truncate(first as usize);
    let rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| (encode_offset_cursor(offset + i as i64 + 1), row))
        .collect();
    Ok(Page { rows, has_next_page, total_count })
}
