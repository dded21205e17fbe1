//! Static pages and their assets, embedded in the binary at build time: GraphiQL (`GET /`) and
//! the operations dashboard (`GET /dashboard`) work offline, with no CDN.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// (path under /assets/, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "dashboard/dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/dashboard/dashboard.js"),
    ),
    (
        "dashboard/dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/dashboard/dashboard.css"),
    ),
    (
        "graphiql/graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql/graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
    ),
    (
        "graphiql/react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "graphiql/react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    ("graphiql/start.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/graphiql/start.js")),
    (
        "graphiql/LICENSES.md",
        "text/markdown; charset=utf-8",
        include_bytes!("../../assets/graphiql/LICENSES.md"),
    ),
];

const GRAPHIQL_PAGE: &str = include_str!("../../assets/graphiql/index.html");
const DASHBOARD_PAGE: &str = include_str!("../../assets/dashboard/index.html");

/// `GET /dashboard`: the live operations page (the key is typed in the page, not sent here).
pub async fn dashboard(req: HttpRequest) -> HttpResponse {
    page(&req, DASHBOARD_PAGE)
}

/// `GET /`: GraphiQL.
pub async fn graphiql(req: HttpRequest) -> HttpResponse {
    page(&req, GRAPHIQL_PAGE)
}

/// An HTML page with headers that keep it from being framed, sniffed or made to load anything
/// but this binary's own assets: scripts only from `/assets/` (no inline script), requests only
/// to this server (`/graphql`, over HTTP or its WebSocket). Inline styles stay allowed: the
/// editors set some as they render.
fn page(req: &HttpRequest, html: &'static str) -> HttpResponse {
    let host = req.connection_info().host().to_string();
    // The WebSocket is the same host; 'self' alone does not cover ws: in every browser.
    let host = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        .collect::<String>();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self' ws://{host} wss://{host}; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, policy))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(html)
}

/// `GET /assets/{path}`: an embedded asset (cached for a day: they change only with the binary).
pub async fn asset(path: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(name, _, _)| *name == path.as_str()) {
        Some((_, content_type, bytes)) => HttpResponse::Ok()
            .content_type(*content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(*bytes),
        None => HttpResponse::NotFound().content_type("text/plain").body("not found\n"),
    }
}
