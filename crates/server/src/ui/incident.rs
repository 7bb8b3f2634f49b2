//! One incident: its alerts, entities with their threat-intelligence
//! matches, evidence rows, a timeline of the entities' events, comments,
//! and the analyst's actions (assign, change status, comment, close).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use detect::DetectError;
use detect::Detector;
use detect::entities::{Entity, merge_entities, parse_entities_json};
use detect::incident::{CLASSIFICATIONS, Incident, IncidentBook, IncidentStatus};
use serde::Deserialize;
use serde_json::Value;

use crate::app::{AppState, Shared};
use crate::rule_catalog::rule_names;
use crate::ui::data::{self, kql_string, now_ticks};
use crate::ui::html::{self, Nav, csrf_field, escape, notice, options, time};
use crate::ui::incidents::severity_class;
use crate::ui::session::{self, refusal, url_encode};
use crate::ui::table;

/// How far before and after the incident's activity the timeline reaches.
const TIMELINE_MARGIN_TICKS: i64 = 2 * 36_000_000_000;

/// The maximum number of timeline events shown.
const TIMELINE_ROWS: usize = 500;

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    done: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
    owner: Option<String>,
    status: Option<String>,
    classification: Option<String>,
    comment: Option<String>,
}

/// `GET /ui/incidents/{number}`.
pub async fn page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(number): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let number = match parse_number(&number) {
        Ok(number) => number,
        Err(refused) => return refused,
    };
    let path = format!("/ui/incidents/{number}");
    let session = match session::require(&state, &headers, &path) {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let incident = match read_incident(&state, number).await {
        Ok(Some(incident)) => incident,
        Ok(None) => {
            return refusal(
                StatusCode::NOT_FOUND,
                &format!("no incident number {number}; see the queue at /ui/incidents"),
            );
        }
        Err(err) => {
            tracing::error!(error = %err, number, "cannot read incidents");
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot read incidents: {err}"),
            );
        }
    };

    let mut body = format!(
        r#"<p><a href="/ui/incidents">Back to the queue</a></p><h1>Incident {number}: {title}</h1>"#,
        title = escape(&incident.title)
    );
    if let Some(done) = &query.done {
        body.push_str(&notice("ok", done));
    }
    if let Some(error) = &query.error {
        body.push_str(&notice("error", error));
    }
    let rule_names = rule_names(&state);
    body.push_str(&summary(&incident, &rule_names));
    if session.can_work_incidents() {
        body.push_str(&actions(&incident, &session));
    }

    let alerts = alerts(&state, &incident).await;
    let mut entities: Vec<Entity> = Vec::new();
    for alert in &alerts {
        merge_entities(&mut entities, parse_entities_json(&alert.entities));
    }
    body.push_str(&entities_section(&state, &entities).await);
    body.push_str(&alerts_section(&alerts));
    body.push_str(&timeline(&state, &incident, &entities).await);
    body.push_str(&comments(&incident));
    html::page(
        &session,
        Nav::Incidents,
        &format!("Incident {number}"),
        &body,
    )
}

async fn read_incident(state: &AppState, number: i64) -> Result<Option<Incident>, String> {
    let detector = Detector::open(state.engine.clone(), state.workspace.clone())
        .await
        .map_err(|err| err.to_string())?;
    Ok(detector.incidents().get(number).cloned())
}

