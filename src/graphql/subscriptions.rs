//! Subscriptions: `taskEvents` (and, with calls, `callEvents`), served from the outbox.

use async_graphql::{Context, Enum, InputObject, Object, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::calls::{Call, CallStatus};
use super::error::{ApiError, GqlResult};
use super::tasks::{Task, TaskStatus};
use super::{db, tenant};
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
    /// Pass the last one received as `afterEventId` to resume after a disconnect.
    async fn event_id(&self) -> ID {
        ID(self.row.id.to_string())
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
    let id: i64 = id.parse().map_err(|_| not_retained()).gql()?;
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
    /// Pass the last one received as `afterEventId` to resume after a disconnect.
    async fn event_id(&self) -> ID {
        ID(self.row.id.to_string())
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

/// The topic's events (see `events::stream`), each with its payload decoded.
fn decoded_events<P: serde::de::DeserializeOwned + Send + 'static>(
    ctx: &Context<'_>,
    topic: Topic,
    selection: Selection,
    after: Option<outbox::Position>,
) -> impl Stream<Item = async_graphql::Result<(std::sync::Arc<EventRow>, P)>> {
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
        let customer = f.customer_id.map(|id| id.0);
        let customer_topic = customer.clone();
        let schedule = f.schedule_id.map(|id| id.0);
        let statuses: Option<Vec<&'static str>> =
            f.status.map(|s| s.into_iter().map(TaskStatus::as_db).collect());
        let matches = move |event: &EventRow| {
            let p = &event.payload;
            let is = |v: &Value, s: &String| v.as_str() == Some(s.as_str());
            customer.as_ref().is_none_or(|c| is(&p["customerRef"], c))
                && schedule.as_ref().is_none_or(|s| is(&p["task"]["schedule_id"], s))
                && statuses
                    .as_ref()
                    .is_none_or(|st| p["task"]["status"].as_str().is_some_and(|x| st.contains(&x)))
        };
        let selection = Selection {
            kinds: &[TASK_CREATED, TASK_STATUS_CHANGED, TASK_RESCHEDULED],
            matches: Box::new(matches),
        };
        let topic = Topic { company_id, customer_ref: customer_topic };
        Ok(decoded_events(ctx, topic, selection, after)
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
        let customer = f.customer_id.map(|id| id.0);
        let customer_topic = customer.clone();
        let schedule = f.schedule_id.map(|id| id.0);
        let call = f.call_id.map(|id| id.0);
        let statuses: Option<Vec<&'static str>> =
            f.status.map(|s| s.into_iter().map(|c| c.domain().as_str()).collect());
        let matches = move |event: &EventRow| {
            let p = &event.payload;
            let is = |v: &Value, s: &String| v.as_str() == Some(s.as_str());
            customer.as_ref().is_none_or(|c| is(&p["customerRef"], c))
                && schedule.as_ref().is_none_or(|s| is(&p["call"]["schedule_id"], s))
                && call.as_ref().is_none_or(|c| is(&p["call"]["id"], c))
                && statuses
                    .as_ref()
                    .is_none_or(|st| p["call"]["status"].as_str().is_some_and(|x| st.contains(&x)))
        };
        let selection = Selection { kinds: &[CALL_CREATED, CALL_STATUS_CHANGED], matches: Box::new(matches) };
        let topic = Topic { company_id, customer_ref: customer_topic };
        Ok(decoded_events(ctx, topic, selection, after)
            .map(|e| e.map(|(row, payload)| CallEvent { row, payload })))
    }
}
