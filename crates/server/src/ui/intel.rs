//! Threat intelligence: the feeds with their last pull and a pull button,
//! the indicator search, and the events that match the indicators found.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use intel::stored::StoredIndicator;
use intel::{FeedsFile, PullResult};
use serde::Deserialize;

use crate::app::{AppState, Shared};
use crate::ui::data::{self, kql_string, now_ticks};
use crate::ui::html::{self, Nav, csrf_field, escape, notice, options, time};
use crate::ui::session::{self, Session, refusal, url_encode};

/// Indicators shown per search.
const SEARCH_LIMIT: usize = 100;

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    value: String,
    /// An observable column, such as `NetworkIP` or `DomainName`.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    source: String,
    /// `active`, `inactive` or empty for both.
    #[serde(default)]
    active: String,
    #[serde(default)]
    min_confidence: String,
    /// `current`, `expired` or empty for both.
    #[serde(default)]
    expiry: String,
    done: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PullForm {
    csrf: Option<String>,
}

/// `GET /ui/intel`: feeds and the indicator search.
pub async fn page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Response {
    let session = match session::require(&state, &headers, "/ui/intel") {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let indicators = match intel::stored::latest_indicators(&state.workspace).await {
        Ok(indicators) => indicators,
        Err(err) => {
            tracing::error!(error = %err, "cannot read indicators");
            Vec::new()
        }
    };

    let mut body = String::from("<h1>Threat intelligence</h1>");
    if let Some(done) = &query.done {
        body.push_str(&notice("ok", done));
    }
    if let Some(error) = &query.error {
        body.push_str(&notice("error", error));
    }
    body.push_str(&feeds_section(&state, &session, &indicators).await);
    body.push_str(&search_section(&state, &query, &indicators).await);
    html::page(&session, Nav::Intel, "Threat intelligence", &body)
}

async fn feeds_section(
    state: &AppState,
    session: &Session,
    indicators: &[StoredIndicator],
) -> String {
    let feeds = match FeedsFile::load(&state.data_dir) {
        Ok(feeds) => feeds,
        Err(err) => return notice("error", &err.to_string()),
    };
    let pulls = data::rows(
        state,
        "HomesocIntelPulls | summarize arg_max(TimeGenerated, *) by FeedName | project FeedName, TimeGenerated, Result, Error, IndicatorsAdded, IndicatorsUpdated",
    )
    .await;
    let mut last_pull = BTreeMap::new();
    for row in 0..pulls.len() {
        last_pull.insert(pulls.text(row, "FeedName"), row);
    }
    let now = now_ticks();
    let mut current_by_source: BTreeMap<&str, usize> = BTreeMap::new();
    for indicator in indicators {
        if indicator.is_current(now) {
            *current_by_source
                .entry(indicator.source_system.as_str())
                .or_default() += 1;
        }
    }

    let mut out = String::from(
        r#"<section aria-labelledby="feeds-heading"><h2 id="feeds-heading">Feeds</h2>"#,
    );
    if feeds.feeds.is_empty() {
        out.push_str(r#"<p class="empty">No feeds. Add one with <code>homesoc intel feeds add</code>.</p></section>"#);
        return out;
    }
    out.push_str(r#"<table class="grid" id="feed-list"><caption>Feeds</caption><thead><tr><th scope="col">Feed</th><th scope="col">Format</th><th scope="col">Enabled</th><th scope="col">Last pull (UTC)</th><th scope="col">Result</th><th scope="col">Current indicators</th><th scope="col">Pull</th></tr></thead><tbody>"#);
    for feed in &feeds.feeds {
        let (when, result) = match last_pull.get(&feed.name) {
            Some(&row) => {
                let error = pulls.text(row, "Error");
                let result = if error.is_empty() {
                    format!(
                        "{}: {} added, {} updated",
                        escape(&pulls.text(row, "Result")),
                        pulls.number(row, "IndicatorsAdded"),
                        pulls.number(row, "IndicatorsUpdated")
                    )
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
        let pull = if session.is_admin() {
            format!(
                r#"<form method="post" action="/ui/intel/feeds/{link}/pull" class="inline">{csrf}<button type="submit" aria-label="Pull {name}">Pull now</button></form>"#,
                link = url_encode(&feed.name),
                csrf = csrf_field(session),
                name = escape(&feed.name),
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            r#"<tr><td title="{url}">{name}</td><td>{format}</td><td>{enabled}</td><td>{when}</td><td>{result}</td><td>{count}</td><td>{pull}</td></tr>"#,
            url = escape(&feed.url),
            name = escape(&feed.name),
            format = feed.format.name(),
            enabled = if feed.enabled { "yes" } else { "no" },
            count = current_by_source
                .get(feed.name.as_str())
                .copied()
                .unwrap_or(0),
        );
    }
    out.push_str("</tbody></table></section>");
    out
}

/// Checks the search values that must be a number or come from a list,
/// so that a mistyped one is an error rather than an ignored filter.
fn check_search(query: &SearchQuery) -> Result<(), String> {
    let confidence = query.min_confidence.trim();
    if !confidence.is_empty()
        && !confidence
            .parse::<f64>()
            .is_ok_and(|value| (0.0..=100.0).contains(&value))
    {
        return Err(format!(
            "invalid minimum confidence `{confidence}`: use a number from 0 to 100"
        ));
    }
    if !matches!(query.active.as_str(), "" | "active" | "inactive") {
        return Err(format!(
            "invalid active filter `{}`: use active or inactive",
            query.active
        ));
    }
    if !matches!(query.expiry.as_str(), "" | "current" | "expired") {
        return Err(format!(
            "invalid expiry filter `{}`: use current or expired",
            query.expiry
        ));
    }
    Ok(())
}

fn matches_search(indicator: &StoredIndicator, query: &SearchQuery, now: i64) -> bool {
    let value = query.value.trim().to_ascii_lowercase();
    if !value.is_empty()
        && !indicator
            .observables
            .values()
            .any(|observable| observable.to_ascii_lowercase().contains(&value))
    {
        return false;
    }
    if !query.kind.is_empty() && !indicator.observables.contains_key(&query.kind) {
        return false;
    }
    let source = query.source.trim().to_ascii_lowercase();
    if !source.is_empty()
        && !indicator
            .source_system
            .to_ascii_lowercase()
            .contains(&source)
    {
        return false;
    }
    match query.active.as_str() {
        "active" if !indicator.active => return false,
        "inactive" if indicator.active => return false,
        _ => {}
    }
    if let Ok(minimum) = query.min_confidence.trim().parse::<f64>()
        && indicator.confidence < minimum
    {
        return false;
    }
    let expired = indicator
        .expires_ticks
        .is_some_and(|expires| expires <= now);
    match query.expiry.as_str() {
        "current" if expired => return false,
        "expired" if !expired => return false,
        _ => {}
    }
    true
}

async fn search_section(
    state: &AppState,
    query: &SearchQuery,
    indicators: &[StoredIndicator],
) -> String {
    let mut kinds: Vec<&str> = indicators
        .iter()
        .flat_map(|indicator| indicator.observables.keys().map(String::as_str))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut kind_options = vec![("", "Any")];
    kind_options.extend(kinds.iter().map(|kind| (*kind, *kind)));
    let mut out = format!(
        r#"<section aria-labelledby="search-heading"><h2 id="search-heading">Indicator search</h2>
<form method="get" action="/ui/intel" class="filters" id="indicator-search">
<label>Value <input name="value" id="indicator-value" value="{value}" placeholder="IP, domain, URL, hash" size="20"></label>
<label>Type <select name="kind">{kinds}</select></label>
<label>Source <input name="source" value="{source}" size="14"></label>
<label>Active <select name="active">{active}</select></label>
<label>Minimum confidence <input name="min_confidence" value="{confidence}" size="4" inputmode="numeric"></label>
<label>Expiry <select name="expiry">{expiry}</select></label>
<button type="submit">Search</button></form>"#,
        value = escape(&query.value),
        kinds = options(&kind_options, &query.kind),
        source = escape(&query.source),
        active = options(
            &[("", "Any"), ("active", "Active"), ("inactive", "Inactive")],
            &query.active
        ),
        confidence = escape(&query.min_confidence),
        expiry = options(
            &[
                ("", "Any"),
                ("current", "Not expired"),
                ("expired", "Expired")
            ],
            &query.expiry
        ),
    );
    let unknown_kind = !query.kind.is_empty() && !kinds.contains(&query.kind.as_str());
    if unknown_kind {
        let message = format!(
            "unknown indicator type `{}`: the stored indicators have {}",
            query.kind,
            if kinds.is_empty() {
                "no types yet".to_string()
            } else {
                kinds.join(", ")
            }
        );
        out.push_str(&html::notice("error", &message));
        out.push_str("</section>");
        return out;
    }
    if let Err(message) = check_search(query) {
        out.push_str(&html::notice("error", &message));
        out.push_str("</section>");
        return out;
    }
    let now = now_ticks();
    let found: Vec<&StoredIndicator> = indicators
        .iter()
        .filter(|indicator| matches_search(indicator, query, now))
        .collect();
    let shown = &found[..found.len().min(SEARCH_LIMIT)];
    let _ = write!(
        out,
        r#"<p class="count" id="indicator-count">{} {}{}.</p>"#,
        html::counted(found.len() as u64, "indicator"),
        if found.len() == 1 { "matches" } else { "match" },
        if found.len() > SEARCH_LIMIT {
            format!("; the first {SEARCH_LIMIT} are shown")
        } else {
            String::new()
        }
    );

    let ips: Vec<String> = shown
        .iter()
        .filter_map(|indicator| indicator.observables.get("NetworkIP"))
        .map(|ip| kql_string(ip))
        .collect();
    let mut events_by_ip: BTreeMap<String, (f64, String)> = BTreeMap::new();
    if !ips.is_empty() {
        let rows = data::rows(
            state,
            &format!(
                "SecurityEvent | where IpAddress in ({}) | summarize Events = count(), LastSeen = max(TimeGenerated) by IpAddress",
                ips.join(", ")
            ),
        )
        .await;
        for row in 0..rows.len() {
            events_by_ip.insert(
                rows.text(row, "IpAddress"),
                (rows.number(row, "Events"), rows.text(row, "LastSeen")),
            );
        }
    }

    if shown.is_empty() {
        out.push_str("</section>");
        return out;
    }
    out.push_str(r#"<table class="grid" id="indicator-results"><caption>Indicators</caption><thead><tr><th scope="col">Observable</th><th scope="col">Source</th><th scope="col">Threat</th><th scope="col">Confidence</th><th scope="col">Active</th><th scope="col">Expires (UTC)</th><th scope="col">Matched events</th></tr></thead><tbody>"#);
    for indicator in shown {
        let observables: Vec<String> = indicator
            .observables
            .iter()
            .map(|(kind, value)| format!("{}: {}", escape(kind), escape(value)))
            .collect();
        let matched = match indicator.observables.get("NetworkIP") {
            Some(ip) => match events_by_ip.get(ip) {
                Some((count, last)) => {
                    let logs_query = format!(
                        "SecurityEvent | where IpAddress == {} | sort by TimeGenerated desc",
                        kql_string(ip)
                    );
                    format!(
                        r#"<a href="/ui/logs?range=all&q={}">{}</a>, last {}"#,
                        url_encode(&logs_query),
                        html::counted(*count as u64, "event"),
                        escape(last)
                    )
                }
                None => "none".to_string(),
            },
            None => "-".to_string(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            observables.join("<br>"),
            escape(&indicator.source_system),
            escape(&indicator.threat_type),
            indicator.confidence,
            if indicator.active { "yes" } else { "no" },
            indicator
                .expires_ticks
                .map(time)
                .unwrap_or_else(|| "never".to_string()),
            matched,
        );
    }
    out.push_str("</tbody></table></section>");
    out
}

/// `POST /ui/intel/feeds/{name}/pull`: pulls one feed now.
pub async fn pull(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<PullForm>,
) -> Response {
    let session = match session::require_post(&state, &headers, form.csrf.as_deref()) {
        Ok(session) => session,
        Err(refusal) => return refusal,
    };
    if !session.is_admin() {
        return refusal(StatusCode::FORBIDDEN, "only admins can pull feeds");
    }
    let feeds = match FeedsFile::load(&state.data_dir) {
        Ok(feeds) => feeds,
        Err(err) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    };
    let Some(feed) = feeds.feed(&name).cloned() else {
        return refusal(
            StatusCode::NOT_FOUND,
            &format!("no feed named {name}; see the feeds at /ui/intel"),
        );
    };
    let fetcher = match intel::fetch::Fetcher::new(intel::fetch::FetchOptions::default()) {
        Ok(fetcher) => fetcher,
        Err(err) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    };
    // Pulls share the lock with incident writers so that a pull never
    // races the refresher's retro-hunt over the same indicators.
    let outcome = {
        let _writes = state.incident_writes.lock().await;
        intel::pull_feed(&state.workspace, &fetcher, &feeds, &feed).await
    };
    // Hunt the new indicators over stored events at once, as the
    // refresher does after its scheduled pulls.
    if let (Ok(report), Some(after_pull)) = (&outcome, &state.after_pull)
        && report.result != PullResult::Failed
    {
        after_pull(state.job_context(), vec![report.clone()]).await;
    }
    let target = match outcome {
        Ok(report) if report.result == PullResult::Failed => format!(
            "/ui/intel?error={}",
            url_encode(&format!(
                "pull of {name} failed: {}",
                report.error.unwrap_or_default()
            ))
        ),
        Ok(report) => format!(
            "/ui/intel?done={}",
            url_encode(&format!(
                "pulled {name}: {} added, {} updated, {} deactivated",
                report.added, report.updated, report.deactivated
            ))
        ),
        Err(err) => {
            tracing::error!(error = %err, feed = %name, "feed pull failed");
            format!("/ui/intel?error={}", url_encode(&err.to_string()))
        }
    };
    tracing::info!(feed = %name, user = %session.principal.name, "feed pulled from the web UI");
    Redirect::to(&target).into_response()
}
