//! Helpers shared by the end-to-end tests: running the `homesoc` binary,
//! importing the EVTX corpus once per test binary, and reading the corpus
//! truth files.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;
use tempfile::TempDir;

/// The crate folder, read when the test runs: Cargo can reuse a test binary
/// built in another checkout that shares the build cache, and a path fixed
/// at compile time would then point into that checkout.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

/// The shared EVTX corpus, which sits beside the repository.
pub fn corpus_dir() -> PathBuf {
    manifest_dir().join("../../../shared/corpus/evtx")
}

/// Runs `homesoc --data-dir DATA_DIR ARGS...` and returns its output.
pub fn homesoc(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_homesoc"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("HOMESOC_DATA_DIR")
        .env_remove("HOMESOC_LOG")
        .output()
        .expect("cannot start the homesoc binary")
}

pub fn stdout_text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr_text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a KQL query with `--format json` and returns the parsed document.
/// Panics with the query and stderr when the query fails.
pub fn query(data_dir: &Path, kql: &str) -> QueryResult {
    let output = homesoc(data_dir, &["query", "--format", "json", kql]);
    assert!(
        output.status.success(),
        "query failed with {}:\n{kql}\nstderr:\n{}",
        output.status,
        stderr_text(&output)
    );
    let document: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "query output is not JSON ({e}):\n{kql}\n{}",
            stdout_text(&output)
        )
    });
    QueryResult::from_document(&document, kql)
}

/// A query result: column names and types, and rows of JSON cells.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Value>>,
}

impl QueryResult {
    fn from_document(document: &Value, kql: &str) -> QueryResult {
        let columns = document["columns"]
            .as_array()
            .unwrap_or_else(|| panic!("query output has no `columns` array:\n{kql}\n{document}"))
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or_default().to_string(),
                    c["type"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let rows = document["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("query output has no `rows` array:\n{kql}\n{document}"))
            .iter()
            .map(|r| r.as_array().cloned().unwrap_or_default())
            .collect();
        QueryResult { columns, rows }
    }

    /// Index of the column `name`; panics when the result lacks it.
    pub fn column(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("result has no column `{name}`; columns: {:?}", self.columns))
    }

    /// The single value of a one-row, one-column result such as `count`.
    pub fn scalar_u64(&self) -> u64 {
        assert_eq!(self.rows.len(), 1, "expected one row, got {:?}", self.rows);
        self.rows[0][0]
            .as_u64()
            .unwrap_or_else(|| panic!("expected a count, got {}", self.rows[0][0]))
    }
}

/// Renders a JSON cell as the text a record's XML would show: strings as
/// they are, numbers in decimal, null as the empty string.
pub fn cell_text(cell: &Value) -> String {
    match cell {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Quotes `text` as a KQL string literal.
pub fn kql_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A workspace with the whole corpus imported, and the `--json` summary of
/// that import.
pub struct ImportedCorpus {
    pub workspace: TempDir,
    pub summary: Value,
}

impl ImportedCorpus {
    pub fn data_dir(&self) -> &Path {
        self.workspace.path()
    }
}

/// Imports every EVTX file of the corpus into a fresh workspace on first
/// use and returns the same workspace afterwards. The import exit code is
/// not checked here: the truth test compares the per-file outcomes.
pub fn imported_corpus() -> &'static ImportedCorpus {
    static CORPUS: OnceLock<ImportedCorpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let workspace = tempfile::tempdir().expect("cannot create a temporary workspace");
        let corpus = corpus_dir();
        let output = homesoc(
            workspace.path(),
            &["import", "evtx", corpus.to_str().unwrap(), "--json"],
        );
        let summary: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "import --json did not print JSON ({e}); exit {}\nstdout:\n{}\nstderr:\n{}",
                output.status,
                stdout_text(&output),
                stderr_text(&output)
            )
        });
        ImportedCorpus { workspace, summary }
    })
}

/// Reads a JSON file of the corpus, such as `TRUTH.json`.
pub fn corpus_json(name: &str) -> Value {
    let path = corpus_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Reads `SAMPLES.jsonl`, one sample record per line.
pub fn samples() -> Vec<Value> {
    let path = corpus_dir().join("SAMPLES.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line in SAMPLES.jsonl: {e}"))
        })
        .collect()
}

/// The expected content of one corpus file.
#[derive(Debug, Clone)]
pub struct FileTruth {
    pub total: u64,
    /// Records per channel; `(none)` is a record without a `Channel`.
    pub per_channel: BTreeMap<String, u64>,
    /// The 30 most frequent event ids, or all of them when `complete`.
    pub per_event_id: BTreeMap<String, u64>,
    /// True when `per_event_id` lists every event id of the file.
    pub complete: bool,
    /// Which tool's figures these are.
    pub tool: &'static str,
}

fn count_map(value: &Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Picks a file's truth from its `TRUTH.json` entry. python-evtx
/// (`parsed_records`) is the primary tool. Where the cross-check with
/// evtx_dump disagrees, the truth is the tool that recovered more records;
/// on a tie python-evtx stays.
pub fn file_truth(entry: &Value) -> FileTruth {
    let primary_records = entry["parsed_records"].as_u64().expect("parsed_records");
    let cross = &entry["cross_check"];
    let agrees = cross["agrees_with_primary"].as_bool().unwrap_or(true);
    let cross_records = cross["records_emitted"].as_u64().unwrap_or(0);
    let (source, total, tool) = if !agrees && cross_records > primary_records {
        (cross, cross_records, "evtx_dump")
    } else {
        (entry, primary_records, "python-evtx")
    };
    let per_event_id = count_map(&source["records_per_event_id_top30"]);
    let distinct = source["distinct_event_ids"].as_u64().unwrap_or(u64::MAX);
    FileTruth {
        total,
        per_channel: count_map(&source["records_per_channel"]),
        complete: distinct <= 30 && per_event_id.len() as u64 == distinct,
        per_event_id,
        tool,
    }
}

/// Every corpus file's truth, keyed by file name.
pub fn corpus_truth() -> BTreeMap<String, FileTruth> {
    let truth = corpus_json("TRUTH.json");
    truth["files"]
        .as_object()
        .expect("TRUTH.json has no `files` object")
        .iter()
        .map(|(name, entry)| (name.clone(), file_truth(entry)))
        .collect()
}
