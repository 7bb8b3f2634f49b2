//! MISP core-format events (`{"Event": {...}}`) and the attributes in them.
//!
//! Producers disagree on JSON types (numbers as strings, `to_ids` as `"1"`),
//! so fields are read leniently from `serde_json::Value`.

use serde_json::Value;

/// The fields of a MISP event that indicators are made from.
#[derive(Debug, Clone, PartialEq)]
pub struct MispEvent {
    pub uuid: String,
    pub info: String,
    /// Last change, in seconds since the Unix epoch.
    pub timestamp: i64,
    pub published: bool,
    pub orgc_name: String,
    pub tags: Vec<String>,
    /// The event's attributes followed by those of its objects.
    pub attributes: Vec<MispAttribute>,
}

/// One attribute, whether it sat in the event or in one of its objects.
#[derive(Debug, Clone, PartialEq)]
pub struct MispAttribute {
    pub uuid: String,
    pub attribute_type: String,
    pub value: String,
    pub to_ids: bool,
    pub deleted: bool,
    pub comment: String,
    pub tags: Vec<String>,
}

/// Reads an event from the JSON of an event file. Accepts `{"Event": …}`,
/// `{"response": [{"Event": …}]}`, a list (element 0 is used, as MISP does)
/// and a bare event object. Returns `None` when no event object is found.
pub fn parse_event(json: &Value) -> Option<MispEvent> {
    let event = event_object(json)?;
    let mut attributes: Vec<MispAttribute> = list(event, "Attribute")
        .iter()
        .filter_map(parse_attribute)
        .collect();
    for object in list(event, "Object") {
        attributes.extend(list(object, "Attribute").iter().filter_map(parse_attribute));
    }
    Some(MispEvent {
        uuid: text(event, "uuid"),
        info: text(event, "info"),
        timestamp: integer(event.get("timestamp")).unwrap_or(0),
        published: truthy(event.get("published")),
        orgc_name: event
            .get("Orgc")
            .or_else(|| event.get("orgc"))
            .map(|orgc| text(orgc, "name"))
            .unwrap_or_default(),
        tags: tag_names(event),
        attributes,
    })
}

fn event_object(json: &Value) -> Option<&Value> {
    match json {
        Value::Array(items) => items.first().and_then(event_object),
        Value::Object(map) => {
            if let Some(event) = map.get("Event") {
                return event.is_object().then_some(event);
            }
            if let Some(response) = map.get("response") {
                return event_object(response);
            }
            map.contains_key("Attribute")
                .then_some(json)
                .or_else(|| map.contains_key("uuid").then_some(json))
        }
        _ => None,
    }
}

fn parse_attribute(attribute: &Value) -> Option<MispAttribute> {
    let attribute_type = text(attribute, "type");
    if attribute_type.is_empty() {
        return None;
    }
    Some(MispAttribute {
        uuid: text(attribute, "uuid"),
        attribute_type,
        value: text(attribute, "value"),
        to_ids: truthy(attribute.get("to_ids")),
        deleted: truthy(attribute.get("deleted")),
        comment: text(attribute, "comment"),
        tags: tag_names(attribute),
    })
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Returns the names in a `Tag` list.
pub(crate) fn tag_names(value: &Value) -> Vec<String> {
    list(value, "Tag")
        .iter()
        .filter_map(|tag| tag.get("name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// Returns a field as text: strings as they are, numbers in decimal, and an
/// empty string for anything else.
pub(crate) fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Reads an integer written as a number or as decimal text.
pub(crate) fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// MISP's truth values: `true`, `1` and `"1"` (and `"true"`).
fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_wrappers_are_accepted() {
        let event = json!({"uuid": "e1", "info": "x", "Attribute": [{"type": "domain", "value": "a.example", "to_ids": "1"}]});
        for wrapped in [
            json!({"Event": event.clone()}),
            json!({"response": [{"Event": event.clone()}]}),
            json!([{"Event": event.clone()}]),
            event.clone(),
        ] {
            let parsed = parse_event(&wrapped).expect("event found");
            assert_eq!(parsed.uuid, "e1");
            assert_eq!(parsed.attributes.len(), 1);
            assert!(parsed.attributes[0].to_ids);
        }
    }

    #[test]
    fn object_attributes_are_flattened() {
        let event = json!({"Event": {"uuid": "e1", "timestamp": "12",
            "Attribute": [{"type": "md5", "value": "x", "to_ids": 0}],
            "Object": [{"Attribute": [{"type": "ip-dst", "value": "192.0.2.1", "to_ids": true}]}]}});
        let parsed = parse_event(&event).expect("event found");
        assert_eq!(parsed.timestamp, 12);
        assert_eq!(parsed.attributes.len(), 2);
        assert!(!parsed.attributes[0].to_ids);
        assert!(parsed.attributes[1].to_ids);
    }

    #[test]
    fn non_event_json_is_rejected() {
        assert!(parse_event(&json!("text")).is_none());
        assert!(parse_event(&json!({"Event": "x"})).is_none());
        assert!(parse_event(&json!({"name": "An Internal Error Has Occurred."})).is_none());
    }
}
