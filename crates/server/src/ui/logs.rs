//! Logs: a KQL editor, a time range, results as a grid with paging and
//! downloads, and a chart when the result suits one.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::output;
use serde::Deserialize;
use serde_json::Value;
use store::TimeWindow;

use crate::app::Shared;
use crate::ui::chart;
use crate::ui::data::{self, QueryFailure, now_ticks};
use crate::ui::html::{self, Nav, escape, options};
use crate::ui::session::{self, refusal, url_encode};
use crate::ui::table;

/// Result rows per page of the grid.
const PAGE_SIZE: usize = 100;

const DEFAULT_QUERY: &str = "SecurityEvent\n| summarize Events = count() by bin(TimeGenerated, 1h), Computer\n| render timechart";

const RANGES: [(&str, &str); 5] = [
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("all", "All time"),
];

#[derive(Debug, Default, Deserialize)]
pub struct LogsQuery {
    q: Option<String>,
    #[serde(default)]
    range: String,
    page: Option<String>,
    format: Option<String>,
}

/// Returns the window of a range name; `None` for all time. An unknown
/// name is an error that lists the valid ones.
fn window(range: &str) -> Result<Option<TimeWindow>, String> {
    let hours = match range {
        "" | "24h" => 24,
        "1h" => 1,
        "7d" => 7 * 24,
        "30d" => 30 * 24,
        "all" => return Ok(None),
        other => {
            return Err(format!(
                "invalid time range `{other}`: use 1h, 24h, 7d, 30d or all"
            ));
        }
    };
    let end = now_ticks() + 10_000_000;
    Ok(Some(TimeWindow {
        start_ticks: end - hours * 36_000_000_000,
        end_ticks: end,
    }))
}

