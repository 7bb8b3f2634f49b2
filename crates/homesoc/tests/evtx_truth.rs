//! Imports the whole EVTX corpus and compares record counts with the
//! corpus truth file (python-evtx, cross-checked with evtx_dump).
//!
//! Rows carry no file name in a KQL-visible column, so per-file counts come
//! from the import's `--json` summary, and KQL checks the totals, the
//! per-channel split and the per-event-id counts summed over all files.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{FileTruth, corpus_truth, imported_corpus, query};

/// Name of the channel whose records go to `SecurityEvent`.
const SECURITY_CHANNEL: &str = "Security";
/// The truth file's key for records without a `Channel` element.
const NO_CHANNEL_KEY: &str = "(none)";

fn security_records(truth: &FileTruth) -> u64 {
    truth
        .per_channel
        .get(SECURITY_CHANNEL)
        .copied()
        .unwrap_or(0)
}

#[test]
fn import_summary_matches_truth() {
    let corpus = imported_corpus();
    let truth = corpus_truth();
    let summary = &corpus.summary;

    let files = summary["files"]
        .as_array()
        .expect("the import summary has no `files` array");
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for file in files {
        let path = file["file"].as_str().unwrap_or_default();
        let name = Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(path)
            .to_string();
        let Some(expected) = truth.get(&name) else {
            problems.push(format!("{name}: imported but not in TRUTH.json"));
            continue;
        };
        seen.insert(name.clone());

        let status = file["status"].as_str().unwrap_or_default();
        if status != "imported" {
            problems.push(format!(
                "{name}: status {status}, reason {}",
                file["reason"]
            ));
            continue;
        }
        let records = file["records"].as_u64().unwrap_or(0);
        if records != expected.total {
            problems.push(format!(
                "{name}: {records} records read, {} expected ({}), {} records failed",
                expected.total, expected.tool, file["records_failed"]
            ));
        }
        let security_rows = file["rows"]["SecurityEvent"].as_u64().unwrap_or(0);
        if security_rows != security_records(expected) {
            problems.push(format!(
                "{name}: {security_rows} SecurityEvent rows, {} Security records expected",
                security_records(expected)
            ));
        }
        let event_rows = file["rows"]["Event"].as_u64().unwrap_or(0);
        let other_records = expected.total - security_records(expected);
        if event_rows != other_records {
            problems.push(format!(
                "{name}: {event_rows} Event rows, {other_records} records of other channels expected"
            ));
        }
    }
    for name in truth.keys().filter(|name| !seen.contains(*name)) {
        problems.push(format!(
            "{name}: in TRUTH.json but missing from the import summary"
        ));
    }

    println!(
        "import summary: {} files imported, {} skipped, {} failed, {} records read, {} records failed",
        summary["files_imported"],
        summary["files_skipped"],
        summary["files_failed"],
        summary["records_read"],
        summary["records_failed"]
    );
    assert_eq!(
        summary["files_imported"].as_u64(),
        Some(truth.len() as u64),
        "every corpus file should be imported once (the corpus has no duplicate content)"
    );
    assert_eq!(
        summary["files_failed"].as_u64(),
        Some(0),
        "no corpus file should fail to import"
    );
    assert!(
        problems.is_empty(),
        "{} files differ from TRUTH.json:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn total_rows_match_truth() {
    let corpus = imported_corpus();
    let truth = corpus_truth();
    let expected: u64 = truth.values().map(|t| t.total).sum();

    let rows = query(corpus.data_dir(), "union SecurityEvent, Event | count").scalar_u64();
    println!("total rows: {rows}, truth: {expected}");
    assert_eq!(
        rows, expected,
        "rows in SecurityEvent and Event should equal the records in TRUTH.json"
    );

    let records_read = corpus.summary["records_read"].as_u64();
    assert_eq!(
        records_read,
        Some(rows),
        "the import summary's records_read should equal the stored rows"
    );
}

#[test]
fn tables_split_by_channel() {
    let corpus = imported_corpus();
    let truth = corpus_truth();
    let security_expected: u64 = truth.values().map(security_records).sum();
    let event_expected: u64 = truth.values().map(|t| t.total - security_records(t)).sum();

    let security_rows = query(corpus.data_dir(), "SecurityEvent | count").scalar_u64();
    let event_rows = query(corpus.data_dir(), "Event | count").scalar_u64();
    println!(
        "SecurityEvent rows: {security_rows} (truth {security_expected}); Event rows: {event_rows} (truth {event_expected})"
    );
    assert_eq!(
        security_rows, security_expected,
        "SecurityEvent should hold exactly the Security channel records"
    );
    assert_eq!(
        event_rows, event_expected,
        "Event should hold exactly the records of every other channel"
    );

    let channels = query(
        corpus.data_dir(),
        "SecurityEvent | summarize n = count() by Channel",
    );
    let channel_names: Vec<String> = channels
        .rows
        .iter()
        .map(|r| common::cell_text(&r[0]))
        .collect();
    assert_eq!(
        channel_names,
        vec![SECURITY_CHANNEL.to_string()],
        "SecurityEvent rows should all have Channel `Security`"
    );

    // Records without a Channel element are Event rows with an empty EventLog.
    let mut expected_logs: BTreeMap<String, u64> = BTreeMap::new();
    for file in truth.values() {
        for (channel, count) in &file.per_channel {
            if channel == SECURITY_CHANNEL {
                continue;
            }
            let log = if channel == NO_CHANNEL_KEY {
                String::new()
            } else {
                channel.clone()
            };
            *expected_logs.entry(log).or_default() += count;
        }
    }
    let logs = query(
        corpus.data_dir(),
        "Event | summarize n = count() by EventLog",
    );
    let log_column = logs.column("EventLog");
    let count_column = logs.column("n");
    let actual_logs: BTreeMap<String, u64> = logs
        .rows
        .iter()
        .map(|r| {
            (
                common::cell_text(&r[log_column]),
                r[count_column].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let mut problems = Vec::new();
    for log in expected_logs
        .keys()
        .chain(actual_logs.keys())
        .collect::<BTreeSet<_>>()
    {
        let expected = expected_logs.get(log).copied().unwrap_or(0);
        let actual = actual_logs.get(log).copied().unwrap_or(0);
        if expected != actual {
            problems.push(format!("EventLog {log:?}: {actual} rows, truth {expected}"));
        }
    }
    assert!(
        problems.is_empty(),
        "Event rows per EventLog differ from TRUTH.json:\n{}",
        problems.join("\n")
    );
}

/// Returns the row count per EventID in a workspace.
fn event_id_counts(data_dir: &Path) -> BTreeMap<String, u64> {
    let result = query(
        data_dir,
        "union SecurityEvent, Event | summarize n = count() by EventID",
    );
    let id_column = result.column("EventID");
    let count_column = result.column("n");
    result
        .rows
        .iter()
        .map(|r| {
            (
                common::cell_text(&r[id_column]),
                r[count_column].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Imports one corpus file into a fresh workspace and returns its row
/// count per EventID.
fn event_id_counts_of_file(name: &str) -> BTreeMap<String, u64> {
    let workspace = tempfile::tempdir().expect("cannot create a temporary workspace");
    let path = common::corpus_dir().join(name);
    let output = common::homesoc(
        workspace.path(),
        &["import", "evtx", path.to_str().unwrap()],
    );
    assert!(
        output.status.success(),
        "importing {name} on its own failed:\n{}",
        common::stderr_text(&output)
    );
    event_id_counts(workspace.path())
}

#[test]
fn event_id_counts_match_truth() {
    let corpus = imported_corpus();
    let truth = corpus_truth();
    let mut problems = Vec::new();

    // A file with more than 30 distinct ids lists only its top 30. Such a
    // file is imported on its own: its listed ids must match exactly, and an
    // id it does not list can occur at most as often as its least frequent
    // listed id.
    let mut incomplete_counts: BTreeMap<String, u64> = BTreeMap::new();
    for (name, file) in truth.iter().filter(|(_, t)| !t.complete) {
        let counts = event_id_counts_of_file(name);
        let least_listed = file.per_event_id.values().min().copied().unwrap_or(0);
        for (id, expected) in &file.per_event_id {
            let actual = counts.get(id).copied().unwrap_or(0);
            if actual != *expected {
                problems.push(format!(
                    "{name}: EventID {id}: {actual} rows, truth {expected}"
                ));
            }
        }
        for (id, actual) in &counts {
            if !file.per_event_id.contains_key(id) && *actual > least_listed {
                problems.push(format!(
                    "{name}: EventID {id}: {actual} rows, but unlisted ids have at most {least_listed}"
                ));
            }
            *incomplete_counts.entry(id.clone()).or_default() += actual;
        }
    }

    // The rest of the corpus lists every id, so its totals are exact: the
    // global counts minus those of the files imported on their own.
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for file in truth.values().filter(|t| t.complete) {
        for (id, count) in &file.per_event_id {
            *expected.entry(id.clone()).or_default() += count;
        }
    }
    let global = event_id_counts(corpus.data_dir());
    let mut actual: BTreeMap<String, u64> = BTreeMap::new();
    for (id, count) in &global {
        let own = incomplete_counts.get(id).copied().unwrap_or(0);
        match count.checked_sub(own) {
            Some(rest) if rest > 0 => {
                actual.insert(id.clone(), rest);
            }
            Some(_) => {}
            None => problems.push(format!(
                "EventID {id}: {count} rows in the corpus workspace, fewer than the {own} in the files imported on their own"
            )),
        }
    }
    for id in expected
        .keys()
        .chain(actual.keys())
        .collect::<BTreeSet<_>>()
    {
        let wanted = expected.get(id).copied().unwrap_or(0);
        let found = actual.get(id).copied().unwrap_or(0);
        if wanted != found {
            problems.push(format!("EventID {id}: {found} rows, truth {wanted}"));
        }
    }

    println!(
        "event ids: {} in the corpus workspace, {} checked exactly over {} files, {} files with more than 30 ids checked on their own",
        global.len(),
        expected.len(),
        truth.values().filter(|t| t.complete).count(),
        truth.values().filter(|t| !t.complete).count()
    );
    assert!(
        !expected.is_empty(),
        "the truth should list event ids for the files with 30 or fewer ids"
    );
    assert!(
        problems.is_empty(),
        "per-EventID row counts differ from TRUTH.json:\n{}",
        problems.join("\n")
    );
}
