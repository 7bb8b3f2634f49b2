//! Automation rules: on an incident created or updated, when the rule's
//! conditions on severity, analytics rules, tactics or entities hold, run
//! its actions in order.
//!
//! Rules live in `automation.toml` in the data folder ([`config`]). The
//! [`Detector`](crate::Detector) runs them in its commit, so every path
//! that changes incidents (the scheduler, `rules run`, backtests that
//! commit, retro-hunts, analysts' changes) gets automation. Incident
//! changes (status, owner, tag) are written in the same commit.
//! Notifications (webhook, email) go to a durable [`outbox`] and a
//! [`deliver`] worker sends them with retries, so a commit (and with it a
//! scheduler tick) does no network I/O. Every change and delivery attempt is a row
//! of `HomesocAutomationRuns` ([`record`]).

pub mod config;
pub mod deliver;
mod email;
pub mod evaluate;
pub mod facts;
pub mod outbox;
pub mod payload;
pub mod record;
pub mod webhook;

pub use config::{AUTOMATION_FILE, AutomationConfig, Trigger, load_automation};
pub use deliver::{Deliverer, DeliverySummary};
pub use outbox::{Notification, Outbox};
