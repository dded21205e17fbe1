//! GraphQL over WebSocket on `/graphql`: `graphql-transport-ws` and the legacy `graphql-ws`.
//!
//! async-graphql speaks the protocols; this adds what it leaves to the host: the API key from
//! `connection_init` (`apiKey` or `X-API-Key`) or the upgrade request's header, close code 4403
//! for a bad or missing key (clients treat it as "don't retry"), a connection-init timeout
//! (4408), WebSocket pings to keep idle connections alive and to drop dead ones, and a limit on
//! subscriptions per connection.

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use async_graphql::Data;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::{api_key, AppState};
use crate::graphql::loaders::uncached_loaders;
use crate::graphql::Tenant;

/// Close code for a bad or missing API key.
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// graphql-transport-ws: no `connection_init` in time.
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// A connection silent (no message, no pong) this long is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 100;
/// Client messages waiting for the protocol engine; a client that floods past this is closed.
pub const MAX_PENDING_MESSAGES: usize = 256;
/// The largest message, continuation frames put together.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Close code for a message too big or too many in flight (RFC 6455 1009 / 1008).
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_POLICY: u16 = 1008;

const FORBIDDEN: &str =
    "Forbidden: a valid API key is required (connection_init payload apiKey, or X-API-Key)";

pub async fn graphql_ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let offered = req.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).unwrap_or("");
    let protocol =
        offered.split(',').find_map(|p| WebSocketProtocols::from_str(p.trim()).ok()).ok_or_else(|| {
            actix_web::error::ErrorBadRequest("use subprotocol graphql-transport-ws or graphql-ws")
        })?;
    let (response, session, messages) =
        actix_ws::handle_with_protocols(&req, body, &[protocol.sec_websocket_protocol()])?;
    let header_key = api_key(&req);
    // The connection outlives the upgrade request: its own span, with the request's id and,
    // once `connection_init` authenticates it, the company.
    let span = tracing::info_span!(
        "websocket",
        request_id = super::telemetry::request_id(&req).unwrap_or_default(),
        company_id = tracing::field::Empty,
    );
    // Its operations read after its key's writes, as an HTTP request's do (see `read_after`).
    let reads = crate::store::replica::ReadSession::new(None, None);
    let connection = crate::store::replica::in_session(
        reads,
        run(state.into_inner(), protocol, header_key, session, messages),
    );
    actix_web::rt::spawn(tracing::Instrument::instrument(connection, span));
    Ok(response)
}

/// One connection, in one task: client frames in, GraphQL messages out, timers.
async fn run(
    state: Arc<AppState>,
    protocol: WebSocketProtocols,
    header_key: Option<String>,
    mut session: actix_ws::Session,
    messages: actix_ws::MessageStream,
) {
    // Fragmented messages (continuation frames) are put together, up to a bound.
    let mut messages = messages
        .max_frame_size(MAX_MESSAGE_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE_BYTES);
    let inbox = Inbox::new();
    let mut reading = true;
    let mut active: HashSet<String> = HashSet::new();
    let forbidden = Arc::new(AtomicBool::new(false));
    let on_init = {
        let (state, forbidden) = (state.clone(), forbidden.clone());
        move |payload: Value| async move {
            let key = ["apiKey", "X-API-Key", "x-api-key"]
                .iter()
                .find_map(|k| payload.get(*k).and_then(Value::as_str).map(str::to_string))
                .or(header_key);
            let company = match key {
                Some(key) => state.authenticate(&key).await.ok().flatten(),
                None => None,
            };
            match company {
                Some(caller) => {
                    super::telemetry::record_company(caller.company_id);
                    if let Some(reads) = crate::store::replica::current_session() {
                        reads.identify(caller.key_id);
                    }
                    let mut data = Data::default();
                    data.insert(Tenant(caller.company_id));
                    data.insert(caller);
                    data.insert(uncached_loaders(state.db.clone(), caller.company_id));
                    Ok(data)
                }
                None => {
                    forbidden.store(true, Ordering::Relaxed);
                    Err(async_graphql::Error::new(FORBIDDEN))
                }
            }
        }
    };
    let mut graphql =
        Box::pin(WebSocket::new(state.schema.clone(), inbox.stream(), protocol).on_connection_init(on_init));

    let opened = Instant::now();
    let mut initialised = false;
    let mut last_heard = Instant::now();
    let mut last_ping = Instant::now();
    let close = loop {
        // One timer per connection: the nearest of init timeout, next ping and idle timeout.
        let mut deadline = (last_ping + PING_INTERVAL).min(last_heard + IDLE_TIMEOUT);
        if !initialised {
            deadline = deadline.min(opened + INIT_TIMEOUT);
        }
        tokio::select! {
            incoming = messages.next(), if reading => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        let id = parsed["id"].as_str().unwrap_or_default().to_string();
                        match parsed["type"].as_str() {
                            Some("connection_init") => initialised = true,
                            Some("subscribe" | "start") => {
                                if !active.contains(&id) && active.len() >= MAX_SUBSCRIPTIONS_PER_CONNECTION {
                                    let error = too_many_subscriptions(protocol, &id);
                                    if session.text(error.to_string()).await.is_err() {
                                        break None;
                                    }
                                    continue;
                                }
                                active.insert(id);
                            }
                            Some("complete" | "stop") => {
                                active.remove(&id);
                            }
                            _ => {}
                        }
                        if !inbox.push(text.to_string()) {
                            let reason = format!("more than {MAX_PENDING_MESSAGES} messages waiting");
                            break Some((CLOSE_POLICY, reason));
                        }
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            break None;
                        }
                    }
                    Some(Err(actix_ws::ProtocolError::Overflow)) => {
                        break Some((CLOSE_TOO_BIG, format!("messages are limited to {MAX_MESSAGE_BYTES} bytes")));
                    }
                    Some(Ok(AggregatedMessage::Close(_))) | Some(Err(_)) | None => {
                        // Ends the GraphQL stream, which ends the loop below.
                        reading = false;
                        inbox.close();
                    }
                    Some(Ok(_)) => {}
                }
            }
            outgoing = graphql.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    if let Some(id) = finished_id(&text) {
                        active.remove(&id);
                    }
                    if session.text(text).await.is_err() {
                        break None;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let code = if forbidden.load(Ordering::Relaxed) { CLOSE_FORBIDDEN } else { code };
                    break Some((code, reason));
                }
                None if forbidden.load(Ordering::Relaxed) => break Some((CLOSE_FORBIDDEN, FORBIDDEN.to_string())),
                None => break Some((1000, String::new())),
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                if !initialised && opened.elapsed() >= INIT_TIMEOUT {
                    break Some((CLOSE_INIT_TIMEOUT, "Connection initialisation timeout".to_string()));
                }
                if last_heard.elapsed() >= IDLE_TIMEOUT {
                    break Some((1001, "no pong or message within the idle timeout".to_string()));
                }
                if last_ping.elapsed() >= PING_INTERVAL {
                    last_ping = Instant::now();
                    if session.ping(b"").await.is_err() {
                        break None;
                    }
                }
            }
        }
    };
    if let Some((code, description)) = close {
        let reason = CloseReason { code: CloseCode::from(code), description: Some(description) };
        let _ = session.close(Some(reason)).await;
    }
}

