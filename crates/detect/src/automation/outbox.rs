//! The durable queue of notifications: one JSON file per notification in
//! `automation/outbox/` of the data folder.
//!
//! A notification is written (and synced) before anything tries to send
//! it, and its file is removed only after the attempt that delivered it, so
//! a crash or a receiver that is down loses nothing. A notification whose
//! last attempt failed moves to `automation/failed/`, where it can be read
//! or moved back to resend it. Delivery is at least once: a crash between a
//! successful send and the removal of the file sends it again, with the
//! same `X-Homesoc-Delivery` id.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::warn;

use super::config::{EmailTarget, Trigger, WebhookTarget};
use crate::error::DetectError;

/// The outbox folder, under the data folder.
pub const OUTBOX_FOLDER: &str = "automation/outbox";
/// The folder of notifications whose every attempt failed.
pub const FAILED_FOLDER: &str = "automation/failed";

/// The receiver of a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Channel {
    Webhook(WebhookTarget),
    Email(EmailTarget),
}

impl Channel {
    /// Returns the action name `HomesocAutomationRuns.Action` records.
    pub fn action(&self) -> &'static str {
        match self {
            Channel::Webhook(_) => "Webhook",
            Channel::Email(_) => "Email",
        }
    }

    /// Returns the receiver as `HomesocAutomationRuns.Target` records it:
    /// the URL or the recipients, never a secret.
    pub fn target(&self) -> String {
        match self {
            Channel::Webhook(webhook) => webhook.url.clone(),
            Channel::Email(email) => email.target_text(),
        }
    }
}

/// A queued notification about one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// A UUID; sent as `X-Homesoc-Delivery`, so receivers can drop repeats.
    pub id: String,
    /// The automation rule that queued it.
    pub rule: String,
    pub trigger: Trigger,
    pub incident_number: i64,
    pub incident_name: String,
    pub channel: Channel,
    /// The JSON document sent (the webhook body; the email is made from it).
    pub payload: Value,
    /// Attempts made so far.
    pub attempts: u32,
    pub queued_ticks: i64,
    /// The earliest time of the next attempt, in ticks.
    pub next_attempt_ticks: i64,
}

/// The outbox of one data folder.
#[derive(Debug, Clone)]
pub struct Outbox {
    folder: PathBuf,
    failed_folder: PathBuf,
}

impl Outbox {
    /// Returns the outbox of the data folder `data_dir`; folders are made
    /// when a notification is written.
    pub fn new(data_dir: &Path) -> Outbox {
        Outbox {
            folder: data_dir.join(OUTBOX_FOLDER),
            failed_folder: data_dir.join(FAILED_FOLDER),
        }
    }

    /// Returns the folder of queued notifications.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Writes each notification to its own file and syncs them.
    pub fn enqueue(&self, notifications: &[Notification]) -> Result<(), DetectError> {
        for notification in notifications {
            self.save(notification)?;
        }
        Ok(())
    }

    /// Writes a notification (new or after an attempt): a temporary file,
    /// synced, then renamed over the old one, so a crash leaves the old or
    /// the new version and never a partial file.
    pub fn save(&self, notification: &Notification) -> Result<(), DetectError> {
        write_atomically(&self.folder, &file_name(&notification.id), notification)
    }

    /// Removes a delivered notification.
    pub fn remove(&self, id: &str) -> Result<(), DetectError> {
        let path = self.folder.join(file_name(id));
        match std::fs::remove_file(&path) {
            Ok(()) => sync_folder(&self.folder),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(outbox_error(&path, err)),
        }
    }

    /// Moves a notification whose last attempt failed to the failed folder,
    /// with its attempt count reset, so that moving the file back to the
    /// outbox sends it with every retry again. `HomesocAutomationRuns` keeps
    /// the attempts made.
    pub fn move_to_failed(&self, notification: &Notification) -> Result<(), DetectError> {
        let resendable = Notification {
            attempts: 0,
            next_attempt_ticks: 0,
            ..notification.clone()
        };
        write_atomically(
            &self.failed_folder,
            &file_name(&notification.id),
            &resendable,
        )?;
        self.remove(&notification.id)
    }

    /// Returns the queued notifications, the earliest due first. A file
    /// that does not parse is logged and renamed to `*.invalid`, so it is
    /// neither lost nor read again.
    pub fn list(&self) -> Result<Vec<Notification>, DetectError> {
        let entries = match std::fs::read_dir(&self.folder) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(outbox_error(&self.folder, err)),
        };
        let mut notifications = Vec::new();
        for entry in entries {
            let path = entry.map_err(|err| outbox_error(&self.folder, err))?.path();
            if path.extension().is_none_or(|extension| extension != "json") {
                continue;
            }
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                // Removed by a delivery since the folder was listed.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(outbox_error(&path, err)),
            };
            match serde_json::from_str::<Notification>(&text) {
                Ok(notification) => notifications.push(notification),
                Err(err) => {
                    warn!(path = %path.display(), error = %err, "invalid outbox file set aside");
                    let _ = std::fs::rename(&path, path.with_extension("invalid"));
                }
            }
        }
        notifications.sort_by(|a, b| {
            (a.next_attempt_ticks, a.queued_ticks, &a.id).cmp(&(
                b.next_attempt_ticks,
                b.queued_ticks,
                &b.id,
            ))
        });
        Ok(notifications)
    }
}

fn file_name(id: &str) -> String {
    format!("{id}.json")
}

fn write_atomically(
    folder: &Path,
    name: &str,
    notification: &Notification,
) -> Result<(), DetectError> {
    use std::io::Write as _;

    std::fs::create_dir_all(folder).map_err(|err| outbox_error(folder, err))?;
    let path = folder.join(name);
    let temporary = folder.join(format!(".{name}.tmp"));
    let text = serde_json::to_vec_pretty(notification).map_err(|err| DetectError::Outbox {
        path: path.clone(),
        reason: format!("cannot encode the notification: {err}"),
    })?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // The file may hold a webhook secret or an SMTP password copied from
    // the automation file, so only the owner may read it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&temporary)
        .map_err(|err| outbox_error(&temporary, err))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .map_err(|err| outbox_error(&temporary, err))?;
    drop(file);
    std::fs::rename(&temporary, &path).map_err(|err| outbox_error(&path, err))?;
    sync_folder(folder)
}

/// Syncs a folder so that a rename or removal in it survives a crash.
fn sync_folder(folder: &Path) -> Result<(), DetectError> {
    #[cfg(unix)]
    {
        let handle = std::fs::File::open(folder).map_err(|err| outbox_error(folder, err))?;
        handle.sync_all().map_err(|err| outbox_error(folder, err))?;
    }
    #[cfg(not(unix))]
    let _ = folder;
    Ok(())
}

fn outbox_error(path: &Path, err: std::io::Error) -> DetectError {
    DetectError::Outbox {
        path: path.to_path_buf(),
        reason: err.to_string(),
    }
}
