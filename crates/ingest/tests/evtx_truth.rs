//! Reads every file of the EVTX corpus and compares the rows with the
//! corpus truth: record count, per-channel counts, counts of the 30 most
//! frequent event IDs, and the earliest and latest `SystemTime`.
//!
//! The truth was made with python-evtx and cross-checked with `evtx_dump`
//! (evtx 0.15.1). Where the two disagree, the tool that recovered more
//! records is taken as the truth, because both only lose records, never
//! invent them.

mod common;

use std::collections::BTreeMap;

use arrow::array::{Array, Int32Array, Int64Array, StringArray};
use ingest::evtx::parse_system_time;
use serde_json::Value;

use common::{corpus_dir, read_all};

/// Expected counts and times for one file.
struct Expected {
    records: u64,
    per_channel: BTreeMap<String, u64>,
    per_event_id: BTreeMap<String, u64>,
    earliest: Option<String>,
    latest: Option<String>,
}

fn counts(value: &Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
                .collect()
        })
        .unwrap_or_default()
}

fn expected_for(file: &Value) -> Expected {
    let primary = Expected {
        records: file["parsed_records"].as_u64().expect("parsed_records"),
        per_channel: counts(&file["records_per_channel"]),
        per_event_id: counts(&file["records_per_event_id_top30"]),
        earliest: file["earliest_system_time"].as_str().map(str::to_string),
        latest: file["latest_system_time"].as_str().map(str::to_string),
    };
    let cross = &file["cross_check"];
    if cross["agrees_with_primary"].as_bool() == Some(false) {
        let emitted = cross["records_emitted"].as_u64().expect("records_emitted");
        if emitted > primary.records {
            return Expected {
                records: emitted,
                per_channel: counts(&cross["records_per_channel"]),
                per_event_id: counts(&cross["records_per_event_id_top30"]),
                earliest: cross["earliest_system_time"].as_str().map(str::to_string),
                latest: cross["latest_system_time"].as_str().map(str::to_string),
            };
        }
    }
    primary
}

#[test]
fn every_corpus_file_matches_truth() {
    let dir = corpus_dir();
    let truth_text = std::fs::read_to_string(dir.join("TRUTH.json")).expect("TRUTH.json");
    let truth: Value = serde_json::from_str(&truth_text).expect("TRUTH.json is JSON");
    let files = truth["files"].as_object().expect("files object");

    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".evtx"))
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk.len(),
        files.len(),
        "files on disk vs files in the truth"
    );

    let mut mismatches = Vec::new();
    let mut matching_files = 0;
    let mut total_rows = 0u64;
    let mut total_failed = 0u64;
    let started = std::time::Instant::now();

    for name in &on_disk {
        let Some(file_truth) = files.get(name) else {
            mismatches.push(format!("{name}: not in the truth"));
            continue;
        };
        let expected = expected_for(file_truth);
        let (stats, batches) = read_all(&dir.join(name));
        total_failed += stats.records_failed;

        let mut per_channel: BTreeMap<String, u64> = BTreeMap::new();
        let mut per_event_id: BTreeMap<String, u64> = BTreeMap::new();
        let mut earliest = i64::MAX;
        let mut latest = i64::MIN;
        let mut rows = 0u64;
        for table_batch in &batches {
            let batch = &table_batch.batch;
            let channel_column = match table_batch.table.name {
                "SecurityEvent" => "Channel",
                "Event" => "EventLog",
                other => panic!("unexpected table {other}"),
            };
            let channels = batch
                .column_by_name(channel_column)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .expect("channel column");
            let event_ids = batch
                .column_by_name("EventID")
                .and_then(|c| c.as_any().downcast_ref::<Int32Array>())
                .expect("EventID column");
            let ticks = batch
                .column_by_name("_hsTimeTicks")
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                .expect("_hsTimeTicks column");
            for row in 0..batch.num_rows() {
                let channel = match channels.value(row) {
                    "" => "(none)".to_string(),
                    c => c.to_string(),
                };
                *per_channel.entry(channel).or_default() += 1;
                let event_id = if event_ids.is_null(row) {
                    "(null)".to_string()
                } else {
                    event_ids.value(row).to_string()
                };
                *per_event_id.entry(event_id).or_default() += 1;
                earliest = earliest.min(ticks.value(row));
                latest = latest.max(ticks.value(row));
            }
            rows += batch.num_rows() as u64;
        }
        total_rows += rows;

        let mut file_mismatches = Vec::new();
        if rows != expected.records {
            file_mismatches.push(format!("rows {rows}, expected {}", expected.records));
        }
        if stats.records_read != rows {
            file_mismatches.push(format!(
                "stats.records_read {} differs from the {rows} rows",
                stats.records_read
            ));
        }
        for (channel, count) in &expected.per_channel {
            let actual = per_channel.get(channel).copied().unwrap_or(0);
            if actual != *count {
                file_mismatches.push(format!("channel {channel}: {actual}, expected {count}"));
            }
        }
        for (channel, count) in &per_channel {
            if !expected.per_channel.contains_key(channel) {
                file_mismatches.push(format!("channel {channel}: {count}, expected none"));
            }
        }
        for (event_id, count) in &expected.per_event_id {
            let actual = per_event_id.get(event_id).copied().unwrap_or(0);
            if actual != *count {
                file_mismatches.push(format!("event ID {event_id}: {actual}, expected {count}"));
            }
        }
        if let (Some(first), Some(last)) = (&expected.earliest, &expected.latest) {
            let first_ticks = parse_system_time(first).expect("truth time parses");
            let last_ticks = parse_system_time(last).expect("truth time parses");
            if earliest != first_ticks {
                file_mismatches.push(format!("earliest ticks {earliest}, expected {first}"));
            }
            if latest != last_ticks {
                file_mismatches.push(format!("latest ticks {latest}, expected {last}"));
            }
        }

        if file_mismatches.is_empty() {
            matching_files += 1;
        } else {
            for m in file_mismatches {
                mismatches.push(format!("{name}: {m}"));
            }
        }
    }

    println!(
        "EVTX truth: {matching_files} of {} files match; {total_rows} rows, \
         {total_failed} failed records or chunks, {:.2} s",
        on_disk.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
