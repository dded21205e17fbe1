//! CSV exports: `GET /export/{customers,schedules,tasks,calls}.csv` with the GraphQL list's
//! filters as query parameters (same names). Streamed: a blocking thread pages through the list
//! (1,000 rows a page, keyset) inside one read-only REPEATABLE READ transaction, so a concurrent
//! write can neither duplicate nor skip a row, and hands each page to the response through a
//! bounded channel, so memory stays flat at any size and a client that stops reading stops it.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::{answer, caller, company, RestError};
use crate::domain::csv::write_row;
use crate::domain::keys::{KeyScope, PII_FIELDS};
use crate::http::AppState;
use crate::store::customers::{self, CustomerCursor, CustomerFilter, CustomerOrder, CustomerRow};
use crate::store::schedules::{self, ScheduleFilter, ScheduleOrder, ScheduleRow};
use crate::store::{calls, tasks, Db, Page, PageRequest, StoreError, TimeCursor};

/// Rows per page read from the database.
const PAGE_ROWS: i64 = 1_000;
/// Pages waiting for a slow client (each about 1,000 rows of CSV).
const PAGES_BUFFERED: usize = 2;

pub(crate) type Params = web::Query<Vec<(String, String)>>;

/// The query parameters, each at most once except the repeatable ones; unknown ones refused.
pub(crate) struct Query {
    values: HashMap<String, Vec<String>>,
}

impl Query {
    pub(crate) fn parse(
        pairs: Vec<(String, String)>,
        known: &[&str],
        repeatable: &[&str],
    ) -> Result<Query, RestError> {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for (key, value) in pairs {
            if !known.contains(&key.as_str()) {
                return Err(RestError::bad_input(&key, format!("unknown parameter {key:?}")));
            }
            let entry = values.entry(key.clone()).or_default();
            if !entry.is_empty() && !repeatable.contains(&key.as_str()) {
                return Err(RestError::bad_input(&key, format!("{key} may be given once")));
            }
            entry.push(value);
        }
        Ok(Query { values })
    }

    pub(crate) fn text(&self, key: &str) -> Option<String> {
        self.values.get(key).and_then(|v| v.first()).cloned()
    }

    pub(crate) fn flag(&self, key: &str) -> Result<Option<bool>, RestError> {
        match self.text(key).as_deref().map(str::trim) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(RestError::bad_input(key, format!("{key} must be true or false"))),
        }
    }

    pub(crate) fn time(&self, key: &str) -> Result<Option<DateTime<Utc>>, RestError> {
        self.text(key)
            .map(|v| {
                DateTime::parse_from_rfc3339(v.trim())
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| RestError::bad_input(key, format!("{key} must be an RFC 3339 date-time")))
            })
            .transpose()
    }

    pub(crate) fn uuid(&self, key: &str) -> Result<Option<Uuid>, RestError> {
        self.text(key)
            .map(|v| {
                Uuid::parse_str(v.trim())
                    .map_err(|_| RestError::bad_input(key, format!("{key} must be an id")))
            })
            .transpose()
    }

    /// `status=PENDING&status=FAILED` or `status=PENDING,FAILED`, each one of `valid`.
    pub(crate) fn statuses(&self, valid: &[&str]) -> Result<Option<Vec<String>>, RestError> {
        let Some(values) = self.values.get("status") else { return Ok(None) };
        let mut statuses = Vec::new();
        for status in values.iter().flat_map(|v| v.split(',')).map(|s| s.trim().to_ascii_uppercase()) {
            if !valid.contains(&status.as_str()) {
                return Err(RestError::bad_input(
                    "status",
                    format!("status must be among {}", valid.join(", ")),
                ));
            }
            statuses.push(status);
        }
        Ok(Some(statuses))
    }

    pub(crate) fn desc(&self) -> Result<bool, RestError> {
        match self.text("orderDirection").as_deref() {
            None | Some("ASC") => Ok(false),
            Some("DESC") => Ok(true),
            Some(_) => Err(RestError::bad_input("orderDirection", "orderDirection must be ASC or DESC")),
        }
    }
}

