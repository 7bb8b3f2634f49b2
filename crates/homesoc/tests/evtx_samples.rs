//! Compares stored rows field by field with the 40 sample records of the
//! corpus (`SAMPLES.jsonl`, rendered by python-evtx and cross-checked with
//! evtx_dump).

mod common;

use std::collections::BTreeSet;

use serde_json::Value;

use common::{QueryResult, cell_text, corpus_json, imported_corpus, kql_string, query, samples};

/// Column names of `SecurityEvent` in the Azure Monitor reference schema.
fn security_event_columns() -> BTreeSet<String> {
    let schema_path = common::manifest_dir()
        .join("../../../shared/corpus/sentinel/schemas/tables/SecurityEvent.json");
    let text = std::fs::read_to_string(&schema_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", schema_path.display()));
    let schema: Value = serde_json::from_str(&text).expect("SecurityEvent.json is not JSON");
    schema["columns"]
        .as_array()
        .expect("SecurityEvent.json has no columns")
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The System fields and event data pairs that one sample expects.
struct Expected {
    label: String,
    file: String,
    time: String,
    event_id: String,
    computer: String,
    channel: Option<String>,
    level: String,
    task: String,
    source: String,
    pairs: Vec<(String, Option<String>)>,
}

fn text(value: &Value) -> String {
    cell_text(value)
}

fn expected_from_sample(sample: &Value) -> Expected {
    let system = &sample["System"];
    let provider = &system["Provider"];
    // Classic sources name themselves in EventSourceName; the import stores
    // that name, else the provider name.
    let source = provider["EventSourceName"]
        .as_str()
        .or_else(|| provider["Name"].as_str())
        .unwrap_or_default()
        .to_string();
    let event_id = match &system["EventID"] {
        Value::Object(map) => text(&map["#text"]),
        other => text(other),
    };

    // python-evtx renders some values differently from Windows: hex values
    // zero-padded (0x00000000000003e7 where Windows writes 0x3e7), booleans
    // as True/False, binary as base64, string arrays as one value. Where the
    // cross-check with evtx_dump found such a difference, the evtx_dump
    // value is expected, because it renders values as Windows does.
    let cross_check = &sample["cross_check"];
    let raw_pairs = if cross_check["data_pairs"].is_array() {
        cross_check["data_pairs"].clone()
    } else if sample["EventData"].is_array() {
        sample["EventData"].clone()
    } else {
        sample["UserData"]["pairs"].clone()
    };
    let pairs = raw_pairs
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .map(|pair| (text(&pair[0]), pair[1].as_str().map(str::to_string)))
                .collect()
        })
        .unwrap_or_default();

    Expected {
        label: text(&sample["label"]),
        file: text(&sample["file"]),
        time: text(&system["TimeCreated"]["SystemTime"]),
        event_id,
        computer: text(&system["Computer"]),
        channel: system["Channel"].as_str().map(str::to_string),
        level: text(&system["Level"]),
        task: text(&system["Task"]),
        source,
        pairs,
    }
}

/// Returns the forms a value may take in stored XML text: as is, with
/// `&`, `<`, `>` escaped, and with quotes escaped too.
fn xml_forms(value: &str) -> Vec<String> {
    let partial = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let full = partial.replace('"', "&quot;").replace('\'', "&apos;");
    vec![value.to_string(), partial, full]
}

/// Cuts long values in failure messages to their first 200 characters.
fn shorten(value: &str) -> String {
    match value.char_indices().nth(200) {
        Some((end, _)) => format!("{}...", &value[..end]),
        None => value.to_string(),
    }
}

fn compare(differences: &mut Vec<String>, name: &str, actual: String, expected: &str) {
    if actual != expected {
        differences.push(format!(
            "{name} is {:?}, expected {:?}",
            shorten(&actual),
            shorten(expected)
        ));
    }
}

