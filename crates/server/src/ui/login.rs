//! Sign in and sign out.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::app::Shared;
use crate::auth::{AuthFailure, SESSION_LIFETIME};
use crate::ui::html::{escape, html_response};
use crate::ui::session::{
    self, LOGIN_COOKIE, SESSION_COOKIE, constant_time_eq, login_nonce, set_cookie,
};

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
    csrf: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: Option<String>,
}

/// `GET /ui/login`: the sign-in form.
pub async fn form(Query(query): Query<NextQuery>) -> Response {
    login_page(StatusCode::OK, query.next.as_deref(), None)
}

/// `POST /ui/login`: checks the password and opens a session.
pub async fn submit(
    State(state): State<Shared>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let nonce = session::cookie(&headers, LOGIN_COOKIE);
    let nonce_matches = match (&nonce, &form.csrf) {
        (Some(cookie), Some(sent)) => constant_time_eq(cookie, sent),
        _ => false,
    };
    if !nonce_matches {
        tracing::warn!(address = %address.ip(), "login rejected: missing or invalid CSRF token");
        return login_page(
            StatusCode::FORBIDDEN,
            form.next.as_deref(),
            Some("The form expired or its CSRF token is missing. Sign in again from this page."),
        );
    }

    let auth_state = state.clone();
    let user = form.user.trim().to_string();
    let ip = address.ip();
    // Verifying a password takes tens of milliseconds of CPU.
    let outcome =
        tokio::task::spawn_blocking(move || auth_state.auth.login(&user, &form.password, ip)).await;
    let message = match outcome {
        Ok(Ok((token, principal))) => {
            tracing::info!(user = %principal.name, address = %ip, "signed in to the web UI");
            let target = safe_next(form.next.as_deref());
            let mut response = Redirect::to(&target).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, &token, SESSION_LIFETIME.as_secs()),
            );
            headers.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0));
            return response;
        }
        Ok(Err(AuthFailure::Throttled(wait))) => format!(
            "Too many failed attempts. Retry in {}.",
            crate::ui::html::counted(wait.as_secs() + 1, "second")
        ),
        Ok(Err(_)) => "Wrong user name or password.".to_string(),
        Err(err) => {
            tracing::error!(error = %err, "login task failed");
            "Sign-in failed on the server; see its log.".to_string()
        }
    };
    login_page(
        StatusCode::UNAUTHORIZED,
        form.next.as_deref(),
        Some(&message),
    )
}

/// `POST /ui/logout`: ends the session.
pub async fn logout(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let session = match session::require_post(&state, &headers, form.csrf.as_deref()) {
        Ok(session) => session,
        Err(refusal) => return refusal,
    };
    state.auth.logout(&session.token);
    tracing::info!(user = %session.principal.name, "signed out of the web UI");
    let mut response = Redirect::to("/ui/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0));
    response
}

/// Keeps a redirect target inside the UI, so the login form cannot send a
/// user to another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with("/ui") && !path.contains("//") && !path.contains('\\') => {
            path.to_string()
        }
        _ => "/ui".to_string(),
    }
}

fn login_page(status: StatusCode, next: Option<&str>, error: Option<&str>) -> Response {
    let nonce = login_nonce();
    let error_html = error
        .map(|message| {
            format!(
                r#"<p class="notice error" role="alert" id="login-error">{}</p>"#,
                escape(message)
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"<main id="main" class="login"><h1>Sign in to homesoc</h1>{error_html}
<form method="post" action="/ui/login" class="stack">
<input type="hidden" name="csrf" value="{nonce}">
<input type="hidden" name="next" value="{next}">
<label for="user">User name</label><input id="user" name="user" autocomplete="username" required value="admin">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button></form>
<p class="hint">On first start, <code>homesoc up</code> prints the admin password.</p></main>"#,
        next = escape(&safe_next(next)),
    );
    let text = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - homesoc</title><link rel="stylesheet" href="/ui/assets/app.css"></head><body>{body}</body></html>"#
    );
    let mut response = html_response(status, text);
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, &nonce, 3600));
    response
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn safe_next_stays_inside_the_ui() {
        assert_eq!(
            safe_next(Some("/ui/incidents?status=New")),
            "/ui/incidents?status=New"
        );
        assert_eq!(safe_next(Some("https://example.com/")), "/ui");
        assert_eq!(safe_next(Some("/ui//example.com")), "/ui");
        assert_eq!(safe_next(None), "/ui");
    }
}
