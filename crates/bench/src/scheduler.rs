//! `homesoc-bench scheduler`: many scheduled rules over a large table.
//!
//! Writes `--count` rule files: the Sentinel corpus rules that read
//! `SecurityEvent` or `Event` and plan, then copies of them with higher
//! trigger thresholds, all on the same schedule. Then it runs two
//! `homesoc` commands over the period `--from` to `--to` and reports:
//!
//! - `homesoc rules schedule --once`: the scheduler's own code path, which
//!   runs every rule at every due instant of the period, one rule after
//!   another as `homesoc up` does. Its CPU time divided by the period is
//!   the share of one core the scheduler would take, and the runs'
//!   durations give p50 and p95 per rule run.
//! - `homesoc rules backtest`: the same runs as a backtest, timed as rule
//!   days per second.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Workspace folder with the tables, such as one that `generate`
    /// wrote. Run records and alerts are written to it.
    #[arg(long)]
    data_dir: PathBuf,

    /// The Sentinel corpus folder, with MANIFEST.tsv and rules/.
    #[arg(long, default_value = "../shared/corpus/sentinel")]
    corpus: PathBuf,

    /// Folder to write the rule files to; it must not exist yet.
    #[arg(long)]
    rules_out: PathBuf,

    /// Number of rules.
    #[arg(long, default_value_t = 200)]
    count: usize,

    /// queryFrequency and queryPeriod of every rule, as a KQL timespan.
    #[arg(long, default_value = "5m")]
    every: String,

    /// Start of the period, as an ISO 8601 UTC datetime.
    #[arg(long)]
    from: String,

    /// End of the period, as an ISO 8601 UTC datetime.
    #[arg(long)]
    to: String,

    /// Path of the `homesoc` binary. Defaults to `homesoc` next to this
    /// program.
    #[arg(long)]
    homesoc: Option<PathBuf>,
}

pub fn run(args: SchedulerArgs) -> anyhow::Result<()> {
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let from = engine::time::parse_datetime(&args.from).ok_or_else(|| {
        anyhow!(
            "invalid --from value `{}`: use an ISO 8601 UTC datetime",
            args.from
        )
    })?;
    let to = engine::time::parse_datetime(&args.to).ok_or_else(|| {
        anyhow!(
            "invalid --to value `{}`: use an ISO 8601 UTC datetime",
            args.to
        )
    })?;
    if to <= from {
        bail!("--to ({}) must be after --from ({})", args.to, args.from);
    }
    let homesoc = crate::queries::homesoc_binary(args.homesoc.clone())?;
    if args.rules_out.exists() {
        bail!(
            "{} exists; pass a --rules-out folder that does not exist yet",
            args.rules_out.display()
        );
    }

    let sources = source_rules(&args.corpus, &homesoc)?;
    if sources.is_empty() {
        bail!("no corpus rule reads SecurityEvent or Event and plans");
    }
    std::fs::create_dir_all(&args.rules_out)
        .with_context(|| format!("cannot create {}", args.rules_out.display()))?;
    for index in 0..args.count {
        let (path, text) = &sources[index % sources.len()];
        let copy = index / sources.len();
        let rule = rewrite_rule(text, index, copy, &args.every)
            .with_context(|| format!("cannot copy {}", path.display()))?;
        let name = format!("bench-{index:04}.yaml");
        std::fs::write(args.rules_out.join(&name), rule)
            .with_context(|| format!("cannot write {name}"))?;
    }
    println!(
        "{} rule files from {} corpus rules in {}",
        args.count,
        sources.len(),
        args.rules_out.display()
    );

    let rules = args
        .rules_out
        .to_str()
        .context("the rules folder is not UTF-8")?;
    let period_s = (to - from) as f64 / 1e7;

    let (schedule, schedule_wall, schedule_cpu) = run_timed(
        &homesoc,
        &args.data_dir,
        &[
            "rules",
            "schedule",
            "--once",
            "--no-builtin",
            "--rules",
            rules,
            "--start",
            &args.from,
            "--at",
            &args.to,
            "--json",
        ],
    )?;
    let mut durations = Vec::new();
    let mut failed = 0usize;
    let mut alerts = 0u64;
    for run in schedule["runs"]
        .as_array()
        .context("no runs in the schedule output")?
    {
        if run["status"] == "Failed" {
            failed += 1;
        }
        alerts += run["alerts"].as_u64().unwrap_or(0);
        durations.push(run["durationMs"].as_f64().unwrap_or(0.0));
    }
    durations.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        let rank = ((durations.len() as f64 * p).ceil() as usize).clamp(1, durations.len());
        durations[rank - 1]
    };
    let run_ms: f64 = durations.iter().sum();

    let (_, backtest_wall, backtest_cpu) = run_timed(
        &homesoc,
        &args.data_dir,
        &[
            "rules",
            "backtest",
            "--no-builtin",
            "--rules",
            rules,
            "--from",
            &args.from,
            "--to",
            &args.to,
            "--json",
        ],
    )?;
    let rule_days = args.count as f64 * period_s / 86_400.0;

    println!("| measure | value |");
    println!("|---|---|");
    println!("| rules | {} |", args.count);
    println!(
        "| period | {} to {} ({period_s:.0} s) |",
        args.from, args.to
    );
    println!(
        "| scheduled runs | {} ({failed} failed, {alerts} alerts) |",
        durations.len()
    );
    println!("| schedule: wall s | {schedule_wall:.1} |");
    println!("| schedule: CPU s (user + sys) | {schedule_cpu:.1} |");
    println!(
        "| scheduler share of one core (CPU s / period) | {:.2}% |",
        100.0 * schedule_cpu / period_s
    );
    println!(
        "| sum of run times / period | {:.2}% |",
        100.0 * run_ms / 1000.0 / period_s
    );
    println!("| run time p50 ms | {:.1} |", percentile(0.5));
    println!("| run time p95 ms | {:.1} |", percentile(0.95));
    println!("| run time max ms | {:.1} |", percentile(1.0));
    println!("| backtest: wall s | {backtest_wall:.1} |");
    println!("| backtest: CPU s (user + sys) | {backtest_cpu:.1} |");
    println!(
        "| backtest: rule-days per second | {:.2} |",
        rule_days / backtest_wall
    );
    Ok(())
}