/// A streamed CSV answer: `header`, then what `write_pages` emits (it returns false to stop:
/// the client went away).
fn stream_csv<F>(db: &Db, filename: &str, header: &[&str], write_pages: F) -> HttpResponse
where
    F: FnOnce(&mut PgConnection, &mut dyn FnMut(String) -> bool) -> Result<(), StoreError> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(PAGES_BUFFERED);
    let mut head = String::new();
    write_row(&mut head, header.iter().copied());
    // The export runs on a task of its own: its calls still count in the company's share.
    let db = match crate::store::current_company() {
        Some(company) => db.for_company(company),
        None => db.clone(),
    };
    // ... and reads after its client's writes, on the replica when it has replayed them.
    let session = crate::store::replica::current_session().unwrap_or_default();
    tokio::spawn(async move {
        let first = tx.clone();
        let read = db.read_stale(move |conn| {
            conn.build_transaction().read_only().repeatable_read().run(|conn| {
                let mut emit = |chunk: String| first.blocking_send(Ok(web::Bytes::from(chunk))).is_ok();
                if emit(head) {
                    write_pages(conn, &mut emit)?;
                }
                Ok::<_, StoreError>(())
            })
        });
        let result = crate::store::replica::in_session(session, read).await;
        if let Err(e) = result {
            // The status line is sent: cut the body short so the client sees it incomplete.
            tracing::error!(error = %e, "a CSV export failed part-way");
            let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
        }
    });
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{filename}\"")))
        .streaming(body)
}

