//! The MISP feed format: `<url>/manifest.json`, an object keyed by event
//! UUID whose values carry the event's `timestamp`, and `<url>/<uuid>.json`
//! per event.
//!
//! A pull is incremental the way MISP's is: an event is fetched when it is
//! new or its manifest timestamp is later than the one pulled before.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::IntelError;
use crate::misp::event::integer;

/// Reads a manifest into event UUID → timestamp (seconds since the Unix
/// epoch). Fails on anything but a JSON object, on a key that is not a UUID
/// and on an entry without a timestamp, since a feed that lists events it
/// cannot name would be pulled wrongly.
pub fn parse_manifest(bytes: &[u8], location: &str) -> Result<BTreeMap<String, i64>, IntelError> {
    let invalid = |reason: String| IntelError::InvalidContent {
        what: "MISP manifest",
        location: location.to_string(),
        reason,
    };
    let json: Value = serde_json::from_slice(bytes).map_err(|err| invalid(err.to_string()))?;
    let entries = json
        .as_object()
        .ok_or_else(|| invalid("expected a JSON object keyed by event UUID".into()))?;

    let mut events = BTreeMap::new();
    for (uuid, entry) in entries {
        if uuid::Uuid::parse_str(uuid).is_err() {
            return Err(invalid(format!("key {uuid:?} is not an event UUID")));
        }
        let timestamp = integer(entry.get("timestamp"))
            .ok_or_else(|| invalid(format!("event {uuid} has no integer timestamp")))?;
        events.insert(uuid.to_ascii_lowercase(), timestamp);
    }
    Ok(events)
}

/// Returns the URL of a file in a MISP feed folder.
pub fn feed_file(feed_url: &str, file_name: &str) -> String {
    format!("{}/{file_name}", feed_url.trim_end_matches('/'))
}

/// Returns the events to fetch: those not pulled before or whose manifest
/// timestamp is later than the pulled one.
pub fn events_to_fetch(
    manifest: &BTreeMap<String, i64>,
    pulled: &BTreeMap<String, i64>,
) -> Vec<String> {
    manifest
        .iter()
        .filter(|(uuid, timestamp)| pulled.get(*uuid).is_none_or(|pulled| *pulled < **timestamp))
        .map(|(uuid, _)| uuid.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_timestamps_as_numbers_or_text() {
        let manifest = br#"{"24e799ca-aad8-4244-8005-90b3ceb44540": {"timestamp": 5},
                            "2dc45085-7f6b-48ee-b726-400a326ad9b5": {"timestamp": "7"}}"#;
        let parsed = parse_manifest(manifest, "m").unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed["2dc45085-7f6b-48ee-b726-400a326ad9b5"], 7);
    }

    #[test]
    fn malformed_manifests_fail() {
        assert!(parse_manifest(b"[1,2]", "m").is_err());
        assert!(parse_manifest(b"{\"not-a-uuid\": {\"timestamp\": 1}}", "m").is_err());
        assert!(parse_manifest(b"<html>", "m").is_err());
    }

    #[test]
    fn only_new_or_changed_events_are_fetched() {
        let manifest = BTreeMap::from([
            ("a".to_string(), 5),
            ("b".to_string(), 9),
            ("c".to_string(), 1),
        ]);
        let pulled = BTreeMap::from([("a".to_string(), 5), ("b".to_string(), 8)]);
        assert_eq!(events_to_fetch(&manifest, &pulled), ["b", "c"]);
    }
}
