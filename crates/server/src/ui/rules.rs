//! Rules: the list with enable and disable, the last run of each, a page
//! per rule with its query, and a backtest of the rule over a past period.

use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use detect::backtest::{DataTimes, backtest_rule};
use detect::{Detector, Rule, RuleStates};
use serde::Deserialize;

use crate::app::{AppState, Shared};
use crate::rule_catalog::{last_runs, load_rules};
use crate::ui::data::{self, kql_string, now_ticks};
use crate::ui::html::{self, Nav, csrf_field, escape, options, time};
use crate::ui::incidents::severity_class;
use crate::ui::session::{self, Session, refusal, url_encode};

const TICKS_PER_HOUR: i64 = 36_000_000_000;

/// Backtest periods the rule page offers, in hours.
const BACKTEST_PERIODS: [(&str, &str); 3] = [
    ("24", "Last 24 hours"),
    ("72", "Last 3 days"),
    ("168", "Last 7 days"),
];

#[derive(Debug, Deserialize)]
pub struct EnabledForm {
    csrf: Option<String>,
    enabled: String,
}

#[derive(Debug, Deserialize)]
pub struct BacktestForm {
    csrf: Option<String>,
    #[serde(default)]
    hours: String,
}

/// The query of the rule list: the outcome of the last enable or disable.
#[derive(Debug, Default, Deserialize)]
pub struct RulesQuery {
    done: Option<String>,
}

/// `GET /ui/rules`.
pub async fn page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<RulesQuery>,
) -> Response {
    let session = match session::require(&state, &headers, "/ui/rules") {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let rules = load_rules(&state);
    let states = match RuleStates::load(&state.data_dir) {
        Ok(states) => states,
        Err(err) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    };
    let runs = last_runs(&state).await;

    let mut body = String::from("<h1>Rules</h1>");
    if let Some(done) = &query.done {
        body.push_str(&html::notice("ok", done));
    }
    body.push_str(
        r#"<table class="grid" id="rule-list"><caption>Analytics rules</caption><thead><tr><th scope="col">Rule</th><th scope="col">Severity</th><th scope="col">Kind</th><th scope="col">Every</th><th scope="col">State</th><th scope="col">Last run (UTC)</th><th scope="col">Outcome</th></tr></thead><tbody>"#,
    );
    for rule in &rules {
        let enabled = states.is_enabled(&rule.id);
        let run = runs.get(&rule.id);
        let outcome = match run {
            Some(run) if !run.error.is_empty() => format!(
                r#"<span class="bad">{}</span>: {}"#,
                escape(&run.status),
                escape(&run.error)
            ),
            Some(run) => format!(
                "{}, {}",
                escape(&run.status),
                html::counted(run.alerts as u64, "alert")
            ),
            None => "never run".to_string(),
        };
        let _ = write!(
            body,
            r#"<tr data-rule-id="{id}"><td><a href="/ui/rules/{link}">{name}</a></td><td><span class="badge {class}">{severity}</span></td><td>{kind}</td><td>{every}</td><td>{toggle}</td><td>{last}</td><td>{outcome}</td></tr>"#,
            id = escape(&rule.id),
            link = url_encode(&rule.id),
            name = escape(&rule.name),
            class = severity_class(rule.severity),
            severity = rule.severity.as_str(),
            kind = rule.kind.as_str(),
            every = html::duration(rule.query_frequency),
            toggle = toggle(&session, rule, enabled),
            last = escape(run.map(|run| run.time.as_str()).unwrap_or("-")),
        );
    }
    body.push_str("</tbody></table>");
    html::page(&session, Nav::Rules, "Rules", &body)
}

fn toggle(session: &Session, rule: &Rule, enabled: bool) -> String {
    let label = if enabled { "Enabled" } else { "Disabled" };
    if !session.is_admin() {
        return label.to_string();
    }
    let (button, next) = if enabled {
        ("Disable", "false")
    } else {
        ("Enable", "true")
    };
    format!(
        r#"<form method="post" action="/ui/rules/{link}/enabled" class="inline">{csrf}<input type="hidden" name="enabled" value="{next}"><span class="state">{label}</span> <button type="submit" aria-label="{button} {name}">{button}</button></form>"#,
        link = url_encode(&rule.id),
        csrf = csrf_field(session),
        name = escape(&rule.name),
    )
}

/// `POST /ui/rules/{id}/enabled`: enables or disables a rule; the
/// scheduler applies it at its next tick.
pub async fn set_enabled(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<EnabledForm>,
) -> Response {
    let session = match session::require_post(&state, &headers, form.csrf.as_deref()) {
        Ok(session) => session,
        Err(refusal) => return refusal,
    };
    if !session.is_admin() {
        return refusal(
            StatusCode::FORBIDDEN,
            "only admins can enable or disable rules",
        );
    }
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return refusal(
                StatusCode::BAD_REQUEST,
                &format!("invalid enabled value `{other}`: use true or false"),
            );
        }
    };
    let Some(rule) = load_rules(&state).into_iter().find(|rule| rule.id == id) else {
        return refusal(
            StatusCode::NOT_FOUND,
            &format!("no rule with id {id}; see the list at /ui/rules"),
        );
    };
    let mut states = match RuleStates::load(&state.data_dir) {
        Ok(states) => states,
        Err(err) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    };
    states.set_enabled(&id, enabled);
    if let Err(err) = states.save() {
        tracing::error!(error = %err, rule_id = %id, "cannot save the rule states");
        return refusal(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string());
    }
    tracing::info!(rule_id = %id, enabled, user = %session.principal.name, "rule state changed");
    let done = format!(
        "{} {}.",
        if enabled { "Enabled" } else { "Disabled" },
        rule.name
    );
    Redirect::to(&format!("/ui/rules?done={}", url_encode(&done))).into_response()
}

