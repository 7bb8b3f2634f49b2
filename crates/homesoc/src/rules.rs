//! `homesoc rules`: check, list, enable, disable, run, backtest and
//! schedule analytics rules.

pub(crate) mod schedule;
mod state;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use detect::alert::Alert;
use detect::backtest::{DataTimes, backtest_rule};
use detect::check::{CheckSummary, check_rules};
use detect::{Detector, Rule, RunKind, RunRecord, RunStatus};
use engine::Engine;
use engine::time::{format_datetime_iso, parse_datetime};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use store::Workspace;

use crate::query::write_stdout;

/// Loads the enabled rules of the default rules folder and the built-in
/// rules, as the scheduler and retro-hunts use them.
pub(crate) fn enabled_rules(data_dir: &Path) -> anyhow::Result<Vec<Rule>> {
    let source = RuleSource {
        rules: None,
        no_builtin: false,
    };
    source.select(data_dir, &[])
}

/// Every rule of the data folder's rules folder and the built-in pack,
/// enabled or not, for the scheduler of `homesoc up`, which checks the
/// rule states at each tick.
pub(crate) fn all_rules(data_dir: &Path) -> anyhow::Result<Vec<Rule>> {
    let source = RuleSource {
        rules: None,
        no_builtin: false,
    };
    source.load(data_dir)
}

/// The rules folder options.
#[derive(Debug, Args)]
pub struct RuleSource {
    /// Folder of analytics rule YAML files, searched recursively.
    /// Defaults to `rules` in the data folder.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Leave out homesoc's built-in rules.
    #[arg(long)]
    no_builtin: bool,
}

impl RuleSource {
    fn folder(&self, data_dir: &Path) -> PathBuf {
        self.rules.clone().unwrap_or_else(|| data_dir.join("rules"))
    }

    /// Loads the rules of the folder and, unless `--no-builtin`, the
    /// built-in rules, reporting files that fail on standard error. A
    /// folder given with `--rules` must exist; the default one may not.
    fn load(&self, data_dir: &Path) -> anyhow::Result<Vec<Rule>> {
        let folder = self.folder(data_dir);
        let mut set = if folder.exists() {
            detect::load_rules(&[folder])
        } else if self.rules.is_some() {
            bail!(
                "the rules folder {} does not exist: put analytics rule YAML files there or pass --rules DIR",
                folder.display()
            );
        } else {
            detect::RuleSet::default()
        };
        if !self.no_builtin {
            detect::builtin::merge_rule_sets(&mut set, detect::builtin::builtin_rules());
        }
        for error in &set.errors {
            eprintln!("warning: skipped rule file: {error}");
        }
        if set.rules.is_empty() {
            bail!(
                "no rules to use: put analytics rule YAML files in {} or pass --rules DIR",
                self.folder(data_dir).display()
            );
        }
        Ok(set.rules)
    }

