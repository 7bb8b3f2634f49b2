//! The delivery worker: sends the queued notifications, retries failures
//! after the configured delays, and records every attempt in
//! `HomesocAutomationRuns`.

use std::future::Future;
use std::time::{Duration, Instant};

use store::Workspace;
use tracing::{error, info, warn};

use super::config::{DeliveryOptions, load_automation};
use super::email::send_email;
use super::outbox::{Channel, Notification, Outbox};
use super::record::{AutomationRecord, StepStatus, commit_records};
use super::webhook::send_webhook;
use crate::error::DetectError;

/// How often `run_forever` looks for notifications queued by the scheduler
/// and other writers.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    pub delivered: bool,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

impl AttemptOutcome {
    pub fn succeeded(http_status: Option<u16>) -> AttemptOutcome {
        AttemptOutcome {
            delivered: true,
            http_status,
            error: None,
        }
    }

    pub fn failed(http_status: Option<u16>, error: String) -> AttemptOutcome {
        AttemptOutcome {
            delivered: false,
            http_status,
            error: Some(error),
        }
    }
}

/// Counts of one or more delivery passes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliverySummary {
    pub delivered: usize,
    /// Attempts that failed with another attempt queued.
    pub retried: usize,
    /// Notifications whose last attempt failed.
    pub failed: usize,
}

/// Sends the notifications of a workspace's outbox.
pub struct Deliverer {
    workspace: Workspace,
    outbox: Outbox,
    client: reqwest::Client,
    options: DeliveryOptions,
}

impl Deliverer {
    /// Opens the outbox of `workspace` with the delivery settings of its
    /// `automation.toml` (the defaults when there is no such file).
    pub fn open(workspace: Workspace) -> Result<Deliverer, DetectError> {
        let options = load_automation(workspace.root())?
            .map(|config| config.delivery)
            .unwrap_or_default();
        Deliverer::with_options(workspace, options)
    }

    /// Opens the outbox of `workspace` with `options`.
    pub fn with_options(
        workspace: Workspace,
        options: DeliveryOptions,
    ) -> Result<Deliverer, DetectError> {
        // Redirects are not followed: a webhook that moved is a
        // configuration to fix, and following would send the signed
        // payload to another host.
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("homesoc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| DetectError::Outbox {
                path: workspace.root().to_path_buf(),
                reason: format!("cannot start the HTTP client: {err}"),
            })?;
        Ok(Deliverer {
            outbox: Outbox::new(workspace.root()),
            workspace,
            client,
            options,
        })
    }

    /// Attempts every notification due at `now_ticks` once, then commits
    /// the attempt records. The caller holds the workspace's write lock.
    pub async fn deliver_due(&self, now_ticks: i64) -> Result<DeliverySummary, DetectError> {
        let mut summary = DeliverySummary::default();
        let mut records = Vec::new();
        for notification in self.outbox.list()? {
            if notification.next_attempt_ticks > now_ticks {
                continue;
            }
            let record = self.attempt(notification).await?;
            match record.status {
                StepStatus::Succeeded => summary.delivered += 1,
                StepStatus::Retrying => summary.retried += 1,
                StepStatus::Failed | StepStatus::Skipped => summary.failed += 1,
            }
            records.push(record);
        }
        commit_records(&self.workspace, &records).await?;
        Ok(summary)
    }

    /// Delivers until the outbox is empty, waiting for each retry, as the
    /// command-line paths do before they exit. The wait is bounded by the
    /// sum of the retry delays. The caller holds the write lock.
    pub async fn deliver_all(&self) -> Result<DeliverySummary, DetectError> {
        let mut total = DeliverySummary::default();
        loop {
            let now = now_ticks();
            let summary = self.deliver_due(now).await?;
            total.delivered += summary.delivered;
            total.retried += summary.retried;
            total.failed += summary.failed;
            let Some(next) = self.next_due_ticks()? else {
                return Ok(total);
            };
            tokio::time::sleep(ticks_until(next)).await;
        }
    }

    /// Delivers notifications as they become due until `shutdown`
    /// resolves, as `homesoc up` does. A failing pass is logged and
    /// retried at the next poll.
    pub async fn run_forever(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        info!(outbox = %self.outbox.folder().display(), "notification delivery started");
        loop {
            if let Err(err) = self.deliver_due(now_ticks()).await {
                error!(error = %err, "notification delivery pass failed");
            }
            let wait = match self.next_due_ticks() {
                Ok(Some(next)) => ticks_until(next).min(POLL_INTERVAL),
                _ => POLL_INTERVAL,
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        info!("notification delivery stopped");
    }

    fn next_due_ticks(&self) -> Result<Option<i64>, DetectError> {
        Ok(self
            .outbox
            .list()?
            .iter()
            .map(|notification| notification.next_attempt_ticks)
            .min())
    }

    /// Makes one attempt, then saves, removes or sets aside the
    /// notification, and returns the attempt's record.
    async fn attempt(
        &self,
        mut notification: Notification,
    ) -> Result<AutomationRecord, DetectError> {
        let started = Instant::now();
        let started_ticks = now_ticks();
        let outcome = match &notification.channel {
            Channel::Webhook(webhook) => send_webhook(&self.client, webhook, &notification).await,
            Channel::Email(email) => send_email(email, &notification, self.options.timeout).await,
        };
        notification.attempts += 1;
        let retries_used = notification.attempts as usize - 1;
        let status = if outcome.delivered {
            self.outbox.remove(&notification.id)?;
            StepStatus::Succeeded
        } else if let Some(delay) = self.options.retry_delays.get(retries_used) {
            notification.next_attempt_ticks = now_ticks() + duration_ticks(*delay);
            self.outbox.save(&notification)?;
            StepStatus::Retrying
        } else {
            self.outbox.move_to_failed(&notification)?;
            StepStatus::Failed
        };

        match status {
            StepStatus::Succeeded => info!(
                id = %notification.id,
                rule = %notification.rule,
                incident = notification.incident_number,
                action = notification.channel.action(),
                attempt = notification.attempts,
                "notification delivered"
            ),
            _ => warn!(
                id = %notification.id,
                rule = %notification.rule,
                incident = notification.incident_number,
                action = notification.channel.action(),
                attempt = notification.attempts,
                status = status.as_str(),
                error = outcome.error.as_deref().unwrap_or_default(),
                "notification attempt failed"
            ),
        }

        Ok(AutomationRecord {
            time_ticks: started_ticks,
            rule: notification.rule.clone(),
            trigger: notification.trigger,
            incident_number: notification.incident_number,
            incident_name: notification.incident_name.clone(),
            action: notification.channel.action(),
            target: notification.channel.target(),
            notification_id: Some(notification.id.clone()),
            attempt: notification.attempts,
            status,
            http_status: outcome.http_status,
            error: outcome.error,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }
}

fn now_ticks() -> i64 {
    engine::time::ticks_from_datetime(chrono::Utc::now())
}

/// 100 ns ticks in a duration.
fn duration_ticks(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos() / 100).unwrap_or(i64::MAX)
}

fn ticks_until(ticks: i64) -> Duration {
    let remaining = ticks.saturating_sub(now_ticks()).max(0);
    Duration::from_nanos(remaining as u64 * 100)
}
