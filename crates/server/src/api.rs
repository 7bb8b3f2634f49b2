//! JSON endpoints for the incident and rule operations of the command
//! line, for scripts and SOAR tools:
//!
//! | method | path | scope and role |
//! | --- | --- | --- |
//! | GET | `/api/incidents?status=New` | query |
//! | GET | `/api/incidents/{number}` | query |
//! | POST | `/api/incidents/{number}/{assign,comment,status,severity,tag,close}` | query, analyst role |
//! | GET | `/api/rules` | query |
//! | POST | `/api/rules/{id}/{enable,disable}` | admin |
//!
//! A change writes a new `SecurityIncident` row attributed to the caller,
//! under the same lock as the web UI and the rule scheduler.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use detect::incident::{IncidentBook, IncidentStatus, incident_json};
use detect::rule::Severity;
use detect::{DetectError, Detector, RuleStates};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::{Shared, error, require};
use crate::auth::{Principal, Role, Scope};
use crate::incident_change::ChangeFailure;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

/// The body of an incident change; each action reads the fields it needs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    owner: Option<String>,
    comment: Option<String>,
    status: Option<String>,
    severity: Option<String>,
    tag: Option<String>,
    classification: Option<String>,
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn not_found(message: &str) -> Response {
    error(StatusCode::NOT_FOUND, "NotFound", message)
}

fn internal(err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "API request failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal",
        &err.to_string(),
    )
}

async fn open_detector(state: &Shared) -> Result<Detector, Response> {
    Detector::open(state.engine.clone(), state.workspace.clone())
        .await
        .map_err(internal)
}

/// `GET /api/incidents`: every incident's current state, newest first.
pub async fn list_incidents(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Err(refusal) = require(&state, &headers, address.ip(), Scope::Query) {
        return refusal;
    }
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => match IncidentStatus::parse(text) {
            Some(status) => Some(status),
            None => {
                return bad_request(&format!(
                    "invalid status `{text}`: use New, Active or Closed"
                ));
            }
        },
    };
    let detector = match open_detector(&state).await {
        Ok(detector) => detector,
        Err(refusal) => return refusal,
    };
    let mut incidents: Vec<Value> = detector
        .incidents()
        .incidents()
        .filter(|incident| status.is_none_or(|status| incident.status == status))
        .map(incident_json)
        .collect();
    incidents.reverse();
    Json(Value::Array(incidents)).into_response()
}

/// `GET /api/incidents/{number}`: one incident with its comments.
pub async fn show_incident(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(number): Path<i64>,
) -> Response {
    if let Err(refusal) = require(&state, &headers, address.ip(), Scope::Query) {
        return refusal;
    }
    let detector = match open_detector(&state).await {
        Ok(detector) => detector,
        Err(refusal) => return refusal,
    };
    match detector.incidents().get(number) {
        Some(incident) => Json(incident_json(incident)).into_response(),
        None => not_found(&format!(
            "no incident number {number}; list them with GET /api/incidents"
        )),
    }
}

/// A change to one incident, applied to the incident book.
type Change = Box<dyn FnOnce(&mut IncidentBook) -> Result<(), DetectError> + Send>;

/// Builds the change that `action` requests from the request body.
fn change_for(
    action: &str,
    number: i64,
    request: ChangeRequest,
    user: String,
    now: i64,
) -> Result<Change, Response> {
    let field = |value: Option<String>, name: &str| {
        value
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
            .ok_or_else(|| bad_request(&format!("the {action} action needs a non-empty `{name}`")))
    };
    let change: Change = match action {
        "assign" => {
            let owner = field(request.owner, "owner")?;
            Box::new(move |book| book.assign(number, &owner, &user, now).map(drop))
        }
        "comment" => {
            let comment = field(request.comment, "comment")?;
            Box::new(move |book| book.comment(number, &comment, &user, now).map(drop))
        }
        "status" => {
            let text = field(request.status, "status")?;
            let status = IncidentStatus::parse(&text)
                .filter(|status| *status != IncidentStatus::Closed)
                .ok_or_else(|| {
                    bad_request(&format!(
                        "invalid status `{text}`: use New or Active (close with the close action)"
                    ))
                })?;
            Box::new(move |book| book.set_status(number, status, &user, now).map(drop))
        }
        "severity" => {
            let text = field(request.severity, "severity")?;
            let severity = Severity::parse(&text).ok_or_else(|| {
                bad_request(&format!(
                    "invalid severity `{text}`: use Informational, Low, Medium or High"
                ))
            })?;
            Box::new(move |book| book.set_severity(number, severity, &user, now).map(drop))
        }
        "tag" => {
            let tag = field(request.tag, "tag")?;
            Box::new(move |book| book.tag(number, &tag, &user, now).map(drop))
        }
        "close" => {
            let classification = field(request.classification, "classification")?;
            let comment = field(request.comment, "comment")?;
            Box::new(move |book| {
                book.close(number, &classification, &comment, &user, now)
                    .map(drop)
            })
        }
        other => {
            return Err(not_found(&format!(
                "unknown incident action `{other}`: use assign, comment, status, severity, tag or close"
            )));
        }
    };
    Ok(change)
}

