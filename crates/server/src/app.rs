//! The HTTP routes and the state they share.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use engine::Engine;
use serde_json::json;
use store::Workspace;
use store::live::LiveStore;

use crate::auth::{AuthFailure, Authenticator, Principal, Scope};
use crate::config::Config;
use crate::metrics::Metrics;

/// What every handler shares.
pub struct AppState {
    pub config: Config,
    pub data_dir: PathBuf,
    pub workspace: Workspace,
    pub live: Arc<LiveStore>,
    pub engine: Engine,
    pub auth: Authenticator,
    pub metrics: Arc<Metrics>,
    /// Counters of the syslog listeners, when any runs.
    pub syslog_metrics: Option<Arc<ingest::syslog::SyslogMetrics>>,
    /// Taken by every writer of incidents and indicators in this process
    /// (the web UI, the rule scheduler, the intel refresher), so their
    /// Delta appends of new incident revisions never interleave.
    pub incident_writes: Arc<tokio::sync::Mutex<()>>,
    /// The web UI's per-process secrets.
    pub ui: crate::ui::UiState,
    /// Runs after a feed pull started from the web UI.
    pub after_pull: Option<crate::up::AfterPull>,
}

impl AppState {
    /// The context a background job or an [`crate::up::AfterPull`] hook
    /// gets, made from this state.
    pub fn job_context(&self) -> crate::up::JobContext {
        crate::up::JobContext {
            data_dir: self.data_dir.clone(),
            workspace: self.workspace.clone(),
            engine: self.engine.clone(),
            metrics: self.metrics.clone(),
            incident_writes: self.incident_writes.clone(),
        }
    }
}

/// The shared state as handlers receive it.
pub type Shared = Arc<AppState>;

/// Builds every route.
pub fn router(state: Shared) -> Router {
    // Compressed bodies are checked again after decompression.
    let body_limit = state.config.limits.max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/login", post(login))
        .route("/api/query", post(crate::query::api_query))
        .route("/api/incidents", get(crate::api::list_incidents))
        .route("/api/incidents/{number}", get(crate::api::show_incident))
        .route(
            "/api/incidents/{number}/{action}",
            post(crate::api::change_incident),
        )
        .route("/api/rules", get(crate::api::list_rules))
        .route(
            "/api/rules/{id}/{action}",
            post(crate::api::set_rule_enabled),
        )
        .route("/v1/rest/query", post(crate::query::kusto_v1))
        .route("/v2/rest/query", post(crate::query::kusto_v2))
        .route("/v1/rest/mgmt", post(crate::query::kusto_mgmt))
        .route(
            "/dataCollectionRules/{rule}/streams/{stream}",
            post(crate::logs_ingestion::upload),
        )
        .route("/", get(crate::bulk::info).head(crate::bulk::info_head))
        .route("/_bulk", post(crate::bulk::bulk).put(crate::bulk::bulk))
        .route(
            "/{index}/_bulk",
            post(crate::bulk::bulk_index).put(crate::bulk::bulk_index),
        )
        .merge(crate::ui::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = require(&state, &headers, address.ip(), Scope::Query) {
        return refusal;
    }
    let syslog = state
        .syslog_metrics
        .as_ref()
        .map(|metrics| metrics.snapshot())
        .unwrap_or_default();
    let text = state
        .metrics
        .render(state.live.stats(), state.live.memtable().rows(), &syslog);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[derive(serde::Deserialize)]
struct LoginRequest {
    user: String,
    password: String,
}

async fn login(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<LoginRequest>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "send {\"user\": \"...\", \"password\": \"...\"}",
        );
    };
    let auth_state = state.clone();
    let ip = address.ip();
    // Verifying a password takes tens of milliseconds of CPU.
    let outcome = tokio::task::spawn_blocking(move || {
        auth_state.auth.login(&request.user, &request.password, ip)
    })
    .await;
    match outcome {
        Ok(Ok((token, principal))) => axum::Json(json!({
            "token": token,
            "user": principal.name,
            "role": principal.role,
            "expiresInSeconds": crate::auth::SESSION_LIFETIME.as_secs(),
        }))
        .into_response(),
        Ok(Err(failure)) => auth_refusal(&state, failure),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal",
            "login failed",
        ),
    }
}