/// `GET /ui/rules/{id}/backtest`: the address a backtest result shows, when
/// it is reloaded or bookmarked. A backtest runs only from the form, so
/// this goes back to the rule page.
pub async fn backtest_address(Path(id): Path<String>) -> Response {
    Redirect::to(&format!("/ui/rules/{}", url_encode(&id))).into_response()
}

/// `GET /ui/rules/{id}`: the rule's details and query, with the backtest
/// form.
pub async fn rule_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/ui/rules/{}", url_encode(&id));
    let session = match session::require(&state, &headers, &path) {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let Some(rule) = load_rules(&state).into_iter().find(|rule| rule.id == id) else {
        return refusal(
            StatusCode::NOT_FOUND,
            &format!("no rule with id {id}; see the list at /ui/rules"),
        );
    };
    let body = rule_details(&state, &session, &rule, "").await;
    html::page(&session, Nav::Rules, &rule.name, &body)
}

async fn rule_details(state: &AppState, session: &Session, rule: &Rule, extra: &str) -> String {
    let runs = data::rows(
        state,
        &format!(
            "HomesocRuleRuns | where RuleId == {} and RunKind != 'Backtest' | sort by StartedTime desc | take 10 | project TimeGenerated, RunKind, Status, ResultRows, Alerts, Incidents, DurationMs = round(DurationMs, 1), Error",
            kql_string(&rule.id)
        ),
    )
    .await;
    let enabled = RuleStates::load(&state.data_dir)
        .map(|states| states.is_enabled(&rule.id))
        .unwrap_or(true);
    let mut body = format!(
        r#"<p><a href="/ui/rules">Back to the rules</a></p><h1>{name}</h1><p class="description">{description}</p>
<dl class="facts"><dt>Id</dt><dd>{id}</dd><dt>Severity</dt><dd>{severity}</dd><dt>Kind</dt><dd>{kind}</dd><dt>Runs every</dt><dd>{frequency}</dd><dt>Reads the last</dt><dd>{period}</dd><dt>State</dt><dd>{state}</dd><dt>Tactics</dt><dd>{tactics}</dd><dt>File</dt><dd>{source}</dd></dl>
<h2>Query</h2><pre class="code" id="rule-query">{query}</pre>"#,
        name = escape(&rule.name),
        description = escape(rule.description.trim()),
        id = escape(&rule.id),
        severity = rule.severity.as_str(),
        kind = rule.kind.as_str(),
        frequency = html::duration(rule.query_frequency),
        period = html::duration(rule.query_period),
        state = if enabled { "Enabled" } else { "Disabled" },
        tactics = escape(&rule.tactics.join(", ")),
        source = escape(&rule.source.display().to_string()),
        query = escape(&rule.query),
    );
    let _ = write!(
        body,
        r#"<h2>Backtest</h2><form method="post" action="/ui/rules/{link}/backtest" class="inline" id="backtest-form">{csrf}<label>Period <select name="hours">{periods}</select></label> <button type="submit">Run backtest</button> <span class="hint">Replays the schedule over stored events; writes nothing.</span></form>{extra}"#,
        link = url_encode(&rule.id),
        csrf = csrf_field(session),
        periods = options(&BACKTEST_PERIODS, "24"),
    );
    body.push_str("<h2>Recent runs</h2>");
    body.push_str(&crate::ui::table::grid(
        "Recent runs",
        &runs.columns,
        &runs.rows,
    ));
    body
}