/// `POST /api/incidents/{number}/{action}`: changes the incident and
/// returns its new state.
pub async fn change_incident(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((number, action)): Path<(i64, String)>,
    body: Bytes,
) -> Response {
    let principal = match require(&state, &headers, address.ip(), Scope::Query) {
        Ok(principal) => principal,
        Err(refusal) => return refusal,
    };
    if principal.role < Role::Analyst {
        return error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "changing incidents needs the analyst or admin role; create a key with `homesoc keys create --scopes query --role analyst`",
        );
    }
    let request: ChangeRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return bad_request(&format!(
                "the body is not a valid change: {err}; send JSON such as {{\"owner\": \"alice\"}}"
            ));
        }
    };
    let now = engine::time::ticks_from_datetime(chrono::Utc::now());
    let change = match change_for(&action, number, request, principal.name.clone(), now) {
        Ok(change) => change,
        Err(refusal) => return refusal,
    };
    apply_change(&state, &principal, number, &action, change).await
}

async fn apply_change(
    state: &Shared,
    principal: &Principal,
    number: i64,
    action: &str,
    change: Change,
) -> Response {
    match crate::incident_change::apply(state, number, change).await {
        Ok(((), incident)) => {
            tracing::info!(number, action, user = %principal.name, "incident changed through the API");
            Json(incident_json(&incident)).into_response()
        }
        Err(ChangeFailure::NotFound(_)) => not_found(&format!(
            "no incident number {number}; list them with GET /api/incidents"
        )),
        Err(ChangeFailure::Refused(err)) => bad_request(&err.to_string()),
        Err(ChangeFailure::Store(err)) => internal(err),
    }
}

/// `GET /api/rules`: every rule with its state and last scheduled run.
pub async fn list_rules(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = require(&state, &headers, address.ip(), Scope::Query) {
        return refusal;
    }
    let states = match RuleStates::load(&state.data_dir) {
        Ok(states) => states,
        Err(err) => return internal(err),
    };
    let last_runs: BTreeMap<String, crate::rule_catalog::LastRun> =
        crate::rule_catalog::last_runs(&state).await;
    let rules: Vec<Value> = crate::rule_catalog::load_rules(&state)
        .iter()
        .map(|rule| {
            let last_run = last_runs.get(&rule.id).map(|run| {
                json!({
                    "time": run.time,
                    "status": run.status,
                    "error": run.error,
                    "alerts": run.alerts,
                })
            });
            json!({
                "id": rule.id,
                "name": rule.name,
                "kind": rule.kind.as_str(),
                "severity": rule.severity.as_str(),
                "enabled": states.is_enabled(&rule.id),
                "tactics": rule.tactics,
                "lastRun": last_run,
            })
        })
        .collect();
    Json(Value::Array(rules)).into_response()
}

/// `POST /api/rules/{id}/{enable,disable}`: changes whether the scheduler
/// runs the rule.
pub async fn set_rule_enabled(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let principal = match require(&state, &headers, address.ip(), Scope::Admin) {
        Ok(principal) => principal,
        Err(refusal) => return refusal,
    };
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        other => {
            return not_found(&format!(
                "unknown rule action `{other}`: use enable or disable"
            ));
        }
    };
    if !crate::rule_catalog::load_rules(&state)
        .iter()
        .any(|rule| rule.id == id)
    {
        return not_found(&format!(
            "no rule with id {id}; list them with GET /api/rules"
        ));
    }
    let mut states = match RuleStates::load(&state.data_dir) {
        Ok(states) => states,
        Err(err) => return internal(err),
    };
    states.set_enabled(&id, enabled);
    if let Err(err) = states.save() {
        return internal(err);
    }
    tracing::info!(rule_id = %id, enabled, user = %principal.name, "rule state changed through the API");
    Json(json!({"id": id, "enabled": enabled})).into_response()
}