/// Lists how one stored row differs from the sample.
fn row_differences(
    expected: &Expected,
    result: &QueryResult,
    row: &[Value],
    columns: &BTreeSet<String>,
) -> Vec<String> {
    let security = expected.channel.as_deref() == Some("Security");
    let cell = |name: &str| cell_text(&row[result.column(name)]);
    let mut differences = Vec::new();

    compare(
        &mut differences,
        "TimeGenerated",
        cell("TimeGenerated"),
        &expected.time,
    );
    compare(
        &mut differences,
        "EventID",
        cell("EventID"),
        &expected.event_id,
    );
    compare(
        &mut differences,
        "Computer",
        cell("Computer"),
        &expected.computer,
    );
    if security {
        compare(&mut differences, "Channel", cell("Channel"), "Security");
        compare(&mut differences, "Level", cell("Level"), &expected.level);
        compare(&mut differences, "Task", cell("Task"), &expected.task);
        compare(
            &mut differences,
            "EventSourceName",
            cell("EventSourceName"),
            &expected.source,
        );
    } else {
        // A record without a Channel element has an empty EventLog.
        compare(
            &mut differences,
            "EventLog",
            cell("EventLog"),
            expected.channel.as_deref().unwrap_or(""),
        );
        compare(
            &mut differences,
            "EventLevel",
            cell("EventLevel"),
            &expected.level,
        );
        compare(
            &mut differences,
            "EventCategory",
            cell("EventCategory"),
            &expected.task,
        );
        compare(&mut differences, "Source", cell("Source"), &expected.source);
    }

    // XML parsers read a CR LF line break in text as LF (XML 1.0, section
    // 2.11), and both reference tools report values parsed that way.
    let event_data = cell("EventData").replace("\r\n", "\n");
    for (name, value) in &expected.pairs {
        let Some(value) = value else {
            continue;
        };
        if security
            && columns.contains(name)
            && !ingest::evtx::RESERVED_COLUMNS.contains(&name.as_str())
        {
            compare(&mut differences, name, cell(name), value);
        }
        if !value.is_empty()
            && !xml_forms(value)
                .iter()
                .any(|form| event_data.contains(form.as_str()))
        {
            differences.push(format!(
                "EventData XML lacks the value of {name}: {:?}",
                shorten(value)
            ));
        }
    }
    differences
}

#[test]
fn samples_match_stored_rows() {
    let corpus = imported_corpus();
    let columns = security_event_columns();
    let samples = samples();
    assert_eq!(samples.len(), 40, "SAMPLES.jsonl should have 40 records");
    // Every sample file must be part of the corpus the tests import.
    let truth = corpus_json("TRUTH.json");

    let mut failures = Vec::new();
    for sample in &samples {
        let expected = expected_from_sample(sample);
        assert!(
            truth["files"][&expected.file].is_object(),
            "sample file {} is not in TRUTH.json",
            expected.file
        );
        let table = if expected.channel.as_deref() == Some("Security") {
            "SecurityEvent"
        } else {
            "Event"
        };
        let kql = format!(
            "{table} | where Computer == {} and EventID == {} and TimeGenerated == datetime({})",
            kql_string(&expected.computer),
            expected.event_id,
            expected.time
        );
        let result = query(corpus.data_dir(), &kql);
        if result.rows.is_empty() {
            failures.push(format!(
                "{} ({}): no row found by\n    {kql}",
                expected.label, expected.file
            ));
            continue;
        }
        // Identical records can occur in several files, so one matching
        // row is enough.
        let candidates: Vec<Vec<String>> = result
            .rows
            .iter()
            .map(|row| row_differences(&expected, &result, row, &columns))
            .collect();
        if candidates.iter().any(Vec::is_empty) {
            continue;
        }
        let mut message = format!(
            "{} ({}): {} rows, none matches:",
            expected.label,
            expected.file,
            candidates.len()
        );
        for (index, differences) in candidates.iter().enumerate() {
            message.push_str(&format!("\n    row {index}: {}", differences.join("; ")));
        }
        failures.push(message);
    }

    println!(
        "samples: {} checked, {} differ",
        samples.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} samples differ from the stored rows:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
