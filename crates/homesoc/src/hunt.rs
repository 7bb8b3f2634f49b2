//! `homesoc hunt`: import EVTX files into a workspace, run every rule over
//! all of it once, and print a timeline of detections with a summary.
//!
//! Sigma rules of one log source share scans: each scan reads the
//! source's events once, extends the fields its rules read, and computes
//! one match flag per rule (at most [`RULES_PER_SCAN`] rules per scan). A
//! scan that fails is retried rule by rule, so one bad rule costs only
//! itself. Sentinel rules and Sigma correlation rules run one query each
//! over all the data, with `now()` at the end of the data. Sigma rules that
//! only feed correlation rules (`generate: false`) raise no detections of
//! their own.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use clap::{Args, ValueEnum};
use detect::Rule;
use detect::sigma::{SIGMA_KEY, kql_column};
use engine::time::{format_datetime_iso, parse_datetime};
use engine::{Catalog, Engine, QueryOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use store::Workspace;

/// Sigma rules evaluated together in one scan of their log source, by
/// default.
const RULES_PER_SCAN: u64 = 150;

/// Characters of one field value shown in a detection.
const MAX_VALUE_CHARS: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HuntFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// EVTX files, or folders searched recursively for *.evtx files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Folder (or file) of Sigma or Sentinel rules; repeat for more.
    #[arg(long, required = true)]
    rules: Vec<PathBuf>,
    /// Skip rules below this level: informational, low, medium, high or
    /// critical (Sentinel severities count as the same names).
    #[arg(long)]
    min_level: Option<String>,
    /// Keep only detections at or after this ISO 8601 UTC datetime.
    #[arg(long)]
    from: Option<String>,
    /// Keep only detections before this ISO 8601 UTC datetime.
    #[arg(long)]
    to: Option<String>,
    /// Output format of the timeline.
    #[arg(long, value_enum, default_value_t = HuntFormat::Table)]
    format: HuntFormat,
    /// Write the timeline to this file instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Sigma rules of one log source evaluated in one scan of its events.
    #[arg(long, default_value_t = RULES_PER_SCAN, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    rules_per_scan: u64,
}

/// Level names from lowest to highest.
const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

fn level_rank(level: &str) -> usize {
    LEVELS
        .iter()
        .position(|known| known.eq_ignore_ascii_case(level))
        .unwrap_or(2)
}

/// Returns the level of a rule: Sigma's `level`, or the Sentinel severity.
fn rule_level(rule: &Rule) -> String {
    match rule
        .other_keys
        .get(SIGMA_KEY)
        .and_then(|s| s["level"].as_str())
    {
        Some(level) => level.to_string(),
        None => rule.severity.as_str().to_ascii_lowercase(),
    }
}

/// One matching event of one rule.
#[derive(Debug, Clone)]
struct Detection {
    time: String,
    computer: String,
    rule_id: String,
    rule: String,
    level: String,
    tactics: String,
    fields: String,
}

const COLUMNS: [&str; 7] = [
    "TimeGenerated",
    "Computer",
    "RuleId",
    "Rule",
    "Level",
    "Tactics",
    "Fields",
];

impl Detection {
    fn values(&self) -> [&str; 7] {
        [
            &self.time,
            &self.computer,
            &self.rule_id,
            &self.rule,
            &self.level,
            &self.tactics,
            &self.fields,
        ]
    }
}