/// Checks the request's credential for `scope`. The error is the response
/// to send.
pub fn require(
    state: &AppState,
    headers: &HeaderMap,
    address: IpAddr,
    scope: Scope,
) -> Result<Principal, Response> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    // The first check of a key verifies an argon2 hash (tens of
    // milliseconds); later ones hit the cache.
    let principal = tokio::task::block_in_place(|| state.auth.authenticate(header, address))
        .map_err(|failure| auth_refusal(state, failure))?;
    if !principal.allows(scope) {
        tracing::warn!(principal = %principal.name, scope = ?scope, "request refused: missing scope");
        return Err(error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "this credential lacks the {scope:?} scope; create a key with `homesoc keys create --scopes {}`",
                format!("{scope:?}").to_lowercase()
            ),
        ));
    }
    Ok(principal)
}

fn auth_refusal(state: &AppState, failure: AuthFailure) -> Response {
    state
        .metrics
        .auth_failures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match failure {
        AuthFailure::Missing => error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "send an API key as `Authorization: Bearer <key>`",
        ),
        AuthFailure::Invalid => error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "the credential is wrong, revoked or expired",
        ),
        AuthFailure::Throttled(wait) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyFailures",
                &format!(
                    "too many failed attempts; retry in {} s",
                    wait.as_secs() + 1
                ),
            );
            if let Ok(value) = (wait.as_secs() + 1).to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

/// A JSON error in the shape Azure APIs use: `{"error": {"code", "message"}}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// Maps a store failure on append to the sender's response: 503 with
/// `Retry-After` when the sender should retry later.
pub fn store_failure(err: &store::StoreError) -> Response {
    use store::StoreError;
    let (status, code) = match err {
        StoreError::DiskFull { .. } => (StatusCode::SERVICE_UNAVAILABLE, "DiskFull"),
        StoreError::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, "Overloaded"),
        StoreError::Closed => (StatusCode::SERVICE_UNAVAILABLE, "ShuttingDown"),
        StoreError::InvalidBatch { .. } => (StatusCode::BAD_REQUEST, "InvalidBatch"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "StorageError"),
    };
    let mut response = error(status, code, &err.to_string());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    }
    response
}

/// The drop reason of a store failure, for metrics.
pub fn store_failure_reason(err: &store::StoreError) -> &'static str {
    match err {
        store::StoreError::DiskFull { .. } => "disk_full",
        store::StoreError::Overloaded { .. } => "overloaded",
        store::StoreError::Closed => "shutting_down",
        _ => "storage_error",
    }
}

/// Returns the body, gunzipped when `Content-Encoding: gzip`, refusing it
/// past `limit` bytes.
pub fn decoded_body(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Vec<u8>, Response> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            &format!("the body is larger than the limit of {limit} bytes; send smaller batches"),
        )
    };
    match encoding.as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(too_large());
            }
            Ok(body.to_vec())
        }
        "gzip" => {
            use std::io::Read as _;
            let mut out = Vec::with_capacity(body.len() * 4);
            let read = flate2::read::GzDecoder::new(&body[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out);
            match read {
                Ok(_) if out.len() > limit => Err(too_large()),
                Ok(_) => Ok(out),
                Err(err) => Err(error(
                    StatusCode::BAD_REQUEST,
                    "BadGzip",
                    &format!("the gzip body does not decompress: {err}"),
                )),
            }
        }
        other => Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedEncoding",
            &format!("Content-Encoding {other} is not supported; send gzip or no encoding"),
        )),
    }
}
