//! Subscriptions: `taskEvents` (and, with calls, `callEvents`), served from the outbox.

use async_graphql::{Context, Enum, InputObject, Object, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::calls::{Call, CallStatus};
use super::error::{ApiError, GqlResult};
use super::tasks::{Task, TaskStatus};
use super::{db, secrets, tenant};
use crate::events::stream::{self, Selection};
use crate::events::{EventHub, Topic};
use crate::store::calls::{CallEventPayload, CALL_CREATED, CALL_STATUS_CHANGED, TASK_RESCHEDULED};
use crate::store::events::{self as outbox, EventRow, TaskEventPayload, TASK_CREATED, TASK_STATUS_CHANGED};

/// What happened to a task.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum TaskEventKind {
    /// The task was planned (by a sync or a bulk import's workflow).
    Created,
    /// The task's status changed (see `previousStatus`).
    StatusChanged,
    /// The task moved to another time (outside the window at dial time, or a Reg F quiet period).
    Rescheduled,
}

/// A task was created or changed status. `task` is the task as it was right after the change.
pub struct TaskEvent {
    row: std::sync::Arc<EventRow>,
    payload: TaskEventPayload,
}

/// A task was created, changed status or moved; `task` is the task right after the change.
#[Object]
impl TaskEvent {
    /// Pass the last one received as `afterEventId` to resume after a disconnect. Opaque: do
    /// not parse or compare it (it reveals nothing of the order or number of events).
    async fn event_id(&self, ctx: &Context<'_>) -> ID {
        ID(secrets(ctx).ids().event_id(self.row.company_id, self.row.id))
    }
    /// What happened.
    async fn kind(&self) -> TaskEventKind {
        match self.row.kind.as_str() {
            TASK_CREATED => TaskEventKind::Created,
            TASK_RESCHEDULED => TaskEventKind::Rescheduled,
            _ => TaskEventKind::StatusChanged,
        }
    }
    /// The task as it was right after the change (its `version` orders the events).
    async fn task(&self) -> Task {
        Task(self.payload.task.clone())
    }
    /// The status before the change; null for CREATED.
    async fn previous_status(&self) -> Option<TaskStatus> {
        self.payload.previous_status.as_deref().and_then(TaskStatus::from_db)
    }
    /// When the change was committed.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
}

/// Which task events to receive; omitted fields do not filter.
#[derive(InputObject, Default)]
pub struct TaskEventFilter {
    /// The customer's id (the integration's reference).
    customer_id: Option<ID>,
    /// Only tasks of this schedule.
    schedule_id: Option<ID>,
    /// The status the task has after the event.
    status: Option<Vec<TaskStatus>>,
}

/// The position to resume after, checked to be one of the company's retained events.
async fn resume_position(
    ctx: &Context<'_>,
    after_event_id: Option<ID>,
) -> async_graphql::Result<Option<outbox::Position>> {
    let Some(id) = after_event_id else { return Ok(None) };
    let company_id = tenant(ctx)?;
    let not_retained = || {
        ApiError::bad_input(
            "afterEventId",
            "this event is not retained (events are kept for a limited time) or is not yours; \
             resubscribe without afterEventId and re-read the current state",
        )
    };
    let id = secrets(ctx).ids().event(company_id, &id).ok_or_else(not_retained).gql()?;
    let position = db(ctx).read(move |conn| outbox::position_of(conn, company_id, id)).await.gql()?;
    position.ok_or_else(not_retained).gql().map(Some)
}

/// A call was created or changed status. `call` is the call as it was right after the change.
pub struct CallEvent {
    row: std::sync::Arc<EventRow>,
    payload: CallEventPayload,
}

/// A call was created or changed status; `call` is the call right after the change.
#[Object]
impl CallEvent {
    /// Pass the last one received as `afterEventId` to resume after a disconnect. Opaque: do
    /// not parse or compare it (it reveals nothing of the order or number of events).
    async fn event_id(&self, ctx: &Context<'_>) -> ID {
        ID(secrets(ctx).ids().event_id(self.row.company_id, self.row.id))
    }
    /// The call as it was right after the change (its `version` orders the events).
    async fn call(&self) -> Call {
        Call(self.payload.call.clone())
    }
    /// The status before the change; null when the call was created.
    async fn previous_status(&self) -> Option<CallStatus> {
        self.payload.previous_status.as_deref().map(CallStatus::from_db)
    }
    /// When the change was committed.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
}

/// Which call events to receive; omitted fields do not filter.
#[derive(InputObject, Default)]
pub struct CallEventFilter {
    /// The customer's id (the integration's reference).
    customer_id: Option<ID>,
    /// Only calls decided by this schedule.
    schedule_id: Option<ID>,
    /// Only this call's events.
    call_id: Option<ID>,
    /// The status the call has after the event.
    status: Option<Vec<CallStatus>>,
}

/// What a subscription's filter asks of an event's payload; `entity` names the changed object
/// in it (`task` or `call`). Omitted fields do not filter.
struct PayloadFilter {
    entity: &'static str,
    customer: Option<String>,
    schedule: Option<String>,
    id: Option<String>,
    statuses: Option<Vec<&'static str>>,
}