/// Runs `homesoc hunt`. `data_dir` is the workspace to keep, when the user
/// named one; otherwise a temporary workspace is used and removed.
pub async fn run(data_dir: Option<&Path>, args: HuntArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let min_rank = match &args.min_level {
        Some(level) if LEVELS.contains(&level.to_ascii_lowercase().as_str()) => level_rank(level),
        Some(level) => {
            bail!("invalid --min-level `{level}`: use informational, low, medium, high or critical")
        }
        None => 0,
    };
    let from = args
        .from
        .as_deref()
        .map(|text| {
            parse_datetime(text)
                .with_context(|| format!("invalid --from `{text}`: use an ISO 8601 UTC datetime"))
        })
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|text| {
            parse_datetime(text)
                .with_context(|| format!("invalid --to `{text}`: use an ISO 8601 UTC datetime"))
        })
        .transpose()?;

    let set = detect::load_rules(&args.rules);
    for error in &set.errors {
        eprintln!("warning: skipped rule file: {error}");
    }
    let rules: Vec<Rule> = set
        .rules
        .into_iter()
        .filter(|rule| {
            level_rank(&rule_level(rule)) >= min_rank && detect::sigma::raises_own_alerts(rule)
        })
        .collect();
    if rules.is_empty() {
        bail!(
            "no rule to run: the --rules folders hold no loadable rule at or above the minimum level"
        );
    }

    let temporary;
    let workspace_dir = match data_dir {
        Some(dir) => dir.to_path_buf(),
        None => {
            temporary = tempfile::tempdir().context("cannot create a temporary workspace")?;
            temporary.path().to_path_buf()
        }
    };
    let show_progress = std::io::stderr().is_terminal();
    let (summary, _) =
        crate::import::import_evtx(&workspace_dir, &args.paths, show_progress).await?;
    let events = summary["records_read"].as_u64().unwrap_or(0);
    let failed_records = summary["records_failed"].as_u64().unwrap_or(0);
    let import_seconds = started.elapsed().as_secs_f64();

    let workspace = Workspace::open_for_reading(&workspace_dir)?;
    let engine = Engine::new();
    let catalog = store::catalog::load(&workspace, &engine, None).await?;
    let end_ticks = match to {
        Some(to) => to,
        None => data_end(&engine, &catalog).await,
    };
    let window = TimeWindow { from, to };

    // Sigma rules over single events share scans; Sigma correlation rules
    // run their own query, like Sentinel rules.
    let (sigma, sentinel): (Vec<&Rule>, Vec<&Rule>) = rules.iter().partition(|rule| {
        rule.other_keys
            .get(SIGMA_KEY)
            .is_some_and(|details| details.get("filter").is_some())
    });
    let mut scans: BTreeMap<String, Vec<&Rule>> = BTreeMap::new();
    for rule in &sigma {
        let filter = rule.other_keys[SIGMA_KEY]["filter"]
            .as_str()
            .unwrap_or_default();
        scans.entry(filter.to_string()).or_default().push(rule);
    }
    let per_scan = args.rules_per_scan as usize;
    let scan_count: usize = scans
        .values()
        .map(|rules| rules.len().div_ceil(per_scan))
        .sum();
    let progress = if show_progress {
        let bar = ProgressBar::new((scan_count + sentinel.len()) as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} queries {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let options = QueryOptions {
        now_ticks: end_ticks,
        timeout: std::time::Duration::from_secs(3600),
    };
    let mut detections = Vec::new();
    let mut rule_failures = 0usize;
    for (filter, group) in &scans {
        for chunk in group.chunks(per_scan) {
            progress.set_message(format!("{} detections", detections.len()));
            match run_scan(&engine, &catalog, &options, filter, chunk, &window).await {
                Ok(found) => detections.extend(found),
                Err(error) => {
                    tracing::debug!(%error, "scan failed; running its rules one by one");
                    for rule in chunk {
                        match run_scan(&engine, &catalog, &options, filter, &[*rule], &window).await
                        {
                            Ok(found) => detections.extend(found),
                            Err(error) => {
                                rule_failures += 1;
                                warn_rule_failed(&progress, rule, &error);
                            }
                        }
                    }
                }
            }
            progress.inc(1);
        }
    }
    for rule in &sentinel {
        match run_sentinel(&engine, &catalog, &options, rule, &window).await {
            Ok(found) => detections.extend(found),
            Err(error) => {
                rule_failures += 1;
                warn_rule_failed(&progress, rule, &error);
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    detections
        .sort_by(|a, b| (&a.time, &a.computer, &a.rule).cmp(&(&b.time, &b.computer, &b.rule)));

    let text = match args.format {
        HuntFormat::Table => table_text(&detections),
        HuntFormat::Csv => csv_text(&detections),
        HuntFormat::Json => json_text(&detections),
    };
    match &args.output {
        Some(path) => std::fs::write(path, &text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => crate::query::write_stdout(&text)?,
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut by_level: BTreeMap<usize, usize> = BTreeMap::new();
    for detection in &detections {
        *by_level.entry(level_rank(&detection.level)).or_default() += 1;
    }
    let levels: Vec<String> = by_level
        .iter()
        .rev()
        .map(|(rank, count)| format!("{} {count}", LEVELS[*rank]))
        .collect();
    eprintln!(
        "{events} events ({failed_records} unreadable records), {} rules ({} files skipped, {rule_failures} failed to run), {} detections ({}) in {seconds:.1} s (import {import_seconds:.1} s, {:.0} events/s)",
        rules.len(),
        set.errors.len(),
        detections.len(),
        if levels.is_empty() {
            "none".to_string()
        } else {
            levels.join(", ")
        },
        events as f64 / seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// The optional time bounds of the hunt, in ticks.
struct TimeWindow {
    from: Option<i64>,
    to: Option<i64>,
}

impl TimeWindow {
    fn kql(&self) -> String {
        let mut parts = Vec::new();
        if let Some(from) = self.from {
            parts.push(format!(
                "TimeGenerated >= datetime({})",
                format_datetime_iso(from)
            ));
        }
        if let Some(to) = self.to {
            parts.push(format!(
                "TimeGenerated < datetime({})",
                format_datetime_iso(to)
            ));
        }
        parts.join(" and ")
    }
}

/// Returns the instant just after the newest event, which Sentinel rules take as
/// `now()`; the current time for an empty workspace.
async fn data_end(engine: &Engine, catalog: &dyn Catalog) -> i64 {
    let now = engine::time::ticks_from_datetime(chrono::Utc::now());
    let query = "union SecurityEvent, Event | summarize End = max(TimeGenerated) | extend End = tostring(End)";
    let Ok(result) = engine.run(query, catalog, &QueryOptions::default()).await else {
        return now;
    };
    let text = result
        .batches
        .first()
        .and_then(|batch| strings(batch.column(0)).ok())
        .and_then(|values| values.first().cloned().flatten());
    text.and_then(|text| parse_datetime(&text))
        .map_or(now, |end| end + 10_000_000)
}

fn strings(array: &ArrayRef) -> anyhow::Result<Vec<Option<String>>> {
    let cast = arrow::compute::cast(array, &DataType::Utf8)?;
    let values = cast
        .as_any()
        .downcast_ref::<StringArray>()
        .context("a cast to Utf8 gives strings")?;
    Ok((0..values.len())
        .map(|row| (!values.is_null(row)).then(|| values.value(row).to_string()))
        .collect())
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    batch
        .schema()
        .index_of(name)
        .ok()
        .map(|index| batch.column(index))
}

/// Formats the `TimeGenerated` values of a batch as ISO 8601 text; the engine
/// keeps datetimes as 100 ns ticks.
fn times(array: &ArrayRef) -> anyhow::Result<Vec<String>> {
    if let Some(ticks) = array.as_any().downcast_ref::<Int64Array>() {
        return Ok((0..ticks.len())
            .map(|row| {
                if ticks.is_null(row) {
                    String::new()
                } else {
                    format_datetime_iso(ticks.value(row))
                }
            })
            .collect());
    }
    Ok(strings(array)?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

fn shorten(value: &str) -> String {
    if value.chars().count() <= MAX_VALUE_CHARS {
        return value.to_string();
    }
    let mut short: String = value.chars().take(MAX_VALUE_CHARS).collect();
    short.push('…');
    short
}

fn tactics_text(rule: &Rule) -> String {
    rule.tactics.join(",")
}

/// Runs one scan: the rules' shared filter, the union of their extended
/// fields and one match flag per rule.
/// Prints a warning that `rule` failed above the progress bar; the hunt
/// goes on with the other rules.
fn warn_rule_failed(progress: &ProgressBar, rule: &Rule, error: &impl std::fmt::Display) {
    progress.println(format!(
        "warning: rule {} ({}) failed: {error}",
        rule.id,
        rule.source.display()
    ));
}

async fn run_scan(
    engine: &Engine,
    catalog: &dyn Catalog,
    options: &QueryOptions,
    filter: &str,
    rules: &[&Rule],
    window: &TimeWindow,
) -> anyhow::Result<Vec<Detection>> {
    let mut extends: BTreeMap<String, String> = BTreeMap::new();
    for rule in rules {
        if let Some(pairs) = rule.other_keys[SIGMA_KEY]["extends"].as_array() {
            for pair in pairs {
                if let (Some(column), Some(expr)) = (pair[0].as_str(), pair[1].as_str()) {
                    extends.insert(column.to_string(), expr.to_string());
                }
            }
        }
    }
    let mut query = format!("WindowsEvent\n| where {filter}");
    let window_filter = window.kql();
    if !window_filter.is_empty() {
        query.push_str(&format!(" and {window_filter}"));
    }
    if !extends.is_empty() {
        let assignments: Vec<String> = extends
            .iter()
            .map(|(column, expr)| format!("{} = {expr}", kql_column(column)))
            .collect();
        query.push_str(&format!("\n| extend {}", assignments.join(", ")));
    }
    let flags: Vec<String> = rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let condition = rule.other_keys[SIGMA_KEY]["condition"]
                .as_str()
                .unwrap_or("false");
            format!("hunt_match_{index} = ({condition})")
        })
        .collect();
    query.push_str(&format!("\n| extend {}", flags.join(", ")));
    let any: Vec<String> = (0..rules.len())
        .map(|index| format!("hunt_match_{index}"))
        .collect();
    query.push_str(&format!("\n| where {}", balanced_or(&any)));
    let mut projected = vec!["TimeGenerated".to_string(), "Computer".to_string()];
    projected.extend(extends.keys().map(|column| kql_column(column)));
    projected.extend(any.iter().cloned());
    query.push_str(&format!("\n| project {}", projected.join(", ")));

    let result = engine.run(&query, catalog, options).await?;
    let mut detections = Vec::new();
    for batch in &result.batches {
        let times = times(column(batch, "TimeGenerated").context("TimeGenerated")?)?;
        let computers = strings(column(batch, "Computer").context("Computer")?)?;
        let mut values: BTreeMap<&str, Vec<Option<String>>> = BTreeMap::new();
        for name in extends.keys() {
            if let Some(array) = column(batch, name) {
                values.insert(name.as_str(), strings(array)?);
            }
        }
        for (index, rule) in rules.iter().enumerate() {
            let Some(flags) = column(batch, &format!("hunt_match_{index}")) else {
                continue;
            };
            let Some(flags) = flags.as_any().downcast_ref::<BooleanArray>() else {
                continue;
            };
            let fields: Vec<&str> = rule.other_keys[SIGMA_KEY]["extends"]
                .as_array()
                .map(|pairs| pairs.iter().filter_map(|pair| pair[0].as_str()).collect())
                .unwrap_or_default();
            for row in 0..batch.num_rows() {
                if flags.is_null(row) || !flags.value(row) {
                    continue;
                }
                let matched: Vec<String> = fields
                    .iter()
                    .filter_map(|field| {
                        let value = values.get(field)?.get(row)?.as_deref()?;
                        (!value.is_empty()).then(|| format!("{field}={}", shorten(value)))
                    })
                    .collect();
                detections.push(Detection {
                    time: times[row].clone(),
                    computer: computers[row].clone().unwrap_or_default(),
                    rule_id: rule.id.clone(),
                    rule: rule.name.clone(),
                    level: rule_level(rule),
                    tactics: tactics_text(rule),
                    fields: matched.join(" ¦ "),
                });
            }
        }
    }
    Ok(detections)
}

fn balanced_or(terms: &[String]) -> String {
    match terms {
        [] => "false".to_string(),
        [one] => one.clone(),
        _ => {
            let (left, right) = terms.split_at(terms.len() / 2);
            format!("({}) or ({})", balanced_or(left), balanced_or(right))
        }
    }
}

/// Runs a Sentinel rule's query over all the data; each result row is a
/// detection.
async fn run_sentinel(
    engine: &Engine,
    catalog: &dyn Catalog,
    options: &QueryOptions,
    rule: &Rule,
    window: &TimeWindow,
) -> anyhow::Result<Vec<Detection>> {
    let result = engine.run(&rule.query, catalog, options).await?;
    // The engine keeps datetimes as ticks; these columns print as ISO 8601.
    let datetime_columns: Vec<&str> = result
        .columns
        .iter()
        .filter(|column| column.ty == kql::KqlType::Datetime)
        .map(|column| column.name.as_str())
        .collect();
    let mut detections = Vec::new();
    for batch in &result.batches {
        let event_times = match column(batch, "TimeGenerated") {
            Some(array) => times(array)?,
            None => vec![String::new(); batch.num_rows()],
        };
        let computers = match column(batch, "Computer") {
            Some(array) => strings(array)?,
            None => vec![None; batch.num_rows()],
        };
        let mut other: Vec<(String, Vec<Option<String>>)> = Vec::new();
        for (index, field) in batch.schema().fields().iter().enumerate() {
            if field.name() == "TimeGenerated" || field.name() == "Computer" {
                continue;
            }
            let values = if datetime_columns.contains(&field.name().as_str()) {
                times(batch.column(index))?
                    .into_iter()
                    .map(|time| (!time.is_empty()).then_some(time))
                    .collect()
            } else {
                strings(batch.column(index))?
            };
            other.push((field.name().clone(), values));
        }
        for row in 0..batch.num_rows() {
            let time = event_times[row].clone();
            if let Some(ticks) = parse_datetime(&time)
                && (window.from.is_some_and(|from| ticks < from)
                    || window.to.is_some_and(|to| ticks >= to))
            {
                continue;
            }
            let fields: Vec<String> = other
                .iter()
                .filter_map(|(name, values)| {
                    let value = values[row].as_deref()?;
                    (!value.is_empty()).then(|| format!("{name}={}", shorten(value)))
                })
                .collect();
            detections.push(Detection {
                time,
                computer: computers[row].clone().unwrap_or_default(),
                rule_id: rule.id.clone(),
                rule: rule.name.clone(),
                level: rule_level(rule),
                tactics: tactics_text(rule),
                fields: fields.join(" ¦ "),
            });
        }
    }
    Ok(detections)
}

fn table_text(detections: &[Detection]) -> String {
    let mut text = String::new();
    for detection in detections {
        text.push_str(&format!(
            "{:<28} {:<24} {:<13} {} [{}] {}\n",
            detection.time,
            detection.computer,
            detection.level,
            detection.rule,
            detection.tactics,
            detection.fields
        ));
    }

    let mut by_rule: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut by_host: BTreeMap<&str, usize> = BTreeMap::new();
    for detection in detections {
        *by_rule
            .entry((&detection.rule, &detection.level))
            .or_default() += 1;
        *by_host.entry(&detection.computer).or_default() += 1;
    }

    let mut rules: Vec<_> = by_rule.into_iter().collect();
    rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    text.push_str(&format!(
        "\nDetections by rule ({} rules matched)\n",
        rules.len()
    ));
    for ((rule, level), count) in rules {
        text.push_str(&format!("{count:>8}  {level:<13} {rule}\n"));
    }

    let mut hosts: Vec<_> = by_host.into_iter().collect();
    hosts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    text.push_str(&format!("\nDetections by host ({} hosts)\n", hosts.len()));
    for (host, count) in hosts {
        text.push_str(&format!("{count:>8}  {host}\n"));
    }
    text
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

fn csv_text(detections: &[Detection]) -> String {
    let mut text = COLUMNS.join(",");
    text.push('\n');
    for detection in detections {
        let row: Vec<String> = detection
            .values()
            .iter()
            .map(|value| csv_field(value))
            .collect();
        text.push_str(&row.join(","));
        text.push('\n');
    }
    text
}

fn json_text(detections: &[Detection]) -> String {
    let columns: Vec<Value> = COLUMNS
        .iter()
        .map(|name| {
            let kind = if *name == "TimeGenerated" {
                "datetime"
            } else {
                "string"
            };
            json!({"name": name, "type": kind})
        })
        .collect();
    let rows: Vec<Value> = detections
        .iter()
        .map(|detection| Value::from(detection.values().to_vec()))
        .collect();
    format!("{}\n", json!({"columns": columns, "rows": rows}))
}
