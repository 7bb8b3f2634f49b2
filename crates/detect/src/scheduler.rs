//! The rule scheduler: runs each enabled rule when it is due, as Sentinel
//! runs analytics rules, and records every run in `HomesocRuleRuns`.
//!
//! A scheduled rule runs every `queryFrequency` over the `queryPeriod`
//! before the run, on `TimeGenerated`. Its run instants are
//! `queryFrequency` apart from its first run. The last instant run is read
//! back from `HomesocRuleRuns` when the scheduler opens, so a restart
//! neither repeats nor skips a run. The instants missed while homesoc was
//! down run when it comes back, up to
//! [`SchedulerOptions::max_catch_up_runs`] per rule.
//!
//! A near-real-time (NRT) rule runs every minute over the rows ingested
//! since the end of its last run, on ingestion time, so a row ingested late
//! is still read once.
//!
//! When a rule's query period is longer than its frequency, runs read
//! overlapping windows. The detector's deduplication
//! ([`Detector::enable_deduplication`]) keeps a result row that already
//! raised an alert within the query period from raising another.
//!
//! A run that fails is recorded and its instant is retried at the next
//! tick. A rule whose query does not plan against the table schemas fails
//! the same way at every instant, so it is run (and its failure recorded)
//! once, then left out until the scheduler is opened again.
//!
//! NOTE: an event ingested after the run whose window holds its
//! `TimeGenerated`, and older than the next run's query period, is never
//! read by a scheduled rule, as in Sentinel. NRT rules read it, unless its
//! import set its ingestion time before an NRT run and committed after it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use engine::{Engine, QueryOptions};
use store::{TimeWindow, Workspace};
use tracing::{error, info, warn};

use crate::alert::Alert;
use crate::error::DetectError;
use crate::result::ResultRows;
use crate::rule::{Rule, RuleKind};
use crate::run::{Detector, RunKind, RunRecord, RunStatus, RunWindow};

/// Settings of a [`Scheduler`].
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// How often [`Scheduler::run_forever`] looks for due rules.
    pub tick: Duration,
    /// The maximum number of runs of one rule per tick when it is behind.
    /// Older missed instants are skipped with a warning.
    pub max_catch_up_runs: usize,
    /// The start of the schedule of a rule without recorded runs, in
    /// ticks: its first run is one `queryFrequency` later (for an NRT rule,
    /// its first run reads rows ingested since then). `None` starts every
    /// such rule at the first tick, reading one query period back.
    pub start_ticks: Option<i64>,
    /// A lock that every writer of incidents in this process takes, such
    /// as the web UI. [`Scheduler::run_forever`] holds it for each tick, so
    /// a tick never interleaves with another writer's incident rows.
    pub incident_lock: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl Default for SchedulerOptions {
    fn default() -> SchedulerOptions {
        SchedulerOptions {
            tick: Duration::from_secs(60),
            max_catch_up_runs: 288,
            start_ticks: None,
            incident_lock: None,
        }
    }
}

/// The outcome of one scheduler tick.
#[derive(Debug, Clone, Default)]
pub struct Tick {
    /// The runs made, in rule order.
    pub runs: Vec<RunRecord>,
    /// The alerts the runs raised.
    pub alerts: Vec<Alert>,
    /// Numbers of the incidents the alerts created, grouped into or
    /// reopened, sorted.
    pub incident_numbers: Vec<i64>,
}

/// The position of one rule's schedule.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// The instant of the last run that did not fail.
    last_at: Option<i64>,
    /// The end of the last NRT run's ingestion window.
    ingested_until: Option<i64>,
}

/// Runs the enabled rules of a workspace on their schedules.
pub struct Scheduler {
    detector: Detector,
    rules: Vec<Rule>,
    /// Rules whose query does not plan, and whether their failure was
    /// recorded yet.
    unplannable: Vec<(Rule, bool)>,
    progress: BTreeMap<String, Progress>,
    options: SchedulerOptions,
}

