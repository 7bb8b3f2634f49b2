//! The incident queue: filters, sort and paging over the current state of
//! every incident.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use detect::Detector;
use detect::incident::{Incident, IncidentStatus};
use detect::rule::Severity;
use serde::Deserialize;

use crate::app::{AppState, Shared};
use crate::rule_catalog::rule_names;
use crate::ui::data::now_ticks;
use crate::ui::html::{self, Nav, escape, options, time};
use crate::ui::session::{self, refusal, url_encode};

/// Incidents per page of the queue.
const PAGE_SIZE: usize = 25;

const TICKS_PER_HOUR: i64 = 36_000_000_000;

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    owner: String,
    /// `24h`, `7d`, `30d` or empty for any creation time.
    #[serde(default)]
    created: String,
    /// A text the rule id or incident title contains.
    #[serde(default)]
    rule: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: Option<String>,
    /// Incidents per page: 1 to 100, 25 when empty.
    #[serde(default)]
    per: String,
}

/// Page sizes the queue's form offers.
const PAGE_SIZES: [(&str, &str); 4] = [("10", "10"), ("", "25"), ("50", "50"), ("100", "100")];

/// Renders the page size choices, with a size given in the address that
/// the list lacks (such as `per=2`) added, so that Apply keeps it.
fn page_size_options(per: &str) -> String {
    let mut sizes: Vec<(&str, &str)> = PAGE_SIZES.to_vec();
    if !sizes.iter().any(|(value, _)| *value == per) && page_size(per).is_ok() {
        sizes.insert(0, (per, per));
    }
    options(&sizes, per)
}

/// Returns the page size of a `per` parameter: 1 to 100, 25 when empty.
fn page_size(per: &str) -> Result<usize, String> {
    match per {
        "" => Ok(PAGE_SIZE),
        text => match text.parse::<usize>() {
            Ok(size) if (1..=100).contains(&size) => Ok(size),
            _ => Err(format!(
                "invalid page size `{text}`: use a number from 1 to 100"
            )),
        },
    }
}

/// Reads the current state of every incident.
pub async fn read_incidents(state: &AppState) -> Result<Vec<Incident>, String> {
    let detector = Detector::open(state.engine.clone(), state.workspace.clone())
        .await
        .map_err(|err| err.to_string())?;
    Ok(detector.incidents().incidents().cloned().collect())
}

fn created_since(filter: &str) -> Option<i64> {
    let hours = match filter {
        "1h" => 1,
        "24h" => 24,
        "7d" => 7 * 24,
        "30d" => 30 * 24,
        _ => return None,
    };
    Some(now_ticks() - hours * TICKS_PER_HOUR)
}

/// Checks the filter values that come from a fixed list, so that a
/// mistyped one in an address is an error rather than an empty filter.
fn check_filters(query: &QueueQuery) -> Result<(), String> {
    if !query.status.is_empty()
        && query.status != "Open"
        && IncidentStatus::parse(&query.status).is_none()
    {
        return Err(format!(
            "invalid status `{}`: use Open, New, Active or Closed",
            query.status
        ));
    }
    if !query.severity.is_empty() && Severity::parse(&query.severity).is_none() {
        return Err(format!(
            "invalid severity `{}`: use High, Medium, Low or Informational",
            query.severity
        ));
    }
    if !query.created.is_empty() && created_since(&query.created).is_none() {
        return Err(format!(
            "invalid created filter `{}`: use 1h, 24h, 7d or 30d",
            query.created
        ));
    }
    if !matches!(query.sort.as_str(), "" | "oldest" | "severity" | "activity") {
        return Err(format!(
            "invalid sort `{}`: use oldest, severity or activity, or leave it out for newest first",
            query.sort
        ));
    }
    Ok(())
}

