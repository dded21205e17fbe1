//! One subscriber's event stream: replay from the table after a position, then live from the
//! hub, with no gap and no duplicate at the seam, catching up from the table after a lag.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use uuid::Uuid;

use super::{EventHub, Topic};
use crate::store::events::{self as outbox, EventRow, Position};
use crate::store::{Db, StoreError};

/// Rows read from the table per catch-up query.
const CATCH_UP_BATCH: i64 = 500;

/// Which events a subscriber wants (its company is implied).
pub struct Selection {
    pub kinds: &'static [&'static str],
    pub matches: Box<dyn Fn(&EventRow) -> bool + Send + Sync>,
}

struct State {
    db: Db,
    company_id: Uuid,
    selection: Selection,
    rx: Receiver<Arc<EventRow>>,
    /// The last event passed over (delivered or filtered out).
    position: Position,
    buffer: VecDeque<Arc<EventRow>>,
    catching_up: bool,
}

/// The topic's events after `after` (replayed from the table first), or from now on.
pub fn subscribe(
    hub: &EventHub,
    db: Db,
    topic: Topic,
    selection: Selection,
    after: Option<Position>,
) -> impl Stream<Item = Result<Arc<EventRow>, StoreError>> + Send {
    // Subscribe before reading the table, so every event after the replay reaches the receiver.
    let company_id = topic.company_id;
    let (rx, head) = hub.subscribe(topic);
    let state = State {
        db,
        company_id,
        selection,
        rx,
        position: after.unwrap_or(head),
        buffer: VecDeque::new(),
        catching_up: after.is_some(),
    };
    stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        loop {
            if st.catching_up && st.buffer.is_empty() {
                let (db, company_id, kinds, position) =
                    (st.db.clone(), st.company_id, st.selection.kinds, st.position);
                // Boxed: catching up is rare, and the stream's state (kept for every idle
                // subscriber) would otherwise reserve room for this future all the time.
                let rows = Box::pin(db.read(move |conn| {
                    outbox::company_settled_after(conn, company_id, kinds, position, CATCH_UP_BATCH)
                }))
                .await;
                match rows {
                    Ok(rows) => {
                        st.catching_up = rows.len() as i64 == CATCH_UP_BATCH;
                        st.buffer.extend(rows.into_iter().map(Arc::new));
                    }
                    // The error ends the stream; the client resumes with afterEventId.
                    Err(e) => return Some((Err(e), None)),
                }
            }
            if let Some(event) = st.buffer.pop_front() {
                if event.position() <= st.position {
                    continue; // already passed over: the seam between replay and live
                }
                st.position = event.position();
                if st.selection.kinds.contains(&event.kind.as_str()) && (st.selection.matches)(&event) {
                    return Some((Ok(event), Some(st)));
                }
                continue;
            }
            match st.rx.recv().await {
                Ok(event) => st.buffer.push_back(event),
                // Too slow for the broadcast buffer: read what was missed from the table.
                Err(RecvError::Lagged(_)) => st.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