/// `POST /ui/rules/{id}/backtest`: replays the rule's schedule over the
/// chosen period and shows the alerts it would have raised, writing
/// nothing.
pub async fn backtest(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<BacktestForm>,
) -> Response {
    let session = match session::require_post(&state, &headers, form.csrf.as_deref()) {
        Ok(session) => session,
        Err(refusal) => return refusal,
    };
    let Some(rule) = load_rules(&state).into_iter().find(|rule| rule.id == id) else {
        return refusal(
            StatusCode::NOT_FOUND,
            &format!("no rule with id {id}; see the list at /ui/rules"),
        );
    };
    let hours: i64 = match form.hours.as_str() {
        "" => 24,
        text => match text.parse::<i64>() {
            Ok(hours) if (1..=24 * 30).contains(&hours) => hours,
            _ => {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    &format!("invalid backtest period `{text}` hours: use 1 to 720"),
                );
            }
        },
    };
    let now = now_ticks();
    let last_instant = last_scheduled_instant(&state, &rule).await;
    let from = aligned_start(
        now - hours * TICKS_PER_HOUR,
        last_instant,
        rule.query_frequency,
    );
    // The last run is the last instant of the schedule that has passed.
    let to = match rule.query_frequency {
        frequency if frequency > 0 => from + (now - from).div_euclid(frequency) * frequency,
        _ => now,
    };
    let outcome = run_backtest(&state, &rule, from, to, last_instant).await;
    let extra = match outcome {
        Ok(html) => html,
        Err(message) => html::notice("error", &message),
    };
    let body = rule_details(&state, &session, &rule, &extra).await;
    html::page(&session, Nav::Rules, &rule.name, &body)
}

/// Returns the instant of the rule's last scheduled run, if it has one.
async fn last_scheduled_instant(state: &AppState, rule: &Rule) -> Option<i64> {
    let rows = data::rows(
        state,
        &format!(
            "HomesocRuleRuns | where RuleId == {} and RunKind == 'Scheduled' | summarize LastAt = max(WindowEnd) | where isnotnull(LastAt) | project LastAt = tostring(LastAt)",
            kql_string(&rule.id)
        ),
    )
    .await;
    if rows.is_empty() {
        return None;
    }
    engine::time::parse_datetime(&rows.text(0, "LastAt"))
}

/// Moves a backtest's start back onto the rule's live schedule: its run
/// instants become `last_instant` minus whole multiples of `frequency`.
/// A burst that the scheduler saw in one window is then not split between
/// two. Without a scheduled run the start is kept.
fn aligned_start(from: i64, last_instant: Option<i64>, frequency: i64) -> i64 {
    match last_instant {
        Some(last) if frequency > 0 => from - (from - last).rem_euclid(frequency),
        _ => from,
    }
}

async fn run_backtest(
    state: &AppState,
    rule: &Rule,
    from: i64,
    to: i64,
    last_instant: Option<i64>,
) -> Result<String, String> {
    let mut detector = Detector::open(state.engine.clone(), state.workspace.clone())
        .await
        .map_err(|err| format!("cannot open the detector: {err}"))?;
    let times = DataTimes::read(&state.engine, &state.workspace)
        .await
        .map_err(|err| format!("cannot read which minutes hold rows: {err}"))?;
    let result = backtest_rule(&mut detector, &times, rule, from, to).await;
    let alerts = detector.discard_pending().alerts;
    let failed = result
        .runs
        .iter()
        .filter(|run| run.status == detect::RunStatus::Failed)
        .count();

    let mut out = format!(
        r#"<div id="backtest-result" role="status"><p class="notice ok">Backtest from {} to {} UTC: {} ({} skipped: no rows in their windows), {} failed, {} would have fired.</p>"#,
        time(from),
        time(to),
        html::counted(result.runs.len() as u64 + result.skipped as u64, "run"),
        result.skipped,
        failed,
        html::counted(alerts.len() as u64, "alert")
    );
    if let Some(last) = last_instant {
        let _ = write!(
            out,
            r#"<p class="hint">The runs follow the rule's live schedule: its last scheduled run was at {} UTC.</p>"#,
            time(last)
        );
    }
    if let Some(error) = result.runs.iter().find_map(|run| run.error.as_deref()) {
        out.push_str(&html::notice("error", error));
    }
    if !alerts.is_empty() {
        out.push_str(r#"<table class="grid"><caption>Alerts the backtest raised</caption><thead><tr><th scope="col">Run at (UTC)</th><th scope="col">Alert</th><th scope="col">Severity</th></tr></thead><tbody>"#);
        for alert in &alerts {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                time(alert.time_generated),
                escape(&alert.display_name),
                alert.severity.as_str()
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</div>");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtest_start_follows_the_live_schedule() {
        let hour = TICKS_PER_HOUR;
        // Last scheduled run at 10:20, hourly: runs at xx:20.
        let last = 10 * hour + hour / 3;
        let from = 2 * hour + hour / 2; // 02:30
        assert_eq!(aligned_start(from, Some(last), hour), 2 * hour + hour / 3);
        // A start already on the schedule stays.
        assert_eq!(
            aligned_start(3 * hour + hour / 3, Some(last), hour),
            3 * hour + hour / 3
        );
        // A last run before the start works the same way.
        assert_eq!(
            aligned_start(20 * hour, Some(last), hour),
            19 * hour + hour / 3
        );
        assert_eq!(aligned_start(from, None, hour), from);
    }
}
