//! Random, truncated and retyped Winlogbeat documents through
//! `document_row`, the mapping the `_bulk` endpoint runs on every shipper
//! document. Each case must return a row or an error, never panic. A seeded
//! generator keeps failures reproducible.
//!
//! NOTE: this is a seeded random test, not a cargo-fuzz target. The mapping
//! builds store rows, so a fuzz build would instrument the whole DataFusion
//! and Delta Lake stack.

use ingest::winlogbeat::{WinlogbeatError, document_row};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

/// Documents shaped as Winlogbeat 8 sends them: ECS fields with the
/// `winlog` object, and one with the event XML in `event.original`.
fn samples() -> Vec<Value> {
    vec![
        json!({
            "@timestamp": "2026-12-05T06:00:00.123Z",
            "event": {"code": "4625", "kind": "event", "outcome": "failure"},
            "host": {"name": "HONEYPOT"},
            "log": {"level": "information"},
            "message": "An account failed to log on.",
            "winlog": {
                "channel": "Security",
                "event_id": "4625",
                "provider_name": "Microsoft-Windows-Security-Auditing",
                "computer_name": "HONEYPOT",
                "record_id": 98765,
                "keywords": ["Audit Failure"],
                "process": {"pid": 636, "thread": {"id": 1792}},
                "event_data": {
                    "TargetUserName": "administrator",
                    "TargetDomainName": "HONEYPOT",
                    "LogonType": "10",
                    "IpAddress": "203.0.113.9",
                    "IpPort": "51234",
                    "Status": "0xc000006d",
                    "SubStatus": "0xc000006a"
                }
            }
        }),
        json!({
            "@timestamp": "2026-12-05T06:01:00Z",
            "winlog": {
                "channel": "System",
                "event_id": 7045,
                "provider_name": "Service Control Manager",
                "computer_name": "HONEYPOT",
                "user_data": {"ServiceName": "svc"},
                "event_data": {"ServiceName": "evil", "ImagePath": "C:\\\\Temp\\\\x.exe"}
            }
        }),
        json!({
            "@timestamp": "2026-12-05T06:02:00Z",
            "event": {"original": "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>4624</EventID><Level>0</Level><TimeCreated SystemTime='2026-12-05T06:02:00.0000000Z'/><EventRecordID>5</EventRecordID><Channel>Security</Channel><Computer>HONEYPOT</Computer></System><EventData><Data Name='LogonType'>10</Data><Data Name='TargetUserName'>alice</Data></EventData></Event>"}
        }),
    ]
}

fn check(document: &Value) {
    match document_row(document) {
        Ok(row) => {
            let name = row.table().name;
            assert!(name == "SecurityEvent" || name == "Event", "{name}");
        }
        Err(
            WinlogbeatError::NotObject
            | WinlogbeatError::NotWinlog
            | WinlogbeatError::BadTime(_)
            | WinlogbeatError::BadXml(_),
        ) => {}
    }
}

/// A JSON value of a random type, including the types a field should never
/// have and text that needs XML escaping.
fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..9) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>() * 1e300),
        4 => Value::String("<&'\"]]>\u{0}\u{feff}\u{10ffff}".repeat(rng.random_range(0..4))),
        5 => Value::String("x".repeat(rng.random_range(0..100_000))),
        6 => Value::String("2026-13-45T99:99:99Z".to_string()),
        7 if depth < 4 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ if depth < 4 => {
            let mut object = Map::new();
            for index in 0..rng.random_range(0..4) {
                object.insert(format!("k{index}"), random_value(rng, depth + 1));
            }
            Value::Object(object)
        }
        _ => Value::String(String::new()),
    }
}

/// Replaces or removes one random field anywhere in `value`.
fn mutate(rng: &mut StdRng, value: &mut Value) {
    let Value::Object(object) = value else {
        *value = random_value(rng, 0);
        return;
    };
    if object.is_empty() {
        object.insert("winlog".to_string(), random_value(rng, 0));
        return;
    }
    let keys: Vec<String> = object.keys().cloned().collect();
    let key = &keys[rng.random_range(0..keys.len())];
    match rng.random_range(0..4) {
        0 => {
            object.remove(key);
        }
        1 => {
            object.insert(key.clone(), random_value(rng, 0));
        }
        _ => mutate(rng, object.get_mut(key).unwrap()),
    }
}

#[test]
fn samples_map_to_rows() {
    let tables: Vec<&str> = samples()
        .iter()
        .map(|document| document_row(document).unwrap().table().name)
        .collect();
    assert_eq!(tables, ["SecurityEvent", "Event", "SecurityEvent"]);
}

#[test]
fn retyped_and_removed_fields() {
    let mut rng = StdRng::seed_from_u64(0x3e7);
    let samples = samples();
    for _ in 0..20_000 {
        let mut document = samples[rng.random_range(0..samples.len())].clone();
        for _ in 0..rng.random_range(1..5) {
            mutate(&mut rng, &mut document);
        }
        check(&document);
    }
}

#[test]
fn mutated_and_truncated_json_text() {
    let mut rng = StdRng::seed_from_u64(0xbea7);
    let alphabet = b"{}[]\":,<>'&\\0123456789eE.-+ tfn\xff";
    for sample in samples() {
        let text = sample.to_string().into_bytes();
        for end in (0..=text.len()).step_by(7) {
            if let Ok(document) = serde_json::from_slice::<Value>(&text[..end]) {
                check(&document);
            }
        }
        for _ in 0..5_000 {
            let mut bytes = text.clone();
            for _ in 0..rng.random_range(1..6) {
                let position = rng.random_range(0..bytes.len());
                bytes[position] = alphabet[rng.random_range(0..alphabet.len())];
            }
            if let Ok(document) = serde_json::from_slice::<Value>(&bytes) {
                check(&document);
            }
        }
    }
}

#[test]
fn random_values() {
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..5_000 {
        let document = random_value(&mut rng, 0);
        check(&document);
        check(&json!({"winlog": document.clone()}));
        check(&json!({"event": {"original": document}}));
    }
}