impl PayloadFilter {
    fn matches(&self, payload: &Value) -> bool {
        let is = |v: &Value, s: &String| v.as_str() == Some(s.as_str());
        let entity = &payload[self.entity];
        self.customer.as_ref().is_none_or(|c| is(&payload["customerRef"], c))
            && self.schedule.as_ref().is_none_or(|s| is(&entity["schedule_id"], s))
            && self.id.as_ref().is_none_or(|id| is(&entity["id"], id))
            && self
                .statuses
                .as_ref()
                .is_none_or(|st| entity["status"].as_str().is_some_and(|x| st.contains(&x)))
    }
}

/// The company's events of `kinds` that `filter` matches (see `events::stream`), each with its
/// payload decoded. A customer's filter listens to that customer's topic only.
fn decoded_events<P: serde::de::DeserializeOwned + Send + 'static>(
    ctx: &Context<'_>,
    company_id: uuid::Uuid,
    kinds: &'static [&'static str],
    filter: PayloadFilter,
    after: Option<outbox::Position>,
) -> impl Stream<Item = async_graphql::Result<(std::sync::Arc<EventRow>, P)>> {
    let topic = Topic { company_id, customer_ref: filter.customer.clone() };
    let selection = Selection { kinds, matches: Box::new(move |event| filter.matches(&event.payload)) };
    let hub = ctx.data_unchecked::<EventHub>();
    stream::subscribe(hub, db(ctx).clone(), topic, selection, after).map(|event| {
        let row = event.gql()?;
        // Read from the shared row, not a copy of its JSON: a hot customer's event is decoded
        // once per subscriber, thousands of times.
        let payload =
            <P as serde::Deserialize>::deserialize(&row.payload).map_err(|_| ApiError::Internal).gql()?;
        Ok((row, payload))
    })
}

#[derive(Default)]
pub struct Subscription;

/// Live task and call events over WebSocket (`graphql-transport-ws` or `graphql-ws`), each
/// written with its change: none is lost across a reconnect that passes `afterEventId`.
#[Subscription]
impl Subscription {
    /// Task events of the company, in order: replayed after `afterEventId` when given, then live.
    async fn task_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which events; all of the company's when omitted.")] filter: Option<TaskEventFilter>,
        #[graphql(
            desc = "The `eventId` of the last event received: replay from the one after it. BAD_USER_INPUT if it is no longer retained (events are kept 7 days by default) or not the company's."
        )]
        after_event_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TaskEvent>>> {
        let company_id = tenant(ctx)?;
        let after = resume_position(ctx, after_event_id).await?;
        let f = filter.unwrap_or_default();
        let filter = PayloadFilter {
            entity: "task",
            customer: f.customer_id.map(|id| id.0),
            schedule: f.schedule_id.map(|id| id.0),
            id: None,
            statuses: f.status.map(|s| s.into_iter().map(TaskStatus::as_db).collect()),
        };
        let kinds = &[TASK_CREATED, TASK_STATUS_CHANGED, TASK_RESCHEDULED];
        Ok(decoded_events(ctx, company_id, kinds, filter, after)
            .map(|e| e.map(|(row, payload)| TaskEvent { row, payload })))
    }

    /// Call events of the company, in order: replayed after `afterEventId` when given, then live.
    async fn call_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which events; all of the company's when omitted.")] filter: Option<CallEventFilter>,
        #[graphql(
            desc = "The `eventId` of the last event received: replay from the one after it. BAD_USER_INPUT if it is no longer retained (events are kept 7 days by default) or not the company's."
        )]
        after_event_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<CallEvent>>> {
        let company_id = tenant(ctx)?;
        let after = resume_position(ctx, after_event_id).await?;
        let f = filter.unwrap_or_default();
        let filter = PayloadFilter {
            entity: "call",
            customer: f.customer_id.map(|id| id.0),
            schedule: f.schedule_id.map(|id| id.0),
            id: f.call_id.map(|id| id.0),
            statuses: f.status.map(|s| s.into_iter().map(|c| c.domain().as_str()).collect()),
        };
        Ok(decoded_events(ctx, company_id, &[CALL_CREATED, CALL_STATUS_CHANGED], filter, after)
            .map(|e| e.map(|(row, payload)| CallEvent { row, payload })))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::PayloadFilter;

    fn filter(entity: &'static str, id: Option<&str>, statuses: Option<Vec<&'static str>>) -> PayloadFilter {
        PayloadFilter {
            entity,
            customer: Some("c-1".into()),
            schedule: Some("s-1".into()),
            id: id.map(str::to_string),
            statuses,
        }
    }

    #[test]
    fn a_filter_reads_the_changed_object_of_its_kind() {
        let call =
            json!({"customerRef": "c-1", "call": {"id": "k-1", "schedule_id": "s-1", "status": "QUEUED"}});
        assert!(filter("call", Some("k-1"), Some(vec!["QUEUED", "RINGING"])).matches(&call));
        assert!(!filter("call", Some("k-2"), None).matches(&call), "another call");
        assert!(!filter("call", None, Some(vec!["CANCELLED"])).matches(&call), "another status");
        assert!(!filter("task", None, None).matches(&call), "a task filter reads the task");
        let other_customer = json!({"customerRef": "c-2", "call": call["call"]});
        assert!(!filter("call", None, None).matches(&other_customer));
    }
}
