//! Mapping of records from every channel but Security to `Event` rows.
//!
//! `EventData` contains the record's `EventData` or `UserData` element as XML.
//! NOTE: Sentinel's agents wrap it in a `DataItem` element whose attributes
//! (collection time, health service id) an EVTX file does not contain, so
//! homesoc stores the element alone. `UserName`, `Message` and
//! `RenderedDescription` stay empty: resolving the user SID and rendering
//! the message need the source machine's accounts and message tables.

use std::fmt::Write as _;
use std::sync::LazyLock;

use store::builder::{Row, parse_int_text};
use store::schema::TableDef;
use store::tables::{EVENT, event_level_name};

use super::record::{EventRecord, escape_text};

struct Columns {
    computer: usize,
    event_category: usize,
    event_data: usize,
    event_id: usize,
    event_level: usize,
    event_level_name: usize,
    event_log: usize,
    parameter_xml: usize,
    source: usize,
    type_name: usize,
}

fn index(table: &TableDef, name: &str) -> usize {
    table
        .column_index(name)
        .unwrap_or_else(|| panic!("{} has no column {name}", table.name))
}

static COLUMNS: LazyLock<Columns> = LazyLock::new(|| {
    let t = &EVENT;
    Columns {
        computer: index(t, "Computer"),
        event_category: index(t, "EventCategory"),
        event_data: index(t, "EventData"),
        event_id: index(t, "EventID"),
        event_level: index(t, "EventLevel"),
        event_level_name: index(t, "EventLevelName"),
        event_log: index(t, "EventLog"),
        parameter_xml: index(t, "ParameterXml"),
        source: index(t, "Source"),
        type_name: index(t, "Type"),
    }
});

/// Returns the event data values as `<Param>value</Param>` elements, in
/// document order, with XML escapes.
pub fn parameter_xml(record: &EventRecord) -> String {
    let mut xml = String::new();
    for pair in &record.data {
        let _ = write!(xml, "<Param>{}</Param>", escape_text(&pair.value));
    }
    xml
}

/// Fills an `Event` row from `record`, whose `TimeGenerated` is `ticks`
/// (100 ns since the Unix epoch).
pub fn append_event(row: &mut Row, record: &EventRecord, ticks: i64) {
    let columns = &*COLUMNS;
    row.set_time_generated(ticks);
    row.set_string(columns.computer, &record.computer);
    row.set_text(columns.event_category, &record.task);
    row.set_string(columns.event_data, &record.data_xml);
    row.set_text(columns.event_id, &record.event_id);
    if let Some(level) = parse_int_text(&record.level) {
        row.set_text(columns.event_level, &record.level);
        if let Some(name) = event_level_name(level) {
            row.set_string(columns.event_level_name, name);
        }
    }
    row.set_string(columns.event_log, record.channel.as_deref().unwrap_or(""));
    row.set_string(columns.parameter_xml, &parameter_xml(record));
    let source = record
        .event_source_name
        .as_deref()
        .unwrap_or(&record.provider_name);
    row.set_string(columns.source, source);
    row.set_string(columns.type_name, EVENT.name);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evtx::record::DataPair;

    #[test]
    fn level_names() {
        assert_eq!(event_level_name(0), Some("Information"));
        assert_eq!(event_level_name(2), Some("Error"));
        assert_eq!(event_level_name(3), Some("Warning"));
        assert_eq!(event_level_name(4), Some("Information"));
        assert_eq!(event_level_name(17), None);
    }

    #[test]
    fn parameter_xml_escapes_values() {
        let record = EventRecord {
            data: vec![
                DataPair {
                    name: Some("A".into()),
                    value: "x < y & z".into(),
                },
                DataPair {
                    name: None,
                    value: String::new(),
                },
            ],
            ..EventRecord::default()
        };
        assert_eq!(
            parameter_xml(&record),
            "<Param>x &lt; y &amp; z</Param><Param></Param>"
        );
    }
}
