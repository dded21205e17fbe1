//! What the contact policy needs, loaded from the store: the schedule's terms, the callee, the
//! company's state rules, and contact histories (one query for one person or for a batch).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use crate::domain::calling_rules::{parse_zone, StateRuleTable};
use crate::domain::calls::CallStatus;
use crate::domain::contact_policy::{
    Callee, ConsentLevel, ContactHistory, ContactPolicy, LineType, Location, Refusal, ScheduleTerms,
    LANDLINE_CAP_DAYS, QUIET_DAYS,
};
use crate::domain::customer::Campaign;
use crate::domain::schedule::parse_hhmm;
use crate::store::calls::{self, HistoryRow};
use crate::store::customers::CustomerRow;
use crate::store::schedules::ScheduleRow;
use crate::store::{companies, consents, suppressed, StoreError};

/// How far back a decision at `at` must look: the caps' 7 days and the quiet period's 8; a
/// landline's allowance (3 calls in 30 days without consent) needs 30, so only a landline's
/// history reaches that far (the rest of the book is spared three times the rows).
pub fn history_since(at: DateTime<Utc>, line: Option<LineType>) -> DateTime<Utc> {
    let days = if line == Some(LineType::Landline) { LANDLINE_CAP_DAYS + 1 } else { QUIET_DAYS + 3 };
    at - Duration::days(days)
}

pub fn schedule_terms(schedule: &ScheduleRow) -> Result<ScheduleTerms, StoreError> {
    Ok(ScheduleTerms {
        paused: schedule.paused,
        calling_hours: (
            parse_hhmm("callingHoursStart", &schedule.calling_hours_start)?.0,
            parse_hhmm("callingHoursEnd", &schedule.calling_hours_end)?.0,
        ),
        max_attempts_per_7_days: schedule.max_attempts_per_7_days.max(1) as u32,
        quiet_period_after_conversation: schedule.quiet_period_after_conversation,
        use_do_not_call: schedule.use_do_not_call,
        time_zone: schedule.time_zone.as_deref().and_then(parse_zone),
        purpose: schedule.purpose(),
        lead_duplicate_timeframe: schedule
            .lead_duplicate_timeframe_seconds
            .map(|s| Duration::seconds(s.into())),
    })
}

pub fn location(customer: &CustomerRow) -> Location<'_> {
    Location {
        timezone: customer.timezone.as_deref(),
        zip_code: customer.zip_code.as_deref(),
        state: customer.state.as_deref(),
        phone_number: customer.phone_number.as_deref(),
    }
}

/// What a number carries in the company, whoever it belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NumberMarks {
    /// On the company's suppression list.
    pub suppressed: bool,
    /// Suppressed by the consumer's own words on a call (an opt-out, a wrong number): applies
    /// on every schedule, whatever its `useDoNotCall`.
    pub by_consumer: bool,
    /// Marked Do Not Call on one of the company's customer records (the mark is the number's).
    pub do_not_call: bool,
    /// The consent on file (None: no consent was ever recorded or revoked for the number).
    pub consent: Option<ConsentLevel>,
}

/// The consent a call to `number` has: the one on file, else the default of a customer's own
/// number (PRIOR_EXPRESS, provided by the consumer with it); a one-off number has none.
pub fn consent_level(marks: &NumberMarks, customer: Option<&CustomerRow>, number: &str) -> ConsentLevel {
    match marks.consent {
        Some(level) => level,
        None if customer.is_some_and(|c| c.phone_number.as_deref() == Some(number)) => ConsentLevel::Express,
        None => ConsentLevel::None,
    }
}

/// The level of one consent row (a revoked one gives none).
fn level_of(consent_type: &str, revoked: bool) -> ConsentLevel {
    match (revoked, consent_type) {
        (true, _) => ConsentLevel::None,
        (false, consents::PRIOR_EXPRESS_WRITTEN) => ConsentLevel::Written,
        (false, _) => ConsentLevel::Express,
    }
}

/// The marks on `number` (one query).
pub fn number_marks(
    conn: &mut PgConnection,
    company_id: Uuid,
    number: &str,
) -> Result<NumberMarks, StoreError> {
    let (suppressed, by_consumer, do_not_call) = suppressed::number_marks(conn, company_id, number)?;
    let consent = consents::on_file(conn, company_id, &[number.to_string()])?
        .pop()
        .map(|c| level_of(&c.consent_type, c.revoked_at.is_some()));
    Ok(NumberMarks { suppressed, by_consumer, do_not_call, consent })
}

