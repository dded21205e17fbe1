//! Prometheus metrics: GraphQL request counts and latencies per operation, pool state, and
//! event subscriptions.
//!
//! The operation label is `<query|mutation|subscription> <first root field>`: bounded by the
//! schema, unlike client-chosen operation names.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection};
use async_graphql::{Response, ServerResult, Variables};

use crate::events::EventHub;
use crate::graphql::request_hooks::{Hooked, RequestHooks, Validation};

const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
struct Histogram {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

pub struct Metrics {
    requests: Mutex<BTreeMap<(String, &'static str), Histogram>>,
    /// The instance's event hub, for its subscription counts.
    hub: EventHub,
}

impl Metrics {
    pub fn new(hub: EventHub) -> Self {
        Metrics { requests: Mutex::default(), hub }
    }

    pub fn record(&self, operation: &str, outcome: &'static str, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let h = requests.entry((operation.to_string(), outcome)).or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.buckets[i] += 1;
            }
        }
    }

    /// The Prometheus text exposition, with the pool's current state.
    pub fn render(&self, pool: &diesel::r2d2::State, pool_max: u32, db_calls: u64) -> String {
        let mut out = String::new();
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP callsync_graphql_requests_total GraphQL requests by operation and outcome.\n");
        out.push_str("# TYPE callsync_graphql_requests_total counter\n");
        for ((op, outcome), h) in requests.iter() {
            let _ = writeln!(
                out,
                "callsync_graphql_requests_total{{operation=\"{op}\",outcome=\"{outcome}\"}} {}",
                h.count
            );
        }
        out.push_str(
            "# HELP callsync_graphql_request_duration_seconds GraphQL request latency by operation.\n",
        );
        out.push_str("# TYPE callsync_graphql_request_duration_seconds histogram\n");
        for ((op, outcome), h) in requests.iter() {
            let labels = format!("operation=\"{op}\",outcome=\"{outcome}\"");
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "callsync_graphql_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "callsync_graphql_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "callsync_graphql_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "callsync_graphql_request_duration_seconds_count{{{labels}}} {}", h.count);
        }
        out.push_str("# HELP callsync_db_pool_connections Open database connections.\n");
        out.push_str("# TYPE callsync_db_pool_connections gauge\n");
        let _ = writeln!(out, "callsync_db_pool_connections {}", pool.connections);
        out.push_str("# HELP callsync_db_pool_idle_connections Idle database connections.\n");
        out.push_str("# TYPE callsync_db_pool_idle_connections gauge\n");
        let _ = writeln!(out, "callsync_db_pool_idle_connections {}", pool.idle_connections);
        out.push_str("# HELP callsync_db_pool_max_connections Pool size limit.\n");
        out.push_str("# TYPE callsync_db_pool_max_connections gauge\n");
        let _ = writeln!(out, "callsync_db_pool_max_connections {pool_max}");
        out.push_str("# HELP callsync_db_calls_total Blocking database calls (connection checkouts).\n");
        out.push_str("# TYPE callsync_db_calls_total counter\n");
        let _ = writeln!(out, "callsync_db_calls_total {db_calls}");
        out.push_str("# HELP callsync_event_subscriptions_total Event subscriptions opened.\n");
        out.push_str("# TYPE callsync_event_subscriptions_total counter\n");
        let _ = writeln!(out, "callsync_event_subscriptions_total {}", self.hub.subscriptions_opened());
        out.push_str("# HELP callsync_event_subscribers Event subscriptions open now.\n");
        out.push_str("# TYPE callsync_event_subscribers gauge\n");
        let _ = writeln!(out, "callsync_event_subscribers {}", self.hub.subscribers());
        out
    }
}

/// Records every GraphQL request into [`Metrics`].
pub struct MetricsExtension(pub Arc<Metrics>);

impl ExtensionFactory for MetricsExtension {
    /// Called as each request starts: its latency is timed from here.
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Hooked(RequestMetrics {
            metrics: self.0.clone(),
            started: Instant::now(),
            operation: Mutex::new(None),
        }))
    }
}

