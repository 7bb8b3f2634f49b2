//! The web UI that `homesoc up` serves under `/ui`: server-rendered HTML
//! pages with one small hand-written script, and charts drawn as SVG.
//!
//! Every asset is compiled into the binary, so the UI works without any
//! network access. Pages need a login session, kept in an `HttpOnly`,
//! `Secure`, `SameSite=Strict` cookie; every POST must carry the session's
//! CSRF token ([`session`]).
//!
//! One module per page: [`login`], [`overview`], [`incidents`] with
//! [`incident`], [`logs`], [`rules`] and [`intel`]. [`html`] escapes and
//! lays out pages, [`chart`] draws SVG charts and [`table`] renders query
//! results.

pub mod chart;
pub mod data;
pub mod html;
pub mod incident;
pub mod incidents;
pub mod intel;
pub mod login;
pub mod logs;
pub mod overview;
pub mod rules;
pub mod session;
pub mod table;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::Shared;
pub use session::UiState;

const STYLESHEET: &str = include_str!("assets/app.css");
const SCRIPT: &str = include_str!("assets/app.js");
const ICON: &str = include_str!("assets/favicon.svg");

/// Builds the UI's routes, merged into the server's router.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/", get(overview::page))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route("/ui/incidents", get(incidents::page))
        .route("/ui/incidents/{number}", get(incident::page))
        .route("/ui/incidents/{number}/{action}", post(incident::act))
        .route("/ui/logs", get(logs::page))
        .route("/ui/logs/download", get(logs::download))
        .route("/ui/logs/schema", get(logs::schema))
        .route("/ui/rules", get(rules::page))
        .route("/ui/rules/{id}", get(rules::rule_page))
        .route("/ui/rules/{id}/enabled", post(rules::set_enabled))
        .route(
            "/ui/rules/{id}/backtest",
            get(rules::backtest_address).post(rules::backtest),
        )
        .route("/ui/intel", get(intel::page))
        .route("/ui/intel/feeds/{name}/pull", post(intel::pull))
        .route("/ui/assets/app.css", get(stylesheet))
        .route("/ui/assets/app.js", get(script))
        .route("/ui/assets/favicon.svg", get(icon))
        .route("/favicon.ico", get(icon))
        .route("/ui/{*rest}", get(not_found))
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// Returns an HTML 404 page for every other address under `/ui`.
async fn not_found(axum::extract::Path(rest): axum::extract::Path<String>) -> Response {
    session::refusal(
        StatusCode::NOT_FOUND,
        &format!(
            "no page at /ui/{rest}; the pages are Overview, Incidents, Logs, Rules and Threat intel"
        ),
    )
}

async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}
