//! Rule runs: one evaluation of a rule at an instant, the schedule a
//! backtest replays, and the [`Detector`] that turns runs into alerts,
//! incidents and run records.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use engine::{Engine, QueryOptions};
use store::{TableSnapshot, TimeWindow, Workspace};
use tracing::{info, warn};

use crate::alert::{RunInstant, build_alerts, result_row_key};
use crate::automation::evaluate::{changed_incidents, run_automation};
use crate::automation::facts::gather_facts;
use crate::automation::{AutomationConfig, Outbox, load_automation};
use crate::check::query_error;
use crate::error::DetectError;
use crate::incident::{AlertOutcome, Incident, IncidentBook};
use crate::read::{
    read_alerted_instants, read_alerted_rows, read_incidents, read_last_alert_times,
};
use crate::result::ResultRows;
use crate::rule::Rule;
use crate::write::{PendingRows, commit_rows};

/// The trigger of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// By the scheduler.
    Scheduled,
    /// By `homesoc rules run`.
    Manual,
    /// By `homesoc rules backtest`.
    Backtest,
    /// By a retro-hunt of new threat-intelligence indicators.
    RetroHunt,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Scheduled => "Scheduled",
            RunKind::Manual => "Manual",
            RunKind::Backtest => "Backtest",
            RunKind::RetroHunt => "RetroHunt",
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// The query ran; the record counts the alerts it raised.
    Succeeded,
    /// The query failed; the record's error gives the reason.
    Failed,
    /// The rule raised an alert less than its suppression duration ago, so
    /// the query did not run.
    Suppressed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "Succeeded",
            RunStatus::Failed => "Failed",
            RunStatus::Suppressed => "Suppressed",
        }
    }
}

/// The outcome of one run, as one `HomesocRuleRuns` row records it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub rule_id: String,
    pub rule_name: String,
    pub kind: RunKind,
    /// The instant the rule was evaluated at, in ticks.
    pub at_ticks: i64,
    /// The query period the tables were restricted to.
    pub window: TimeWindow,
    /// Wall-clock start of the run, in ticks.
    pub started_ticks: i64,
    pub duration_ms: f64,
    pub result_rows: u64,
    pub alerts: u64,
    /// Incidents created, grouped into or reopened by the run's alerts.
    pub incidents: u64,
    pub status: RunStatus,
    pub error: Option<String>,
}

/// The rows a run reads: the tables restricted by event time or by
/// ingestion time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunWindow {
    /// Rows whose `TimeGenerated` is in the window, as scheduled rules read.
    Generated(TimeWindow),
    /// Rows ingested in the window, as near-real-time rules read.
    Ingested(TimeWindow),
}

impl RunWindow {
    /// Returns the window, whichever time it restricts.
    pub fn window(self) -> TimeWindow {
        match self {
            RunWindow::Generated(window) | RunWindow::Ingested(window) => window,
        }
    }
}

/// Returns the window a run at `at_ticks` reads: the query period before it.
pub fn run_window(rule: &Rule, at_ticks: i64) -> TimeWindow {
    TimeWindow {
        start_ticks: at_ticks - rule.query_period,
        end_ticks: at_ticks,
    }
}

/// Returns the instants a backtest from `from_ticks` to `to_ticks` runs
/// the rule at: every `queryFrequency` after `from`, the first at
/// `from + queryFrequency` and the last at the first step at or after
/// `to`. When the query period is at least the frequency, every instant of
/// `[from, to)` is in some run's window.
pub fn schedule(rule: &Rule, from_ticks: i64, to_ticks: i64) -> Vec<i64> {
    let mut instants = Vec::new();
    let mut at = from_ticks;
    while at < to_ticks {
        at += rule.query_frequency;
        instants.push(at);
    }
    instants
}

/// Runs rules against a workspace and keeps the incidents, the last alert
/// time of each rule (for suppression) and the rows not yet committed.
///
/// Runs read the tables through one [`TableSnapshot`], opened by the first
/// run after [`Detector::open`], [`Detector::commit`] or
/// [`Detector::refresh_tables`], so that a batch of runs (a backtest, a
/// scheduler tick) reads every table's log once instead of once per run.
pub struct Detector {
    engine: Engine,
    workspace: Workspace,
    incidents: IncidentBook,
    last_alert_ticks: BTreeMap<String, i64>,
    pending: PendingRows,
    snapshot: Option<TableSnapshot>,
    /// Per rule id, the keys of result rows that raised alerts and the run
    /// instant they did at; only kept when deduplication is on.
    alerted_rows: BTreeMap<String, BTreeMap<u64, i64>>,
    deduplicate: bool,
    /// Stored alerts by rule id, run instant and result key, which
    /// [`Detector::skip_stored_alerts`] reads: such a result row raises no
    /// alert again when a run at the same instant repeats.
    stored_alerts: BTreeSet<(String, i64, u64)>,
    /// The result rows that were not alerted on again because of
    /// `stored_alerts`.
    repeated_rows: usize,
    /// The automation rules of `automation.toml`, read by [`Detector::open`].
    automation: Option<AutomationConfig>,
}