impl Scheduler {
    /// Opens a scheduler for `rules`, disabled ones included, because it
    /// reads the rule states at each tick (Sigma rules that only feed
    /// correlation rules are left out):
    /// reads each rule's last run from `HomesocRuleRuns`, the incidents and
    /// the result keys of recent alerts, and sets aside the rules whose
    /// query does not plan.
    pub async fn open(
        engine: Engine,
        workspace: Workspace,
        rules: Vec<Rule>,
        options: SchedulerOptions,
    ) -> Result<Scheduler, DetectError> {
        let progress = read_progress(&engine, &workspace).await?;
        let schema_catalog = store::catalog::schema_catalog()?;
        let plan_options = QueryOptions::default();
        // A Sigma rule that only feeds correlation rules raises no alerts
        // of its own; the correlation rules run its query.
        let (plannable, unplannable): (Vec<Rule>, Vec<Rule>) = rules
            .into_iter()
            .filter(crate::sigma::raises_own_alerts)
            .partition(|rule| {
                engine
                    .plan(&rule.query, &schema_catalog, &plan_options)
                    .is_ok()
            });
        for rule in &unplannable {
            warn!(rule_id = %rule.id, rule_name = %rule.name, "rule query does not plan; it will not be scheduled");
        }

        let longest_lookback = plannable
            .iter()
            .map(|rule| rule.query_period.max(rule.query_frequency))
            .max()
            .unwrap_or(0);
        let now = engine::time::ticks_from_datetime(chrono::Utc::now());
        let reference = options.start_ticks.map_or(now, |start| start.min(now));
        let mut detector = Detector::open(engine, workspace).await?;
        detector
            .enable_deduplication(reference, longest_lookback)
            .await?;
        info!(
            rules = plannable.len(),
            unplannable = unplannable.len(),
            "rule scheduler opened"
        );
        Ok(Scheduler {
            detector,
            rules: plannable,
            unplannable: unplannable.into_iter().map(|rule| (rule, false)).collect(),
            progress,
            options,
        })
    }

    /// Returns the rules the scheduler runs.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Returns the detector, for reading its incidents.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Runs every rule that is due at `now_ticks` and commits the alerts,
    /// incidents and run records in one commit per table. The caller holds
    /// the workspace's write lock.
    ///
    /// Errors are those of the commit; a failing query is a run record with
    /// status Failed, not an error.
    pub async fn run_due_once(&mut self, now_ticks: i64) -> Result<Tick, DetectError> {
        self.detector.refresh_tables();
        // Another writer (the web UI, `homesoc incidents`) may have changed
        // incidents since the last tick; grouping must start from their
        // current rows or it would write back stale ones.
        self.detector.reload_incidents().await?;
        let mut records = Vec::new();

        // Rule states are read at every tick, so a rule disabled or enabled
        // while the scheduler runs (from the web UI, the API or `homesoc
        // rules`) stops or starts at the next tick.
        let states = match crate::RuleStates::load(self.detector.workspace().root()) {
            Ok(states) => Some(states),
            Err(err) => {
                warn!(error = %err, "cannot read the rule states; running every scheduled rule");
                None
            }
        };
        let disabled = |rule: &Rule| {
            states
                .as_ref()
                .is_some_and(|states| !states.is_enabled(&rule.id))
        };

        for (rule, reported) in &mut self.unplannable {
            if !*reported && !disabled(rule) {
                records.push(
                    self.detector
                        .run_rule(rule, now_ticks, RunKind::Scheduled)
                        .await,
                );
                *reported = true;
            }
        }

        for index in 0..self.rules.len() {
            let rule = self.rules[index].clone();
            if disabled(&rule) {
                // A disabled rule's schedule moves along with the clock, so
                // enabling it runs it once at the next tick instead of
                // replaying the runs it missed.
                let frequency = rule.query_frequency.max(1);
                let progress = self.progress.entry(rule.id.clone()).or_default();
                progress.last_at = Some(now_ticks - frequency);
                progress.ingested_until = Some(now_ticks);
                continue;
            }
            let progress = self.progress.get(&rule.id).copied().unwrap_or_default();
            let (runs, progress) = match rule.kind {
                RuleKind::Scheduled => self.run_scheduled(&rule, progress, now_ticks).await,
                RuleKind::Nrt => self.run_nrt(&rule, progress, now_ticks).await,
            };
            self.progress.insert(rule.id.clone(), progress);
            records.extend(runs);
        }

        let alerts = self.detector.pending().alerts.clone();
        let mut incident_numbers: Vec<i64> = self
            .detector
            .pending()
            .incidents
            .iter()
            .map(|incident| incident.number)
            .collect();
        incident_numbers.sort_unstable();
        incident_numbers.dedup();
        self.detector.commit().await?;
        info!(
            runs = records.len(),
            alerts = alerts.len(),
            "scheduler tick done"
        );
        Ok(Tick {
            runs: records,
            alerts,
            incident_numbers,
        })
    }

