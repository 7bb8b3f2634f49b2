//! Sending a notification to a webhook: an HTTP POST of the JSON payload,
//! signed with HMAC-SHA256 when the webhook has a secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::config::{WebhookTarget, resolve_secret};
use super::deliver::AttemptOutcome;
use super::outbox::Notification;

/// The header with the notification id, equal on every attempt.
pub const DELIVERY_HEADER: &str = "X-Homesoc-Delivery";
/// The header with the time of the attempt, in seconds since 1970.
pub const TIMESTAMP_HEADER: &str = "X-Homesoc-Timestamp";
/// The header with `sha256=` and the hex HMAC-SHA256 of the timestamp, a
/// dot and the body.
pub const SIGNATURE_HEADER: &str = "X-Homesoc-Signature";

/// Returns the `X-Homesoc-Signature` value of a body sent at `timestamp`.
///
/// The timestamp is signed with the body so that a receiver that rejects
/// old timestamps also rejects a recorded request sent again.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256={hex}")
}

/// POSTs the notification's payload; a 2xx response is a success.
pub async fn send_webhook(
    client: &reqwest::Client,
    webhook: &WebhookTarget,
    notification: &Notification,
) -> AttemptOutcome {
    let secret = match resolve_secret(webhook.secret.as_deref(), webhook.secret_env.as_deref()) {
        Ok(secret) => secret,
        Err(reason) => return AttemptOutcome::failed(None, reason),
    };
    let body = match serde_json::to_vec(&notification.payload) {
        Ok(body) => body,
        Err(err) => {
            return AttemptOutcome::failed(None, format!("cannot encode the payload: {err}"));
        }
    };
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = client
        .post(&webhook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(DELIVERY_HEADER, &notification.id)
        .header(TIMESTAMP_HEADER, timestamp.to_string());
    if let Some(secret) = secret {
        request = request.header(
            SIGNATURE_HEADER,
            signature(secret.as_bytes(), timestamp, &body),
        );
    }

    match request.body(body).send().await {
        Ok(response) if response.status().is_success() => {
            AttemptOutcome::succeeded(Some(response.status().as_u16()))
        }
        Ok(response) => {
            let status = response.status();
            AttemptOutcome::failed(
                Some(status.as_u16()),
                format!("the receiver returned HTTP {status}"),
            )
        }
        Err(err) => AttemptOutcome::failed(None, error_chain(&err)),
    }
}

/// Returns an error and its sources, such as "error sending request: ...:
/// Connection refused", so the record names the cause.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_python_hmac() {
        // hmac.new(b"key", b"1.{}", hashlib.sha256).hexdigest() in Python 3.
        assert_eq!(
            signature(b"key", 1, b"{}"),
            "sha256=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }
}
