//! `homesoc rules`: check, run and backtest analytics rules.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use detect::check::{CheckSummary, check_rules};
use engine::Engine;
use serde_json::json;

use crate::query::write_stdout;

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
}

pub async fn run(data_dir: &Path, command: RulesCommand) -> anyhow::Result<ExitCode> {
    match command {
        RulesCommand::Check { paths, json } => check(&paths, json),
    }
    .with_context(|| format!("rules command on workspace {}", data_dir.display()))
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
