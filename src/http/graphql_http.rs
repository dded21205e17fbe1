//! POST and GET /graphql, as the GraphQL-over-HTTP specification says them.
//!
//! - The answer's media type is negotiated (`graphql_media.rs`): `application/json` as always,
//!   or `application/graphql-response+json`, where a request that never ran (it did not parse or
//!   validate, its variables did not coerce, a batch or shape limit refused it) is 400 with no
//!   `data` entry. Once its operation runs, an answer is 200 in either type.
//! - A request that is not a GraphQL request at all is 400 in either type (a body that is not
//!   JSON, no `query`, a parameter of the wrong type); a POST body not declared
//!   `application/json` is 415; an `Accept` that names neither type is 406.
//! - GET takes `query`, `operationName` and URL-encoded JSON `variables` and `extensions`; it
//!   runs queries only: a mutation is 405 with `Allow: POST`. Its answers are `private,
//!   no-store`: they hold one company's data.
//! - Either method may send a persisted query's hash for its document (`persisted.rs`).
//!
//! Authentication, the company's share, the shape limits and telemetry are the same for both
//! methods: the middlewares see /graphql, and both go through [`answer`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{ErrorExtensions, Extensions, Response, ServerError, Variables};
use serde::Deserialize;
use uuid::Uuid;

use super::error::ApiError;
use super::graphql_media::{require_json_body, MediaType};
use super::persisted::{self, Hash, PersistedQueries};
use super::{telemetry, AppState, NUL_MESSAGE};
use crate::graphql::request_hooks::{Hooked, RequestHooks};
use crate::graphql::shape_limit::{self, BatchOf, Shape};
use crate::graphql::Tenant;
use crate::store::api_keys::KeyIdentity;

/// One GraphQL request as sent: in a POST body's JSON, or as a GET's URL parameters.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Params {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Variables,
    #[serde(default)]
    extensions: Extensions,
}

/// `POST /graphql`: one request, or a batch (a JSON array of them).
pub(super) async fn post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(media) = accepted(&req) else { return not_acceptable() };
    let content_type = req.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Err(error) = require_json_body(content_type) {
        return refusal(media, StatusCode::UNSUPPORTED_MEDIA_TYPE, error.extend());
    }
    let (operations, batch) = match parse_body(&body) {
        Ok(parsed) => parsed,
        Err(e) => {
            let error = ApiError::bad_input("body", format!("the body is not a GraphQL request: {e}"));
            return refusal(media, StatusCode::BAD_REQUEST, error.extend());
        }
    };
    // Postgres cannot store NUL in text: refuse it here, clearly, rather than fail inside.
    if contains_nul_escape(&body) {
        return request_error(media, ApiError::bad_input("variables", NUL_MESSAGE));
    }
    answer(&state, &req, media, operations, batch).await
}

/// `GET /graphql?query=…&operationName=…&variables=…&extensions=…`: queries only. Whatever
/// the answer, no shared cache may keep it: it holds one company's data (or says why not).
pub(super) async fn get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let mut answered = get_answer(&state, &req).await;
    let headers = answered.headers_mut();
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("private, no-store"));
    headers.insert(header::VARY, header::HeaderValue::from_static("Accept, Authorization, X-API-Key"));
    answered
}

async fn get_answer(state: &AppState, req: &HttpRequest) -> HttpResponse {
    let Some(media) = accepted(req) else { return not_acceptable() };
    let params = match parse_url(req.query_string()) {
        Ok(params) => params,
        Err(error) => return refusal(media, StatusCode::BAD_REQUEST, error.extend()),
    };
    let has_nul = |text: &str| text.contains('\0') || contains_nul_escape(text.as_bytes());
    if url::form_urlencoded::parse(req.query_string().as_bytes()).any(|(k, v)| has_nul(&k) || has_nul(&v)) {
        return request_error(media, ApiError::bad_input("variables", NUL_MESSAGE));
    }
    answer(state, req, media, vec![params], false).await
}

/// The type the request's `Accept` asks for (None: neither type is acceptable).
pub(super) fn accepted(req: &HttpRequest) -> Option<MediaType> {
    MediaType::negotiate(req.headers().get_all(header::ACCEPT).filter_map(|v| v.to_str().ok()))
}

