//! Checks 40 hand-picked corpus records field by field against the rows
//! the reader produces.
//!
//! Each sample lists the record's System fields and its EventData (or
//! UserData) pairs as python-evtx rendered them, and, where `evtx_dump`
//! rendered a value differently, the `evtx_dump` pairs too. python-evtx
//! zero-pads hex values (`0x00000000000003e7`), writes size_t in decimal and
//! booleans as `True`; `evtx_dump` and Windows write `0x3e7`, hex size_t and
//! `true`. Published Sentinel rules compare with the Windows form, so where
//! the two differ the `evtx_dump` value is expected.

mod common;

use std::collections::HashMap;
use std::path::Path;

use ingest::evtx::parse_system_time;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::Value;

use common::{corpus_dir, read_all, row_map};

/// A row as its table name and its cells by column name.
type TableRow = (String, HashMap<String, String>);

/// Reads the name/value pairs of an `EventData` or `UserData` XML text,
/// independently of the product's parser: `Data` elements by `Name` (or
/// `#DataN` for the Nth unnamed one, from 0), other leaves by element name.
fn xml_pairs(xml: &str) -> Vec<(String, String)> {
    let mut reader = Reader::from_str(xml);
    let mut pairs = Vec::new();
    let mut current: Option<String> = None;
    let mut text = String::new();
    let mut unnamed = 0;
    loop {
        match reader.read_event().expect("EventData is well-formed XML") {
            Event::Start(e) | Event::Empty(e)
                if matches!(e.local_name().as_ref(), b"EventData" | b"UserData") => {}
            Event::Start(e) => {
                current = Some(pair_name(&e, &mut unnamed));
                text.clear();
            }
            Event::Empty(e) => {
                pairs.push((pair_name(&e, &mut unnamed), String::new()));
                current = None;
            }
            // Line breaks are normalized as every XML 1.0 parser does.
            Event::Text(t) => text.push_str(&t.xml10_content().unwrap()),
            Event::GeneralRef(r) => match r.resolve_char_ref().unwrap() {
                Some(c) => text.push(c),
                None => text.push_str(
                    quick_xml::escape::resolve_predefined_entity(&r.decode().unwrap())
                        .expect("predefined entity"),
                ),
            },
            Event::End(_) => {
                if let Some(name) = current.take() {
                    pairs.push((name, std::mem::take(&mut text)));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    pairs
}

fn pair_name(e: &quick_xml::events::BytesStart<'_>, unnamed: &mut usize) -> String {
    let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    if local == "Data"
        && let Some(attr) = e.try_get_attribute("Name").unwrap()
    {
        return attr.unescape_value().unwrap().into_owned();
    }
    if local == "Data" {
        let name = format!("#Data{unnamed}");
        *unnamed += 1;
        return name;
    }
    local
}

fn string_pairs(value: &Value) -> Vec<(String, Option<String>)> {
    value
        .as_array()
        .expect("pairs array")
        .iter()
        .map(|p| {
            let name = p[0].as_str().expect("pair name").to_string();
            let value = p[1].as_str().map(str::to_string);
            (name, value)
        })
        .collect()
}

/// The pairs the row must hold: `evtx_dump`'s where it differs from
/// python-evtx, otherwise python-evtx's.
fn expected_pairs(sample: &Value) -> Vec<(String, Option<String>)> {
    let cross = &sample["cross_check"];
    if cross["data_pairs_agree"].as_bool() == Some(false) && cross["data_pairs"].is_array() {
        return string_pairs(&cross["data_pairs"]);
    }
    if sample["EventData"].is_array() {
        string_pairs(&sample["EventData"])
    } else {
        string_pairs(&sample["UserData"]["pairs"])
    }
}

#[test]
fn samples_match_rows() {
    let dir = corpus_dir();
    let text = std::fs::read_to_string(dir.join("SAMPLES.jsonl")).expect("SAMPLES.jsonl");
    let samples: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("sample is JSON"))
        .collect();
    assert_eq!(samples.len(), 40);

    let security_columns: Vec<&str> = store::tables::SECURITY_EVENT
        .columns
        .iter()
        .map(|c| c.name)
        .filter(|n| !ingest::evtx::RESERVED_COLUMNS.contains(n))
        .collect();

    let mut files: HashMap<String, Vec<TableRow>> = HashMap::new();
    let mut failures = Vec::new();
    let mut fields_checked = 0;
    let mut found = 0;

    for sample in &samples {
        let file = sample["file"].as_str().expect("file");
        let label = format!(
            "{} ({file}, record {})",
            sample["label"], sample["record_id"]
        );
        let rows = files.entry(file.to_string()).or_insert_with(|| {
            let (_, batches) = read_all(&dir.join(file));
            batches
                .iter()
                .flat_map(|b| {
                    (0..b.batch.num_rows())
                        .map(|r| (b.table.name.to_string(), row_map(&b.batch, r)))
                        .collect::<Vec<_>>()
                })
                .collect()
        });

        let system = &sample["System"];
        let computer = system["Computer"].as_str().expect("Computer");
        let event_id = system["EventID"]["#text"].as_str().expect("EventID");
        let system_time = system["TimeCreated"]["SystemTime"]
            .as_str()
            .expect("SystemTime");
        let ticks = parse_system_time(system_time).expect("SystemTime parses");
        let channel = system["Channel"].as_str();
        let expected_table = if channel == Some("Security") {
            "SecurityEvent"
        } else {
            "Event"
        };
        let pairs = expected_pairs(sample);

        // No column stores the record number, so a row is found by table,
        // computer, time and event ID; records equal in all four are
        // distinguished by their event data.
        let candidates: Vec<&HashMap<String, String>> = rows
            .iter()
            .filter(|(table, row)| {
                table == expected_table
                    && row.get("Computer").map(String::as_str) == Some(computer)
                    && row.get("EventID").map(String::as_str) == Some(event_id)
                    && row.get("_hsTimeTicks") == Some(&ticks.to_string())
            })
            .map(|(_, row)| row)
            .collect();
        let matching: Vec<&HashMap<String, String>> = candidates
            .iter()
            .copied()
            .filter(|row| {
                let found = xml_pairs(row.get("EventData").map_or("", String::as_str));
                // Binary elements are left out: python-evtx numbers them
                // among the Data elements, and `evtx_dump` does not list
                // empty ones.
                pairs
                    .iter()
                    .filter(|(name, _)| !name.starts_with("#Binary"))
                    .all(|(name, value)| {
                        let value = value.clone().unwrap_or_default();
                        found.iter().any(|(n, v)| n == name && *v == value)
                    })
            })
            .collect();
        let Some(row) = matching.first() else {
            failures.push(format!(
                "{label}: no {expected_table} row with all event data pairs \
                 ({} rows with the same computer, time and event ID)",
                candidates.len()
            ));
            continue;
        };
        found += 1;

        let time_generated = row
            .get("TimeGenerated")
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_micros());
        fields_checked += 1;
        if time_generated != Some(ticks.div_euclid(10)) {
            failures.push(format!(
                "{label}: TimeGenerated = {:?}, expected {} us",
                row.get("TimeGenerated"),
                ticks.div_euclid(10)
            ));
        }
        let mut check = |column: &str, expected: Option<&str>| {
            fields_checked += 1;
            let actual = row.get(column).map(String::as_str);
            if actual != expected {
                failures.push(format!(
                    "{label}: {column} = {actual:?}, expected {expected:?}"
                ));
            }
        };

        let provider = system["Provider"]["EventSourceName"]
            .as_str()
            .or(system["Provider"]["Name"].as_str());
        let task = system["Task"].as_str();
        let level = system["Level"].as_str();
        check("_hsDate", Some(&system_time[..10]));
        check("Computer", Some(computer));
        check("EventID", Some(event_id));
        check("Type", Some(expected_table));

        if expected_table == "SecurityEvent" {
            check("Channel", Some("Security"));
            check("EventSourceName", provider);
            check("Level", level);
            check("Task", task);
            for (name, value) in &pairs {
                if !security_columns.contains(&name.as_str()) {
                    continue;
                }
                let column_type = store::tables::SECURITY_EVENT
                    .columns
                    .iter()
                    .find(|c| c.name == name)
                    .expect("column")
                    .ty;
                let value = value.clone().unwrap_or_default();
                if column_type == kql::KqlType::Int {
                    let parsed = store::builder::parse_int_text(&value).map(|v| v.to_string());
                    check(name, parsed.as_deref());
                } else {
                    check(name, Some(&value));
                }
            }
        } else {
            check("EventLog", Some(channel.unwrap_or("")));
            check("Source", provider);
            check("EventLevel", level);
            check("EventCategory", task);
            let params: String = pairs
                .iter()
                .filter(|(name, _)| !name.starts_with("#Binary"))
                .map(|(_, v)| {
                    format!(
                        "<Param>{}</Param>",
                        quick_xml::escape::partial_escape(v.as_deref().unwrap_or(""))
                    )
                })
                .collect();
            check("ParameterXml", Some(&params));
        }
    }

    println!(
        "EVTX samples: {} of {} records found, {fields_checked} fields checked",
        found,
        samples.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rdp_logon_derived_columns() {
    let path = corpus_dir().join("Command_and_Control__DE_RDP_Tunnel_5156.evtx");
    let (_, batches) = read_all(Path::new(&path));
    // 4624, logon type 10, record 227762 at 2019-02-13T18:04:58.3636968Z.
    let row = batches
        .iter()
        .filter(|b| b.table.name == "SecurityEvent")
        .flat_map(|b| (0..b.batch.num_rows()).map(|r| row_map(&b.batch, r)))
        .find(|row| {
            row.get("_hsTimeTicks").map(String::as_str) == Some("15500810983636968")
                && row.get("EventID").map(String::as_str) == Some("4624")
        })
        .expect("the 4624 row");
    let expect = [
        ("Activity", "4624 - An account was successfully logged on."),
        ("Account", "EXAMPLE\\admin01"),
        ("AccountType", "User"),
        ("SubjectAccount", "EXAMPLE\\PC01$"),
        ("TargetAccount", "EXAMPLE\\admin01"),
        ("LogonType", "10"),
        ("LogonTypeName", "10 - RemoteInteractive"),
        ("Process", "winlogon.exe"),
        ("ProcessId", "0x4b8"),
        ("SubjectLogonId", "0x3e7"),
        ("TargetLogonId", "0x14a321"),
        ("IpAddress", "127.0.0.1"),
        ("KeyLength", "0"),
        ("SourceSystem", ""),
    ];
    for (column, value) in expect {
        assert_eq!(row.get(column).map(String::as_str), Some(value), "{column}");
    }
    let event_data = row.get("EventData").expect("EventData");
    assert!(
        event_data.starts_with(
            "<EventData xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">\
             <Data Name=\"SubjectUserSid\">S-1-5-18</Data>"
        ),
        "{event_data}"
    );
}
