//! The overview: events per hour per table, failed logons by source
//! address, open incidents by severity, and the health of rules and feeds.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use detect::RuleStates;
use detect::incident::IncidentStatus;
use detect::rule::Severity;

use crate::app::{AppState, Shared};
use crate::ui::chart::{self, Series};
use crate::ui::data;
use crate::ui::html::{self, Nav, escape};
use crate::ui::incidents::{read_incidents, severity_class};
use crate::ui::session::{self, url_encode};

/// The event tables the hourly chart counts.
const EVENT_TABLES: [&str; 4] = ["SecurityEvent", "Event", "Syslog", "CommonSecurityLog"];

/// `GET /ui`: the overview.
pub async fn page(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let session = match session::require(&state, &headers, "/ui") {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let mut body = String::from("<h1>Overview</h1>");
    body.push_str(&events_per_hour(&state).await);
    body.push_str(r#"<div class="columns">"#);
    body.push_str(&open_incidents(&state).await);
    body.push_str(&failed_logons(&state).await);
    body.push_str("</div>");
    body.push_str(&rule_health(&state).await);
    body.push_str(&feed_health(&state).await);
    html::page(&session, Nav::Overview, "Overview", &body)
}

async fn events_per_hour(state: &AppState) -> String {
    let mut series: Vec<Series> = Vec::new();
    for table in EVENT_TABLES {
        let rows = data::rows(
            state,
            &format!(
                "{table} | where TimeGenerated > ago(24h) | summarize Events = count() by Hour = bin(TimeGenerated, 1h)"
            ),
        )
        .await;
        let points: Vec<(i64, f64)> = (0..rows.len())
            .filter_map(|row| {
                let ticks = engine::time::parse_datetime(&rows.text(row, "Hour"))?;
                Some((ticks, rows.number(row, "Events")))
            })
            .collect();
        if !points.is_empty() {
            series.push((table.to_string(), points));
        }
    }
    let mut out = String::from(
        r#"<section aria-labelledby="events-heading"><h2 id="events-heading">Events per hour, last 24 hours</h2>"#,
    );
    if series.is_empty() {
        out.push_str(r#"<p class="empty">No events in the last 24 hours.</p>"#);
    } else {
        out.push_str(&chart::time_chart("Events per hour per table", &series));
    }
    out.push_str("</section>");
    out
}

async fn open_incidents(state: &AppState) -> String {
    let mut out = String::from(
        r#"<section aria-labelledby="open-heading"><h2 id="open-heading">Open incidents by severity</h2>"#,
    );
    let incidents = match read_incidents(state).await {
        Ok(incidents) => incidents,
        Err(err) => {
            out.push_str(&html::notice(
                "error",
                &format!("cannot read incidents: {err}"),
            ));
            out.push_str("</section>");
            return out;
        }
    };
    let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
    for incident in &incidents {
        if incident.status != IncidentStatus::Closed {
            *counts.entry(incident.severity).or_default() += 1;
        }
    }
    out.push_str(r#"<ul class="severity-counts" id="open-incidents">"#);
    for severity in [
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Informational,
    ] {
        let _ = write!(
            out,
            r#"<li><a href="/ui/incidents?status=Open&severity={name}"><span class="badge {class}">{name}</span> <strong>{count}</strong></a></li>"#,
            name = severity.as_str(),
            class = severity_class(severity),
            count = counts.get(&severity).copied().unwrap_or(0),
        );
    }
    out.push_str("</ul></section>");
    out
}

async fn failed_logons(state: &AppState) -> String {
    let rows = data::rows(
        state,
        r#"SecurityEvent | where TimeGenerated > ago(24h) and EventID == 4625 and isnotempty(IpAddress) and IpAddress != "-" | summarize Failures = count() by IpAddress | top 10 by Failures"#,
    )
    .await;
    let mut out = String::from(
        r#"<section aria-labelledby="failed-heading"><h2 id="failed-heading">Failed logons by source address, top 10</h2>"#,
    );
    if rows.is_empty() {
        out.push_str(r#"<p class="empty">No failed logons in the last 24 hours.</p></section>"#);
        return out;
    }
    let items: Vec<(String, f64)> = (0..rows.len())
        .map(|row| (rows.text(row, "IpAddress"), rows.number(row, "Failures")))
        .collect();
    out.push_str(&chart::column_chart(
        "Failed logons by source address",
        &items,
    ));
    out.push_str(r#"<ol class="top-list">"#);
    for (address, failures) in &items {
        let query = format!(
            "SecurityEvent | where EventID == 4625 and IpAddress == {} | sort by TimeGenerated desc",
            data::kql_string(address)
        );
        let _ = write!(
            out,
            r#"<li><a href="/ui/logs?q={}">{}</a>: {}</li>"#,
            url_encode(&query),
            escape(address),
            failures
        );
    }
    out.push_str("</ol></section>");
    out
}

async fn rule_health(state: &AppState) -> String {
    let rules = crate::rule_catalog::load_rules(state);
    let states = RuleStates::load(&state.data_dir).ok();
    let runs = crate::rule_catalog::last_runs(state).await;
    let mut out = String::from(
        r#"<section aria-labelledby="rule-health-heading"><h2 id="rule-health-heading">Rule health</h2><table class="grid"><caption>Last run of each rule</caption><thead><tr><th scope="col">Rule</th><th scope="col">State</th><th scope="col">Last run (UTC)</th><th scope="col">Outcome</th></tr></thead><tbody>"#,
    );
    for rule in &rules {
        let enabled = states
            .as_ref()
            .is_none_or(|states| states.is_enabled(&rule.id));
        let run = runs.get(&rule.id);
        let outcome = match run {
            Some(run) if !run.error.is_empty() => {
                format!(
                    r#"<span class="bad">{}</span>: {}"#,
                    escape(&run.status),
                    escape(&run.error)
                )
            }
            Some(run) => format!(
                "{}, {}",
                escape(&run.status),
                html::counted(run.alerts as u64, "alert")
            ),
            None => "never run".to_string(),
        };
        let _ = write!(
            out,
            r#"<tr><td><a href="/ui/rules/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            url_encode(&rule.id),
            escape(&rule.name),
            if enabled { "Enabled" } else { "Disabled" },
            escape(run.map(|run| run.time.as_str()).unwrap_or("-")),
            outcome
        );
    }
    out.push_str("</tbody></table></section>");
    out
}

async fn feed_health(state: &AppState) -> String {
    let feeds = intel::FeedsFile::load(&state.data_dir)
        .map(|file| file.feeds)
        .unwrap_or_default();
    let pulls = data::rows(
        state,
        "HomesocIntelPulls | summarize arg_max(TimeGenerated, *) by FeedName | project FeedName, TimeGenerated, Result, Error",
    )
    .await;
    let counts = data::rows(
        state,
        "ThreatIntelligenceIndicator | summarize arg_max(TimeGenerated, *) by IndicatorId | where Active == true and ExpirationDateTime > now() | summarize Indicators = count() by SourceSystem",
    )
    .await;
    let mut out = String::from(
        r#"<section aria-labelledby="feed-health-heading"><h2 id="feed-health-heading">Feed health</h2>"#,
    );
    if feeds.is_empty() {
        out.push_str(r#"<p class="empty">No feeds configured.</p></section>"#);
        return out;
    }
    out.push_str(r#"<table class="grid"><caption>Last pull of each feed</caption><thead><tr><th scope="col">Feed</th><th scope="col">Last pull (UTC)</th><th scope="col">Result</th><th scope="col">Current indicators</th></tr></thead><tbody>"#);
    for feed in &feeds {
        let pull = (0..pulls.len()).find(|&row| pulls.text(row, "FeedName") == feed.name);
        let count = (0..counts.len())
            .find(|&row| counts.text(row, "SourceSystem") == feed.name)
            .map(|row| counts.number(row, "Indicators"))
            .unwrap_or(0.0);
        let (when, result) = match pull {
            Some(row) => {
                let error = pulls.text(row, "Error");
                let result = if error.is_empty() {
                    escape(&pulls.text(row, "Result"))
                } else {
                    format!(
                        r#"<span class="bad">{}</span>: {}"#,
                        escape(&pulls.text(row, "Result")),
                        escape(&error)
                    )
                };
                (escape(&pulls.text(row, "TimeGenerated")), result)
            }
            None => ("never".to_string(), "-".to_string()),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{when}</td><td>{result}</td><td>{count}</td></tr>",
            escape(&feed.name)
        );
    }
    out.push_str("</tbody></table></section>");
    out
}
