//! Winlogbeat (Elastic Common Schema) documents to `SecurityEvent` and
//! `Event` rows, through the same mapping as an EVTX import.
//!
//! A document is turned into the [`EventRecord`] that the EVTX reader
//! would have read, then [`crate::evtx::record_row`] maps it. When the
//! document carries the event XML (`event.original`, which Winlogbeat
//! sends with `include_xml: true`), the XML is read exactly as an EVTX
//! import reads it, so both give the same row. Otherwise the record is
//! built from the ECS fields:
//!
//! | record field | Winlogbeat field |
//! | --- | --- |
//! | provider name | `winlog.provider_name` |
//! | event id | `winlog.event_id`, else `event.code` |
//! | level | `winlog.level` when numeric, else `log.level` by name |
//! | task | `winlog.task` when numeric (Winlogbeat sends the task name, which leaves `Task` empty) |
//! | time | `winlog.time_created`, else `@timestamp` |
//! | record id | `winlog.record_id` |
//! | channel | `winlog.channel` |
//! | computer | `winlog.computer_name`, else `host.name` |
//! | user SID | `winlog.user.identifier` |
//! | event data | `winlog.event_data.*`, else `winlog.user_data.*` |
//!
//! The `EventData` column is rebuilt as compact XML from the pairs, so it
//! differs from an import's in whitespace only.

use serde_json::{Map, Value};
use store::builder::Row;

use crate::evtx::record::{EVENT_NAMESPACE, escape_text};
use crate::evtx::{DataPair, EventRecord, parse_record_xml, parse_system_time, record_row};

/// Why a document was refused; [`WinlogbeatError::reason`] is the label
/// that drop counters use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WinlogbeatError {
    /// The document is not a JSON object.
    #[error("the document is not a JSON object")]
    NotObject,
    /// The document has no `winlog` object nor event XML.
    #[error(
        "the document has no winlog object; send Winlogbeat documents (winlog.channel, winlog.event_id, ...)"
    )]
    NotWinlog,
    /// The event time is missing or not a datetime.
    #[error("the document has no usable time: {0}")]
    BadTime(String),
    /// `event.original` is not event XML.
    #[error("event.original is not Windows event XML: {0}")]
    BadXml(String),
}

impl WinlogbeatError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            WinlogbeatError::NotObject => "not_object",
            WinlogbeatError::NotWinlog => "not_winlog",
            WinlogbeatError::BadTime(_) => "bad_time",
            WinlogbeatError::BadXml(_) => "bad_xml",
        }
    }
}

/// Maps one document to a `SecurityEvent` or `Event` row.
pub fn document_row(document: &Value) -> Result<Row, WinlogbeatError> {
    let object = document.as_object().ok_or(WinlogbeatError::NotObject)?;
    if let Some(xml) = path(object, &["event", "original"]).and_then(Value::as_str)
        && xml.trim_start().starts_with('<')
    {
        let record = parse_record_xml(xml).map_err(WinlogbeatError::BadXml)?;
        let ticks = parse_system_time(&record.system_time)
            .ok_or_else(|| WinlogbeatError::BadTime(record.system_time.clone()))?;
        return Ok(record_row(&record, ticks));
    }
    let winlog = object
        .get("winlog")
        .and_then(Value::as_object)
        .ok_or(WinlogbeatError::NotWinlog)?;
    let record = document_record(object, winlog);
    let ticks = parse_system_time(&record.system_time)
        .ok_or_else(|| WinlogbeatError::BadTime(format!("{:?}", record.system_time)))?;
    Ok(record_row(&record, ticks))
}

/// Builds the record from the ECS fields.
fn document_record(document: &Map<String, Value>, winlog: &Map<String, Value>) -> EventRecord {
    let text = |value: Option<&Value>| value.map(value_text).unwrap_or_default();
    let channel = winlog.get("channel").map(value_text);
    let event_id = winlog
        .get("event_id")
        .or_else(|| path(document, &["event", "code"]))
        .map(value_text)
        .unwrap_or_default();
    let level = match winlog.get("level").map(value_text) {
        Some(level) if level.parse::<u8>().is_ok() => level,
        _ => level_number(
            path(document, &["log", "level"]).and_then(Value::as_str),
            channel.as_deref(),
        ),
    };
    let task = winlog
        .get("task")
        .map(value_text)
        .filter(|task| task.parse::<i64>().is_ok())
        .unwrap_or_default();
    let system_time = winlog
        .get("time_created")
        .or_else(|| document.get("@timestamp"))
        .map(value_text)
        .unwrap_or_default();
    let computer = winlog
        .get("computer_name")
        .or_else(|| path(document, &["host", "name"]))
        .map(value_text)
        .unwrap_or_default();

    let (section, data) = match winlog.get("event_data").and_then(Value::as_object) {
        Some(pairs) => ("EventData", pairs_of(pairs)),
        None => match winlog.get("user_data").and_then(Value::as_object) {
            Some(pairs) => ("UserData", pairs_of(pairs)),
            None => ("", Vec::new()),
        },
    };
    EventRecord {
        provider_name: text(winlog.get("provider_name")),
        event_source_name: None,
        event_id,
        level,
        task,
        system_time,
        event_record_id: text(winlog.get("record_id")),
        channel,
        computer,
        user_id: text(path(winlog, &["user", "identifier"])),
        data_xml: data_xml(section, &data),
        data,
    }
}

