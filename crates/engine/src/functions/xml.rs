//! XML to dynamic: `parse_xml` and the `EventData` bag of `WindowsEvent`.
//!
//! `parse_xml` follows Kusto's documented mapping of XML to JSON:
//!
//! | XML | dynamic |
//! | --- | --- |
//! | `<e/>` | `{"e": null}` |
//! | `<e>text</e>` | `{"e": "text"}` |
//! | `<e name="value" />` | `{"e": {"@name": "value"}}` |
//! | `<e name="value">text</e>` | `{"e": {"@name": "value", "#text": "text"}}` |
//! | `<e><a>text</a><b>text</b></e>` | `{"e": {"a": "text", "b": "text"}}` |
//! | `<e><a>text</a><a>text</a></e>` | `{"e": {"a": ["text", "text"]}}` |
//! | `<e>text<a>text</a></e>` | `{"e": {"#text": "text", "a": "text"}}` |
//!
//! Text that is not well-formed XML gives null.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::DataType;
use datafusion::logical_expr::Expr;
use kql::KqlType;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

use super::JsonFunction;
use crate::udf;

pub const XML_FUNCTIONS: &[JsonFunction] = &[JsonFunction::new(
    "parse_xml",
    1,
    1,
    KqlType::Dynamic,
    parse_xml_call,
)];

/// One parsed element: its name as written (with any prefix), attributes
/// in document order, child elements and the concatenated text directly
/// inside it.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

fn start_element(start: &BytesStart<'_>) -> Result<Element, String> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
        let value = attribute
            .unescape_value()
            .map_err(|e| e.to_string())?
            .into_owned();
        attributes.push((key, value));
    }
    Ok(Element {
        name,
        attributes,
        ..Element::default()
    })
}