struct RequestMetrics {
    metrics: Arc<Metrics>,
    started: Instant,
    operation: Mutex<Option<String>>,
}

impl RequestHooks for RequestMetrics {
    fn parsed(&self, document: &ExecutableDocument, _variables: &Variables) -> ServerResult<()> {
        let label = operation_label(document);
        crate::http::telemetry::record_operation(&label);
        *self.operation.lock().unwrap_or_else(|e| e.into_inner()) = Some(label);
        Ok(())
    }

    fn answered(&self, response: &Response) {
        let operation = self
            .operation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| "unparsable".to_string());
        let outcome = if response.is_ok() { "ok" } else { "error" };
        self.metrics.record(&operation, outcome, self.started.elapsed());
    }

    /// A document that fails validation (an unknown root field, say) is labelled "invalid":
    /// only the schema's own fields become label values, so anyone sending `{ zzz1 }`,
    /// `{ zzz2 }`… adds no series.
    fn validated(&self, _ctx: &ExtensionContext<'_>, result: Validation) -> Validation {
        if result.is_err() {
            *self.operation.lock().unwrap_or_else(|e| e.into_inner()) = Some("invalid".to_string());
        }
        result
    }
}

fn operation_label(document: &ExecutableDocument) -> String {
    let operation = match &document.operations {
        DocumentOperations::Single(op) => op,
        DocumentOperations::Multiple(ops) if ops.len() == 1 => ops.values().next().expect("one operation"),
        DocumentOperations::Multiple(_) => return "multiple".to_string(),
    };
    let kind = match operation.node.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let field = operation
        .node
        .selection_set
        .node
        .items
        .iter()
        .find_map(|s| match &s.node {
            Selection::Field(f) => Some(f.node.name.node.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "fragment".to_string());
    format!("{kind} {field}")
}

/// The read replica's gauges (only when the instance has one).
pub fn render_replica(status: &crate::store::ReplicaStatus) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP callsync_replica_up Whether the read replica answered its last check (1) or not (0).\n",
    );
    out.push_str("# TYPE callsync_replica_up gauge\n");
    let _ = writeln!(out, "callsync_replica_up {}", u8::from(status.up == Some(true)));
    out.push_str(
        "# HELP callsync_replica_lag_seconds How long the read replica has been behind a primary WAL position it has not replayed.\n",
    );
    out.push_str("# TYPE callsync_replica_lag_seconds gauge\n");
    // Unknown (down, or not checked yet) reads as NaN, which alerting treats as absent data.
    let lag = status.lag.map_or_else(|| "NaN".to_string(), |lag| format!("{:.3}", lag.as_secs_f64()));
    let _ = writeln!(out, "callsync_replica_lag_seconds {lag}");
    out.push_str("# HELP callsync_replica_max_lag_seconds Lag past which reads skip the replica.\n");
    out.push_str("# TYPE callsync_replica_max_lag_seconds gauge\n");
    let _ = writeln!(out, "callsync_replica_max_lag_seconds {:.3}", status.max_lag.as_secs_f64());
    out.push_str("# HELP callsync_replica_in_use Whether stale-tolerant reads go to the read replica now.\n");
    out.push_str("# TYPE callsync_replica_in_use gauge\n");
    let _ = writeln!(out, "callsync_replica_in_use {}", u8::from(status.in_use));
    out.push_str("# HELP callsync_stale_reads_total Stale-tolerant reads (lists, searches, counts, exports) by where they ran.\n");
    out.push_str("# TYPE callsync_stale_reads_total counter\n");
    let _ = writeln!(out, "callsync_stale_reads_total{{database=\"replica\"}} {}", status.reads_on_replica);
    let _ = writeln!(out, "callsync_stale_reads_total{{database=\"primary\"}} {}", status.reads_on_primary);
    out
}