/// Pages through a list: `load` gets the previous page's last cursor; `write` renders a page.
fn each_page<R>(
    conn: &mut PgConnection,
    emit: &mut dyn FnMut(String) -> bool,
    mut load: impl FnMut(&mut PgConnection, Option<&str>) -> Result<Page<R>, StoreError>,
    mut write: impl FnMut(&mut PgConnection, &[R], &mut String) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut after: Option<String> = None;
    loop {
        let page = load(conn, after.as_deref())?;
        let rows: Vec<R> = page
            .rows
            .into_iter()
            .map(|(cursor, row)| {
                after = Some(cursor);
                row
            })
            .collect();
        let mut out = String::with_capacity(rows.len() * 256);
        write(conn, &rows, &mut out)?;
        if !emit(out) || !page.has_next_page {
            return Ok(());
        }
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339()
}

pub(crate) const CUSTOMER_HEADER: &[&str] = &[
    "id",
    "firstName",
    "lastName",
    "email",
    "birthday",
    "ssnLastFour",
    "phoneNumber",
    "timezone",
    "timezoneInferred",
    "streetAddress1",
    "streetAddress2",
    "city",
    "state",
    "zipCode",
    "taskType",
    "doNotCall",
    "isTest",
    "externalMetadata",
    "createdAt",
    "updatedAt",
];

/// The customer columns a key may see: a NO_PII key's export leaves out SSN digits, birthday
/// and email.
fn customer_columns(scope: KeyScope) -> Vec<bool> {
    CUSTOMER_HEADER.iter().map(|name| scope.sees_pii() || !PII_FIELDS.contains(name)).collect()
}

fn customer_row(c: &CustomerRow, shown: &[bool], out: &mut String) {
    let cells = [
        c.external_id.clone(),
        opt(&c.first_name),
        opt(&c.last_name),
        opt(&c.email),
        opt(&c.birthday),
        opt(&c.ssn_last_four),
        opt(&c.phone_number),
        opt(&c.timezone),
        c.timezone_inferred.to_string(),
        opt(&c.street_address1),
        opt(&c.street_address2),
        opt(&c.city),
        opt(&c.state),
        opt(&c.zip_code),
        opt(&c.task_type),
        c.do_not_call.to_string(),
        c.is_test.to_string(),
        opt(&c.external_metadata),
        time(&c.created_at),
        time(&c.updated_at),
    ];
    write_row(out, cells.iter().zip(shown).filter(|(_, shown)| **shown).map(|(cell, _)| cell.as_str()));
}

/// `GET /export/customers.csv`: `isTest`, `doNotCall`, `contactHold`, `taskType`, `state`, `search`,
/// `createdAtFrom`, `createdAtTo`, `orderBy` (CREATED_AT, UPDATED_AT, LAST_NAME, ID),
/// `orderDirection`.
pub async fn customers(state: web::Data<AppState>, req: HttpRequest, params: Params) -> HttpResponse {
    answer(
        &req,
        async {
            let caller = caller(&state, &req).await?;
            let company_id = caller.company_id;
            let shown = customer_columns(caller.scope);
            let header: Vec<&str> = CUSTOMER_HEADER
                .iter()
                .zip(&shown)
                .filter(|(_, shown)| **shown)
                .map(|(name, _)| *name)
                .collect();
            let known = [
                "isTest",
                "doNotCall",
                "taskType",
                "state",
                "search",
                "createdAtFrom",
                "createdAtTo",
                "contactHold",
                "orderBy",
                "orderDirection",
            ];
            let q = Query::parse(params.into_inner(), &known, &[])?;
            let filter = CustomerFilter {
                is_test: q.flag("isTest")?,
                do_not_call: q.flag("doNotCall")?,
                contact_hold: q.flag("contactHold")?,
                task_type: q.text("taskType"),
                state: q.text("state"),
                search: crate::domain::search_term("search", q.text("search"))?,
                created_at_from: q.time("createdAtFrom")?,
                created_at_to: q.time("createdAtTo")?,
            };
            let order = match q.text("orderBy").as_deref() {
                None | Some("CREATED_AT") => CustomerOrder::CreatedAt,
                Some("UPDATED_AT") => CustomerOrder::UpdatedAt,
                Some("LAST_NAME") => CustomerOrder::LastName,
                Some("ID") => CustomerOrder::Id,
                Some(_) => {
                    return Err(RestError::bad_input(
                        "orderBy",
                        "orderBy must be CREATED_AT, UPDATED_AT, LAST_NAME or ID",
                    ))
                }
            };
            let desc = q.desc()?;
            Ok(stream_csv(state.db(), "customers.csv", &header, move |conn, emit| {
                each_page(
                    conn,
                    emit,
                    |conn, after| {
                        let after = after.and_then(CustomerCursor::decode);
                        let request = PageRequest { order, desc, after, first: PAGE_ROWS, with_total: false };
                        customers::list(conn, company_id, &filter, &request)
                    },
                    |_, rows, out| {
                        rows.iter().for_each(|c| customer_row(c, &shown, out));
                        Ok(())
                    },
                )
            }))
        }
        .await,
    )
}

pub(crate) const SCHEDULE_HEADER: &[&str] = &[
    "id",
    "name",
    "description",
    "taskType",
    "paused",
    "timeZone",
    "callingHoursStart",
    "callingHoursEnd",
    "useDoNotCall",
    "quietPeriodAfterConversation",
    "cadence",
    "maxAttemptsPer7Days",
    "sortableOrder",
    "leadDuplicateTimeframeSeconds",
    "requiredCustomerFields",
    "callsCount",
    "lastCallAt",
    "createdAt",
    "updatedAt",
];

fn schedule_row(s: &ScheduleRow, out: &mut String) {
    let fields: Vec<&str> = s.required_fields().iter().map(|f| f.code()).collect();
    let cells = [
        s.id.to_string(),
        s.name.clone(),
        opt(&s.description),
        s.task_type.clone(),
        s.paused.to_string(),
        opt(&s.time_zone),
        s.calling_hours_start.clone(),
        s.calling_hours_end.clone(),
        s.use_do_not_call.to_string(),
        s.quiet_period_after_conversation.to_string(),
        s.cadence.to_string(),
        s.max_attempts_per_7_days.to_string(),
        opt(&s.sortable_order),
        opt(&s.lead_duplicate_timeframe_seconds),
        fields.join(" "),
        s.calls_count.to_string(),
        s.last_call_at.as_ref().map(time).unwrap_or_default(),
        time(&s.created_at),
        time(&s.updated_at),
    ];
    write_row(out, cells.iter().map(String::as_str));
}

/// The schedules CSV for a filter and order (the export, and the REST list's `.csv`).
pub(crate) fn schedules_csv(
    state: &AppState,
    company_id: Uuid,
    filter: ScheduleFilter,
    order: ScheduleOrder,
    desc: bool,
) -> HttpResponse {
    stream_csv(state.db(), "schedules.csv", SCHEDULE_HEADER, move |conn, emit| {
        each_page(
            conn,
            emit,
            |conn, after| {
                let after = after.map(schedules::decode_offset_cursor).transpose()?;
                let request = PageRequest { order, desc, after, first: PAGE_ROWS, with_total: false };
                schedules::list(conn, company_id, &filter, &request)
            },
            |_, rows, out| {
                rows.iter().for_each(|s| schedule_row(s, out));
                Ok(())
            },
        )
    })
}

/// `GET /export/schedules.csv`: `search`, `paused`, `taskType`, `createdAtFrom`,
/// `createdAtTo`, `orderBy` (the GraphQL ScheduleOrderField values), `orderDirection`.
pub async fn schedules(state: web::Data<AppState>, req: HttpRequest, params: Params) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let known =
                ["search", "paused", "taskType", "createdAtFrom", "createdAtTo", "orderBy", "orderDirection"];
            let q = Query::parse(params.into_inner(), &known, &[])?;
            let filter = ScheduleFilter {
                search: crate::domain::search_term("search", q.text("search"))?,
                paused: q.flag("paused")?,
                task_type: q.text("taskType"),
                created_at_from: q.time("createdAtFrom")?,
                created_at_to: q.time("createdAtTo")?,
            };
            let order = match q.text("orderBy").as_deref() {
                None | Some("CREATED_AT") => ScheduleOrder::CreatedAt,
                Some("UPDATED_AT") => ScheduleOrder::UpdatedAt,
                Some("NAME") => ScheduleOrder::Name,
                Some("TASK_TYPE") => ScheduleOrder::TaskType,
                Some("PAUSED") => ScheduleOrder::Paused,
                Some("SORTABLE_ORDER") => ScheduleOrder::SortableOrder,
                Some("CALLS_COUNT") => ScheduleOrder::CallsCount,
                Some("LAST_CALL_AT") => ScheduleOrder::LastCallAt,
                Some(_) => {
                    return Err(RestError::bad_input("orderBy", "orderBy must be a ScheduleOrderField value"))
                }
            };
            Ok(schedules_csv(&state, company_id, filter, order, q.desc()?))
        }
        .await,
    )
}

