//! `homesoc rules check` over the published Sentinel rules of the corpus.

mod common;

use common::{homesoc, manifest_dir, stderr_text};
use serde_json::Value;

/// Rules of the corpus that load and plan. Raise it when the engine plans
/// more of them; the test fails if the count drops below it.
const PLANNED_BASELINE: u64 = 38;

#[test]
fn corpus_rules_check_baseline() {
    let rules = manifest_dir().join("../../../shared/corpus/sentinel/rules");
    let data_dir = tempfile::tempdir().unwrap();
    let output = homesoc(
        data_dir.path(),
        &["rules", "check", "--json", rules.to_str().unwrap()],
    );
    let document: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "rules check output is not JSON ({e}): {}",
            stderr_text(&output)
        )
    });
    let summary = &document["summary"];
    let files = summary["files"].as_u64().unwrap();
    let loaded = summary["loaded"].as_u64().unwrap();
    let planned = summary["planned"].as_u64().unwrap();
    println!("rules check: {files} files, {loaded} load, {planned} load and plan");

    assert_eq!(files, 84, "the corpus holds 84 dev rules");
    assert_eq!(loaded, files, "every published rule loads: {document:#}");
    assert!(
        planned >= PLANNED_BASELINE,
        "{planned} rules plan, below the baseline of {PLANNED_BASELINE}"
    );
    assert_eq!(
        document["files"].as_array().unwrap().len() as u64,
        files,
        "one report per file"
    );
}

#[test]
fn check_reports_bad_rules() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("bad_query.yaml"),
        "id: q\nname: Bad query\nseverity: Low\nqueryFrequency: 1h\nqueryPeriod: 1h\n\
         triggerOperator: gt\ntriggerThreshold: 0\nquery: SecurityEvent | where NoSuchColumn == 1\n",
    )
    .unwrap();
    std::fs::write(
        folder.path().join("good.yaml"),
        "id: g\nname: Good\nseverity: Low\nqueryFrequency: 1h\nqueryPeriod: 1h\n\
         triggerOperator: gt\ntriggerThreshold: 0\nquery: SecurityEvent | where EventID == 4625\n",
    )
    .unwrap();
    let output = homesoc(
        folder.path(),
        &["rules", "check", folder.path().to_str().unwrap()],
    );
    let text = common::stdout_text(&output);
    assert!(
        !output.status.success(),
        "a rule that does not plan fails the check"
    );
    assert!(
        text.contains("bad_query.yaml: does not plan: query line 1:"),
        "{text}"
    );
    assert!(text.contains("NoSuchColumn"), "{text}");
    assert!(text.contains("good.yaml: ok"), "{text}");
    assert!(text.contains("2 files: 2 load, 1 plan"), "{text}");
}