impl Detector {
    /// Reads the incidents and each rule's last alert time from the
    /// workspace, and the automation rules from its `automation.toml`.
    pub async fn open(engine: Engine, workspace: Workspace) -> Result<Detector, DetectError> {
        let incidents = read_incidents(&engine, &workspace).await?;
        let last_alert_ticks = read_last_alert_times(&engine, &workspace).await?;
        let automation = load_automation(workspace.root())?;
        Ok(Detector {
            engine,
            workspace,
            incidents: IncidentBook::from_incidents(incidents),
            last_alert_ticks,
            pending: PendingRows::default(),
            snapshot: None,
            alerted_rows: BTreeMap::new(),
            deduplicate: false,
            stored_alerts: BTreeSet::new(),
            repeated_rows: 0,
            automation,
        })
    }

    /// Turns on deduplication of result rows: a result row equal to one
    /// that raised an alert of the same rule within the rule's query
    /// period raises no new alert. Scheduled rules whose query period is
    /// longer than their frequency read overlapping windows, and this keeps
    /// an event in the overlap from alerting once per run. The keys of
    /// earlier alerts are read from `SecurityAlert` (the last `lookback`
    /// ticks before `now_ticks`).
    pub async fn enable_deduplication(
        &mut self,
        now_ticks: i64,
        lookback: i64,
    ) -> Result<(), DetectError> {
        self.alerted_rows =
            read_alerted_rows(&self.engine, &self.workspace, now_ticks - lookback).await?;
        self.deduplicate = true;
        Ok(())
    }

    /// Reads the alerts stored for run instants since `since_ticks`, so
    /// that a run repeated at one of those instants (`rules run --at` or
    /// `rules backtest --commit` over the same period again) raises no
    /// second alert for a result row that raised one. New rows still do.
    pub async fn skip_stored_alerts(&mut self, since_ticks: i64) -> Result<(), DetectError> {
        self.stored_alerts =
            read_alerted_instants(&self.engine, &self.workspace, since_ticks).await?;
        Ok(())
    }

    /// Returns how many result rows raised no alert because a stored alert
    /// of the same rule and run instant had them (see
    /// [`Detector::skip_stored_alerts`]).
    pub fn repeated_rows(&self) -> usize {
        self.repeated_rows
    }

    /// Reads the incidents again from `SecurityIncident`, dropping the
    /// in-memory book, so that changes written by other writers are seen.
    pub async fn reload_incidents(&mut self) -> Result<(), DetectError> {
        let incidents = read_incidents(&self.engine, &self.workspace).await?;
        self.incidents = IncidentBook::from_incidents(incidents);
        Ok(())
    }

    /// Drops the table snapshot, so that the next run reads the tables as
    /// they are then, with rows committed since the last run.
    pub fn refresh_tables(&mut self) {
        self.snapshot = None;
    }

    /// Returns the workspace the detector runs against.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// Returns the engine the detector runs queries with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Returns the last time each rule raised an alert, by rule id.
    pub fn last_alert_ticks(&self) -> &BTreeMap<String, i64> {
        &self.last_alert_ticks
    }

    /// Returns the rows of the runs since the last commit.
    pub fn pending(&self) -> &PendingRows {
        &self.pending
    }

    pub fn incidents(&self) -> &IncidentBook {
        &self.incidents
    }

    /// Runs `rule` once at `at_ticks`: skipped while suppressed, otherwise
    /// the query runs with `now()` at `at_ticks` over the query period, and
    /// when the trigger fires, alerts are raised and grouped into
    /// incidents. A failed query is recorded, not returned as an error.
    pub async fn run_rule(&mut self, rule: &Rule, at_ticks: i64, kind: RunKind) -> RunRecord {
        let window = RunWindow::Generated(run_window(rule, at_ticks));
        self.run_rule_over(rule, at_ticks, window, kind).await
    }

