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

/// Expected global count of one event id: exact when every file that may
/// contain the id lists all its ids, otherwise a range.
#[derive(Debug, Default, Clone, Copy)]
struct IdBounds {
    min: u64,
    max: u64,
}

#[test]
fn event_id_counts_match_truth() {
    let corpus = imported_corpus();
    let truth = corpus_truth();

    // A file with more than 30 distinct ids lists only its top 30, so an id
    // it does not list may still occur in it, at most as often as its least
    // frequent listed id.
    let incomplete: Vec<&FileTruth> = truth.values().filter(|t| !t.complete).collect();
    let all_ids: BTreeSet<String> = truth
        .values()
        .flat_map(|t| t.per_event_id.keys().cloned())
        .collect();
    let mut bounds: BTreeMap<String, IdBounds> = BTreeMap::new();
    for id in &all_ids {
        let mut range = IdBounds::default();
        for file in truth.values() {
            if let Some(count) = file.per_event_id.get(id) {
                range.min += count;
                range.max += count;
            }
        }
        for file in &incomplete {
            if !file.per_event_id.contains_key(id) {
                range.max += file.per_event_id.values().min().copied().unwrap_or(0);
            }
        }
        bounds.insert(id.clone(), range);
    }
    let unlisted_max: u64 = incomplete
        .iter()
        .map(|f| f.per_event_id.values().min().copied().unwrap_or(0))
        .sum();

    let result = query(
        corpus.data_dir(),
        "union SecurityEvent, Event | summarize n = count() by EventID",
    );
    let id_column = result.column("EventID");
    let count_column = result.column("n");
    let actual: BTreeMap<String, u64> = result
        .rows
        .iter()
        .map(|r| {
            (
                common::cell_text(&r[id_column]),
                r[count_column].as_u64().unwrap_or(0),
            )
        })
        .collect();

    let mut problems = Vec::new();
    let mut exact = 0;
    for (id, range) in &bounds {
        let count = actual.get(id).copied().unwrap_or(0);
        if range.min == range.max {
            exact += 1;
        }
        if count < range.min || count > range.max {
            problems.push(format!(
                "EventID {id}: {count} rows, truth {}..={}",
                range.min, range.max
            ));
        }
    }
    for (id, count) in actual.iter().filter(|(id, _)| !bounds.contains_key(*id)) {
        if *count > unlisted_max {
            problems.push(format!("EventID {id}: {count} rows, but no file lists it and at most {unlisted_max} can be unlisted"));
        }
    }
    println!(
        "event ids: {} in the truth ({exact} with exact totals), {} in the tables",
        bounds.len(),
        actual.len()
    );
    assert!(
        exact > 0,
        "some event ids should have exact expected totals"
    );
    assert!(
        problems.is_empty(),
        "per-EventID row counts differ from TRUTH.json:\n{}",
        problems.join("\n")
    );
}