/// `GET /ui/logs`: the editor, and the results when `q` is given.
pub async fn page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<LogsQuery>,
) -> Response {
    let session = match session::require(&state, &headers, "/ui/logs") {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let range = if query.range.is_empty() {
        "24h".to_string()
    } else {
        query.range.clone()
    };
    let text = query.q.clone().unwrap_or_default();
    let mut results = String::new();
    let mut error_span: Option<(usize, usize)> = None;

    if !text.trim().is_empty() {
        match window(&range) {
            Err(message) => results.push_str(&html::notice("error", &message)),
            Ok(window) => match data::run(&state, &text, window).await {
                Ok(result) => {
                    results = match html::page_number(query.page.as_deref()) {
                        Ok(page) => render_results(&text, &range, page, &result),
                        Err(message) => html::notice("error", &message),
                    };
                }
                Err(failure) => {
                    if let QueryFailure::Query(err) = &failure
                        && let Some(diagnostic) = err.diagnostic()
                    {
                        error_span = Some(utf16_span(
                            &text,
                            diagnostic.span.start,
                            diagnostic.span.end,
                        ));
                    }
                    let _ = write!(
                        results,
                        r#"<div class="notice error" role="alert" id="query-error"><p>{}</p><pre>{}</pre></div>"#,
                        escape(&failure.message()),
                        escape(&match &failure {
                            QueryFailure::Query(err) => err.render(&text),
                            QueryFailure::Store(_) => String::new(),
                        })
                    );
                }
            },
        }
    }

    let shown_text = if text.is_empty() {
        DEFAULT_QUERY
    } else {
        &text
    };
    let error_attributes = error_span
        .map(|(start, end)| format!(r#" data-error-start="{start}" data-error-end="{end}""#))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>Logs</h1>
<form method="get" action="/ui/logs" class="query-form" id="query-form">
<label for="kql">KQL query</label>
<div class="editor"><pre class="highlight" id="kql-highlight" aria-hidden="true">{overlay}</pre><textarea id="kql" name="q" rows="8" spellcheck="false" autocomplete="off"{error_attributes}>{query}</textarea></div>
<div class="query-bar"><label>Time range <select name="range" id="range">{ranges}</select></label>
<button type="submit" id="run-query">Run (Ctrl+Enter)</button>
<span class="hint">The range limits TimeGenerated of every table.</span></div></form>
{results}"#,
        overlay = overlay(shown_text, error_span),
        query = escape(shown_text),
        ranges = options(&RANGES, &range),
    );
    html::page(&session, Nav::Logs, "Logs", &body)
}

/// Converts a byte span of `text` to UTF-16 offsets, as the browser's
/// script counts them.
fn utf16_span(text: &str, start: usize, end: usize) -> (usize, usize) {
    let clamp = |offset: usize| {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    };
    let (start, end) = (clamp(start), clamp(end.max(start)));
    let start16 = text[..start].encode_utf16().count();
    let end16 = text[..end].encode_utf16().count().max(start16 + 1);
    (start16, end16)
}

/// Renders the editor's overlay for browsers without script: the text with the error span
/// underlined. The script replaces it with highlighted tokens.
fn overlay(text: &str, error: Option<(usize, usize)>) -> String {
    let Some((start, end)) = error else {
        return format!("{}\n", escape(text));
    };
    let units: Vec<u16> = text.encode_utf16().collect();
    let part = |from: usize, to: usize| {
        String::from_utf16_lossy(&units[from.min(units.len())..to.min(units.len())])
    };
    let marked = part(start, end);
    format!(
        r#"{}<mark class="error-span">{}</mark>{}
"#,
        escape(&part(0, start)),
        if marked.is_empty() {
            " ".to_string()
        } else {
            escape(&marked)
        },
        escape(&part(end, units.len()))
    )
}

/// The column count above which the grid shows `TimeGenerated` first.
/// Raw rows of a wide table list their columns alphabetically, which puts
/// `TimeGenerated` near the end (column 207 of SecurityEvent's 218).
const TIME_FIRST_COLUMNS: usize = 8;

/// Moves `TimeGenerated` to the front of a wide result for display; the
/// downloads keep the query's order.
fn time_first(mut columns: Vec<String>, rows: &[Vec<Value>]) -> (Vec<String>, Vec<Vec<Value>>) {
    let position = columns.iter().position(|name| name == "TimeGenerated");
    match position {
        Some(index) if index > 0 && columns.len() > TIME_FIRST_COLUMNS => {
            let name = columns.remove(index);
            columns.insert(0, name);
            let rows = rows
                .iter()
                .map(|row| {
                    let mut row = row.clone();
                    let cell = row.remove(index);
                    row.insert(0, cell);
                    row
                })
                .collect();
            (columns, rows)
        }
        _ => (columns, rows.to_vec()),
    }
}

fn render_results(text: &str, range: &str, page: usize, result: &engine::QueryResult) -> String {
    let rows = output::rows_json(result);
    let columns: Vec<String> = result.columns.iter().map(|c| c.name.clone()).collect();
    let typed: Vec<(String, kql::KqlType)> = result
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty))
        .collect();
    let total = rows.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let shown = &rows[(page - 1) * PAGE_SIZE..(page * PAGE_SIZE).min(total)];
    let link = |extra: &str| format!("q={}&range={}{extra}", url_encode(text), url_encode(range));

    let mut out = String::from(r#"<section aria-labelledby="results-heading" id="results">"#);
    let _ = write!(
        out,
        r#"<h2 id="results-heading">Results</h2><p class="count" id="result-count">{rows}.
<a href="/ui/logs/download?{csv}" download>Download CSV</a> <a href="/ui/logs/download?{json}" download>Download JSON</a></p>"#,
        rows = html::counted(total as u64, "row"),
        csv = escape(&link("&format=csv")),
        json = escape(&link("&format=json")),
    );
    let render = chart::render_kind(text);
    match chart::from_result(&typed, &rows, render.as_deref(), chart::summarizes(text)) {
        Some(Ok(svg)) => {
            let _ = write!(
                out,
                r#"<figure class="chart-box" id="result-chart">{svg}<figcaption>Chart of the result{}</figcaption></figure>"#,
                render
                    .as_deref()
                    .map(|kind| format!(" (render {})", escape(kind)))
                    .unwrap_or_default()
            );
        }
        Some(Err(message)) => out.push_str(&html::notice("warn", &message)),
        None => {}
    }
    let (columns, shown) = time_first(columns, shown);
    out.push_str(&table::grid(
        &format!(
            "Rows {} to {}",
            (page - 1) * PAGE_SIZE + usize::from(total > 0),
            ((page) * PAGE_SIZE).min(total)
        ),
        &columns,
        &shown,
    ));
    if pages > 1 {
        out.push_str(r#"<nav class="pager" aria-label="Result pages">"#);
        if page > 1 {
            let _ = write!(
                out,
                r#"<a href="/ui/logs?{}">Previous</a>"#,
                escape(&link(&format!("&page={}", page - 1)))
            );
        }
        let _ = write!(out, "<span>Page {page} of {pages}</span>");
        if page < pages {
            let _ = write!(
                out,
                r#"<a href="/ui/logs?{}" id="next-page">Next</a>"#,
                escape(&link(&format!("&page={}", page + 1)))
            );
        }
        out.push_str("</nav>");
    }
    out.push_str("</section>");
    out
}

/// `GET /ui/logs/download?q=...&range=...&format=csv|json`: the whole
/// result as a file.
pub async fn download(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<LogsQuery>,
) -> Response {
    if session::current(&state, &headers).is_none() {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "sign in at /ui/login to download results",
        );
    }
    let text = query.q.unwrap_or_default();
    let window = match window(&query.range) {
        Ok(window) => window,
        Err(message) => return refusal(StatusCode::BAD_REQUEST, &message),
    };
    let result = match data::run(&state, &text, window).await {
        Ok(result) => result,
        Err(failure) => return refusal(StatusCode::BAD_REQUEST, &failure.message()),
    };
    let (content_type, extension, body) = match query.format.as_deref().unwrap_or("csv") {
        "csv" => ("text/csv; charset=utf-8", "csv", output::to_csv(&result)),
        "json" => (
            "application/json",
            "json",
            output::to_json_document(&result).to_string(),
        ),
        other => {
            return refusal(
                StatusCode::BAD_REQUEST,
                &format!("invalid format `{other}`: use csv or json"),
            );
        }
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"homesoc-query.{extension}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// Tabular operators offered after a pipe, in the editor's autocompletion.
const OPERATORS: &[&str] = &[
    "where",
    "project",
    "project-away",
    "project-rename",
    "project-reorder",
    "project-keep",
    "extend",
    "summarize",
    "sort by",
    "order by",
    "top",
    "take",
    "limit",
    "count",
    "distinct",
    "join",
    "union",
    "lookup",
    "mv-expand",
    "parse",
    "parse-where",
    "make-series",
    "render",
    "as",
    "invoke",
    "evaluate",
    "sample",
    "serialize",
    "getschema",
    "search",
    "facet",
];

/// `GET /ui/logs/schema`: the names the editor completes, as JSON:
/// `{"tables": {"SecurityEvent": ["Account", ...]}, "functions": [...],
/// "operators": [...]}`. The tables are all tables homesoc defines, with
/// rows or without.
pub async fn schema(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if session::current(&state, &headers).is_none() {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "sign in at /ui/login to read the table schemas",
        );
    }
    let tables: serde_json::Map<String, Value> = store::tables::ALL_TABLES
        .iter()
        .chain(store::reference_tables::REFERENCE_TABLES.iter())
        .map(|table| {
            let columns: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
            (table.name.to_string(), serde_json::json!(columns))
        })
        .collect();
    let body = serde_json::json!({
        "tables": tables,
        "functions": engine::plan::function_names(),
        "operators": OPERATORS,
    });
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_span_counts_code_units() {
        assert_eq!(utf16_span("ab", 1, 2), (1, 2));
        // "é" is 2 bytes and 1 UTF-16 unit.
        assert_eq!(utf16_span("éx", 2, 3), (1, 2));
        // An empty span still marks one unit.
        assert_eq!(utf16_span("abc", 3, 3), (3, 4));
    }

    #[test]
    fn overlay_marks_the_error_span() {
        let html = overlay("T | whre x", Some((4, 8)));
        assert!(
            html.contains(r#"<mark class="error-span">whre</mark>"#),
            "{html}"
        );
    }

    #[test]
    fn window_rejects_unknown_range() {
        assert!(
            window("2w")
                .unwrap_err()
                .contains("1h, 24h, 7d, 30d or all")
        );
        assert!(window("all").unwrap().is_none());
    }
}