/// Windows' level numbers by the names Winlogbeat sends in `log.level`.
/// Audit events in the Security channel have level 0, which Windows
/// names "Information" like level 4.
fn level_number(name: Option<&str>, channel: Option<&str>) -> String {
    let number = match name.map(str::to_ascii_lowercase).as_deref() {
        Some("critical") => "1",
        Some("error") => "2",
        Some("warning") => "3",
        Some("information") | Some("info") if channel == Some("Security") => "0",
        Some("information") | Some("info") => "4",
        Some("verbose") => "5",
        _ => "",
    };
    number.to_string()
}

fn pairs_of(pairs: &Map<String, Value>) -> Vec<DataPair> {
    pairs
        .iter()
        .map(|(name, value)| DataPair {
            name: Some(name.clone()),
            value: value_text(value),
        })
        .collect()
}

/// Rebuilds `<EventData>` (named `Data` elements) or `<UserData>` (leaf
/// elements) from the pairs.
fn data_xml(section: &str, data: &[DataPair]) -> String {
    if section.is_empty() {
        return String::new();
    }
    let mut xml = format!("<{section} xmlns=\"{EVENT_NAMESPACE}\">");
    for pair in data {
        let name = pair.name.as_deref().unwrap_or_default();
        let value = escape_text(&pair.value);
        if section == "EventData" {
            xml.push_str(&format!(
                "<Data Name=\"{}\">{value}</Data>",
                quick_xml::escape::escape(name)
            ));
        } else if is_xml_name(name) {
            xml.push_str(&format!("<{name}>{value}</{name}>"));
        }
    }
    xml.push_str(&format!("</{section}>"));
    xml
}

fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A value as the text an event would hold: strings as they are, numbers
/// and booleans in JSON form, arrays one element per line, objects as JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join("\n"),
        other => other.to_string(),
    }
}

fn path<'a>(object: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    // Shippers send either nested objects or dotted keys.
    if let Some(value) = object.get(&keys.join(".")) {
        return Some(value);
    }
    let value = object.get(*first)?;
    if rest.is_empty() {
        return Some(value);
    }
    path(value.as_object()?, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use store::tables::{EVENT, SECURITY_EVENT};

    #[test]
    fn a_security_logon_maps_to_security_event() {
        let document = json!({
            "@timestamp": "2019-02-13T18:04:58.363Z",
            "log": {"level": "information"},
            "winlog": {
                "channel": "Security",
                "event_id": 4624,
                "provider_name": "Microsoft-Windows-Security-Auditing",
                "computer_name": "PC01.example.corp",
                "record_id": 227762,
                "time_created": "2019-02-13T18:04:58.3636968Z",
                "event_data": {"TargetUserName": "admin01", "TargetDomainName": "EXAMPLE", "LogonType": "10", "IpAddress": "10.0.0.5"}
            }
        });
        let row = document_row(&document).unwrap();
        assert_eq!(row.table().name, SECURITY_EVENT.name);
    }

    #[test]
    fn other_channels_map_to_event_and_junk_is_refused() {
        let document = json!({"@timestamp": "2024-01-01T00:00:00Z", "winlog": {"channel": "System", "event_id": "7045"}});
        assert_eq!(document_row(&document).unwrap().table().name, EVENT.name);
        assert_eq!(
            document_row(&json!([1])).unwrap_err().reason(),
            "not_object"
        );
        assert_eq!(
            document_row(&json!({"message": "x"})).unwrap_err().reason(),
            "not_winlog"
        );
        let no_time = json!({"winlog": {"channel": "System"}});
        assert_eq!(document_row(&no_time).unwrap_err().reason(), "bad_time");
    }

    #[test]
    fn odd_documents_map_or_fail_without_panicking() {
        let documents = [
            json!({"winlog": {"channel": 7, "event_id": [1, 2], "time_created": "2024-01-01T00:00:00Z",
                              "event_data": {"A": {"nested": true}, "B": null, "<bad name>": "x"}}}),
            json!({"winlog": {"channel": "Security", "time_created": "2024-13-45T99:00:00Z"}}),
            json!({"winlog": {"user_data": {"1bad": "x", "Good": "y"}}, "@timestamp": "2024-01-01T00:00:00Z"}),
            json!({"event": {"original": "<Event><System>"}}),
            json!({"event": {"original": "not xml"}, "winlog": {"channel": "System", "time_created": "2024-01-01T00:00:00Z"}}),
            json!({"winlog.channel": "Security", "winlog": {"time_created": "2024-01-01T00:00:00Z"}}),
        ];
        for document in &documents {
            let _ = document_row(document);
        }
        // Every prefix of a real document is either refused or mapped.
        let text = json!({"@timestamp": "2024-01-01T00:00:00Z", "winlog": {"channel": "Security",
            "event_id": 4624, "event_data": {"TargetUserName": "admin"}}})
        .to_string();
        for end in 0..text.len() {
            if let Ok(value) = serde_json::from_str::<Value>(&text[..end]) {
                let _ = document_row(&value);
            }
        }
    }

    #[test]
    fn event_data_is_rebuilt_as_xml() {
        let data = vec![DataPair {
            name: Some("A".into()),
            value: "x < y".into(),
        }];
        assert_eq!(
            data_xml("EventData", &data),
            format!(
                "<EventData xmlns=\"{EVENT_NAMESPACE}\"><Data Name=\"A\">x &lt; y</Data></EventData>"
            )
        );
    }
}