pub fn customer_callee(customer: &CustomerRow, marks: NumberMarks) -> Callee {
    let mut callee = Callee::customer(&location(customer), customer.do_not_call, marks.suppressed)
        .with_number_do_not_call(marks.do_not_call);
    callee.consumer_suppressed = marks.by_consumer;
    callee.contact_hold = customer.contact_hold_reason.is_some();
    callee.consent =
        consent_level(&marks, Some(customer), customer.phone_number.as_deref().unwrap_or_default());
    callee.line = customer.line_type().unwrap_or_default();
    callee.inconvenient = customer.inconvenient_times();
    callee
}

/// A number no customer record of the company reaches (located by its area code).
pub fn one_off_callee(number: &str, marks: NumberMarks) -> Callee {
    let mut callee = Callee::one_off(number, marks.suppressed).with_number_do_not_call(marks.do_not_call);
    callee.consumer_suppressed = marks.by_consumer;
    callee.consent = consent_level(&marks, None, number);
    callee
}

/// The marks on the customer's number (none without a number).
pub fn customer_marks(conn: &mut PgConnection, customer: &CustomerRow) -> Result<NumberMarks, StoreError> {
    match &customer.phone_number {
        Some(phone) => number_marks(conn, customer.company_id, phone),
        None => Ok(NumberMarks::default()),
    }
}

/// The contact policy for `customer` under `schedule`, or the refusal that holds at any time.
pub fn customer_policy(
    conn: &mut PgConnection,
    customer: &CustomerRow,
    schedule: &ScheduleRow,
) -> Result<Result<ContactPolicy, Refusal>, StoreError> {
    let callee = customer_callee(customer, customer_marks(conn, customer)?);
    let terms = schedule_terms(schedule)?;
    Ok(ContactPolicy::new(&terms, &callee, &state_rules(conn, customer.company_id)?))
}

/// What a company's contact decisions need besides the callee: its live schedules (and so its
/// task types) and its state rules, read in one query.
pub struct CompanyTerms {
    pub schedules: Vec<ScheduleRow>,
    pub rules: StateRuleTable,
}

impl CompanyTerms {
    pub fn load(conn: &mut PgConnection, company_id: Uuid) -> Result<CompanyTerms, StoreError> {
        let (schedules, overrides) = companies::terms(conn, company_id)?;
        Ok(CompanyTerms { schedules, rules: StateRuleTable::with_overrides(&overrides) })
    }

    /// The company's campaigns (what customer validation needs of each schedule).
    pub fn campaigns(&self) -> Vec<Campaign> {
        self.schedules.iter().map(ScheduleRow::campaign).collect()
    }

    /// The live schedule of `task_type`.
    pub fn schedule_for(&self, task_type: &str) -> Option<&ScheduleRow> {
        self.schedules.iter().find(|s| s.task_type == task_type)
    }
}

/// The calls `schedule` placed to each of `numbers` that its lead-duplicate timeframe (if it
/// has one) still covers at `at`: what [`ContactHistory::dialled_by_schedule`] holds. Empty
/// without a timeframe (no query).
pub fn schedule_dials(
    conn: &mut PgConnection,
    company_id: Uuid,
    schedule: &ScheduleRow,
    numbers: &[String],
    at: DateTime<Utc>,
) -> Result<HashMap<String, Vec<DateTime<Utc>>>, StoreError> {
    match schedule.lead_duplicate_timeframe_seconds.filter(|s| *s > 0) {
        Some(seconds) if !numbers.is_empty() => {
            let since = at - Duration::seconds(seconds.into());
            calls::dialled_by_schedule(conn, company_id, schedule.id, numbers, since)
        }
        _ => Ok(HashMap::new()),
    }
}

/// The built-in state rules with the company's overrides.
pub fn state_rules(conn: &mut PgConnection, company_id: Uuid) -> Result<StateRuleTable, StoreError> {
    Ok(StateRuleTable::with_overrides(&companies::state_rule_overrides(conn, company_id)?))
}

/// One person whose contact history is wanted: a customer, a number, or both.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub customer_id: Option<i64>,
    pub number: Option<String>,
}

impl Person {
    pub fn of(customer: &CustomerRow) -> Person {
        Person { customer_id: Some(customer.id), number: customer.phone_number.clone() }
    }
}

/// What is known about contacting one person: the history of attempts, and the marks on the
/// number.
#[derive(Debug, Clone, Default)]
pub struct Contact {
    pub history: ContactHistory,
    pub marks: NumberMarks,
}

