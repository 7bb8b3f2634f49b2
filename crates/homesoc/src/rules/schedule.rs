//! `homesoc rules schedule`: one tick of the rule scheduler, so that rules
//! run on their schedules from cron or by hand before `homesoc up` runs
//! the scheduler itself.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use detect::{Scheduler, SchedulerOptions};
use engine::Engine;
use store::Workspace;

use super::{RuleSource, exit_code, parse_instant, print_runs};

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    source: RuleSource,
    /// Run what is due once and exit. This is the only mode so far: the
    /// scheduler that keeps running belongs to `homesoc up`.
    #[arg(long, required = true)]
    once: bool,
    /// The current time to schedule at, as an ISO 8601 UTC datetime.
    /// Defaults to the clock. Rules run at every due instant up to it.
    #[arg(long)]
    at: Option<String>,
    /// The start of the schedule of a rule that never ran, as an ISO 8601
    /// UTC datetime: its first run is one query frequency later. Defaults
    /// to running such rules once at the current time.
    #[arg(long)]
    start: Option<String>,
    /// Print the runs and alerts as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(data_dir: &Path, args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    debug_assert!(args.once, "clap requires --once");
    let now_ticks = match &args.at {
        Some(text) => parse_instant("--at", text)?,
        None => engine::time::ticks_from_datetime(chrono::Utc::now()),
    };
    let start_ticks = match &args.start {
        Some(text) => Some(parse_instant("--start", text)?),
        None => None,
    };
    let rules = args.source.select(data_dir, &[])?;

    let workspace = Workspace::open(data_dir)?;
    let _lock = workspace.lock_for_writing()?;
    let options = SchedulerOptions {
        start_ticks,
        ..SchedulerOptions::default()
    };
    let mut scheduler = Scheduler::open(Engine::new(), workspace.clone(), rules, options).await?;
    let tick = scheduler.run_due_once(now_ticks).await?;
    crate::automation::deliver_queued(&workspace).await?;
    print_runs(
        &tick.runs,
        &tick.alerts,
        &tick.incident_numbers,
        0,
        args.json,
    )?;
    Ok(exit_code(&tick.runs))
}

#[derive(Debug, Args)]
pub struct RetroHuntArgs {
    #[command(flatten)]
    source: RuleSource,
    /// How far back to search stored events, as a KQL or ISO 8601
    /// timespan such as 30d or P30D. Defaults to all stored data.
    #[arg(long)]
    lookback: Option<String>,
    /// The instant to hunt at, as an ISO 8601 UTC datetime; indicators
    /// must be active and unexpired then. Defaults to the clock.
    #[arg(long)]
    at: Option<String>,
    /// Print the runs and alerts as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the enabled threat-intelligence rules once over the lookback and
/// stores the alerts they raise, skipping matches already alerted on.
pub async fn retro_hunt(data_dir: &Path, args: RetroHuntArgs) -> anyhow::Result<ExitCode> {
    let now_ticks = match &args.at {
        Some(text) => parse_instant("--at", text)?,
        None => engine::time::ticks_from_datetime(chrono::Utc::now()),
    };
    // All stored data: every row since the Unix epoch.
    let lookback = match &args.lookback {
        Some(text) => detect::timespan::parse_rule_timespan(text).ok_or_else(|| {
            anyhow::anyhow!(
                "invalid --lookback value `{text}`: {}",
                detect::timespan::TIMESPAN_HINT
            )
        })?,
        None => now_ticks,
    };
    let rules = args.source.select(data_dir, &[])?;

    let workspace = Workspace::open(data_dir)?;
    let _lock = workspace.lock_for_writing()?;
    let hunt = run_retro_hunt(workspace.clone(), &rules, now_ticks, lookback).await?;
    crate::automation::deliver_queued(&workspace).await?;
    print_runs(&hunt.runs, &hunt.alerts, &hunt.incidents, 0, args.json)?;
    Ok(exit_code(&hunt.runs))
}

/// The outcome of a retro-hunt.
pub(crate) struct RetroHunt {
    pub runs: Vec<detect::RunRecord>,
    pub alerts: Vec<detect::alert::Alert>,
    pub incidents: Vec<i64>,
}

/// Runs the threat-intelligence rules of `rules` over the `lookback`
/// before `now_ticks` and commits their alerts. The caller holds the
/// workspace's write lock.
pub(crate) async fn run_retro_hunt(
    workspace: Workspace,
    rules: &[detect::Rule],
    now_ticks: i64,
    lookback: i64,
) -> anyhow::Result<RetroHunt> {
    let mut detector = detect::Detector::open(Engine::new(), workspace).await?;
    detector.enable_deduplication(now_ticks, lookback).await?;
    let runs = detect::retro_hunt::retro_hunt(&mut detector, rules, now_ticks, lookback).await;
    let alerts = detector.pending().alerts.clone();
    let incidents = super::incident_numbers(&detector);
    detector.commit().await?;
    Ok(RetroHunt {
        runs,
        alerts,
        incidents,
    })
}