    /// Runs `rule` once at `at_ticks` over the rows `window` selects; see
    /// [`Detector::run_rule`].
    pub async fn run_rule_over(
        &mut self,
        rule: &Rule,
        at_ticks: i64,
        run_window: RunWindow,
        kind: RunKind,
    ) -> RunRecord {
        let started = Instant::now();
        let window = run_window.window();
        let mut record = RunRecord {
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            kind,
            at_ticks,
            window,
            started_ticks: engine::time::ticks_from_datetime(chrono::Utc::now()),
            duration_ms: 0.0,
            result_rows: 0,
            alerts: 0,
            incidents: 0,
            status: RunStatus::Succeeded,
            error: None,
        };

        let suppressed_until = rule
            .suppression
            .zip(self.last_alert_ticks.get(&rule.id))
            .map(|(duration, last)| last + duration);
        if suppressed_until.is_some_and(|until| at_ticks < until) {
            record.status = RunStatus::Suppressed;
            self.pending.runs.push(record.clone());
            return record;
        }

        match self.evaluate(rule, at_ticks, run_window).await {
            Ok((result_rows, alerts)) => {
                record.result_rows = result_rows;
                record.alerts = alerts.len() as u64;
                let mut touched = Vec::new();
                for alert in &alerts {
                    match self.incidents.add_alert(rule, alert) {
                        AlertOutcome::NoIncident => {}
                        AlertOutcome::Created(number)
                        | AlertOutcome::Grouped(number)
                        | AlertOutcome::Reopened(number) => touched.push(number),
                    }
                }
                touched.sort_unstable();
                touched.dedup();
                record.incidents = touched.len() as u64;
                if !alerts.is_empty() {
                    self.last_alert_ticks.insert(rule.id.clone(), at_ticks);
                }
                self.pending.alerts.extend(alerts);
                self.pending.incidents.extend(self.incidents.take_changes());
            }
            Err(message) => {
                warn!(rule_id = %rule.id, error = %message, "rule run failed");
                record.status = RunStatus::Failed;
                record.error = Some(message);
            }
        }
        record.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        info!(
            rule_id = %rule.id,
            at = %engine::time::format_datetime_iso(at_ticks),
            rows = record.result_rows,
            alerts = record.alerts,
            status = record.status.as_str(),
            "rule run"
        );
        self.pending.runs.push(record.clone());
        record
    }

    /// Runs the query and builds the alerts; returns the result row count
    /// and the alerts (none when the trigger did not fire).
    async fn evaluate(
        &mut self,
        rule: &Rule,
        at_ticks: i64,
        run_window: RunWindow,
    ) -> Result<(u64, Vec<crate::alert::Alert>), String> {
        let window = run_window.window();
        let snapshot = match self.snapshot.take() {
            Some(snapshot) => snapshot,
            None => TableSnapshot::open(&self.workspace, &self.engine)
                .await
                .map_err(|err| err.to_string())?,
        };
        let catalog = match run_window {
            RunWindow::Generated(window) => snapshot.catalog(Some(window)),
            RunWindow::Ingested(window) => snapshot.catalog_by_ingestion(window),
        };
        self.snapshot = Some(snapshot);
        let catalog = catalog.map_err(|err| err.to_string())?;
        let result = self.run_query(rule, &catalog, at_ticks).await?;
        let rows = ResultRows::new(&result);
        let row_count = rows.len() as u64;
        if !rule.trigger.fires(row_count) {
            return Ok((row_count, Vec::new()));
        }
        let run = RunInstant {
            at_ticks,
            window_start: window.start_ticks,
            window_end: window.end_ticks,
        };
        let alert_rows = self.new_result_rows(rule, &rows, at_ticks);
        Ok((row_count, build_alerts(rule, &rows, alert_rows, run)))
    }

    /// Returns the result rows that may raise alerts: those that no stored
    /// alert of the same rule and run instant had, and with deduplication
    /// on, of those the ones not alerted on within the query period (whose
    /// keys are then remembered).
    fn new_result_rows(&mut self, rule: &Rule, rows: &ResultRows<'_>, at_ticks: i64) -> Vec<usize> {
        let mut candidates: Vec<usize> = (0..rows.len()).collect();
        if !self.stored_alerts.is_empty() {
            candidates.retain(|&row| {
                let stored = (rule.id.clone(), at_ticks, result_row_key(rows, row));
                !self.stored_alerts.contains(&stored)
            });
            self.repeated_rows += rows.len() - candidates.len();
        }
        if !self.deduplicate {
            return candidates;
        }
        let oldest_kept = at_ticks - rule.query_period.max(rule.query_frequency);
        let seen = self.alerted_rows.entry(rule.id.clone()).or_default();
        seen.retain(|_, alerted_at| *alerted_at > oldest_kept);
        let mut fresh = Vec::new();
        for row in candidates {
            let key = result_row_key(rows, row);
            if let std::collections::btree_map::Entry::Vacant(entry) = seen.entry(key) {
                entry.insert(at_ticks);
                fresh.push(row);
            }
        }
        fresh
    }