/// Renders the incident's facts; `rule_names` maps rule ids to names
/// (a rule no longer loaded shows its id).
fn summary(incident: &Incident, rule_names: &BTreeMap<String, String>) -> String {
    let mut out = format!(
        r#"<dl class="facts" id="incident-facts"><dt>Status</dt><dd id="incident-status">{status}</dd><dt>Severity</dt><dd><span class="badge {class}">{severity}</span></dd><dt>Owner</dt><dd id="incident-owner">{owner}</dd><dt>Created</dt><dd>{created} UTC</dd><dt>Activity</dt><dd>{first} to {last} UTC</dd><dt>Tactics</dt><dd>{tactics}</dd><dt>Rules</dt><dd>{rules}</dd>"#,
        status = incident.status.as_str(),
        class = severity_class(incident.severity),
        severity = incident.severity.as_str(),
        owner = escape(incident.owner.as_deref().unwrap_or("unassigned")),
        created = time(incident.created_ticks),
        first = time(incident.first_activity_ticks),
        last = time(incident.last_activity_ticks),
        tactics = escape(&incident.tactics.join(", ")),
        rules = incident
            .rule_ids
            .iter()
            .map(|id| format!(
                r#"<a href="/ui/rules/{}">{}</a>"#,
                url_encode(id),
                escape(rule_names.get(id).map_or(id.as_str(), String::as_str))
            ))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if let Some(classification) = &incident.classification {
        let _ = write!(
            out,
            r#"<dt>Classification</dt><dd id="incident-classification">{} ({})</dd>"#,
            escape(classification),
            escape(incident.classification_comment.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</dl>");
    if !incident.description.is_empty() {
        let _ = write!(
            out,
            r#"<p class="description">{}</p>"#,
            escape(incident.description.trim())
        );
    }
    out
}

fn actions(incident: &Incident, session: &session::Session) -> String {
    let number = incident.number;
    let csrf = csrf_field(session);
    let statuses = [("New", "New"), ("Active", "Active")];
    let classifications: Vec<(&str, &str)> =
        CLASSIFICATIONS.iter().map(|name| (*name, *name)).collect();
    let close = if incident.status == IncidentStatus::Closed {
        String::new()
    } else {
        format!(
            r#"<form method="post" action="/ui/incidents/{number}/close" class="action" id="close-form">{csrf}
<h3>Close</h3><label for="classification">Classification</label><select id="classification" name="classification">{classes}</select>
<label for="close-comment">Reason</label><input id="close-comment" name="comment" required size="30">
<button type="submit">Close incident</button></form>"#,
            classes = options(&classifications, "TruePositive"),
        )
    };
    format!(
        r#"<section aria-labelledby="actions-heading" class="actions"><h2 id="actions-heading">Actions</h2><div class="action-row">
<form method="post" action="/ui/incidents/{number}/assign" class="action" id="assign-form">{csrf}
<h3>Assign</h3><label for="owner">Owner</label><input id="owner" name="owner" required value="{me}" size="16">
<button type="submit">Assign</button></form>
<form method="post" action="/ui/incidents/{number}/status" class="action" id="status-form">{csrf}
<h3>Status</h3><label for="status">New status</label><select id="status" name="status">{statuses}</select>
<button type="submit">Set status</button></form>
{close}
<form method="post" action="/ui/incidents/{number}/comment" class="action" id="comment-form">{csrf}
<h3>Comment</h3><label for="comment">Comment</label><input id="comment" name="comment" required size="30">
<button type="submit">Add comment</button></form>
</div></section>"#,
        me = escape(&session.principal.name),
        statuses = options(&statuses, "Active"),
    )
}

/// One alert of the incident, as the page shows it.
struct AlertView {
    time: String,
    name: String,
    severity: String,
    entities: String,
    evidence: Vec<Value>,
}

async fn alerts(state: &AppState, incident: &Incident) -> Vec<AlertView> {
    if incident.alert_ids.is_empty() {
        return Vec::new();
    }
    let ids: Vec<String> = incident.alert_ids.iter().map(|id| kql_string(id)).collect();
    let query = format!(
        "SecurityAlert | where SystemAlertId in ({}) | summarize arg_max(TimeGenerated, *) by SystemAlertId | project TimeGenerated, AlertName, AlertSeverity, Entities, ExtendedProperties | sort by TimeGenerated asc",
        ids.join(", ")
    );
    let rows = data::rows(state, &query).await;
    (0..rows.len())
        .map(|row| {
            let properties: Value =
                serde_json::from_str(&rows.text(row, "ExtendedProperties")).unwrap_or(Value::Null);
            let evidence = match properties.get("Evidence") {
                Some(Value::Array(items)) => items.clone(),
                Some(Value::String(text)) => match serde_json::from_str(text) {
                    Ok(Value::Array(items)) => items,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            AlertView {
                time: rows.text(row, "TimeGenerated"),
                name: rows.text(row, "AlertName"),
                severity: rows.text(row, "AlertSeverity"),
                entities: rows.text(row, "Entities"),
                evidence,
            }
        })
        .collect()
}

fn alerts_section(alerts: &[AlertView]) -> String {
    let mut out = format!(
        r#"<section aria-labelledby="alerts-heading"><h2 id="alerts-heading">Alerts ({})</h2>"#,
        alerts.len()
    );
    for alert in alerts {
        let _ = write!(
            out,
            r#"<article class="alert"><h3>{} <span class="muted">{} · {}</span></h3>"#,
            escape(&alert.name),
            escape(&alert.severity),
            escape(&alert.time)
        );
        if alert.evidence.is_empty() {
            out.push_str(r#"<p class="empty">This alert kept no evidence rows.</p>"#);
        } else {
            out.push_str(&table::objects("Evidence rows", &alert.evidence));
        }
        out.push_str("</article>");
    }
    out.push_str("</section>");
    out
}

/// Renders the entities; each IP entity gets its threat-intelligence
/// matches.
async fn entities_section(state: &AppState, entities: &[Entity]) -> String {
    let indicators = if entities.iter().any(|e| e.json_type == "ip") {
        match intel::stored::latest_indicators(&state.workspace).await {
            Ok(indicators) => indicators,
            Err(err) => {
                tracing::error!(error = %err, "cannot read indicators");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let now = now_ticks();
    let mut out = String::from(
        r#"<section aria-labelledby="entities-heading"><h2 id="entities-heading">Entities</h2>"#,
    );
    if entities.is_empty() {
        out.push_str(r#"<p class="empty">The alerts name no entities.</p></section>"#);
        return out;
    }
    out.push_str(r#"<ul class="entities" id="entity-list">"#);
    for entity in entities {
        let label = entity_label(entity);
        let _ = write!(
            out,
            r#"<li><span class="badge">{}</span> {}"#,
            escape(entity.json_type),
            escape(&label)
        );
        if entity.json_type == "ip" {
            let matches = intel::matching::lookup(&indicators, &label);
            if matches.is_empty() {
                out.push_str(r#" <span class="muted">no threat-intel match</span>"#);
            } else {
                out.push_str(r#"<ul class="ti-matches">"#);
                for found in matches {
                    let indicator = &found.indicator;
                    let state_text = if indicator.is_current(now) {
                        "active"
                    } else {
                        "inactive or expired"
                    };
                    let _ = write!(
                        out,
                        r#"<li class="ti-match">Threat intel: {source}, confidence {confidence}, {threat}, {state_text} <a href="/ui/intel?value={value}">details</a></li>"#,
                        source = escape(&indicator.source_system),
                        confidence = indicator.confidence,
                        threat = escape(&indicator.threat_type),
                        value = url_encode(&label),
                    );
                }
                out.push_str("</ul>");
            }
        }
        out.push_str("</li>");
    }
    out.push_str("</ul></section>");
    out
}

/// Returns the text that names an entity: the address of an IP, the host or
/// account name with its domain, or its first identifier.
fn entity_label(entity: &Entity) -> String {
    match entity.json_type {
        "ip" => entity.identifier("Address").unwrap_or_default().to_string(),
        "host" => match (
            entity.identifier("HostName"),
            entity.identifier("DnsDomain"),
        ) {
            (Some(host), Some(domain)) => format!("{host}.{domain}"),
            (Some(host), None) => host.to_string(),
            _ => first_identifier(entity),
        },
        "account" => match (entity.identifier("Name"), entity.identifier("NTDomain")) {
            (Some(name), Some(domain)) => format!("{domain}\\{name}"),
            (Some(name), None) => name.to_string(),
            _ => first_identifier(entity),
        },
        _ => first_identifier(entity),
    }
}

fn first_identifier(entity: &Entity) -> String {
    entity
        .identifiers
        .first()
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

async fn timeline(state: &AppState, incident: &Incident, entities: &[Entity]) -> String {
    let mut ips = Vec::new();
    let mut hosts = Vec::new();
    let mut accounts = Vec::new();
    for entity in entities {
        match entity.json_type {
            "ip" => ips.extend(entity.identifier("Address").map(kql_string)),
            "host" => hosts.push(kql_string(&entity_label(entity))),
            "account" => accounts.extend(entity.identifier("Name").map(kql_string)),
            _ => {}
        }
    }
    let mut out = String::from(
        r#"<section aria-labelledby="timeline-heading"><h2 id="timeline-heading">Timeline of the entities' events</h2>"#,
    );
    if ips.is_empty() && hosts.is_empty() && accounts.is_empty() {
        out.push_str(r#"<p class="empty">No IP, host or account entity to follow.</p></section>"#);
        return out;
    }
    let start =
        engine::time::format_datetime_iso(incident.first_activity_ticks - TIMELINE_MARGIN_TICKS);
    let end =
        engine::time::format_datetime_iso(incident.last_activity_ticks + TIMELINE_MARGIN_TICKS);

    // A host has many background events, so a host match selects only
    // security-relevant events, without service logons and SYSTEM's
    // process creations. IPs and accounts select every event.
    let mut conditions = Vec::new();
    if !ips.is_empty() {
        conditions.push(format!("IpAddress in ({})", ips.join(", ")));
    }
    if !accounts.is_empty() {
        let list = accounts.join(", ");
        conditions.push(format!(
            "TargetUserName in~ ({list}) or SubjectUserName in~ ({list})"
        ));
    }
    if !hosts.is_empty() {
        conditions.push(format!(
            "(Computer in~ ({}) and EventID in (4624, 4688, 4697, 4720, 4732, 1102) and (EventID != 4624 or LogonType != 5) and (EventID != 4688 or SubjectUserName !~ \"SYSTEM\"))",
            hosts.join(", ")
        ));
    }
    let security_events = format!(
        "SecurityEvent | where TimeGenerated between (datetime({start}) .. datetime({end})) \
         | where {} \
         | project TimeGenerated, Computer, EventID, Activity, Account, IpAddress, CommandLine",
        conditions.join(" or ")
    );
    let query = if hosts.is_empty() {
        format!(
            "{security_events} | sort by TimeGenerated desc | take {TIMELINE_ROWS} | sort by TimeGenerated asc"
        )
    } else {
        format!(
            "union ({security_events}), \
             (Event | where TimeGenerated between (datetime({start}) .. datetime({end})) and Computer in~ ({hosts}) and EventID in (7045, 104) \
             | project TimeGenerated, Computer, EventID, Activity = strcat(Source, \" \", EventID), Account = UserName, IpAddress = \"\", CommandLine = \"\") \
             | sort by TimeGenerated desc | take {TIMELINE_ROWS} | sort by TimeGenerated asc",
            hosts = hosts.join(", ")
        )
    };
    let rows = data::rows(state, &query).await;
    let _ = write!(
        out,
        r#"<p class="hint">Events from {start} to {end} that name the incident's entities (the latest {TIMELINE_ROWS} at most).</p>"#
    );
    out.push_str(&table::grid("Timeline", &rows.columns, &rows.rows));
    out.push_str("</section>");
    out
}

fn comments(incident: &Incident) -> String {
    let mut out = String::from(
        r#"<section aria-labelledby="comments-heading"><h2 id="comments-heading">Comments</h2><ul class="comments" id="comment-list">"#,
    );
    if incident.comments.is_empty() {
        out.push_str(r#"<li class="empty">No comments yet.</li>"#);
    }
    for comment in &incident.comments {
        let _ = write!(
            out,
            r#"<li><span class="muted">{} UTC, {}:</span> {}</li>"#,
            time(comment.created_ticks),
            escape(&comment.author),
            escape(&comment.message)
        );
    }
    out.push_str("</ul></section>");
    out
}

/// One analyst action on the incident book, returning the message to show.
type Change = Box<dyn FnOnce(&mut IncidentBook) -> Result<String, DetectError> + Send>;

/// Parses the incident number of a page address.
fn parse_number(text: &str) -> Result<i64, Response> {
    text.parse::<i64>().map_err(|_| {
        refusal(
            StatusCode::NOT_FOUND,
            &format!("invalid incident number `{text}`: incident numbers are whole numbers; see the queue at /ui/incidents"),
        )
    })
}

/// `POST /ui/incidents/{number}/{action}`: assign, status, comment or close.
pub async fn act(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((number, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let session = match session::require_post(&state, &headers, form.csrf.as_deref()) {
        Ok(session) => session,
        Err(refusal) => return refusal,
    };
    let number = match parse_number(&number) {
        Ok(number) => number,
        Err(refused) => return refused,
    };
    if !session.can_work_incidents() {
        return refusal(
            StatusCode::FORBIDDEN,
            "readers cannot change incidents; ask an admin for the analyst role",
        );
    }
    let user = session.principal.name.clone();
    let now = now_ticks();
    let text = |value: &Option<String>| value.as_deref().unwrap_or("").trim().to_string();

    let change: Change = match action.as_str() {
        "assign" => {
            let owner = text(&form.owner);
            if owner.is_empty() {
                return back(number, Err("enter the owner's user name".into()));
            }
            Box::new(move |book: &mut IncidentBook| {
                book.assign(number, &owner, &user, now)
                    .map(|_| format!("Assigned to {owner}."))
            })
        }
        "status" => {
            let status_text = text(&form.status);
            let Some(status) = IncidentStatus::parse(&status_text) else {
                return back(
                    number,
                    Err(format!("invalid status `{status_text}`: use New or Active")),
                );
            };
            Box::new(move |book: &mut IncidentBook| {
                book.set_status(number, status, &user, now)
                    .map(|_| format!("Status set to {}.", status.as_str()))
            })
        }
        "comment" => {
            let comment = text(&form.comment);
            if comment.is_empty() {
                return back(number, Err("enter a comment".into()));
            }
            Box::new(move |book: &mut IncidentBook| {
                book.comment(number, &comment, &user, now)
                    .map(|_| "Comment added.".to_string())
            })
        }
        "close" => {
            let classification = text(&form.classification);
            let comment = text(&form.comment);
            Box::new(move |book: &mut IncidentBook| {
                book.close(number, &classification, &comment, &user, now)
                    .map(|incident| {
                        format!(
                            "Closed as {}.",
                            incident.classification.as_deref().unwrap_or("")
                        )
                    })
            })
        }
        other => {
            return refusal(
                StatusCode::NOT_FOUND,
                &format!("unknown incident action `{other}`: use assign, status, comment or close"),
            );
        }
    };

    let outcome = write_change(&state, number, change).await;
    if let Err(message) = &outcome {
        tracing::warn!(number, action = %action, error = %message, "incident change failed");
    } else {
        tracing::info!(number, action = %action, user = %session.principal.name, "incident changed");
    }
    back(number, outcome)
}

/// Applies one change and appends the incident's new row.
async fn write_change(state: &AppState, number: i64, change: Change) -> Result<String, String> {
    crate::incident_change::apply(state, number, change)
        .await
        .map(|(message, _)| message)
        .map_err(|failure| failure.to_string())
}

fn back(number: i64, outcome: Result<String, String>) -> Response {
    let query = match outcome {
        Ok(message) => format!("done={}", url_encode(&message)),
        Err(message) => format!("error={}", url_encode(&message)),
    };
    Redirect::to(&format!("/ui/incidents/{number}?{query}")).into_response()
}