    /// Runs a scheduled rule at each of its due instants, oldest first; a
    /// failed run stops the rule until the next tick.
    async fn run_scheduled(
        &mut self,
        rule: &Rule,
        mut progress: Progress,
        now_ticks: i64,
    ) -> (Vec<RunRecord>, Progress) {
        let frequency = rule.query_frequency.max(1);
        let mut next = match (progress.last_at, self.options.start_ticks) {
            (Some(last_at), _) => last_at + frequency,
            (None, Some(start)) => start + frequency,
            (None, None) => now_ticks,
        };
        if next > now_ticks {
            return (Vec::new(), progress);
        }

        let due = ((now_ticks - next) / frequency + 1) as usize;
        if due > self.options.max_catch_up_runs {
            let skipped = due - self.options.max_catch_up_runs;
            warn!(rule_id = %rule.id, skipped, "rule schedule is behind; skipping the oldest missed runs");
            next += skipped as i64 * frequency;
        }

        let mut runs = Vec::new();
        while next <= now_ticks {
            let record = self.detector.run_rule(rule, next, RunKind::Scheduled).await;
            let failed = record.status == RunStatus::Failed;
            runs.push(record);
            if failed {
                break;
            }
            progress.last_at = Some(next);
            next += frequency;
        }
        (runs, progress)
    }

    /// Runs an NRT rule over the rows ingested since its last run, when a
    /// minute (its frequency) has passed.
    async fn run_nrt(
        &mut self,
        rule: &Rule,
        mut progress: Progress,
        now_ticks: i64,
    ) -> (Vec<RunRecord>, Progress) {
        let start = progress
            .ingested_until
            .or(self.options.start_ticks)
            .unwrap_or(now_ticks - rule.query_period);
        if progress
            .last_at
            .is_some_and(|last| now_ticks < last + rule.query_frequency)
        {
            return (Vec::new(), progress);
        }
        if start >= now_ticks {
            return (Vec::new(), progress);
        }
        let window = RunWindow::Ingested(TimeWindow {
            start_ticks: start,
            end_ticks: now_ticks,
        });
        let record = self
            .detector
            .run_rule_over(rule, now_ticks, window, RunKind::Scheduled)
            .await;
        if record.status != RunStatus::Failed {
            progress.last_at = Some(now_ticks);
            progress.ingested_until = Some(now_ticks);
        }
        (vec![record], progress)
    }

    /// Runs [`Scheduler::run_due_once`] every [`SchedulerOptions::tick`]
    /// with the current time until `shutdown` completes. A tick that fails
    /// to commit is logged and retried at the next tick. Its runs were not
    /// recorded and the rules' progress is restored, so they run again.
    /// `after_tick` sees each committed tick, to count its runs.
    pub async fn run_forever(
        mut self,
        shutdown: impl Future<Output = ()>,
        mut after_tick: impl FnMut(&Tick),
    ) {
        let mut interval = tokio::time::interval(self.options.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        info!(
            tick_seconds = self.options.tick.as_secs(),
            "rule scheduler started"
        );
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = interval.tick() => {
                    let lock = self.options.incident_lock.clone();
                    let _guard = match &lock {
                        Some(lock) => Some(lock.lock().await),
                        None => None,
                    };
                    let now = engine::time::ticks_from_datetime(chrono::Utc::now());
                    let progress_before = self.progress.clone();
                    match self.run_due_once(now).await {
                        Ok(tick) => after_tick(&tick),
                        Err(err) => {
                            error!(error = %err, "rule scheduler tick failed");
                            self.progress = progress_before;
                            self.detector.discard_pending();
                        }
                    }
                }
            }
        }
        info!("rule scheduler stopped");
    }
}

/// Reads the position of each rule's schedule from its scheduled runs
/// that did not fail.
async fn read_progress(
    engine: &Engine,
    workspace: &Workspace,
) -> Result<BTreeMap<String, Progress>, DetectError> {
    let query = "HomesocRuleRuns | where RunKind == 'Scheduled' and Status != 'Failed' \
                 | summarize LastAt = max(TimeGenerated), LastEnd = max(WindowEnd) by RuleId";
    let catalog = store::catalog::load(workspace, engine, None).await?;
    let result = engine
        .run(query, &catalog, &QueryOptions::default())
        .await
        .map_err(|err| DetectError::Internal {
            table: "HomesocRuleRuns".into(),
            message: err.to_string(),
        })?;
    let rows = ResultRows::new(&result);
    let mut progress = BTreeMap::new();
    for row in 0..rows.len() {
        let Some(rule_id) = rows.text(row, "RuleId") else {
            continue;
        };
        progress.insert(
            rule_id,
            Progress {
                last_at: rows.datetime_ticks(row, "LastAt"),
                ingested_until: rows.datetime_ticks(row, "LastEnd"),
            },
        );
    }
    Ok(progress)
}
