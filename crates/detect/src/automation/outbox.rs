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
//!
//! Notifications of a commit are staged before the commit, in
//! `automation/staged/<commit id>/`, and moved into the outbox after it
//! ([`Outbox::stage`], [`Outbox::promote`]). A crash between the two
//! leaves them staged. [`recover_staged`] then moves those whose commit
//! reached the tables into the outbox and deletes the others, because their
//! incidents were never written.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use store::{ImportState, Workspace};

use super::config::{EmailTarget, Trigger, WebhookTarget};
use crate::error::DetectError;

/// The outbox folder, under the data folder.
pub const OUTBOX_FOLDER: &str = "automation/outbox";
/// The folder of notifications whose every attempt failed.
pub const FAILED_FOLDER: &str = "automation/failed";
/// The folder of notifications waiting for their commit, one subfolder per
/// commit id.
pub const STAGED_FOLDER: &str = "automation/staged";

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
    staged_folder: PathBuf,
}

impl Outbox {
    /// Returns the outbox of the data folder `data_dir`; folders are made
    /// when a notification is written.
    pub fn new(data_dir: &Path) -> Outbox {
        Outbox {
            folder: data_dir.join(OUTBOX_FOLDER),
            failed_folder: data_dir.join(FAILED_FOLDER),
            staged_folder: data_dir.join(STAGED_FOLDER),
        }
    }

    /// Returns the folder of queued notifications.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Writes the notifications of the commit `commit_id` to its staging
    /// folder and syncs them, before the commit. Nothing is sent from there
    /// until [`Outbox::promote`] moves them into the outbox. Does nothing
    /// without notifications.
    pub fn stage(
        &self,
        commit_id: &str,
        notifications: &[Notification],
    ) -> Result<(), DetectError> {
        if notifications.is_empty() {
            return Ok(());
        }
        let folder = self.staged_folder.join(commit_id);
        for notification in notifications {
            write_atomically(&folder, &file_name(&notification.id), notification)?;
        }
        // The commit's folder itself must survive a crash too.
        sync_folder(&self.staged_folder)
    }

    /// Moves the staged notifications of `commit_id` into the outbox, after
    /// its commit, and returns how many moved. Moving again after a crash
    /// in the middle moves the rest.
    pub fn promote(&self, commit_id: &str) -> Result<usize, DetectError> {
        let folder = self.staged_folder.join(commit_id);
        let names = json_files(&folder)?;
        if names.is_empty() && !folder.exists() {
            return Ok(0);
        }
        std::fs::create_dir_all(&self.folder).map_err(|err| outbox_error(&self.folder, err))?;
        for name in &names {
            let target = self.folder.join(name);
            std::fs::rename(folder.join(name), &target)
                .map_err(|err| outbox_error(&target, err))?;
        }
        sync_folder(&self.folder)?;
        self.discard_staged(commit_id)?;
        Ok(names.len())
    }

    /// Deletes the staged notifications of `commit_id`, such as after its
    /// commit failed, and returns how many there were.
    pub fn discard_staged(&self, commit_id: &str) -> Result<usize, DetectError> {
        let folder = self.staged_folder.join(commit_id);
        let count = json_files(&folder)?.len();
        match std::fs::remove_dir_all(&folder) {
            Ok(()) => sync_folder(&self.staged_folder)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(outbox_error(&folder, err)),
        }
        Ok(count)
    }

    /// Returns the commit ids with staged notifications, in name order.
    pub fn staged_commits(&self) -> Result<Vec<String>, DetectError> {
        let entries = match std::fs::read_dir(&self.staged_folder) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(outbox_error(&self.staged_folder, err)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| outbox_error(&self.staged_folder, err))?;
            if entry.path().is_dir()
                && let Some(name) = entry.file_name().to_str()
            {
                ids.push(name.to_string());
            }
        }
        ids.sort();
        Ok(ids)
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

/// The outcome of [`recover_staged`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StagedRecovery {
    /// Notifications whose commit reached the tables, now in the outbox.
    pub promoted: usize,
    /// Notifications whose commit never reached the tables, deleted.
    pub dropped: usize,
}

/// Settles the notifications a crash left staged: those whose commit is in
/// the workspace (wholly or, after a crash in the middle of it, partly) go
/// to the outbox, the others are deleted. Call it with the workspace's
/// write lock held and before any commit starts, since a commit in flight
/// has staged notifications that are not in the tables yet.
pub async fn recover_staged(workspace: &Workspace) -> Result<StagedRecovery, DetectError> {
    let outbox = Outbox::new(workspace.root());
    let mut recovery = StagedRecovery::default();
    for commit_id in outbox.staged_commits()? {
        match workspace.import_state(&commit_id).await? {
            ImportState::New => {
                let dropped = outbox.discard_staged(&commit_id)?;
                warn!(commit = %commit_id, notifications = dropped, "dropped notifications whose commit did not happen");
                recovery.dropped += dropped;
            }
            ImportState::Complete | ImportState::Partial { .. } => {
                let promoted = outbox.promote(&commit_id)?;
                info!(commit = %commit_id, notifications = promoted, "queued notifications staged before a crash");
                recovery.promoted += promoted;
            }
        }
    }
    Ok(recovery)
}

/// Returns the names of the `.json` files in `folder`, none when it does
/// not exist.
fn json_files(folder: &Path) -> Result<Vec<String>, DetectError> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(outbox_error(folder, err)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| outbox_error(folder, err))?;
        if let Some(name) = entry.file_name().to_str()
            && name.ends_with(".json")
            && !name.starts_with('.')
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
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
