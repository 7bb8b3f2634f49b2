//! Detection: Sentinel analytics rules run over the workspace's tables.
//!
//! A rule is a Sentinel analytics rule YAML file ([`load`]). A run
//! evaluates its KQL query at an instant with the tables restricted to the
//! rule's query period ([`evaluate`]), and when the trigger fires, raises
//! alerts into `SecurityAlert` with entities and custom details
//! ([`alert`]). Alerts become or join incidents in `SecurityIncident`
//! following the rule's incident configuration ([`incident`]). Every run is
//! recorded in `HomesocRuleRuns`. The [`scheduler`] runs the enabled rules
//! on their schedules; [`builtin`] contains homesoc's own rule pack.
//! [`automation`] rules act on incidents as they are created or updated.

pub mod alert;
pub mod automation;
pub mod backtest;
pub mod builtin;
pub mod check;
pub mod entities;
pub mod error;
pub mod incident;
pub mod load;
mod read;
mod result;
pub mod retro_hunt;
pub mod row_sources;
pub mod rule;
pub mod run;
pub mod scheduler;
pub mod sigma;
pub mod state;
pub mod timespan;
pub mod write;

pub use error::{DetectError, RuleError};
pub use load::{RuleSet, load_rules};
pub use rule::Rule;
pub use run::{Detector, RunKind, RunRecord, RunStatus, RunWindow};
pub use scheduler::{Scheduler, SchedulerOptions, Tick};
pub use state::RuleStates;