    /// Loads the rules and keeps those named in `ids`, or when `ids` is
    /// empty, every enabled rule that raises alerts of its own (not the
    /// Sigma rules that only feed correlation rules).
    fn select(&self, data_dir: &Path, ids: &[String]) -> anyhow::Result<Vec<Rule>> {
        let rules = self.load(data_dir)?;
        if ids.is_empty() {
            let states = detect::RuleStates::load(data_dir)?;
            return Ok(rules
                .into_iter()
                .filter(|rule| {
                    states.is_enabled(&rule.id) && detect::sigma::raises_own_alerts(rule)
                })
                .collect());
        }
        let mut selected = Vec::new();
        for id in ids {
            match rules.iter().find(|rule| &rule.id == id) {
                Some(rule) => selected.push(rule.clone()),
                None => bail!(
                    "no rule with id {id} in {} or the built-in rules; list the rules with `homesoc rules list`",
                    self.folder(data_dir).display()
                ),
            }
        }
        Ok(selected)
    }
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check that rule files load and their queries plan against the table
    /// schemas; reads no data.
    Check {
        /// Rule files, or folders searched for `.yaml` and `.yml` files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print one JSON document with a report per file and a summary.
        #[arg(long)]
        json: bool,
    },
    /// List the rules of the rules folder and the built-in rules, with
    /// whether each is enabled.
    List {
        #[command(flatten)]
        source: RuleSource,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Enable rules that were disabled, so that the scheduler and runs
    /// without ids use them again.
    Enable {
        #[command(flatten)]
        source: RuleSource,
        /// Ids of the rules to enable.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Disable rules: the scheduler and runs without ids leave them out.
    /// The state is kept in the data folder.
    Disable {
        #[command(flatten)]
        source: RuleSource,
        /// Ids of the rules to disable.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Run every enabled rule that is due, as the scheduler of `homesoc up`
    /// does at each tick, and store the alerts, incidents and run records.
    Schedule(schedule::ScheduleArgs),
    /// Run the enabled threat-intelligence rules once over stored events
    /// (all of them by default), so that indicators added now raise alerts
    /// on past events. Matches already alerted on raise nothing new.
    RetroHunt(schedule::RetroHuntArgs),
    /// Show one rule: its details, and with --kql the KQL query it runs
    /// (for a Sigma rule, the query it was compiled to).
    Show {
        #[command(flatten)]
        source: RuleSource,
        /// The rule id.
        id: String,
        /// Print only the KQL query.
        #[arg(long)]
        kql: bool,
        /// Print the rule as JSON.
        #[arg(long, conflicts_with = "kql")]
        json: bool,
    },
    /// Run rules once, now or at a past instant, and store their alerts,
    /// incidents and run records. Without ids, runs every enabled rule.
    Run {
        #[command(flatten)]
        source: RuleSource,
        /// The instant to evaluate at, as an ISO 8601 UTC datetime (for
        /// example 2024-05-01T12:00:00Z). Defaults to the current time.
        #[arg(long)]
        at: Option<String>,
        /// Print the runs and alerts as JSON.
        #[arg(long)]
        json: bool,
        /// Ids of the rules to run; every enabled rule when none is given.
        ids: Vec<String>,
    },
    /// Replay the rules' schedules over a past period and show what they
    /// would have raised. Writes nothing unless --commit is given.
    Backtest {
        #[command(flatten)]
        source: RuleSource,
        /// Start of the period, as an ISO 8601 UTC datetime.
        #[arg(long)]
        from: String,
        /// End of the period, as an ISO 8601 UTC datetime.
        #[arg(long)]
        to: String,
        /// Store the alerts, incidents and run records.
        #[arg(long)]
        commit: bool,
        /// Print the runs and alerts as JSON.
        #[arg(long)]
        json: bool,
        /// Ids of the rules to replay; every enabled rule when none is given.
        ids: Vec<String>,
    },
}

pub async fn run(data_dir: &Path, command: RulesCommand) -> anyhow::Result<ExitCode> {
    match command {
        RulesCommand::Check { paths, json } => check(&paths, json),
        RulesCommand::List { source, json } => state::list(data_dir, &source, json),
        RulesCommand::Enable { source, ids } => state::set_enabled(data_dir, &source, &ids, true),
        RulesCommand::Disable { source, ids } => state::set_enabled(data_dir, &source, &ids, false),
        RulesCommand::Schedule(args) => schedule::run(data_dir, args).await,
        RulesCommand::RetroHunt(args) => schedule::retro_hunt(data_dir, args).await,
        RulesCommand::Show {
            source,
            id,
            kql,
            json,
        } => show(data_dir, &source, &id, kql, json),
        RulesCommand::Run {
            source,
            at,
            json,
            ids,
        } => {
            let at_ticks = match at {
                Some(text) => parse_instant("--at", &text)?,
                None => engine::time::ticks_from_datetime(chrono::Utc::now()),
            };
            run_rules(data_dir, &source, at_ticks, &ids, json).await
        }
        RulesCommand::Backtest {
            source,
            from,
            to,
            commit,
            json,
            ids,
        } => {
            let from_ticks = parse_instant("--from", &from)?;
            let to_ticks = parse_instant("--to", &to)?;
            if to_ticks <= from_ticks {
                bail!("--to ({to}) must be after --from ({from})");
            }
            let period = Period {
                from_ticks,
                to_ticks,
            };
            backtest(data_dir, &source, period, &ids, commit, json).await
        }
    }
}

pub(crate) fn parse_instant(option: &str, text: &str) -> anyhow::Result<i64> {
    parse_datetime(text).with_context(|| {
        format!("invalid {option} value `{text}`: use an ISO 8601 UTC datetime such as 2024-05-01T12:00:00Z")
    })
}

/// Prints one rule: its details, or with `kql` only its query.
fn show(
    data_dir: &Path,
    source: &RuleSource,
    id: &str,
    kql: bool,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let rules = source.select(data_dir, &[id.to_string()])?;
    let rule = &rules[0];
    if kql {
        write_stdout(&format!("{}\n", rule.query))?;
        return Ok(ExitCode::SUCCESS);
    }
    let sigma = detect::sigma::sigma_details(rule);
    if json_output {
        let document = json!({
            "id": rule.id,
            "name": rule.name,
            "description": rule.description,
            "severity": rule.severity.as_str(),
            "tactics": rule.tactics,
            "techniques": rule.relevant_techniques,
            "query": rule.query,
            "path": rule.source,
            "sigma": sigma,
        });
        write_stdout(&format!("{document}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "id:         {}\nname:       {}\nseverity:   {}\ntactics:    {}\ntechniques: {}\npath:       {}\n",
        rule.id,
        rule.name,
        rule.severity.as_str(),
        rule.tactics.join(", "),
        rule.relevant_techniques.join(", "),
        rule.source.display()
    );
    if let Some(sigma) = sigma {
        text.push_str(&format!(
            "sigma:      level {}, status {}, log source {}\n",
            sigma["level"].as_str().unwrap_or_default(),
            sigma["status"].as_str().unwrap_or("-"),
            sigma["logsource"].as_str().unwrap_or_default()
        ));
        for field in detect::sigma::unmapped_fields(rule) {
            text.push_str(&format!("unmapped:   {field}\n"));
        }
    }
    text.push_str(&format!("query:\n{}\n", rule.query));
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

async fn open_detector(
    data_dir: &Path,
    write: bool,
) -> anyhow::Result<(Detector, Option<store::WriteLock>)> {
    let (workspace, lock) = if write {
        let workspace = Workspace::open(data_dir)?;
        let lock = workspace.lock_for_writing()?;
        (workspace, Some(lock))
    } else {
        (Workspace::open_for_reading(data_dir)?, None)
    };
    let detector = Detector::open(Engine::new(), workspace).await?;
    Ok((detector, lock))
}

async fn run_rules(
    data_dir: &Path,
    source: &RuleSource,
    at_ticks: i64,
    ids: &[String],
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let rules = source.select(data_dir, ids)?;
    let (mut detector, _lock) = open_detector(data_dir, true).await?;
    // Running again at the same instant alerts only on new result rows.
    detector.skip_stored_alerts(at_ticks).await?;
    let mut records = Vec::new();
    for rule in &rules {
        records.push(detector.run_rule(rule, at_ticks, RunKind::Manual).await);
    }
    let alerts = detector.pending().alerts.clone();
    let incidents = incident_numbers(&detector);
    detector.commit().await?;
    crate::automation::deliver_queued(detector.workspace()).await?;
    print_runs(&records, &alerts, &incidents, 0, json_output)?;
    report_repeated_rows(&detector, json_output);
    Ok(exit_code(&records))
}

/// Says on standard error how many result rows raised no alert because
/// the same run had already stored one for them.
fn report_repeated_rows(detector: &Detector, json_output: bool) {
    let repeated = detector.repeated_rows();
    if repeated > 0 && !json_output {
        eprintln!(
            "{repeated} result rows raised no new alert: stored alerts of the same rules and run instants already have them"
        );
    }
}

/// The period a backtest replays, in ticks.
#[derive(Debug, Clone, Copy)]
struct Period {
    from_ticks: i64,
    to_ticks: i64,
}

async fn backtest(
    data_dir: &Path,
    source: &RuleSource,
    period: Period,
    ids: &[String],
    commit: bool,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let rules = source.select(data_dir, ids)?;
    let (mut detector, _lock) = open_detector(data_dir, commit).await?;
    if commit {
        // Committing the same period again stores only new alerts.
        detector.skip_stored_alerts(period.from_ticks).await?;
    }
    let data_times =
        DataTimes::read(&Engine::new(), &Workspace::open_for_reading(data_dir)?).await?;
    let mut records = Vec::new();
    let mut skipped = 0;
    // A bar on a terminal; otherwise one log line per rule, since a long
    // period over many rules takes minutes.
    let progress = if std::io::stderr().is_terminal() && !json_output {
        let bar = ProgressBar::new(rules.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} rules {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    for rule in &rules {
        progress.set_message(rule.name.clone());
        let started = std::time::Instant::now();
        let alerts_before = detector.pending().alerts.len();
        let backtest = backtest_rule(
            &mut detector,
            &data_times,
            rule,
            period.from_ticks,
            period.to_ticks,
        )
        .await;
        tracing::info!(
            rule_id = %rule.id,
            rule = %rule.name,
            runs = backtest.runs.len(),
            skipped = backtest.skipped,
            alerts = detector.pending().alerts.len() - alerts_before,
            seconds = started.elapsed().as_secs_f64(),
            "backtested rule"
        );
        records.extend(backtest.runs);
        skipped += backtest.skipped;
        progress.inc(1);
    }
    progress.finish_and_clear();
    let alerts = detector.pending().alerts.clone();
    let incidents = incident_numbers(&detector);
    if commit {
        detector.commit().await?;
        crate::automation::deliver_queued(detector.workspace()).await?;
    } else {
        detector.discard_pending();
    }
    print_runs(&records, &alerts, &incidents, skipped, json_output)?;
    report_repeated_rows(&detector, json_output);
    Ok(exit_code(&records))
}

/// Numbers of the incidents the pending rows create or change.
pub(crate) fn incident_numbers(detector: &Detector) -> Vec<i64> {
    let mut numbers: Vec<i64> = detector
        .pending()
        .incidents
        .iter()
        .map(|incident| incident.number)
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
}

pub(crate) fn exit_code(records: &[RunRecord]) -> ExitCode {
    if records
        .iter()
        .any(|record| record.status == RunStatus::Failed)
    {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn alert_json(alert: &Alert) -> Value {
    let entities: Value = serde_json::from_str(&detect::entities::entities_json(&alert.entities))
        .unwrap_or(Value::Null);
    json!({
        "systemAlertId": alert.system_alert_id,
        "ruleId": alert.rule_id,
        "ruleName": alert.rule_name,
        "displayName": alert.display_name,
        "severity": alert.severity.as_str(),
        "timeGenerated": format_datetime_iso(alert.time_generated),
        "startTime": format_datetime_iso(alert.start_time),
        "endTime": format_datetime_iso(alert.end_time),
        "entities": entities,
    })
}

/// Prints the runs and their alerts. `skipped` counts the backtest's
/// scheduled instants that were not run (see `detect::backtest`).
pub(crate) fn print_runs(
    records: &[RunRecord],
    alerts: &[Alert],
    incidents: &[i64],
    skipped: usize,
    json_output: bool,
) -> anyhow::Result<()> {
    let failed = records
        .iter()
        .filter(|record| record.status == RunStatus::Failed)
        .count();
    let suppressed = records
        .iter()
        .filter(|record| record.status == RunStatus::Suppressed)
        .count();
    if json_output {
        let runs: Vec<Value> = records
            .iter()
            .map(|record| {
                json!({
                    "ruleId": record.rule_id,
                    "ruleName": record.rule_name,
                    "at": format_datetime_iso(record.at_ticks),
                    "status": record.status.as_str(),
                    "resultRows": record.result_rows,
                    "alerts": record.alerts,
                    "incidents": record.incidents,
                    "durationMs": record.duration_ms,
                    "error": record.error,
                })
            })
            .collect();
        let document = json!({
            "runs": runs,
            "alerts": alerts.iter().map(alert_json).collect::<Vec<_>>(),
            "incidents": incidents,
            "summary": {
                "runs": records.len(),
                "skipped": skipped,
                "failed": failed,
                "suppressed": suppressed,
                "alerts": alerts.len(),
                "incidents": incidents.len(),
            },
        });
        write_stdout(&format!("{document}\n"))?;
        return Ok(());
    }

    let mut text = String::new();
    for record in records
        .iter()
        .filter(|record| record.status == RunStatus::Failed)
    {
        text.push_str(&format!(
            "failed: {} ({}) at {}: {}\n",
            record.rule_name,
            record.rule_id,
            format_datetime_iso(record.at_ticks),
            record.error.as_deref().unwrap_or_default()
        ));
    }
    for alert in alerts {
        text.push_str(&format!(
            "alert {} {:<13} {}: {}\n",
            format_datetime_iso(alert.time_generated),
            alert.severity.as_str(),
            alert.rule_name,
            alert.display_name
        ));
    }
    text.push_str(&format!(
        "{} runs ({failed} failed, {suppressed} suppressed, {skipped} skipped with no rows in the window), {} alerts, {} incidents created or changed\n",
        records.len(),
        alerts.len(),
        incidents.len()
    ));
    write_stdout(&text)
}

fn check(paths: &[PathBuf], json_output: bool) -> anyhow::Result<ExitCode> {
    let set = detect::load_rules(paths);
    let engine = Engine::new();
    let catalog = store::catalog::schema_catalog()?;
    let reports = check_rules(&set, &engine, &catalog);
    let summary = CheckSummary::of(&reports);

    if json_output {
        let document = json!({ "files": reports, "summary": summary });
        write_stdout(&format!("{document}\n"))?;
    } else {
        let mut text = String::new();
        for report in &reports {
            let verdict = if report.plans {
                "ok"
            } else if report.loads {
                "does not plan"
            } else {
                "does not load"
            };
            text.push_str(&format!("{}: {verdict}", report.path.display()));
            if let Some(error) = &report.error {
                text.push_str(&format!(": {error}"));
            }
            text.push('\n');
        }
        text.push_str(&format!(
            "{} files: {} load, {} plan, {} use a feature not supported yet, {} fail to plan for another reason (such as an unknown table)\n",
            summary.files,
            summary.loaded,
            summary.planned,
            summary.missing_feature,
            summary.other_error
        ));
        write_stdout(&text)?;
    }

    let all_plan = summary.planned == summary.files;
    Ok(if all_plan {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
