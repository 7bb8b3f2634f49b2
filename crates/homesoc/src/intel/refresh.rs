//! `homesoc intel refresh --once`: one tick of the feed refresher followed
//! by a retro-hunt of what it added, as `homesoc up` is to run them.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use intel::fetch::{FetchOptions, Fetcher};
use intel::{PullReport, PullResult, RefreshOptions, Refresher};
use serde_json::json;
use store::Workspace;

use crate::query::write_stdout;
use crate::rules::schedule::{RetroHunt, run_retro_hunt};

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Run what is due once and exit. This is the only mode so far: the
    /// refresher that keeps running belongs to `homesoc up`.
    #[arg(long, required = true)]
    once: bool,
    /// Print the pull reports and the retro-hunt's alerts as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the enabled threat-intelligence rules over all stored events when
/// `reports` added or updated indicators, because new indicators may match
/// events stored before them. Returns `None` when nothing changed.
pub(crate) async fn hunt_after_pulls(
    data_dir: &Path,
    workspace: Workspace,
    reports: &[PullReport],
) -> anyhow::Result<Option<RetroHunt>> {
    let changed = reports
        .iter()
        .any(|report| report.added > 0 || report.updated > 0);
    if !changed {
        return Ok(None);
    }
    let rules = crate::rules::enabled_rules(data_dir)?;
    // The hunt's window must end after the pull wrote its indicators.
    let hunt_ticks = intel::indicator::now_ticks();
    let hunt = run_retro_hunt(workspace, &rules, hunt_ticks, hunt_ticks).await?;
    Ok(Some(hunt))
}

pub async fn run(data_dir: &Path, args: RefreshArgs) -> anyhow::Result<ExitCode> {
    debug_assert!(args.once, "clap requires --once");
    let workspace = Workspace::open(data_dir)?;
    let _lock = workspace.lock_for_writing()?;
    let now_ticks = intel::indicator::now_ticks();

    let fetcher = Fetcher::new(FetchOptions::default())?;
    let mut refresher = Refresher::new(workspace.clone(), fetcher, RefreshOptions::default());
    let reports = refresher.run_due_once(now_ticks).await?;

    let hunt = hunt_after_pulls(data_dir, workspace.clone(), &reports).await?;
    crate::automation::deliver_queued(&workspace).await?;

    let alerts: Vec<serde_json::Value> = hunt
        .iter()
        .flat_map(|hunt| &hunt.alerts)
        .map(|alert| {
            json!({
                "ruleId": alert.rule_id,
                "displayName": alert.display_name,
                "severity": alert.severity.as_str(),
            })
        })
        .collect();
    if args.json {
        let document = json!({
            "pulls": reports,
            "retroHunt": hunt.is_some(),
            "alerts": alerts,
        });
        write_stdout(&format!("{document}\n"))?;
    } else {
        let mut text = String::new();
        for report in &reports {
            match &report.error {
                Some(error) => text.push_str(&format!("{}: failed: {error}\n", report.feed)),
                None => text.push_str(&format!(
                    "{}: {} ({} added, {} updated, {} deactivated)\n",
                    report.feed,
                    report.result.name(),
                    report.added,
                    report.updated,
                    report.deactivated
                )),
            }
        }
        text.push_str(&format!(
            "{} feeds pulled, {} alerts from the retro-hunt\n",
            reports.len(),
            alerts.len()
        ));
        write_stdout(&text)?;
    }

    let failed = reports
        .iter()
        .any(|report| report.result == PullResult::Failed);
    let hunt_failed = hunt.is_some_and(|hunt| {
        hunt.runs
            .iter()
            .any(|run| run.status == detect::RunStatus::Failed)
    });
    Ok(if failed || hunt_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
