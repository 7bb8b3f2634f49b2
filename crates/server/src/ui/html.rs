//! HTML escaping and the page layout every UI page shares.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ui::session::Session;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The pages of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Incidents,
    Logs,
    Rules,
    Intel,
}

const NAV_ITEMS: [(Nav, &str, &str); 5] = [
    (Nav::Overview, "/ui", "Overview"),
    (Nav::Incidents, "/ui/incidents", "Incidents"),
    (Nav::Logs, "/ui/logs", "Logs"),
    (Nav::Rules, "/ui/rules", "Rules"),
    (Nav::Intel, "/ui/intel", "Threat intel"),
];

/// Renders the hidden form field that carries the session's CSRF token.
pub fn csrf_field(session: &Session) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        escape(&session.csrf)
    )
}

/// Lays out a signed-in page: header with navigation and sign-out, then
/// `body` in the main landmark.
pub fn page(session: &Session, active: Nav, title: &str, body: &str) -> Response {
    let mut nav = String::new();
    for (item, href, label) in NAV_ITEMS {
        let current = if item == active {
            r#" aria-current="page""#
        } else {
            ""
        };
        nav.push_str(&format!(r#"<a href="{href}"{current}>{label}</a>"#));
    }
    let header_html = format!(
        r#"<header class="top"><a class="brand" href="/ui">homesoc</a><nav aria-label="Main">{nav}</nav>
<form class="signout" method="post" action="/ui/logout">{csrf}<span class="who">{user} ({role})</span> <button type="submit">Sign out</button></form></header>"#,
        csrf = csrf_field(session),
        user = escape(&session.principal.name),
        role = format!("{:?}", session.principal.role).to_lowercase(),
    );
    document(
        title,
        &format!("{header_html}<main id=\"main\">{body}</main>"),
    )
}

/// Renders a whole HTML document with the UI's stylesheet and script.
pub fn document(title: &str, body: &str) -> Response {
    let text = format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - homesoc</title><link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/ui/assets/app.css"><script src="/ui/assets/app.js" defer></script></head>
<body><a class="skip" href="#main">Skip to content</a>{body}</body></html>"##,
        title = escape(title),
    );
    html_response(StatusCode::OK, text)
}

/// Renders an error page with the message and a way back, for requests
/// that failed or were rejected.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let text = format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - homesoc</title><link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/ui/assets/app.css"></head>
<body><main id="main"><h1>{code} {title}</h1><p class="notice error" role="alert" id="error-message">{message}</p><p><a href="/ui">Back to the overview</a></p></main></body></html>"##,
        code = status.as_u16(),
        title = escape(title),
        message = escape(message),
    );
    html_response(status, text)
}

/// Sends HTML with the security headers every page carries: no inline
/// scripts or styles, no framing, no content sniffing, no caching.
pub fn html_response(status: StatusCode, text: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}

/// Formats 100 ns ticks since the Unix epoch as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn time(ticks: i64) -> String {
    chrono::DateTime::from_timestamp(ticks.div_euclid(10_000_000), 0)
        .map(|time| time.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Formats a span of 100 ns ticks in words, largest units first:
/// `1 hour`, `14 days`, `1 day 6 hours`; 90 seconds is `1 minute 30 seconds`.
pub fn duration(ticks: i64) -> String {
    const UNITS: [(i64, &str); 4] = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let mut seconds = ticks.max(0) / 10_000_000;
    if seconds == 0 {
        return "0 seconds".to_string();
    }
    let mut parts = Vec::new();
    for (size, noun) in UNITS {
        if seconds >= size {
            parts.push(counted((seconds / size) as u64, noun));
            seconds %= size;
        }
    }
    parts.join(" ")
}

/// Parses a `page` parameter: empty for the first page, else a whole
/// number from 1. The error names the value.
pub fn page_number(text: Option<&str>) -> Result<usize, String> {
    match text.map(str::trim) {
        None | Some("") => Ok(1),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|&page| page >= 1)
            .ok_or_else(|| format!("invalid page `{text}`: pages are numbered from 1")),
    }
}

/// Formats a count with its noun, in the plural unless the count is one:
/// `counted(1, "alert")` is `1 alert`, `counted(3, "alert")` is `3 alerts`.
pub fn counted(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Renders a status message box, for the outcome of an action.
pub fn notice(kind: &str, message: &str) -> String {
    format!(
        r#"<p class="notice {kind}" role="status">{}</p>"#,
        escape(message)
    )
}

/// Renders `<option>`s, selecting `selected`.
pub fn options(values: &[(&str, &str)], selected: &str) -> String {
    values
        .iter()
        .map(|(value, label)| {
            let mark = if *value == selected { " selected" } else { "" };
            format!(
                r#"<option value="{}"{mark}>{}</option>"#,
                escape(value),
                escape(label)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