/// Parses an XML document into its root element, or an error text when
/// it is not well formed or has no root element.
fn parse_document(text: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(text);
    let mut open: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;

    let mut finish = |element: Element, open: &mut Vec<Element>| match open.last_mut() {
        Some(parent) => parent.children.push(element),
        None => root = root.take().or(Some(element)),
    };
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(start) => open.push(start_element(&start)?),
            Event::Empty(start) => {
                let element = start_element(&start)?;
                finish(element, &mut open);
            }
            Event::End(_) => {
                let element = open.pop().ok_or("unbalanced end tag")?;
                finish(element, &mut open);
            }
            Event::Text(content) => {
                if let Some(element) = open.last_mut() {
                    let decoded = content.xml10_content().map_err(|e| e.to_string())?;
                    element.text.push_str(&decoded);
                }
            }
            Event::CData(content) => {
                if let Some(element) = open.last_mut() {
                    let decoded = content.decode().map_err(|e| e.to_string())?;
                    element.text.push_str(&decoded);
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(element) = open.last_mut() {
                    if let Some(c) = reference.resolve_char_ref().map_err(|e| e.to_string())? {
                        element.text.push(c);
                    } else {
                        let entity = reference.decode().map_err(|e| e.to_string())?;
                        let value = quick_xml::escape::resolve_predefined_entity(&entity)
                            .ok_or_else(|| format!("unknown entity &{entity};"))?;
                        element.text.push_str(value);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !open.is_empty() {
        return Err("unclosed element".to_string());
    }
    root.ok_or_else(|| "no root element".to_string())
}

/// Converts an element's content (not its name) with Kusto's mapping.
fn element_value(element: &Element) -> Value {
    let text = element.text.trim();
    if element.attributes.is_empty() && element.children.is_empty() {
        return if text.is_empty() {
            Value::Null
        } else {
            Value::String(text.to_string())
        };
    }

    let mut bag = Map::new();
    for (key, value) in &element.attributes {
        bag.insert(format!("@{key}"), Value::String(value.clone()));
    }
    if !text.is_empty() {
        bag.insert("#text".to_string(), Value::String(text.to_string()));
    }
    for child in &element.children {
        let value = element_value(child);
        let repeated = element
            .children
            .iter()
            .filter(|other| other.name == child.name)
            .count()
            > 1;
        if !repeated {
            bag.insert(child.name.clone(), value);
            continue;
        }
        let values = bag
            .entry(child.name.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = values {
            values.push(value);
        }
    }
    Value::Object(bag)
}

/// Parses XML text with Kusto's mapping, or returns null when the text is
/// not well-formed XML.
pub fn parse_xml(text: &str) -> Value {
    match parse_document(text) {
        Ok(root) => {
            let mut document = Map::new();
            document.insert(root.name.clone(), element_value(&root));
            Value::Object(document)
        }
        Err(_) => Value::Null,
    }
}

fn parse_xml_call(args: &[Value]) -> Value {
    match &args[0] {
        Value::String(text) => parse_xml(text),
        _ => Value::Null,
    }
}

/// Converts a Windows record's `EventData` or `UserData` XML into the bag
/// that Sentinel's `WindowsEvent.EventData` contains: each named `Data`
/// element becomes a key with its text as the value, and for `UserData`
/// each leaf element below it becomes a key. `Data` elements without a
/// name are collected, in order, in an array under the key `Data`.
/// Returns null for empty or malformed XML.
pub fn event_data_bag(text: &str) -> Value {
    let Ok(root) = parse_document(text) else {
        return Value::Null;
    };

    let mut bag = Map::new();
    let mut unnamed = Vec::new();
    if root.name.ends_with("EventData") {
        for data in &root.children {
            let name = data
                .attributes
                .iter()
                .find(|(key, _)| key == "Name")
                .map(|(_, value)| value.clone());
            let value = Value::String(data.text.clone());
            match name {
                Some(name) => {
                    bag.insert(name, value);
                }
                None => unnamed.push(value),
            }
        }
    } else {
        collect_leaves(&root, &mut bag);
    }
    if !unnamed.is_empty() {
        bag.insert("Data".to_string(), Value::Array(unnamed));
    }
    Value::Object(bag)
}

fn collect_leaves(element: &Element, bag: &mut Map<String, Value>) {
    for child in &element.children {
        if child.children.is_empty() {
            let local_name = child.name.rsplit(':').next().unwrap_or(&child.name);
            bag.insert(local_name.to_string(), Value::String(child.text.clone()));
        } else {
            collect_leaves(child, bag);
        }
    }
}

/// Builds an expression that turns an `EventData` XML string column into
/// `WindowsEvent`'s dynamic `EventData` (JSON text), with
/// [`event_data_bag`].
pub fn event_data_bag_expr(event_data_xml: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|arrays: &[ArrayRef]| {
        let xml = super::utf8(&arrays[0])?;
        let xml = xml
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8 returns a StringArray");
        let out: StringArray = (0..xml.len())
            .map(|row| {
                if xml.is_null(row) || xml.value(row).is_empty() {
                    return None;
                }
                let bag = event_data_bag(xml.value(row));
                (!bag.is_null()).then(|| bag.to_string())
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call(
        "windows_event_data",
        DataType::Utf8,
        false,
        body,
        vec![event_data_xml],
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parse_xml_follows_kusto_mapping() {
        assert_eq!(parse_xml("<e/>"), json!({"e": null}));
        assert_eq!(parse_xml("<e>text</e>"), json!({"e": "text"}));
        assert_eq!(
            parse_xml(r#"<e name="value" />"#),
            json!({"e": {"@name": "value"}})
        );
        assert_eq!(
            parse_xml(r#"<e name="value">text</e>"#),
            json!({"e": {"@name": "value", "#text": "text"}})
        );
        assert_eq!(
            parse_xml("<e><a>text</a><b>text</b></e>"),
            json!({"e": {"a": "text", "b": "text"}})
        );
        assert_eq!(
            parse_xml("<e>text<a>text</a></e>"),
            json!({"e": {"#text": "text", "a": "text"}})
        );
    }

    #[test]
    fn parse_xml_repeated_children() {
        assert_eq!(
            parse_xml("<e><a>1</a><a>2</a><a>3</a></e>"),
            json!({"e": {"a": ["1", "2", "3"]}})
        );
        assert_eq!(
            parse_xml("<e><a><x>1</x><x>2</x></a><a>3</a></e>"),
            json!({"e": {"a": [{"x": ["1", "2"]}, "3"]}})
        );
    }

    #[test]
    fn parse_xml_event_data() {
        let xml = r#"<EventData xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><Data Name="A">1 &amp; 2</Data><Data Name="B"></Data></EventData>"#;
        assert_eq!(
            parse_xml(xml)["EventData"]["Data"],
            json!([{"@Name": "A", "#text": "1 & 2"}, {"@Name": "B"}])
        );
    }

    #[test]
    fn parse_xml_malformed_is_null() {
        assert_eq!(parse_xml("<a><b></a>"), Value::Null);
        assert_eq!(parse_xml("not xml"), Value::Null);
        assert_eq!(parse_xml(""), Value::Null);
    }

    #[test]
    fn event_data_bag_named_data() {
        let xml = r#"<EventData><Data Name="TargetUserName">alice</Data><Data Name="LogonType">3</Data></EventData>"#;
        assert_eq!(
            event_data_bag(xml),
            json!({"TargetUserName": "alice", "LogonType": "3"})
        );
    }

    #[test]
    fn event_data_bag_unnamed_data() {
        let xml = "<EventData><Data>first</Data><Data>second</Data></EventData>";
        assert_eq!(event_data_bag(xml), json!({"Data": ["first", "second"]}));
    }

    #[test]
    fn event_data_bag_user_data_leaves() {
        let xml = r#"<UserData><LogFileCleared xmlns="x"><SubjectUserName>bob</SubjectUserName><SubjectDomainName>LAB</SubjectDomainName></LogFileCleared></UserData>"#;
        assert_eq!(
            event_data_bag(xml),
            json!({"SubjectUserName": "bob", "SubjectDomainName": "LAB"})
        );
    }
}