/// What is known about contacting each of `people` (in order), from one query: calls since
/// `since` to the customer or its number by any path (cancelled ones never rang and do not
/// count), the customer's pending tasks as planned attempts, and whether the number is
/// suppressed.
pub fn histories(
    conn: &mut PgConnection,
    company_id: Uuid,
    people: &[Person],
    since: DateTime<Utc>,
) -> Result<Vec<Contact>, StoreError> {
    let ids: Vec<i64> = people.iter().filter_map(|p| p.customer_id).collect();
    let numbers: Vec<String> = people.iter().filter_map(|p| p.number.clone()).collect();
    let rows = calls::contact_history(conn, company_id, &ids, &numbers, since)?;
    let mut by_customer: HashMap<i64, Vec<&HistoryRow>> = HashMap::new();
    let mut by_number: HashMap<&str, Vec<&HistoryRow>> = HashMap::new();
    let mut suppressed: HashSet<&str> = HashSet::new();
    let mut by_consumer: HashSet<&str> = HashSet::new();
    let mut marked: HashSet<&str> = HashSet::new();
    let mut consent: HashMap<&str, ConsentLevel> = HashMap::new();
    for row in &rows {
        if row.kind == calls::HISTORY_CONSENT {
            // `status` carries the consent's type, or REVOKED.
            if let Some(number) = row.to_number.as_deref() {
                let level = level_of(&row.status, row.status == "REVOKED");
                let best = consent.entry(number).or_insert(level);
                *best = (*best).max(level);
            }
            continue;
        }
        if row.kind == calls::HISTORY_SUPPRESSED {
            // `status` carries the entry's source.
            if row.status == suppressed::COMPANY {
                suppressed.extend(row.to_number.as_deref());
            } else {
                by_consumer.extend(row.to_number.as_deref());
            }
            continue;
        }
        if row.kind == calls::HISTORY_DO_NOT_CALL {
            marked.extend(row.to_number.as_deref());
            continue;
        }
        if let Some(id) = row.customer_id {
            by_customer.entry(id).or_default().push(row);
        }
        if let Some(number) = row.to_number.as_deref() {
            by_number.entry(number).or_default().push(row);
        }
    }
    Ok(people
        .iter()
        .map(|person| {
            let mut mine: Vec<&HistoryRow> = Vec::new();
            if let Some(id) = person.customer_id {
                mine.extend(by_customer.get(&id).into_iter().flatten());
            }
            if let Some(number) = person.number.as_deref() {
                for row in by_number.get(number).into_iter().flatten() {
                    // A call to the customer's own number is already in.
                    if row.customer_id.is_none() || row.customer_id != person.customer_id {
                        mine.push(row);
                    }
                }
            }
            let number = person.number.as_deref();
            Contact {
                history: assemble(&mine),
                marks: NumberMarks {
                    suppressed: number.is_some_and(|n| suppressed.contains(n)),
                    by_consumer: number.is_some_and(|n| by_consumer.contains(n)),
                    do_not_call: number.is_some_and(|n| marked.contains(n)),
                    consent: number.and_then(|n| consent.get(n).copied()),
                },
            }
        })
        .collect())
}

fn assemble(rows: &[&HistoryRow]) -> ContactHistory {
    let mut history = ContactHistory::default();
    for row in rows {
        if row.kind == calls::HISTORY_TASK {
            history.planned.push(row.at);
            continue;
        }
        if row.status == CallStatus::Cancelled.as_str() {
            continue;
        }
        history.attempts.push(row.at);
        if row.status == CallStatus::Completed.as_str() {
            let ended = row.ended_at.unwrap_or(row.at);
            history.last_conversation = history.last_conversation.max(Some(ended));
        }
    }
    history.attempts.sort();
    history.planned.sort();
    history
}

/// What is known about contacting one person (see [`histories`]).
pub fn history(
    conn: &mut PgConnection,
    company_id: Uuid,
    person: &Person,
    since: DateTime<Utc>,
) -> Result<Contact, StoreError> {
    Ok(histories(conn, company_id, std::slice::from_ref(person), since)?.pop().unwrap_or_default())
}

/// One callee to decide: who (a customer, or a one-off number), through which schedule, and
/// the call being decided again, if it exists already (its own attempt is not history).
pub struct DecideRequest<'a> {
    pub customer: Option<&'a CustomerRow>,
    /// E.164: the number dialled (a customer's own, or the call's).
    pub number: &'a str,
    pub schedule: &'a ScheduleRow,
    pub own_attempt: Option<DateTime<Utc>>,
    /// The kind of line, when the caller said (else unknown: treated as a cell).
    pub line: Option<LineType>,
}

impl DecideRequest<'_> {
    /// The line dialled: the caller's word wins; else the customer's, for its own number;
    /// else unknown (treated as a cell).
    pub fn line_type(&self) -> LineType {
        let own_number = self.customer.filter(|c| c.phone_number.as_deref() == Some(self.number));
        self.line.or_else(|| own_number.and_then(CustomerRow::line_type)).unwrap_or_default()
    }
}

