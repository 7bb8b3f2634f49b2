//! Login sessions in cookies and the CSRF tokens that guard every POST.
//!
//! The session cookie contains the token that [`Authenticator::login`] made;
//! the server keeps only its SHA-256. A session's CSRF token is the
//! SHA-256 of a per-process random key and the session token, so it needs
//! no storage, changes with each session and cannot be derived without
//! the key. The login form, which has no session yet, uses a random nonce
//! in a cookie and the same nonce in a hidden field (double submit).
//!
//! [`Authenticator::login`]: crate::auth::Authenticator::login

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::app::AppState;
use crate::auth::{Principal, Role};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "homesoc_session";

/// The cookie that contains the login form's CSRF nonce.
pub const LOGIN_COOKIE: &str = "homesoc_login";

/// The web UI's per-process secrets.
pub struct UiState {
    csrf_key: [u8; 32],
}

impl UiState {
    /// Creates the state with a fresh random CSRF key; sessions do not
    /// outlive the process, so neither must the key.
    pub fn new() -> UiState {
        let mut csrf_key = [0u8; 32];
        rand::rng().fill_bytes(&mut csrf_key);
        UiState { csrf_key }
    }

    /// Returns the CSRF token of a session token.
    pub fn csrf_token(&self, session_token: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.csrf_key);
        hasher.update(b"csrf:");
        hasher.update(session_token.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize())
    }
}

impl Default for UiState {
    fn default() -> UiState {
        UiState::new()
    }
}

/// A signed-in browser.
pub struct Session {
    pub principal: Principal,
    pub token: String,
    /// The token that forms of this session must send back.
    pub csrf: String,
}

impl Session {
    /// True when the user may change incidents (analysts and admins).
    pub fn can_work_incidents(&self) -> bool {
        self.principal.role >= Role::Analyst
    }

    /// True when the user may change rules and pull feeds (admins).
    pub fn is_admin(&self) -> bool {
        self.principal.role >= Role::Admin
    }
}

/// Returns the value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// Returns the session of the request, if it has a live one.
pub fn current(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let principal = state.auth.session(&token)?;
    let csrf = state.ui.csrf_token(&token);
    Some(Session {
        principal,
        token,
        csrf,
    })
}

/// Returns the session of a page request, or a redirect to the login page
/// that comes back to `path` afterwards.
pub fn require(state: &AppState, headers: &HeaderMap, path: &str) -> Result<Session, Response> {
    current(state, headers).ok_or_else(|| {
        let next = url_encode(path);
        Redirect::to(&format!("/ui/login?next={next}")).into_response()
    })
}

/// Returns the session of a form POST after checking its CSRF token: the
/// form field `csrf` must equal the session's token.
pub fn require_post(
    state: &AppState,
    headers: &HeaderMap,
    sent_csrf: Option<&str>,
) -> Result<Session, Response> {
    let Some(session) = current(state, headers) else {
        return Err(refusal(
            StatusCode::UNAUTHORIZED,
            "your session has ended; sign in again at /ui/login",
        ));
    };
    let valid = sent_csrf.is_some_and(|sent| constant_time_eq(sent, &session.csrf));
    if !valid {
        tracing::warn!(user = %session.principal.name, "form rejected: missing or invalid CSRF token");
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or invalid; reload the page and submit it again",
        ));
    }
    Ok(session)
}

/// Compares two strings in time that depends only on their lengths.
pub fn constant_time_eq(left: &str, right: &str) -> bool {
    if left.len() != right.len() {
        return false;
    }
    left.bytes()
        .zip(right.bytes())
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

/// Builds a plain-text error page.
pub fn refusal(status: StatusCode, message: &str) -> Response {
    crate::ui::html::error_page(status, message)
}

/// Builds a `Set-Cookie` value. Cookies are always `Secure`: browsers
/// still send them to `http://127.0.0.1` and `http://localhost`, which
/// count as secure contexts, so local tests without TLS work.
pub fn set_cookie(name: &str, value: &str, max_age_seconds: u64) -> HeaderValue {
    let text = format!(
        "{name}={value}; Path=/ui; Max-Age={max_age_seconds}; HttpOnly; Secure; SameSite=Strict"
    );
    HeaderValue::from_str(&text).expect("cookie names and values are ASCII tokens")
}

/// Percent-encodes a text for a URL query value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Returns a random nonce for the login form.
pub fn login_nonce() -> String {
    crate::auth::random_secret(24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_token_depends_on_session_and_key() {
        let first = UiState::new();
        let second = UiState::new();
        assert_eq!(first.csrf_token("a"), first.csrf_token("a"));
        assert_ne!(first.csrf_token("a"), first.csrf_token("b"));
        assert_ne!(first.csrf_token("a"), second.csrf_token("a"));
    }

    #[test]
    fn cookie_finds_named_value() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; homesoc_session=hss_abc; x=y"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("hss_abc"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
