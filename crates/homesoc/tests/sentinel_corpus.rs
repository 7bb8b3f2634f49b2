//! Runs every published Sentinel analytics rule and hunting query of the
//! shared corpus over a workspace that contains the imported EVTX corpus.
//!
//! Each query is parsed, planned against the workspace's catalog and run.
//! The test prints how many queries reach each stage, lists the failures
//! grouped by stage, and fails when a count falls below the committed
//! baseline in `tests/sentinel-baseline.json`.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use engine::{Engine, EngineError, QueryOptions};
use serde_json::Value;
use store::Workspace;

fn sentinel_dir() -> PathBuf {
    common::manifest_dir().join("../../../shared/corpus/sentinel")
}

fn baseline_path() -> PathBuf {
    common::manifest_dir().join("tests/sentinel-baseline.json")
}

/// One rule or hunting query file.
struct CorpusQuery {
    /// `rules/NAME.yaml` or `hunting/NAME.yaml`.
    name: String,
    text: String,
}

/// Reads the `query: |` literal block of a rule file. The corpus files are
/// YAML, but every query is a literal block scalar, so the block's lines
/// are the lines after `query:` that are empty or indented, with the first
/// line's indentation removed.
fn query_block(yaml: &str) -> Option<String> {
    let mut lines = yaml.lines().map(|line| line.trim_end_matches('\r'));
    lines.find(|line| line.starts_with("query:") && line.trim_end().ends_with('|'))?;

    let mut block = Vec::new();
    for line in lines {
        if !line.trim().is_empty() && !line.starts_with([' ', '\t']) {
            break;
        }
        block.push(line);
    }
    let indent = block
        .iter()
        .find(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())?;
    let text: Vec<&str> = block
        .iter()
        .map(|line| line.get(indent..).unwrap_or("").trim_end())
        .collect();
    Some(text.join("\n").trim().to_string())
}

fn corpus_queries() -> Vec<CorpusQuery> {
    let mut queries = Vec::new();
    for folder in ["rules", "hunting"] {
        let dir = sentinel_dir().join(folder);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
            .collect();
        paths.sort();
        for path in paths {
            let yaml = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let name = format!("{folder}/{}", path.file_name().unwrap().to_string_lossy());
            let text =
                query_block(&yaml).unwrap_or_else(|| panic!("{name} has no `query: |` block"));
            queries.push(CorpusQuery { name, text });
        }
    }
    queries
}

/// Fills the hunting-query placeholders that the Sentinel portal replaces
/// before running a query.
fn fill_placeholders(text: &str, start_iso: &str, end_iso: &str) -> String {
    text.replace("{{StartTimeISO}}", start_iso)
        .replace("{{EndTimeISO}}", end_iso)
}

/// Points every `externaldata` URL of a query at a local CSV file with the
/// declared columns, written into `folder`: the engine reads only local
/// files, and the published feeds are not part of the corpus. Each file has
/// a header row and one row with a value of each column's type.
fn localize_externaldata(text: &str, folder: &Path) -> String {
    let mut localized = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("externaldata") {
        let (before, call) = rest.split_at(start);
        localized.push_str(before);
        let (Some(open), Some(close), Some(list_start)) =
            (call.find('('), call.find(')'), call.find('['))
        else {
            rest = call;
            break;
        };
        let list_end = call[list_start..]
            .find(']')
            .map_or(call.len(), |i| list_start + i);
        let columns = &call[open + 1..close];
        let mut list = call[list_start..list_end].to_string();
        if let Some(url) = list.split('"').nth(1).map(str::to_string)
            && url.starts_with("http")
        {
            let file = folder.join(format!("feed-{}.csv", localized.len()));
            std::fs::write(&file, feed_csv(columns)).expect("feed file is written");
            list = list.replace(&url, &format!("file://{}", file.display()));
        }
        localized.push_str(&call[..list_start]);
        localized.push_str(&list);
        rest = &call[list_end..];
    }
    localized.push_str(rest);
    localized
}

/// Builds a CSV text for `Name:type, ...` column declarations.
fn feed_csv(columns: &str) -> String {
    let declarations: Vec<(&str, &str)> = columns
        .split(',')
        .filter_map(|decl| decl.split_once(':'))
        .map(|(name, ty)| (name.trim(), ty.trim()))
        .collect();
    let header: Vec<&str> = declarations.iter().map(|(name, _)| *name).collect();
    let values: Vec<String> = declarations
        .iter()
        .map(|(name, ty)| match *ty {
            "int" | "long" | "real" | "double" => "1".to_string(),
            "datetime" => "2024-01-01T00:00:00Z".to_string(),
            "bool" => "true".to_string(),
            _ => format!("example-{}", name.to_lowercase()),
        })
        .collect();
    format!("{}\n{}\n", header.join(","), values.join(","))
}

/// The furthest stage a query reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Not valid KQL for the parser.
    ParseFailed,
    /// Reads a table that homesoc does not define.
    UnknownTable,
    /// Parsed, but planning failed for another reason.
    PlanFailed,
    /// Planned, but running failed.
    RunFailed,
    Ran,
}

