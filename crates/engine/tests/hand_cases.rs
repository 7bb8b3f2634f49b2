//! Runs the hand-written KQL cases under `tests/cases/`: everyday
//! operators and functions that the reference examples of the conformance
//! corpus do not cover, each with an expected result worked out by hand.
//!
//! A case file is a KQL query whose leading `//` comments explain how each
//! expected value follows from the input, and hold the expected result on
//! one line, `// expected: {"columns": [...], "rows": [...]}`, in the shape
//! of the conformance corpus (`../shared/corpus/kql-conformance/README.md`).
//! `// ordered: true` makes the row order count. The whole file runs as the
//! query, comments included, and every case must pass.

// The conformance test uses the rest of the module.
#[allow(dead_code)]
#[path = "conformance/compare.rs"]
mod compare;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use compare::{CaseRules, compare_tables};

/// The `now()` of every case.
const NOW: &str = "2024-01-01T00:00:00Z";

fn cases_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/cases")
}

/// One case file: its name, query text, expected table and rules.
struct Case {
    name: String,
    query: String,
    expected: Value,
    rules: CaseRules,
}

fn load_cases() -> Vec<Case> {
    let mut paths: Vec<PathBuf> = fs::read_dir(cases_dir())
        .expect("tests/cases is readable")
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "kql"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let query = fs::read_to_string(&path).expect("a readable case file");
            let field = |key: &str| {
                query.lines().find_map(|line| {
                    line.trim()
                        .strip_prefix("//")
                        .map(str::trim)
                        .and_then(|rest| rest.strip_prefix(key))
                        .map(str::trim)
                        .map(str::to_string)
                })
            };
            let expected_text =
                field("expected:").unwrap_or_else(|| panic!("{name} has no `// expected:` line"));
            let expected: Value = serde_json::from_str(&expected_text).unwrap_or_else(|error| {
                panic!("the expected result of {name} is not JSON: {error}")
            });
            let ordered = field("ordered:").is_some_and(|v| v == "true");
            let rules = CaseRules::from_case(&serde_json::json!({ "ordered": ordered }));
            Case {
                name,
                query,
                expected,
                rules,
            }
        })
        .collect()
}

fn run_query(runtime: &tokio::runtime::Runtime, query: &str) -> Result<Value, String> {
    let now_ticks = engine::time::parse_datetime(NOW).expect("NOW is a valid datetime");
    runtime.block_on(async {
        let engine = engine::Engine::new();
        let catalog = engine::StaticCatalog::new();
        let options = engine::QueryOptions {
            now_ticks,
            timeout: Duration::from_secs(20),
        };
        let result = engine
            .run(query, &catalog, &options)
            .await
            .map_err(|error| error.to_string())?;
        Ok(engine::output::to_json_document(&result))
    })
}

#[test]
fn hand_written_cases_pass() {
    let cases = load_cases();
    assert!(
        cases.len() >= 10,
        "expected the case files under {}",
        cases_dir().display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut failures = Vec::new();
    for case in &cases {
        match run_query(&runtime, &case.query) {
            Ok(actual) => {
                if let Err(mismatch) = compare_tables(&case.expected, &actual, &case.rules) {
                    failures.push(format!("{}: {mismatch}\n  actual: {actual}", case.name));
                }
            }
            Err(error) => failures.push(format!("{}: {error}", case.name)),
        }
    }
    println!(
        "{} of {} hand-written cases passed",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "failed cases:\n{}",
        failures.join("\n")
    );
}