/// Client messages waiting for the protocol engine, at most [`MAX_PENDING_MESSAGES`]. Both
/// ends live in the connection's one task, so a plain queue does. Unlike a bounded channel
/// (which allocates its state and first block of slots up front, ~1.3 KiB), it holds no memory
/// while empty, which an idle subscriber's connection nearly always is.
#[derive(Clone)]
struct Inbox(Rc<RefCell<InboxState>>);

#[derive(Default)]
struct InboxState {
    messages: VecDeque<String>,
    closed: bool,
    /// The protocol engine, waiting for a message.
    waiting: Option<Waker>,
}

impl Inbox {
    fn new() -> Inbox {
        Inbox(Rc::default())
    }

    /// Queues a message; false (and nothing queued) if the queue is full.
    fn push(&self, message: String) -> bool {
        let mut inbox = self.0.borrow_mut();
        if inbox.messages.len() >= MAX_PENDING_MESSAGES {
            return false;
        }
        inbox.messages.push_back(message);
        if let Some(waker) = inbox.waiting.take() {
            waker.wake();
        }
        true
    }

    /// No more messages: the stream ends once the queued ones are taken.
    fn close(&self) {
        let mut inbox = self.0.borrow_mut();
        inbox.closed = true;
        if let Some(waker) = inbox.waiting.take() {
            waker.wake();
        }
    }

    /// The queued messages, in order.
    fn stream(&self) -> impl futures_util::Stream<Item = String> {
        let inbox = self.clone();
        futures_util::stream::poll_fn(move |cx| {
            let mut inbox = inbox.0.borrow_mut();
            if let Some(message) = inbox.messages.pop_front() {
                if inbox.messages.is_empty() {
                    // Give the queue's memory back between bursts.
                    inbox.messages = VecDeque::new();
                }
                return Poll::Ready(Some(message));
            }
            if inbox.closed {
                return Poll::Ready(None);
            }
            inbox.waiting = Some(cx.waker().clone());
            Poll::Pending
        })
    }
}

/// The id of a subscription the server finished (`complete` or `error`), if `text` is one.
fn finished_id(text: &str) -> Option<String> {
    if !(text.starts_with(r#"{"type":"complete""#) || text.starts_with(r#"{"type":"error""#)) {
        return None;
    }
    serde_json::from_str::<Value>(text).ok().and_then(|v| v["id"].as_str().map(str::to_string))
}

fn too_many_subscriptions(protocol: WebSocketProtocols, id: &str) -> Value {
    let error = json!({
        "message": format!("at most {MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection"),
        "extensions": {"code": "RATE_LIMITED"}
    });
    match protocol {
        WebSocketProtocols::GraphQLWS => json!({"type": "error", "id": id, "payload": [error]}),
        WebSocketProtocols::SubscriptionsTransportWS => json!({"type": "error", "id": id, "payload": error}),
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::{Inbox, MAX_PENDING_MESSAGES};

    #[tokio::test]
    async fn the_inbox_is_bounded_ordered_and_ends_after_close() {
        let inbox = Inbox::new();
        let mut stream = Box::pin(inbox.stream());
        for i in 0..MAX_PENDING_MESSAGES {
            assert!(inbox.push(i.to_string()), "message {i} fits");
        }
        assert!(!inbox.push("one too many".into()), "the queue is bounded");
        assert_eq!(stream.next().await.as_deref(), Some("0"));
        assert!(inbox.push("last".into()), "taking one makes room for one");
        inbox.close();
        let rest: Vec<String> = stream.collect().await;
        assert_eq!(rest.len(), MAX_PENDING_MESSAGES);
        assert_eq!(rest.first().map(String::as_str), Some("1"));
        assert_eq!(rest.last().map(String::as_str), Some("last"));
        assert_eq!(inbox.0.borrow().messages.capacity(), 0, "a drained queue holds no memory");
    }
}
