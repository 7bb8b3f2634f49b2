//! `homesoc rules`: check, run and backtest analytics rules.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use detect::alert::Alert;
use detect::backtest::{DataDays, backtest_rule};
use detect::check::{CheckSummary, check_rules};
use detect::{Detector, Rule, RunKind, RunRecord, RunStatus};
use engine::Engine;
use engine::time::{format_datetime_iso, parse_datetime};
use serde_json::{Value, json};
use store::Workspace;

use crate::query::write_stdout;

/// The rules folder option.
#[derive(Debug, Args)]
pub struct RuleSource {
    /// Folder of analytics rule YAML files, searched recursively.
    /// Defaults to `rules` in the data folder.
    #[arg(long)]
    rules: Option<PathBuf>,
}

impl RuleSource {
    fn folder(&self, data_dir: &Path) -> PathBuf {
        self.rules.clone().unwrap_or_else(|| data_dir.join("rules"))
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
    /// List the rules of the rules folder.
    List {
        #[command(flatten)]
        source: RuleSource,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run rules once, now or at a past instant, and store their alerts,
    /// incidents and run records.
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
        /// Ids of the rules to run; all rules when none is given.
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
        /// Ids of the rules to replay; all rules when none is given.
        ids: Vec<String>,
    },
}

pub async fn run(data_dir: &Path, command: RulesCommand) -> anyhow::Result<ExitCode> {
    match command {
        RulesCommand::Check { paths, json } => check(&paths, json),
        RulesCommand::List { source, json } => list(&source.folder(data_dir), json),
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
            run_rules(data_dir, &source.folder(data_dir), at_ticks, &ids, json).await
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
            backtest(
                data_dir,
                &source.folder(data_dir),
                period,
                &ids,
                commit,
                json,
            )
            .await
        }
    }
}

fn parse_instant(option: &str, text: &str) -> anyhow::Result<i64> {
    parse_datetime(text).with_context(|| {
        format!("invalid {option} value `{text}`: use an ISO 8601 UTC datetime such as 2024-05-01T12:00:00Z")
    })
}

/// Loads the rules of `folder`, reporting files that fail on standard
/// error, and keeps those named in `ids` (all when `ids` is empty).
fn load_selected_rules(folder: &Path, ids: &[String]) -> anyhow::Result<Vec<Rule>> {
    if !folder.exists() {
        bail!(
            "the rules folder {} does not exist: put analytics rule YAML files there or pass --rules DIR",
            folder.display()
        );
    }
    let set = detect::load_rules(&[folder.to_path_buf()]);
    for error in &set.errors {
        eprintln!("warning: skipped rule file: {error}");
    }
    if ids.is_empty() {
        return Ok(set.rules);
    }
    let mut selected = Vec::new();
    for id in ids {
        match set.rules.iter().find(|rule| &rule.id == id) {
            Some(rule) => selected.push(rule.clone()),
            None => bail!(
                "no rule with id {id} in {}; list the rules with `homesoc rules list`",
                folder.display()
            ),
        }
    }
    Ok(selected)
}

fn list(folder: &Path, json_output: bool) -> anyhow::Result<ExitCode> {
    let rules = load_selected_rules(folder, &[])?;
    if json_output {
        let items: Vec<Value> = rules
            .iter()
            .map(|rule| {
                json!({
                    "id": rule.id,
                    "name": rule.name,
                    "kind": rule.kind.as_str(),
                    "severity": rule.severity.as_str(),
                    "queryFrequency": detect::timespan::format_iso8601(rule.query_frequency),
                    "queryPeriod": detect::timespan::format_iso8601(rule.query_period),
                    "path": rule.source,
                })
            })
            .collect();
        write_stdout(&format!("{}\n", Value::Array(items)))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    for rule in &rules {
        text.push_str(&format!(
            "{:<38} {:<13} {:<9} every {:<6} {}\n",
            rule.id,
            rule.severity.as_str(),
            rule.kind.as_str(),
            detect::timespan::format_iso8601(rule.query_frequency),
            rule.name
        ));
    }
    text.push_str(&format!("{} rules in {}\n", rules.len(), folder.display()));
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
    folder: &Path,
    at_ticks: i64,
    ids: &[String],
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let rules = load_selected_rules(folder, ids)?;
    let (mut detector, _lock) = open_detector(data_dir, true).await?;
    let mut records = Vec::new();
    for rule in &rules {
        records.push(detector.run_rule(rule, at_ticks, RunKind::Manual).await);
    }
    let alerts = detector.pending().alerts.clone();
    let incidents = incident_numbers(&detector);
    detector.commit().await?;
    print_runs(&records, &alerts, &incidents, 0, json_output)?;
    Ok(exit_code(&records))
}

/// The period a backtest replays, in ticks.
#[derive(Debug, Clone, Copy)]
struct Period {
    from_ticks: i64,
    to_ticks: i64,
}

async fn backtest(
    data_dir: &Path,
    folder: &Path,
    period: Period,
    ids: &[String],
    commit: bool,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let rules = load_selected_rules(folder, ids)?;
    let (mut detector, _lock) = open_detector(data_dir, commit).await?;
    let data_days = DataDays::read(&Engine::new(), &Workspace::open_for_reading(data_dir)?).await?;
    let mut records = Vec::new();
    let mut skipped = 0;
    for rule in &rules {
        let backtest = backtest_rule(
            &mut detector,
            &data_days,
            rule,
            period.from_ticks,
            period.to_ticks,
        )
        .await;
        records.extend(backtest.runs);
        skipped += backtest.skipped;
    }
    let alerts = detector.pending().alerts.clone();
    let incidents = incident_numbers(&detector);
    if commit {
        detector.commit().await?;
    } else {
        detector.discard_pending();
    }
    print_runs(&records, &alerts, &incidents, skipped, json_output)?;
    Ok(exit_code(&records))
}

/// Numbers of the incidents the pending rows create or change.
fn incident_numbers(detector: &Detector) -> Vec<i64> {
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

fn exit_code(records: &[RunRecord]) -> ExitCode {
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
fn print_runs(
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
            "{} files: {} load, {} plan, {} use a feature not supported yet\n",
            summary.files, summary.loaded, summary.planned, summary.missing_feature
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
