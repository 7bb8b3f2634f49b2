//! Parses every query of the KQL conformance cases and of the Sentinel
//! detection and hunting rules that sit beside this repository, and fails
//! when fewer parse than the committed minimum.

use std::fs;
use std::path::PathBuf;

/// Root of the shared corpora, a sibling of the repository root.
fn corpus_root() -> PathBuf {
    manifest_dir().join("../../../shared/corpus")
}

/// The crate folder, read when the test runs: Cargo can reuse a test binary
/// built in another checkout that shares the build cache, and a path fixed
/// at compile time would then point into that checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

/// Minimum number of conformance queries that must parse.
const MIN_CONFORMANCE_PARSED: usize = 553;
/// Minimum number of Sentinel queries that must parse.
const MIN_SENTINEL_PARSED: usize = 104;

/// Returns `(id, query)` for every line of the conformance cases file.
fn conformance_queries() -> Vec<(String, String)> {
    let path = corpus_root().join("kql-conformance/cases.jsonl");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let case: serde_json::Value =
                serde_json::from_str(line).expect("each line is a JSON object");
            let id = case["id"].as_str().unwrap_or("?").to_string();
            let query = case["query"]
                .as_str()
                .expect("each case has a string `query`")
                .to_string();
            (id, query)
        })
        .collect()
}

/// Extracts the `query: |` block scalar of a YAML rule: the lines after the
/// key that are indented more than the key, with the common indentation
/// removed.
fn yaml_query(text: &str) -> Option<String> {
    let mut lines = text.lines();
    lines.find(|line| {
        line.strip_prefix("query:")
            .is_some_and(|rest| rest.trim().starts_with('|'))
    })?;
    let block: Vec<&str> = lines
        .take_while(|line| line.trim().is_empty() || line.starts_with(' '))
        .collect();
    let indent = block
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()?;
    let body: Vec<&str> = block
        .iter()
        .map(|line| line.get(indent..).unwrap_or(""))
        .collect();
    Some(body.join("\n"))
}

fn sentinel_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["sentinel/rules", "sentinel/hunting"] {
        let path = corpus_root().join(dir);
        let mut entries: Vec<PathBuf> = fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for file in entries {
            let text = fs::read_to_string(&file).expect("rule file is UTF-8");
            let query = yaml_query(&text)
                .unwrap_or_else(|| panic!("{} has no `query: |` block", file.display()));
            out.push((
                file.file_name().unwrap().to_string_lossy().into_owned(),
                query,
            ));
        }
    }
    out
}

/// Parses each query, prints the failures, and returns how many parsed.
fn parse_all(label: &str, queries: &[(String, String)]) -> usize {
    let mut parsed = 0;
    for (id, query) in queries {
        match kql::parse(query) {
            Ok(_) => parsed += 1,
            Err(diagnostic) => {
                println!(
                    "{label} {id}: {}",
                    kql::render_diagnostic(query, &diagnostic)
                );
            }
        }
    }
    println!("{label}: {parsed} of {} queries parsed", queries.len());
    parsed
}

#[test]
fn conformance_queries_parse() {
    let queries = conformance_queries();
    assert!(
        queries.len() >= 500,
        "expected the full case file, found {} cases",
        queries.len()
    );
    let parsed = parse_all("conformance", &queries);
    assert!(
        parsed >= MIN_CONFORMANCE_PARSED,
        "only {parsed} of {} conformance queries parsed; the minimum is {MIN_CONFORMANCE_PARSED}",
        queries.len()
    );
}

#[test]
fn sentinel_queries_parse() {
    let queries = sentinel_queries();
    assert!(
        queries.len() >= 100,
        "expected the rule corpus, found {} rules",
        queries.len()
    );
    let parsed = parse_all("sentinel", &queries);
    assert!(
        parsed >= MIN_SENTINEL_PARSED,
        "only {parsed} of {} Sentinel queries parsed; the minimum is {MIN_SENTINEL_PARSED}",
        queries.len()
    );
}

#[test]
fn yaml_query_block_is_dedented() {
    let text = "name: x\nquery: |\n  T\n  | where a == 1\n\n  | count\nentityMappings:\n  - a\n";
    assert_eq!(yaml_query(text).unwrap(), "T\n| where a == 1\n\n| count");
}
