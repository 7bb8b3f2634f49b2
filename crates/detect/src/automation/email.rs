//! Sending a notification as an email over SMTP, with STARTTLS and
//! authentication when the action sets them.
//!
//! lettre's blocking transport runs on a blocking thread of the runtime;
//! TLS is the system's OpenSSL through native-tls.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{SmtpTransport, Transport as _};

use super::config::{EmailTarget, resolve_secret};
use super::deliver::AttemptOutcome;
use super::outbox::Notification;
use super::payload::{email_body, email_subject};

/// Sends the email about the notification to every recipient.
pub async fn send_email(
    email: &EmailTarget,
    notification: &Notification,
    timeout: Duration,
) -> AttemptOutcome {
    let email = email.clone();
    let notification = notification.clone();
    let sent = tokio::task::spawn_blocking(move || try_send(&email, &notification, timeout)).await;
    match sent {
        Ok(Ok(())) => AttemptOutcome::succeeded(None),
        Ok(Err(reason)) => AttemptOutcome::failed(None, reason),
        Err(err) => AttemptOutcome::failed(None, format!("the SMTP task failed: {err}")),
    }
}

fn try_send(
    email: &EmailTarget,
    notification: &Notification,
    timeout: Duration,
) -> Result<(), String> {
    let message = build_message(email, notification)?;
    let mut builder = SmtpTransport::builder_dangerous(&email.smtp_host)
        .port(email.smtp_port)
        .timeout(Some(timeout));
    if email.starttls {
        builder = builder.tls(Tls::Required(tls_parameters(email)?));
    }
    if let Some(username) = &email.username {
        let password = resolve_secret(email.password.as_deref(), email.password_env.as_deref())?
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(username.clone(), password));
    }
    let transport = builder.build();
    transport.send(&message).map(|_| ()).map_err(|err| {
        format!(
            "SMTP delivery to {}:{} failed: {err}",
            email.smtp_host, email.smtp_port
        )
    })
}

fn build_message(email: &EmailTarget, notification: &Notification) -> Result<Message, String> {
    let mailbox = |text: &str| {
        text.parse::<Mailbox>()
            .map_err(|err| format!("invalid address `{text}`: {err}"))
    };
    let mut builder = Message::builder()
        .from(mailbox(&email.from)?)
        .subject(email_subject(&notification.payload))
        .message_id(Some(format!("<{}@homesoc>", notification.id)))
        .header(ContentType::TEXT_PLAIN);
    for recipient in &email.to {
        builder = builder.to(mailbox(recipient)?);
    }
    builder
        .body(email_body(&notification.payload))
        .map_err(|err| format!("cannot build the email: {err}"))
}

/// Returns the TLS settings of the STARTTLS upgrade: the system's trusted
/// certificates plus those of `tls_ca_file`.
fn tls_parameters(email: &EmailTarget) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(email.smtp_host.clone());
    if let Some(path) = &email.tls_ca_file {
        let pem = std::fs::read(path)
            .map_err(|err| format!("cannot read tls_ca_file {}: {err}", path.display()))?;
        let certificate = Certificate::from_pem(&pem)
            .map_err(|err| format!("invalid certificate in {}: {err}", path.display()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_native()
        .map_err(|err| format!("invalid TLS settings for {}: {err}", email.smtp_host))
}