/// The external ids of a page's customers (one query a page).
fn customer_refs(
    conn: &mut PgConnection,
    company_id: Uuid,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, String>, StoreError> {
    let ids: Vec<i64> = ids.collect();
    Ok(customers::by_ids(conn, company_id, &ids)?.into_iter().map(|c| (c.id, c.external_id)).collect())
}

/// The status codes each list filters on, as the domain spells them.
fn task_statuses() -> Vec<&'static str> {
    crate::domain::tasks::TaskStatus::ALL.iter().map(|s| s.as_str()).collect()
}

fn call_statuses() -> Vec<&'static str> {
    crate::domain::calls::ALL_STATUSES.iter().map(|s| s.as_str()).collect()
}

pub(crate) const TASK_HEADER: &[&str] = &[
    "id",
    "customerId",
    "scheduleId",
    "taskType",
    "status",
    "attempt",
    "scheduledFor",
    "localScheduledFor",
    "timeZone",
    "createdAt",
    "updatedAt",
];

/// `GET /export/tasks.csv`: `customerId`, `scheduleId`, `status` (repeatable or
/// comma-separated), `scheduledFrom`, `scheduledTo`; ordered by `scheduledFor`.
pub async fn tasks(state: web::Data<AppState>, req: HttpRequest, params: Params) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let known = ["customerId", "scheduleId", "status", "scheduledFrom", "scheduledTo"];
            let q = Query::parse(params.into_inner(), &known, &["status"])?;
            let filter = tasks::TaskFilter {
                customer_external_id: q.text("customerId"),
                customer_id: None,
                schedule_id: q.uuid("scheduleId")?,
                statuses: q.statuses(&task_statuses())?,
                scheduled_from: q.time("scheduledFrom")?,
                scheduled_to: q.time("scheduledTo")?,
            };
            Ok(stream_csv(state.db(), "tasks.csv", TASK_HEADER, move |conn, emit| {
                each_page(
                    conn,
                    emit,
                    |conn, after| {
                        let after = after.map(TimeCursor::decode).transpose()?;
                        let request = PageRequest {
                            order: (),
                            desc: false,
                            after,
                            first: PAGE_ROWS,
                            with_total: false,
                        };
                        tasks::list(conn, company_id, &filter, &request)
                    },
                    |conn, rows, out| {
                        let refs = customer_refs(conn, company_id, rows.iter().map(|t| t.customer_id))?;
                        for t in rows {
                            let cells = [
                                t.id.to_string(),
                                refs.get(&t.customer_id).cloned().unwrap_or_default(),
                                t.schedule_id.to_string(),
                                t.task_type.clone(),
                                t.status.clone(),
                                t.attempt.to_string(),
                                time(&t.scheduled_for),
                                t.local_scheduled_for(),
                                t.time_zone.clone(),
                                time(&t.created_at),
                                time(&t.updated_at),
                            ];
                            write_row(out, cells.iter().map(String::as_str));
                        }
                        Ok(())
                    },
                )
            }))
        }
        .await,
    )
}