struct Outcome {
    name: String,
    stage: Stage,
    message: String,
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

fn is_unknown_table(error: &EngineError) -> bool {
    matches!(error, EngineError::Semantic(d) if d.message.starts_with("unknown table"))
}

async fn run_query(
    engine: &Engine,
    catalog: &dyn engine::Catalog,
    options: &QueryOptions,
    query: &CorpusQuery,
    text: &str,
) -> Outcome {
    let outcome = |stage, message: String| Outcome {
        name: query.name.clone(),
        stage,
        message,
    };
    if let Err(diagnostic) = kql::parse(text) {
        return outcome(Stage::ParseFailed, diagnostic.message.clone());
    }
    if let Err(error) = engine.plan(text, catalog, options) {
        let stage = if is_unknown_table(&error) {
            Stage::UnknownTable
        } else {
            Stage::PlanFailed
        };
        return outcome(stage, first_line(&error.render(text)));
    }
    match engine.run(text, catalog, options).await {
        Ok(result) => outcome(Stage::Ran, format!("{} rows", result.row_count())),
        Err(error) => outcome(Stage::RunFailed, first_line(&error.render(text))),
    }
}

/// Returns the earliest and latest `TimeGenerated` of the imported events
/// as ISO 8601 text.
async fn event_time_range(engine: &Engine, catalog: &dyn engine::Catalog) -> (String, String, i64) {
    let text = "union SecurityEvent, Event \
                | summarize First = min(TimeGenerated), Last = max(TimeGenerated)";
    let result = engine
        .run(text, catalog, &QueryOptions::default())
        .await
        .unwrap_or_else(|e| panic!("the time range query failed: {}", e.render(text)));
    let rows = engine::output::rows_json(&result);
    let first = rows[0][0].as_str().expect("first event time").to_string();
    let last = rows[0][1].as_str().expect("last event time").to_string();
    let last_ticks = engine::time::parse_datetime(&last)
        .unwrap_or_else(|| panic!("the last event time `{last}` does not parse"));
    (first, last, last_ticks)
}

/// Counts the queries that reached `stage` or a later one.
fn reached(outcomes: &[Outcome], stage: Stage) -> usize {
    outcomes.iter().filter(|o| o.stage >= stage).count()
}

fn check_baseline(counts: &BTreeMap<&str, usize>) {
    let path = baseline_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the baseline {}: {e}", path.display()));
    let baseline: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the baseline {} is not JSON: {e}", path.display()));

    let mut regressions = Vec::new();
    let mut improvements = Vec::new();
    for (stage, count) in counts {
        let minimum = baseline[stage]
            .as_u64()
            .unwrap_or_else(|| panic!("the baseline has no integer `{stage}`"))
            as usize;
        if *count < minimum {
            regressions.push(format!("{stage}: {count}, baseline {minimum}"));
        } else if *count > minimum {
            improvements.push(format!("raise `{stage}` to {count}"));
        }
    }
    if !improvements.is_empty() {
        eprintln!(
            "more Sentinel queries pass than the baseline records; in {}: {}",
            path.display(),
            improvements.join(", ")
        );
    }
    assert!(
        regressions.is_empty(),
        "fewer Sentinel queries pass than the baseline requires:\n  {}",
        regressions.join("\n  ")
    );
}

fn report(outcomes: &[Outcome]) -> String {
    let mut text = String::new();
    for stage in [
        Stage::ParseFailed,
        Stage::UnknownTable,
        Stage::PlanFailed,
        Stage::RunFailed,
    ] {
        let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.stage == stage).collect();
        if failed.is_empty() {
            continue;
        }
        writeln!(text, "{stage:?} ({}):", failed.len()).unwrap();
        for outcome in failed {
            writeln!(text, "  {}: {}", outcome.name, outcome.message).unwrap();
        }
    }
    text
}

fn load_catalog(
    runtime: &tokio::runtime::Runtime,
    data_dir: &Path,
    engine: &Engine,
) -> impl engine::Catalog {
    let workspace = Workspace::open_for_reading(data_dir).expect("workspace opens");
    runtime
        .block_on(store::catalog::load(&workspace, engine, None))
        .expect("catalog loads")
}

#[test]
fn sentinel_queries_run() {
    let corpus = common::imported_corpus();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let engine = Engine::new();
    let catalog = load_catalog(&runtime, corpus.data_dir(), &engine);

    // Rules look back from `now`; a day after the last imported event makes
    // `ago(1d)` windows reach the newest events.
    let (first, last, last_ticks) = runtime.block_on(event_time_range(&engine, &catalog));
    let options = QueryOptions {
        now_ticks: last_ticks + engine::time::TICKS_PER_DAY,
        ..QueryOptions::default()
    };

    let feeds = tempfile::tempdir().expect("temporary folder for feeds");
    let queries = corpus_queries();
    let mut outcomes = Vec::new();
    for query in &queries {
        let text = fill_placeholders(&query.text, &first, &last);
        let text = localize_externaldata(&text, feeds.path());
        outcomes.push(runtime.block_on(run_query(&engine, &catalog, &options, query, &text)));
    }

    let counts = BTreeMap::from([
        ("parsed", reached(&outcomes, Stage::UnknownTable)),
        ("planned", reached(&outcomes, Stage::RunFailed)),
        ("ran", reached(&outcomes, Stage::Ran)),
    ]);
    let unknown_tables = outcomes
        .iter()
        .filter(|o| o.stage == Stage::UnknownTable)
        .count();
    println!(
        "Sentinel corpus: {} queries, {} parsed, {} planned ({} read a table homesoc does not define), {} ran",
        queries.len(),
        counts["parsed"],
        counts["planned"],
        unknown_tables,
        counts["ran"]
    );
    print!("{}", report(&outcomes));
    check_baseline(&counts);
}
