//! `homesoc-bench queries`: wall-clock times of the benchmark queries.
//!
//! Each query runs as `homesoc query --format csv` in a new process, so a
//! time includes process start, opening the Delta tables and planning, as a
//! user of the command line sees it. The table catalog is built in the
//! `homesoc` binary crate, which has no library target, so this tool cannot
//! call `engine::Engine::run` with the same catalog in-process.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;

/// The benchmark queries: a label and the KQL text.
pub const QUERIES: [(&str, &str); 4] = [
    (
        "baseline: take 1",
        "SecurityEvent | take 1 | project TimeGenerated",
    ),
    (
        "filter + count",
        r#"SecurityEvent | where EventID == 4625 and IpAddress == "203.0.113.66" | count"#,
    ),
    (
        "summarize by two keys",
        "SecurityEvent | summarize Events = count() by Computer, EventID",
    ),
    (
        "top 10",
        "SecurityEvent | where EventID == 4625 | summarize Failures = count() by TargetAccount | top 10 by Failures desc",
    ),
];

/// CSV lines (with the header) printed of each query's output.
const OUTPUT_LINES: usize = 11;

#[derive(Debug, Args)]
pub struct QueriesArgs {
    /// Workspace folder that contains the tables.
    #[arg(long)]
    data_dir: PathBuf,

    /// Path of the `homesoc` binary. Defaults to `homesoc` next to this
    /// program, which is where `cargo build` puts both.
    #[arg(long)]
    homesoc: Option<PathBuf>,

    /// Timed runs per query, after one untimed warm-up run.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

pub fn run(args: QueriesArgs) -> anyhow::Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let homesoc = homesoc_binary(args.homesoc)?;

    println!("| query | KQL | runs | min s | median s | max s |");
    println!("|---|---|---|---|---|---|");
    let mut outputs = Vec::new();
    for (label, query) in QUERIES {
        let output = run_query(&homesoc, &args.data_dir, query)?;
        let mut times = Vec::with_capacity(args.runs);
        for _ in 0..args.runs {
            let started = Instant::now();
            run_query(&homesoc, &args.data_dir, query)?;
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "| {label} | `{}` | {} | {:.3} | {:.3} | {:.3} |",
            // Markdown tables need `|` escaped even inside code spans.
            query.replace('|', "\\|"),
            args.runs,
            seconds(times[0]),
            seconds(times[times.len() / 2]),
            seconds(times[times.len() - 1]),
        );
        outputs.push((label, output));
    }
    for (label, output) in outputs {
        let lines: Vec<&str> = output.lines().collect();
        println!("\n{label} output ({} rows):", lines.len().saturating_sub(1));
        for line in lines.iter().take(OUTPUT_LINES) {
            println!("{line}");
        }
        if lines.len() > OUTPUT_LINES {
            println!("...");
        }
    }
    Ok(())
}

/// Returns `path`, or else `homesoc` next to this program, which is where
/// `cargo build` puts both; an error when there is no such file.
pub fn homesoc_binary(path: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let homesoc = match path {
        Some(path) => path,
        None => std::env::current_exe()
            .context("cannot find the path of homesoc-bench")?
            .with_file_name("homesoc"),
    };
    if !homesoc.is_file() {
        bail!(
            "homesoc binary not found at {}: build it with `cargo build --release -p homesoc` or pass --homesoc PATH",
            homesoc.display()
        );
    }
    Ok(homesoc)
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// Runs one query and returns its CSV output.
fn run_query(homesoc: &PathBuf, data_dir: &PathBuf, query: &str) -> anyhow::Result<String> {
    let output = Command::new(homesoc)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["query", "--format", "csv", query])
        .output()
        .with_context(|| format!("cannot run {}", homesoc.display()))?;
    if !output.status.success() {
        bail!(
            "homesoc query failed ({}) for `{query}`:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