fn not_acceptable() -> HttpResponse {
    let error = ApiError::bad_input(
        "Accept",
        "/graphql answers application/graphql-response+json or application/json; the request's Accept names neither",
    );
    refusal(MediaType::Json, StatusCode::NOT_ACCEPTABLE, error.extend())
}

/// A POST body: one request, or a batch. Told apart by the first byte rather than by an untagged
/// deserializer, which buffers the whole body in an intermediate tree first (a 10,000-record
/// import was deserialized twice).
fn parse_body(body: &[u8]) -> serde_json::Result<(Vec<Params>, bool)> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(body).map(|operations| (operations, true)),
        _ => serde_json::from_slice(body).map(|operation| (vec![operation], false)),
    }
}

/// A GET's parameters; other names are not GraphQL's and are left alone (a cache buster), but
/// one of GraphQL's given twice is refused: which one runs would be a guess.
fn parse_url(query_string: &str) -> Result<Params, ApiError> {
    fn json<T: serde::de::DeserializeOwned>(name: &str, value: &str) -> Result<T, ApiError> {
        serde_json::from_str(value)
            .map_err(|e| ApiError::bad_input(name, format!("{name} is a URL-encoded JSON object: {e}")))
    }
    let mut params = Params::default();
    let mut seen = HashSet::new();
    for (name, value) in url::form_urlencoded::parse(query_string.as_bytes()) {
        let name = name.as_ref();
        if !["query", "operationName", "variables", "extensions"].contains(&name) {
            continue;
        }
        if !seen.insert(name.to_string()) {
            return Err(ApiError::bad_input(name, format!("{name} is given more than once")));
        }
        // An empty parameter is one not given (forms and some clients send `operationName=`).
        match (name, value.is_empty()) {
            (_, true) if name != "query" => {}
            ("query", _) => params.query = Some(value.into_owned()),
            ("operationName", _) => params.operation_name = Some(value.into_owned()),
            ("variables", _) => params.variables = json(name, &value)?,
            _ => params.extensions = json(name, &value)?,
        }
    }
    Ok(params)
}

/// Whether a JSON body carries a NUL character (only possible as the escape `\u0000`, in a
/// variable or inside the query's own string literals).
fn contains_nul_escape(body: &[u8]) -> bool {
    body.windows(6).any(|w| w[0] == b'\\' && (w[1] == b'u' || w[1] == b'U') && &w[2..] == b"0000")
}

/// A request's operation once its document is known.
enum Prepared {
    Run {
        request: Box<async_graphql::Request>,
        /// A persisted query's hash and document sent together: kept once the operation ran.
        keep: Option<(Hash, Arc<str>)>,
    },
    /// Refused before it ran (a persisted query unknown, or not matching its hash).
    Refused(ApiError),
}

/// What each operation of a request answered, and whether it ran.
struct Outcome {
    response: Response,
    ran: bool,
}

