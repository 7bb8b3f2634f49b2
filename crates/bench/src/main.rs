//! `homesoc-bench`: benchmark tools for homesoc.
//!
//! - `generate` writes a synthetic `SecurityEvent` table through
//!   `store::Workspace` imports, the same path EVTX imports take.
//! - `queries` times KQL queries over a workspace by running the `homesoc
//!   query` binary, because the catalog that maps Delta tables to KQL
//!   relations lives in the `homesoc` binary crate and is not a library.
//! - `ingest` starts `homesoc up` and measures sustained live ingestion.
//! - `scheduler` writes many scheduled rules and times the scheduler and
//!   backtests of them with `homesoc rules`.
//!
//! docs/benchmarks.md records the commands and the results.

mod generate;
mod ingest;
mod queries;
mod rows;
mod scheduler;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "homesoc-bench", about = "Benchmark tools for homesoc")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a synthetic SecurityEvent table into an empty workspace.
    Generate(generate::GenerateArgs),
    /// Time the benchmark queries over a workspace with `homesoc query`.
    Queries(queries::QueriesArgs),
    /// Load a `homesoc up` that it starts with live ingestion.
    Ingest(ingest::IngestArgs),
    /// Time many scheduled rules with `homesoc rules schedule` and
    /// `homesoc rules backtest`.
    Scheduler(scheduler::SchedulerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // HOMESOC_LOG=info shows the store's log lines, as for `homesoc`.
    let filter = std::env::var("HOMESOC_LOG").unwrap_or_else(|_| "warn".to_string());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Queries(args) => queries::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Scheduler(args) => scheduler::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