/// Returns the corpus rule files (path and text) that read `SecurityEvent`
/// or `Event` by the manifest, are scheduled rules and plan by `homesoc
/// rules check --json`, in file name order.
fn source_rules(corpus: &Path, homesoc: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let manifest_path = corpus.join("MANIFEST.tsv");
    let manifest = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let mut files = BTreeSet::new();
    for line in manifest.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(tables)) = (fields.first(), fields.get(4)) else {
            continue;
        };
        if file.starts_with("rules/")
            && tables
                .split(',')
                .any(|t| t == "SecurityEvent" || t == "Event")
        {
            files.insert(corpus.join(file));
        }
    }

    let mut check = Command::new(homesoc);
    check.args(["rules", "check", "--json"]).args(&files);
    let output = check.output().context("cannot run homesoc rules check")?;
    let report: Value = serde_json::from_slice(&output.stdout)
        .context("homesoc rules check --json did not print JSON")?;
    let planned: BTreeSet<PathBuf> = report["files"]
        .as_array()
        .context("no files in the check report")?
        .iter()
        .filter(|file| file["plans"] == true)
        .filter_map(|file| file["path"].as_str().map(PathBuf::from))
        .collect();

    let mut sources = Vec::new();
    for path in files.into_iter().filter(|path| planned.contains(path)) {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let nrt = text
            .lines()
            .any(|line| line.trim().eq_ignore_ascii_case("kind: nrt"));
        if !nrt {
            sources.push((path, text));
        }
    }
    Ok(sources)
}

/// Returns the rule text with a new id, a name that says which copy it is,
/// the schedule `every` and, for copies after the first round, a trigger
/// threshold raised by `copy`.
fn rewrite_rule(text: &str, index: usize, copy: usize, every: &str) -> anyhow::Result<String> {
    let mut lines = Vec::new();
    let mut threshold = None;
    for line in text.lines() {
        if let Some(value) = top_level_value(line, "triggerThreshold") {
            threshold = Some(value.trim().parse::<u64>().with_context(|| {
                format!("triggerThreshold `{}` is not a whole number", value.trim())
            })?);
        } else if let Some(value) = top_level_value(line, "name") {
            let name = value.trim().trim_matches(|c| c == '"' || c == '\'');
            lines.push(format!(
                "name: \"{} (benchmark copy {copy})\"",
                name.replace('"', "'")
            ));
        } else if top_level_value(line, "id").is_none()
            && top_level_value(line, "queryFrequency").is_none()
            && top_level_value(line, "queryPeriod").is_none()
        {
            lines.push(line.to_string());
        }
    }
    let threshold = threshold.unwrap_or(0) + copy as u64;
    let mut rule = format!(
        "id: 00000000-0000-4000-8000-{index:012x}\nqueryFrequency: {every}\nqueryPeriod: {every}\ntriggerThreshold: {threshold}\n"
    );
    for line in lines {
        rule.push_str(&line);
        rule.push('\n');
    }
    Ok(rule)
}

/// Returns the value of a top-level YAML key on `line`, if the line sets it.
fn top_level_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.strip_prefix(key)?.strip_prefix(':')
}

/// Runs `homesoc --data-dir DIR ARGS` and returns its JSON output, wall
/// seconds and CPU seconds (user + system, from the children's times).
fn run_timed(homesoc: &Path, data_dir: &Path, args: &[&str]) -> anyhow::Result<(Value, f64, f64)> {
    let cpu_before = children_cpu_seconds()?;
    let started = Instant::now();
    let output = Command::new(homesoc)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", homesoc.display()))?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = children_cpu_seconds()? - cpu_before;
    let document: Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "homesoc {} did not print JSON; its errors: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    Ok((document, wall, cpu))
}

/// Returns the user and system CPU seconds of the waited-for children of
/// this process, from /proc/self/stat (fields cutime and cstime, in clock
/// ticks of 1/100 s, the value on Linux).
fn children_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("cannot read /proc/self/stat")?;
    // The command name (field 2) may contain spaces, so count from its end.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc/self/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so cutime (16) and cstime (17)
    // are at 13 and 14.
    let ticks = |index: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(index)
            .context("unexpected /proc/self/stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(13)? + ticks(14)?) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_get_new_ids_schedules_and_thresholds() {
        let text = "id: abc\nname: 'Brute force'\nkind: Scheduled\nqueryFrequency: 1h\nqueryPeriod: 1d\ntriggerOperator: gt\ntriggerThreshold: 3\nquery: |\n  SecurityEvent\n  | where name: 1\n";
        let copy = rewrite_rule(text, 45, 2, "5m").unwrap();
        assert!(copy.starts_with(
            "id: 00000000-0000-4000-8000-00000000002d\nqueryFrequency: 5m\nqueryPeriod: 5m\ntriggerThreshold: 5\n"
        ));
        assert!(copy.contains("name: \"Brute force (benchmark copy 2)\"\n"));
        assert!(copy.contains("  | where name: 1\n"));
        assert!(!copy.contains("1h"));
        assert!(!copy.contains("id: abc"));
    }
}