pub(crate) const CALL_HEADER: &[&str] = &[
    "id",
    "status",
    "to",
    "customerId",
    "scheduleId",
    "taskId",
    "agentId",
    "disposition",
    "dispositionId",
    "durationSeconds",
    "source",
    "startedAt",
    "endedAt",
    "createdAt",
    "updatedAt",
];

/// `GET /export/calls.csv`: `customerId`, `scheduleId`, `status`; newest first.
pub async fn calls(state: web::Data<AppState>, req: HttpRequest, params: Params) -> HttpResponse {
    answer(
        &req,
        async {
            let company_id = company(&state, &req).await?;
            let q = Query::parse(params.into_inner(), &["customerId", "scheduleId", "status"], &["status"])?;
            let filter = calls::CallFilter {
                customer_external_id: q.text("customerId"),
                customer_id: None,
                schedule_id: q.uuid("scheduleId")?,
                statuses: q.statuses(&call_statuses())?,
            };
            Ok(stream_csv(state.db(), "calls.csv", CALL_HEADER, move |conn, emit| {
                each_page(
                    conn,
                    emit,
                    |conn, after| {
                        let after = after.map(TimeCursor::decode).transpose()?;
                        let request =
                            PageRequest { order: (), desc: true, after, first: PAGE_ROWS, with_total: false };
                        calls::list(conn, company_id, &filter, &request)
                    },
                    |conn, rows, out| {
                        let refs =
                            customer_refs(conn, company_id, rows.iter().filter_map(|c| c.customer_id))?;
                        for c in rows {
                            let cells = [
                                c.id.to_string(),
                                c.status.clone(),
                                c.to_number.clone(),
                                c.customer_id.and_then(|id| refs.get(&id).cloned()).unwrap_or_default(),
                                opt(&c.schedule_id),
                                opt(&c.task_id),
                                opt(&c.agent_id),
                                opt(&c.disposition),
                                opt(&c.disposition_id),
                                opt(&c.duration_seconds),
                                c.source.clone(),
                                c.started_at.as_ref().map(time).unwrap_or_default(),
                                c.ended_at.as_ref().map(time).unwrap_or_default(),
                                time(&c.created_at),
                                time(&c.updated_at),
                            ];
                            write_row(out, cells.iter().map(String::as_str));
                        }
                        Ok(())
                    },
                )
            }))
        }
        .await,
    )
}
