//! Static pages and their assets, embedded in the binary at build time: GraphiQL (`GET /`) and
//! the operations dashboard (`GET /dashboard`) work offline, with no CDN.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

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
    (
        "graphiql/LICENSES.md",
        "text/markdown; charset=utf-8",
        include_bytes!("../../assets/graphiql/LICENSES.md"),
    ),
];

const GRAPHIQL_PAGE: &str = include_str!("../../assets/graphiql/index.html");
const DASHBOARD_PAGE: &str = include_str!("../../assets/dashboard/index.html");

/// `GET /dashboard`: the live operations page (the key is typed in the page, not sent here).
pub async fn dashboard() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(DASHBOARD_PAGE)
}

pub async fn graphiql() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(GRAPHIQL_PAGE)
}

/// `GET /assets/{path}`: an embedded asset (cached for a day: they change only with the binary).
pub async fn asset(path: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(name, _, _)| *name == path.as_str()) {
        Some((_, content_type, bytes)) => HttpResponse::Ok()
            .content_type(*content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .body(*bytes),
        None => HttpResponse::NotFound().content_type("text/plain").body("not found\n"),
    }
}