    /// Returns whether the rule's trigger fires over the tables of
    /// `catalog` (such as every table empty), or the error of a query that
    /// does not run.
    pub async fn fires_over(
        &self,
        rule: &Rule,
        catalog: &dyn engine::Catalog,
        at_ticks: i64,
    ) -> Result<bool, String> {
        let result = self.run_query(rule, catalog, at_ticks).await?;
        Ok(rule.trigger.fires(result.row_count() as u64))
    }

    /// Plans the rule's query over `catalog` with `now()` at `at_ticks`,
    /// without running it, and returns its logical plan.
    pub fn plan_over(
        &self,
        rule: &Rule,
        catalog: &dyn engine::Catalog,
        at_ticks: i64,
    ) -> Result<datafusion::logical_expr::LogicalPlan, String> {
        let options = QueryOptions {
            now_ticks: at_ticks,
            ..QueryOptions::default()
        };
        self.engine
            .plan(&rule.query, catalog, &options)
            .map(|relation| relation.plan)
            .map_err(|err| query_error(&rule.query, &err))
    }

    /// Runs the rule's query over `catalog` with `now()` at `at_ticks`.
    async fn run_query(
        &self,
        rule: &Rule,
        catalog: &dyn engine::Catalog,
        at_ticks: i64,
    ) -> Result<engine::QueryResult, String> {
        let options = QueryOptions {
            now_ticks: at_ticks,
            ..QueryOptions::default()
        };
        self.engine
            .run(&rule.query, catalog, &options)
            .await
            .map_err(|err| query_error(&rule.query, &err))
    }

    /// Returns the automation rules the commit runs, if any.
    pub fn automation(&self) -> Option<&AutomationConfig> {
        self.automation.as_ref()
    }

    /// Replaces the automation rules, such as after `automation.toml`
    /// changed.
    pub fn set_automation(&mut self, automation: Option<AutomationConfig>) {
        self.automation = automation;
    }

    /// Runs the automation rules on the incidents changed since they last
    /// ran, then commits the pending rows and clears them, and queues the
    /// rules' notifications in the outbox for the delivery worker. The
    /// caller holds the workspace's write lock.
    ///
    /// The notifications are staged before the rows are committed and
    /// queued after, so a crash between the two leaves them staged, and
    /// [`recover_staged`](crate::automation::outbox::recover_staged) queues
    /// them once it finds the commit. A failed commit deletes them.
    pub async fn commit(&mut self) -> Result<(), DetectError> {
        let now = engine::time::ticks_from_datetime(chrono::Utc::now());
        self.run_automation(now).await?;
        let commit_id = format!("detect-{}", uuid::Uuid::new_v4());
        let outbox = Outbox::new(self.workspace.root());
        outbox.stage(&commit_id, &self.pending.notifications)?;
        if let Err(err) = commit_rows(&self.workspace, &self.pending, now, &commit_id).await {
            if let Err(discard) = outbox.discard_staged(&commit_id) {
                warn!(error = %discard, "cannot delete the notifications of a failed commit; they are sent only if the commit is found later");
            }
            return Err(err);
        }
        outbox.promote(&commit_id)?;
        self.pending = PendingRows::default();
        self.snapshot = None;
        Ok(())
    }

    /// Runs the automation rules on the incident rows queued since the
    /// last run; the rows their own changes add are not run on again.
    async fn run_automation(&mut self, now_ticks: i64) -> Result<(), DetectError> {
        let start = self.pending.automated_incidents;
        let has_rules = self
            .automation
            .as_ref()
            .is_some_and(|config| config.rules.iter().any(|rule| rule.enabled));
        if has_rules && start < self.pending.incidents.len() {
            let changed = changed_incidents(&self.pending.incidents[start..]);
            let incidents: Vec<&Incident> = changed
                .iter()
                .filter_map(|change| self.incidents.get(change.number))
                .collect();
            let facts = gather_facts(
                &self.engine,
                &self.workspace,
                &self.pending.alerts,
                &incidents,
            )
            .await?;
            if let Some(config) = &self.automation {
                let outcome =
                    run_automation(config, &mut self.incidents, &changed, &facts, now_ticks);
                self.pending.incidents.extend(self.incidents.take_changes());
                self.pending.automation.extend(outcome.records);
                self.pending.notifications.extend(outcome.notifications);
            }
        }
        self.pending.automated_incidents = self.pending.incidents.len();
        Ok(())
    }

    /// Drops the pending rows without writing them.
    pub fn discard_pending(&mut self) -> PendingRows {
        std::mem::take(&mut self.pending)
    }

    /// Changes an incident with `apply` and queues its new row.
    pub fn change_incident<T>(
        &mut self,
        apply: impl FnOnce(&mut IncidentBook) -> Result<T, DetectError>,
    ) -> Result<T, DetectError> {
        let outcome = apply(&mut self.incidents)?;
        self.pending.incidents.extend(self.incidents.take_changes());
        Ok(outcome)
    }
}