/// What the policy said about one callee, with what it was told.
pub struct Decision {
    /// The policy in force, or the refusal that holds at any time (Do Not Call, no location…).
    pub policy: Result<ContactPolicy, Refusal>,
    /// The history the decision saw (planned tasks left out: only a dial counts them).
    pub history: ContactHistory,
    /// The answer at the instant asked.
    pub verdict: Result<(), Refusal>,
}

/// The one decide step every dialling path takes (makeCall, bulk calls, the dialer, every
/// hand-off, callEligibility). The caller has taken the locks that serialise calls to these
/// people (their customers' rows, then the company's dialling lock) *before*: everything the
/// policy needs is read here, after them, with one query per kind of fact for the whole batch —
/// the company's state rules, the histories with each number's marks (suppressed, Do Not Call
/// on any record), each schedule's own recent dials. History from `window.since` on.
pub fn decide(
    conn: &mut PgConnection,
    company_id: Uuid,
    requests: &[DecideRequest<'_>],
    at: DateTime<Utc>,
    window: HistoryWindow,
) -> Result<Vec<Decision>, StoreError> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    // A landline among them: its allowance counts 30 days back.
    let landline = requests.iter().any(|r| r.line_type() == LineType::Landline);
    let since = match landline {
        true => window.since.min(history_since(at, Some(LineType::Landline))),
        false => window.since,
    };
    let rules = state_rules(conn, company_id)?;
    let people: Vec<Person> = requests
        .iter()
        .map(|r| Person { customer_id: r.customer.map(|c| c.id), number: Some(r.number.to_string()) })
        .collect();
    let contacts = histories(conn, company_id, &people, since)?;
    let mut dials: HashMap<Uuid, HashMap<String, Vec<DateTime<Utc>>>> = HashMap::new();
    for request in requests {
        if dials.contains_key(&request.schedule.id) {
            continue;
        }
        let numbers: Vec<String> = requests
            .iter()
            .filter(|r| r.schedule.id == request.schedule.id)
            .map(|r| r.number.to_string())
            .collect();
        dials.insert(request.schedule.id, schedule_dials(conn, company_id, request.schedule, &numbers, at)?);
    }
    let mut decisions = Vec::with_capacity(requests.len());
    for (request, contact) in requests.iter().zip(contacts) {
        let mut callee = match request.customer {
            Some(c) => customer_callee(c, contact.marks),
            None => one_off_callee(request.number, contact.marks),
        };
        // The number dialled may not be the customer's current one.
        callee.consent = consent_level(&contact.marks, request.customer, request.number);
        // The caller's word on the line wins; else the customer's, for its own number.
        callee.line = request.line_type();
        let mut history = contact.history;
        history.planned.clear();
        if window.as_of_at {
            history.attempts.retain(|a| *a <= at);
        }
        history.dialled_by_schedule =
            dials.get(&request.schedule.id).and_then(|d| d.get(request.number)).cloned().unwrap_or_default();
        if let Some(own) = request.own_attempt {
            remove_once(&mut history.attempts, own);
            remove_once(&mut history.dialled_by_schedule, own);
        }
        let policy = ContactPolicy::new(&schedule_terms(request.schedule)?, &callee, &rules);
        let verdict = match &policy {
            Ok(policy) => policy.decide(&history, at),
            Err(refusal) => Err(refusal.clone()),
        };
        decisions.push(Decision { policy, history, verdict });
    }
    Ok(decisions)
}

/// Which history a decision sees.
#[derive(Debug, Clone, Copy)]
pub struct HistoryWindow {
    pub since: DateTime<Utc>,
    /// Only attempts up to the instant decided (callEligibility's question about an instant).
    /// A dial leaves it off: a request that read the clock before it waited for the locks
    /// must still count the calls placed by those that held them before it.
    pub as_of_at: bool,
}

impl HistoryWindow {
    /// What dialling at `at` needs: the caps' and quiet period's days (a landline's 30, which
    /// [`decide`] adds where one is dialled), every attempt.
    pub fn dialling(at: DateTime<Utc>) -> HistoryWindow {
        HistoryWindow { since: history_since(at, None), as_of_at: false }
    }
}

/// A call decided again is not its own history: one entry at its instant goes (another call
/// at the very same instant counts the same).
fn remove_once(list: &mut Vec<DateTime<Utc>>, at: DateTime<Utc>) {
    if let Some(i) = list.iter().position(|t| *t == at) {
        list.remove(i);
    }
}