/// One request or a batch, whichever method brought it.
async fn answer(
    state: &AppState,
    req: &HttpRequest,
    media: MediaType,
    operations: Vec<Params>,
    batch: bool,
) -> HttpResponse {
    if operations.is_empty() {
        let error = ApiError::bad_input("batch", "a batch holds at least one request");
        return refusal(media, StatusCode::BAD_REQUEST, error.extend());
    }
    if operations.iter().any(|p| p.query.is_none() && !p.extensions.contains_key("persistedQuery")) {
        let error = ApiError::bad_input(
            "query",
            "a GraphQL request needs query (the document, a string), or extensions.persistedQuery",
        );
        return refusal(media, StatusCode::BAD_REQUEST, error.extend());
    }
    if batch && operations.len() > crate::graphql::MAX_BATCH {
        let message = format!("at most {} operations per batch", crate::graphql::MAX_BATCH);
        return request_error(media, ApiError::bad_input("batch", message));
    }
    let caller = match caller(state, req).await {
        Ok(caller) => caller,
        Err(error) => return refusal(media, StatusCode::SERVICE_UNAVAILABLE, error),
    };
    if let Some(caller) = caller {
        telemetry::record_company(caller.company_id);
    }
    let company = caller.map(|c| c.company_id);
    let count = operations.len();
    let prepared: Vec<Prepared> =
        operations.into_iter().map(|op| prepare(op, &state.persisted, company)).collect();
    if batch {
        // A batch is priced as one request: its operations' aliases, counts and searches together.
        let shape = prepared
            .iter()
            .filter_map(|op| match op {
                Prepared::Run { request, .. } => {
                    Some(shape_limit::shape_of(&request.query, &request.variables))
                }
                Prepared::Refused(_) => None,
            })
            .fold(Shape::default(), Shape::and);
        if let Some(refusal) = shape.refusal("batch", "a batch") {
            return request_error(media, refusal);
        }
    }
    if let (&Method::GET, [Prepared::Run { request, .. }]) = (req.method(), prepared.as_slice()) {
        if runs_a_mutation(&request.query, request.operation_name.as_deref()) {
            let error = ApiError::bad_input("query", "GET runs queries only: send a mutation with POST");
            let mut refused = refusal(media, StatusCode::METHOD_NOT_ALLOWED, error.extend());
            refused.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return refused;
        }
    }
    let loaders = caller.map(|c| crate::graphql::loaders::loaders(state.db.clone(), c.company_id));
    let runs = prepared.into_iter().map(|op| {
        let loaders = loaders.clone();
        async move {
            let (request, keep) = match op {
                Prepared::Refused(error) => {
                    return Outcome {
                        response: Response::from_errors(vec![server_error(error.extend())]),
                        ran: false,
                    }
                }
                Prepared::Run { request, keep } => (*request, keep),
            };
            let ran = Ran::default();
            let mut request = request.data(ran.clone());
            if let (Some(caller), Some(loaders)) = (caller, loaders) {
                request = request.data(Tenant(caller.company_id)).data(caller).data(loaders);
            }
            if batch {
                request = request.data(BatchOf(count));
            }
            let response = state.schema.execute(request).await;
            let ran = ran.0.load(Ordering::Relaxed);
            if let (true, Some((hash, document))) = (ran, keep) {
                state.persisted.keep(company, hash, document);
            }
            Outcome { response, ran }
        }
    });
    let mut outcomes = futures_util::future::join_all(runs).await;
    let request_id = telemetry::request_id(req);
    for outcome in &mut outcomes {
        label_errors(&mut outcome.response.errors, request_id.as_deref());
    }
    respond(media, &outcomes, batch)
}

/// Who the request's key is (None: no key, or an unknown one: each field that needs one answers
/// UNAUTHENTICATED, in the same shape as for a missing key, and introspection still works); Err:
/// the lookup failed (INTERNAL, with the request id that finds the log line).
async fn caller(state: &AppState, req: &HttpRequest) -> Result<Option<KeyIdentity>, async_graphql::Error> {
    let Some(key) = super::api_key(req) else { return Ok(None) };
    state.authenticate(&key).await.map_err(|e| {
        tracing::error!(error = %e, "API key lookup failed");
        let request_id = telemetry::request_id(req).unwrap_or_default();
        ApiError::Internal.extend().extend_with(|_, ext| ext.set("requestId", request_id))
    })
}

/// The operation's document: its own, or the persisted one its hash names.
fn prepare(params: Params, cache: &PersistedQueries, company: Option<Uuid>) -> Prepared {
    let Params { query, operation_name, variables, mut extensions } = params;
    let hash = match persisted::requested(&mut extensions) {
        Ok(hash) => hash,
        Err(error) => return Prepared::Refused(error),
    };
    let (query, keep) = match (query.filter(|q| !q.is_empty() || hash.is_none()), hash) {
        (Some(query), None) => (query, None),
        (Some(query), Some(hash)) if persisted::hash_of(&query) == hash => {
            let document = Arc::from(query.as_str());
            (query, Some((hash, document)))
        }
        (Some(_), Some(_)) => return Prepared::Refused(persisted::mismatch()),
        (None, Some(hash)) => match cache.get(company, &hash) {
            Some(document) => (document.to_string(), None),
            None => return Prepared::Refused(ApiError::PersistedQueryNotFound),
        },
        (None, None) => return Prepared::Refused(ApiError::bad_input("query", "no query")),
    };
    let mut request = async_graphql::Request::new(query).variables(variables);
    request.operation_name = operation_name;
    request.extensions = extensions;
    Prepared::Run { request: Box::new(request), keep }
}