/// True when the incident passes every filter of `query`. The rule filter
/// matches a rule id, a rule name (`rule_names` maps ids to names) or the
/// incident title.
fn matches(incident: &Incident, query: &QueueQuery, rule_names: &BTreeMap<String, String>) -> bool {
    if !query.status.is_empty() {
        let open = query.status == "Open";
        let wanted = IncidentStatus::parse(&query.status);
        let status_matches = if open {
            incident.status != IncidentStatus::Closed
        } else {
            wanted == Some(incident.status)
        };
        if !status_matches {
            return false;
        }
    }
    if !query.severity.is_empty() && Severity::parse(&query.severity) != Some(incident.severity) {
        return false;
    }
    let owner = query.owner.trim();
    if owner == "-" && incident.owner.is_some() {
        return false;
    }
    if !owner.is_empty()
        && owner != "-"
        && !incident
            .owner
            .as_deref()
            .is_some_and(|name| name.eq_ignore_ascii_case(owner))
    {
        return false;
    }
    if let Some(since) = created_since(&query.created)
        && incident.created_ticks < since
    {
        return false;
    }
    let rule = query.rule.trim().to_ascii_lowercase();
    if !rule.is_empty()
        && !incident.rule_ids.iter().any(|id| {
            id.to_ascii_lowercase().contains(&rule)
                || rule_names
                    .get(id)
                    .is_some_and(|name| name.to_ascii_lowercase().contains(&rule))
        })
        && !incident.title.to_ascii_lowercase().contains(&rule)
    {
        return false;
    }
    true
}

fn sort(incidents: &mut [Incident], key: &str) {
    match key {
        "severity" => incidents.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.created_ticks.cmp(&a.created_ticks))
        }),
        "oldest" => incidents.sort_by_key(|incident| (incident.created_ticks, incident.number)),
        "activity" => {
            incidents.sort_by_key(|incident| std::cmp::Reverse(incident.last_activity_ticks))
        }
        _ => incidents.sort_by(|a, b| {
            b.created_ticks
                .cmp(&a.created_ticks)
                .then(b.number.cmp(&a.number))
        }),
    }
}

/// `GET /ui/incidents`: the queue.
pub async fn page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<QueueQuery>,
) -> Response {
    let session = match session::require(&state, &headers, "/ui/incidents") {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    if let Err(message) = check_filters(&query) {
        return refusal(StatusCode::BAD_REQUEST, &message);
    }
    let incidents = match read_incidents(&state).await {
        Ok(incidents) => incidents,
        Err(err) => {
            tracing::error!(error = %err, "cannot read incidents");
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot read incidents: {err}"),
            );
        }
    };
    let rule_names = rule_names(&state);
    let mut selected: Vec<Incident> = incidents
        .into_iter()
        .filter(|incident| matches(incident, &query, &rule_names))
        .collect();
    sort(&mut selected, &query.sort);

    let size = match page_size(&query.per) {
        Ok(size) => size,
        Err(message) => return refusal(StatusCode::BAD_REQUEST, &message),
    };
    let total = selected.len();
    let pages = total.div_ceil(size).max(1);
    let page = match html::page_number(query.page.as_deref()) {
        Ok(page) => page.clamp(1, pages),
        Err(message) => return refusal(StatusCode::BAD_REQUEST, &message),
    };
    let shown = &selected[(page - 1) * size..(page * size).min(total)];

    let mut body = String::from("<h1>Incidents</h1>");
    body.push_str(&filter_form(&query));
    let _ = write!(
        body,
        r#"<p class="count" id="incident-count">{} {}.</p>"#,
        html::counted(total as u64, "incident"),
        if total == 1 { "matches" } else { "match" }
    );
    body.push_str(&queue_table(shown));
    body.push_str(&pager(&query, page, pages));
    html::page(&session, Nav::Incidents, "Incidents", &body)
}

fn filter_form(query: &QueueQuery) -> String {
    let statuses = [
        ("", "Any"),
        ("Open", "Open (New or Active)"),
        ("New", "New"),
        ("Active", "Active"),
        ("Closed", "Closed"),
    ];
    let severities = [
        ("", "Any"),
        ("High", "High"),
        ("Medium", "Medium"),
        ("Low", "Low"),
        ("Informational", "Informational"),
    ];
    let created = [
        ("", "Any time"),
        ("1h", "Last hour"),
        ("24h", "Last 24 hours"),
        ("7d", "Last 7 days"),
        ("30d", "Last 30 days"),
    ];
    let sorts = [
        ("", "Newest first"),
        ("oldest", "Oldest first"),
        ("severity", "Severity"),
        ("activity", "Last activity"),
    ];
    format!(
        r#"<form method="get" action="/ui/incidents" class="filters" aria-label="Filter incidents">
<label>Status <select name="status">{status}</select></label>
<label>Severity <select name="severity">{severity}</select></label>
<label>Owner <input name="owner" value="{owner}" placeholder="user, or - for none" size="14"></label>
<label>Created <select name="created">{created}</select></label>
<label>Rule <input name="rule" value="{rule}" placeholder="rule name or id, or title" size="16"></label>
<label>Sort <select name="sort">{sort}</select></label>
<label>Per page <select name="per">{per}</select></label>
<button type="submit">Apply</button></form>"#,
        status = options(&statuses, &query.status),
        severity = options(&severities, &query.severity),
        owner = escape(&query.owner),
        created = options(&created, &query.created),
        rule = escape(&query.rule),
        sort = options(&sorts, &query.sort),
        per = page_size_options(&query.per),
    )
}

/// Returns the CSS class of a severity badge.
pub fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::High => "sev-high",
        Severity::Medium => "sev-medium",
        Severity::Low => "sev-low",
        Severity::Informational => "sev-info",
    }
}

fn queue_table(incidents: &[Incident]) -> String {
    if incidents.is_empty() {
        return r#"<p class="empty">No incidents match these filters.</p>"#.to_string();
    }
    let mut out = String::from(
        r#"<table class="grid queue" id="incident-queue"><caption>Incident queue</caption><thead><tr><th scope="col">#</th><th scope="col">Title</th><th scope="col">Severity</th><th scope="col">Status</th><th scope="col">Owner</th><th scope="col">Alerts</th><th scope="col">Created (UTC)</th><th scope="col">Last activity (UTC)</th></tr></thead><tbody>"#,
    );
    for incident in incidents {
        let _ = write!(
            out,
            r#"<tr><td>{number}</td><td><a href="/ui/incidents/{number}">{title}</a></td><td><span class="badge {class}">{severity}</span></td><td>{status}</td><td>{owner}</td><td>{alerts}</td><td>{created}</td><td>{activity}</td></tr>"#,
            number = incident.number,
            title = escape(&incident.title),
            class = severity_class(incident.severity),
            severity = incident.severity.as_str(),
            status = incident.status.as_str(),
            owner = escape(incident.owner.as_deref().unwrap_or("-")),
            alerts = incident.alert_ids.len(),
            created = time(incident.created_ticks),
            activity = time(incident.last_activity_ticks),
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn pager(query: &QueueQuery, page: usize, pages: usize) -> String {
    if pages <= 1 {
        return String::new();
    }
    let link = |target: usize| {
        format!(
            "/ui/incidents?status={}&severity={}&owner={}&created={}&rule={}&sort={}&per={}&page={target}",
            url_encode(&query.status),
            url_encode(&query.severity),
            url_encode(&query.owner),
            url_encode(&query.created),
            url_encode(&query.rule),
            url_encode(&query.sort),
            url_encode(&query.per),
        )
    };
    let mut out = String::from(r#"<nav class="pager" aria-label="Pages">"#);
    if page > 1 {
        let _ = write!(out, r#"<a href="{}">Previous</a>"#, escape(&link(page - 1)));
    }
    let _ = write!(out, "<span>Page {page} of {pages}</span>");
    if page < pages {
        let _ = write!(out, r#"<a href="{}">Next</a>"#, escape(&link(page + 1)));
    }
    out.push_str("</nav>");
    out
}