/// Whether `query` with `operation_name` would run a mutation (a document that does not parse,
/// or names no operation to run, runs nothing: execution says why).
fn runs_a_mutation(query: &str, operation_name: Option<&str>) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(query) else { return false };
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), None) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        _ => None,
    };
    operation.is_some_and(|operation| operation.node.ty == OperationType::Mutation)
}

/// An operation's answer as the media type has it: in `application/graphql-response+json`, one
/// that never ran has no `data` entry.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Body<'a> {
    Ran(&'a Response),
    NeverRan { errors: &'a [ServerError] },
}

impl<'a> Body<'a> {
    fn of(media: MediaType, outcome: &'a Outcome) -> Self {
        match (media, outcome.ran) {
            (MediaType::GraphQlResponse, false) => Body::NeverRan { errors: &outcome.response.errors },
            _ => Body::Ran(&outcome.response),
        }
    }
}

/// The answer to operations that got as far as the schema (or a persisted query's refusal).
/// Status 200, except one operation that never ran in `application/graphql-response+json`: 400,
/// or 200 when its persisted query is unknown (Apollo clients then send the document; some
/// turn persisted queries off for good on a 400).
fn respond(media: MediaType, outcomes: &[Outcome], batch: bool) -> HttpResponse {
    let body = if batch {
        serde_json::to_vec(&outcomes.iter().map(|o| Body::of(media, o)).collect::<Vec<_>>())
    } else {
        serde_json::to_vec(&Body::of(media, &outcomes[0]))
    };
    let unknown_persisted = |o: &Outcome| {
        let code = ApiError::PersistedQueryNotFound.code();
        o.response
            .errors
            .iter()
            .any(|e| e.extensions.as_ref().and_then(|x| x.get("code")) == Some(&code.into()))
    };
    let status = match (media, outcomes) {
        (MediaType::GraphQlResponse, [single]) if !batch && !single.ran && !unknown_persisted(single) => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    };
    match body {
        Ok(body) => HttpResponse::build(status).content_type(media.content_type()).body(body),
        Err(e) => {
            tracing::error!(error = %e, "a GraphQL answer could not be written as JSON");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// A request refused before any operation ran, in the answer's type: `application/json` keeps
/// its `"data": null`; `application/graphql-response+json` has no `data` entry.
pub(super) fn refusal(media: MediaType, status: StatusCode, error: async_graphql::Error) -> HttpResponse {
    let outcome = Outcome { response: Response::from_errors(vec![server_error(error)]), ran: false };
    let mut answer = respond(media, std::slice::from_ref(&outcome), false);
    *answer.status_mut() = status;
    answer
}

/// A well-formed request refused before it ran (a limit): 200 in `application/json`, as any
/// GraphQL error there; 400 in `application/graphql-response+json`.
fn request_error(media: MediaType, error: ApiError) -> HttpResponse {
    let status = match media {
        MediaType::Json => StatusCode::OK,
        MediaType::GraphQlResponse => StatusCode::BAD_REQUEST,
    };
    refusal(media, status, error.extend())
}

/// An error about the request, not about a place in the query: no position.
fn server_error(error: async_graphql::Error) -> ServerError {
    let mut server_error = ServerError::new(error.message, None);
    server_error.extensions = error.extensions;
    server_error
}

/// Errors raised before any resolver ran (syntax, unknown field, wrong variable type) carry
/// no code of ours: they are the client's input, so they get `BAD_USER_INPUT`.
fn label_errors(errors: &mut [ServerError], request_id: Option<&str>) {
    for e in errors {
        let has_code = e.extensions.as_ref().is_some_and(|ext| ext.get("code").is_some());
        if !has_code {
            e.extensions.get_or_insert_with(Default::default).set("code", "BAD_USER_INPUT");
        }
        // An INTERNAL error says nothing of its cause: its request id finds the log line.
        let internal = e
            .extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .is_some_and(|code| *code == async_graphql::Value::from("INTERNAL"));
        if let (true, Some(id)) = (internal, request_id) {
            e.extensions.get_or_insert_with(Default::default).set("requestId", id);
        }
    }
}

/// Set in a request's data once its operation begins to run (it parsed, validated and its
/// variables coerced); unset, the request never ran.
#[derive(Clone, Default)]
struct Ran(Arc<AtomicBool>);

/// The schema extension that sets [`Ran`].
pub(super) struct MarkRan;

impl ExtensionFactory for MarkRan {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Hooked(MarkRan))
    }
}

impl RequestHooks for MarkRan {
    fn executing(&self, ctx: &ExtensionContext<'_>) {
        if let Some(ran) = ctx.data_opt::<Ran>() {
            ran.0.store(true, Ordering::Relaxed);
        }
    }
}

/// A POST body as it will run, for the idempotency guard (`writes.rs`).
pub(super) struct AsItWillRun {
    /// Each operation's document (a persisted query's from the cache; None: unknown).
    documents: Vec<Option<String>>,
    /// When the body uses persisted queries: the request written out with its documents, so a
    /// retry that sends the hash alone is the same request as one that sent the document.
    pub(super) canonical: Option<Vec<u8>>,
}

impl AsItWillRun {
    /// None: the body is no GraphQL request (the handler says why).
    pub(super) fn of(body: &[u8], cache: &PersistedQueries, company: Uuid) -> Option<AsItWillRun> {
        let (operations, batch) = parse_body(body).ok()?;
        let mut uses_persisted = false;
        let mut written = Vec::with_capacity(operations.len());
        let mut documents = Vec::with_capacity(operations.len());
        for Params { query, operation_name, variables, mut extensions } in operations {
            let hash = persisted::requested(&mut extensions).ok().flatten();
            uses_persisted |= hash.is_some();
            let query = query.filter(|q| !q.is_empty()).or_else(|| {
                hash.and_then(|hash| cache.get(Some(company), &hash)).map(|document| document.to_string())
            });
            written.push(serde_json::json!({
                "query": query, "operationName": operation_name, "variables": variables, "extensions": extensions,
            }));
            documents.push(query);
        }
        let canonical = uses_persisted
            .then(|| serde_json::to_vec(&serde_json::json!({"batch": batch, "operations": written})).ok())
            .flatten();
        Some(AsItWillRun { documents, canonical })
    }

    /// Whether any operation of any document is a mutation (unknown documents run nothing).
    pub(super) fn has_mutation(&self) -> bool {
        self.documents.iter().flatten().any(|query| {
            async_graphql::parser::parse_query(query)
                .map(|doc| doc.operations.iter().any(|(_, op)| op.node.ty == OperationType::Mutation))
                .unwrap_or(false)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_names_its_parameters_once() {
        let params =
            parse_url("query=%7B+viewer+%7B+id+%7D+%7D&variables=%7B%22a%22%3A1%7D&operationName=&x=1&x=2")
                .unwrap();
        assert_eq!(params.query.as_deref(), Some("{ viewer { id } }"));
        assert_eq!(params.operation_name, None, "empty is not given");
        assert_eq!(params.variables.get("a"), Some(&async_graphql::Value::from(1)));
        assert_eq!(parse_url("query=").unwrap().query.as_deref(), Some(""));
        for wrong in ["query=a&query=b", "variables=%5B1%5D", "variables=nope", "extensions=1"] {
            assert_eq!(parse_url(wrong).err().map(|e| e.code()), Some("BAD_USER_INPUT"), "{wrong}");
        }
    }

    #[test]
    fn only_the_operation_that_would_run_decides_a_mutation() {
        assert!(runs_a_mutation("mutation { a }", None));
        assert!(!runs_a_mutation("{ a }", None));
        assert!(!runs_a_mutation("mutation {", None), "does not parse: runs nothing");
        let two = "query Q { a } mutation M { b }";
        assert!(runs_a_mutation(two, Some("M")));
        assert!(!runs_a_mutation(two, Some("Q")));
        assert!(!runs_a_mutation(two, None), "no operation named: runs nothing");
        assert!(runs_a_mutation("mutation M { b }", None));
        assert!(!runs_a_mutation("mutation { b }", Some("M")), "no such operation");
    }
}
