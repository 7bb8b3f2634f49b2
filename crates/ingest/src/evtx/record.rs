//! One EVTX record, read from the XML that the `evtx` crate renders.
//!
//! Values keep the `evtx` crate's rendering (version 0.15), which follows
//! what Windows writes in an event's XML view and what published Sentinel
//! rules compare with:
//!
//! - hexadecimal types (`HexInt32`, `HexInt64`, such as logon ids and access
//!   masks) in short form, `0x3e7`, not zero-padded;
//! - `size_t` (`SizeT`, such as some `ProcessId` and `HandleId` fields) as
//!   hexadecimal `0x214`, as Windows does, not decimal;
//! - booleans as `true`/`false`;
//! - binary as upper-case hexadecimal digits, not base64;
//! - `FILETIME`/`SYSTEMTIME` values inside event data as ISO 8601 text;
//! - a string-array substitution as one `Data` element per string.
//!
//! Values are read as an XML 1.0 parser reads the rendered event: line
//! breaks CR LF and lone CR become LF (so `PrivilegeList` separates
//! privileges with `\n\t\t\t`). The `EventData` XML text keeps the line
//! breaks as rendered.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// The XML namespace of Windows event XML. `EventData` and `UserData`
/// inherit it from `Event`, so it is written on them when they are stored
/// on their own.
pub const EVENT_NAMESPACE: &str = "http://schemas.microsoft.com/win/2004/08/events/event";

/// One name/value pair of a record's `EventData` or `UserData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPair {
    /// `Data/@Name` in `EventData`, or the element name of a leaf in
    /// `UserData`. `None` for a `Data` element without a name.
    pub name: Option<String>,
    /// The element's text, with XML escapes resolved.
    pub value: String,
}

/// The fields of an EVTX record that the table mappings use.
///
/// Missing elements and attributes are empty strings, except `channel`,
/// which distinguishes a missing `Channel` (`None`) from an empty one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventRecord {
    /// `System/Provider/@Name`.
    pub provider_name: String,
    /// `System/Provider/@EventSourceName`, set by classic event sources.
    pub event_source_name: Option<String>,
    /// Text of `System/EventID` (its `Qualifiers` attribute is not kept).
    pub event_id: String,
    /// Text of `System/Level`.
    pub level: String,
    /// Text of `System/Task`.
    pub task: String,
    /// `System/TimeCreated/@SystemTime`, such as `2019-02-13T18:04:58.3636968Z`.
    pub system_time: String,
    /// Text of `System/EventRecordID`.
    pub event_record_id: String,
    /// Text of `System/Channel`, `None` when the element is missing.
    pub channel: Option<String>,
    /// Text of `System/Computer`.
    pub computer: String,
    /// `System/Security/@UserID`, a SID.
    pub user_id: String,
    /// The `EventData` or `UserData` element as XML text, with the event
    /// namespace written on it; empty when the record has neither.
    pub data_xml: String,
    /// The `Data` elements of `EventData`, or the leaf elements of
    /// `UserData`, in document order.
    pub data: Vec<DataPair>,
}

/// Part of the event document the parser is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Outside,
    System,
    EventData,
    UserData,
}

/// `System` child whose text is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SystemText {
    EventId,
    Level,
    Task,
    EventRecordId,
    Channel,
    Computer,
}

/// Parses the XML of one rendered record.
///
/// The XML must be well formed. Elements outside `System`, `EventData` and
/// `UserData` (such as `RenderingInfo`) are skipped.
pub fn parse_record_xml(xml: &str) -> Result<EventRecord, String> {
    let mut reader = Reader::from_str(xml);
    let mut record = EventRecord::default();

    let mut section = Section::Outside;
    let mut depth = 0usize;
    // Depth of the `EventData`/`UserData` element and its start offset.
    let mut data_depth = 0usize;
    let mut data_start = 0usize;
    let mut system_text: Option<SystemText> = None;
    // The open element whose text is collected as a pair, and the text so far.
    let mut pair_name: Option<Option<String>> = None;
    let mut pair_depth = 0usize;
    let mut text = String::new();

    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| format!("invalid record XML at byte {before}: {e}"))?;
        match event {
            Event::Start(start) => {
                depth += 1;
                let name = start.local_name();
                let name = name.as_ref();
                match section {
                    Section::Outside if depth == 2 => match name {
                        b"System" => section = Section::System,
                        b"EventData" | b"UserData" => {
                            section = if name == b"EventData" {
                                Section::EventData
                            } else {
                                Section::UserData
                            };
                            data_depth = depth;
                            data_start = before;
                        }
                        _ => {}
                    },
                    Section::System => {
                        read_system_attributes(&start, &mut record)?;
                        system_text = match name {
                            b"EventID" => Some(SystemText::EventId),
                            b"Level" => Some(SystemText::Level),
                            b"Task" => Some(SystemText::Task),
                            b"EventRecordID" => Some(SystemText::EventRecordId),
                            b"Channel" => {
                                record.channel = Some(String::new());
                                Some(SystemText::Channel)
                            }
                            b"Computer" => Some(SystemText::Computer),
                            _ => None,
                        };
                        text.clear();
                    }
                    Section::EventData if depth == data_depth + 1 && name == b"Data" => {
                        pair_name = Some(attribute(&start, b"Name")?);
                        pair_depth = depth;
                        text.clear();
                    }
                    Section::UserData if depth > data_depth + 1 => {
                        // A new child: the enclosing element is no leaf.
                        pair_name = Some(Some(String::from_utf8_lossy(name).into_owned()));
                        pair_depth = depth;
                        text.clear();
                    }
                    _ => {}
                }
            }
            Event::Empty(start) => {
                let name = start.local_name();
                let name = name.as_ref();
                match section {
                    Section::Outside
                        if depth == 1 && (name == b"EventData" || name == b"UserData") =>
                    {
                        record.data_xml =
                            with_namespace(&xml[before..reader.buffer_position() as usize]);
                    }
                    Section::System => {
                        read_system_attributes(&start, &mut record)?;
                        if name == b"Channel" {
                            record.channel = Some(String::new());
                        }
                    }
                    Section::EventData if depth == data_depth && name == b"Data" => {
                        record.data.push(DataPair {
                            name: attribute(&start, b"Name")?,
                            value: String::new(),
                        });
                    }
                    Section::UserData if depth > data_depth => {
                        pair_name = None;
                        record.data.push(DataPair {
                            name: Some(String::from_utf8_lossy(name).into_owned()),
                            value: String::new(),
                        });
                    }
                    _ => {}
                }
            }
            Event::Text(t) if system_text.is_some() || pair_name.is_some() => {
                let decoded = t
                    .xml10_content()
                    .map_err(|e| format!("invalid text in record XML: {e}"))?;
                text.push_str(&decoded);
            }
            Event::CData(t) if system_text.is_some() || pair_name.is_some() => {
                let decoded = t
                    .decode()
                    .map_err(|e| format!("invalid CDATA in record XML: {e}"))?;
                text.push_str(&decoded);
            }
            Event::GeneralRef(r) if system_text.is_some() || pair_name.is_some() => {
                let resolved = r
                    .resolve_char_ref()
                    .map_err(|e| format!("invalid character reference: {e}"))?;
                if let Some(c) = resolved {
                    text.push(c);
                } else {
                    let entity = r
                        .decode()
                        .map_err(|e| format!("invalid entity reference: {e}"))?;
                    let value = quick_xml::escape::resolve_predefined_entity(&entity)
                        .ok_or_else(|| format!("unknown entity &{entity};"))?;
                    text.push_str(value);
                }
            }
            Event::End(_) => {
                match section {
                    Section::System if depth == 2 => section = Section::Outside,
                    Section::System => {
                        if let Some(field) = system_text.take() {
                            let value = std::mem::take(&mut text);
                            match field {
                                SystemText::EventId => record.event_id = value,
                                SystemText::Level => record.level = value,
                                SystemText::Task => record.task = value,
                                SystemText::EventRecordId => record.event_record_id = value,
                                SystemText::Channel => record.channel = Some(value),
                                SystemText::Computer => record.computer = value,
                            }
                        }
                    }
                    Section::EventData | Section::UserData if depth == data_depth => {
                        let end_offset = reader.buffer_position() as usize;
                        record.data_xml = with_namespace(&xml[data_start..end_offset]);
                        section = Section::Outside;
                    }
                    Section::EventData | Section::UserData => {
                        if depth == pair_depth
                            && let Some(name) = pair_name.take()
                        {
                            record.data.push(DataPair {
                                name,
                                value: std::mem::take(&mut text),
                            });
                        }
                    }
                    Section::Outside => {}
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }

    if depth != 0 {
        return Err("record XML ends inside an element".to_string());
    }
    Ok(record)
}

/// Copies the attributes of a `System` child that the mappings use.
fn read_system_attributes(start: &BytesStart<'_>, record: &mut EventRecord) -> Result<(), String> {
    match start.local_name().as_ref() {
        b"Provider" => {
            record.provider_name = attribute(start, b"Name")?.unwrap_or_default();
            record.event_source_name = attribute(start, b"EventSourceName")?;
        }
        b"TimeCreated" => {
            record.system_time = attribute(start, b"SystemTime")?.unwrap_or_default();
        }
        b"Security" => {
            record.user_id = attribute(start, b"UserID")?.unwrap_or_default();
        }
        _ => {}
    }
    Ok(())
}

/// Returns an attribute's value with escapes resolved, `None` when absent.
fn attribute(start: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, String> {
    match start.try_get_attribute(name) {
        Ok(Some(attr)) => attr
            .unescape_value()
            .map(|v| Some(v.into_owned()))
            .map_err(|e| format!("invalid attribute value: {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("invalid attribute: {e}")),
    }
}

/// Writes the event namespace on a rendered `EventData` or `UserData`
/// element, right after its name.
fn with_namespace(element: &str) -> String {
    let name_end = element.find([' ', '>', '/']).unwrap_or(element.len());
    let mut out = String::with_capacity(element.len() + EVENT_NAMESPACE.len() + 9);
    out.push_str(&element[..name_end]);
    out.push_str(" xmlns=\"");
    out.push_str(EVENT_NAMESPACE);
    out.push('"');
    out.push_str(&element[name_end..]);
    out
}

/// Parses a `SystemTime` such as `2019-02-13T18:04:58.3636968Z` to 100 ns
/// ticks since the Unix epoch, keeping all seven fraction digits (more are
/// truncated). Accepts a `Z` or `±hh:mm` suffix, or none (read as UTC).
pub fn parse_system_time(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_once('T').or_else(|| text.split_once(' '))?;
    let mut date_parts = date.splitn(3, '-');
    let year: i32 = date_parts.next()?.parse().ok()?;
    let month: u32 = date_parts.next()?.parse().ok()?;
    let day: u32 = date_parts.next()?.parse().ok()?;

    // Split off the zone suffix.
    let (time, offset_seconds) = if let Some(time) = rest.strip_suffix('Z') {
        (time, 0i64)
    } else if let Some(pos) = rest.rfind(['+', '-']) {
        let (time, zone) = rest.split_at(pos);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = zone[1..].split_once(':')?;
        let hours: i64 = hours.parse().ok()?;
        let minutes: i64 = minutes.parse().ok()?;
        (time, sign * (hours * 3600 + minutes * 60))
    } else {
        (rest, 0)
    };

    let (hms, fraction) = match time.split_once('.') {
        Some((hms, fraction)) => (hms, fraction),
        None => (time, ""),
    };
    let mut hms_parts = hms.splitn(3, ':');
    let hour: u32 = hms_parts.next()?.parse().ok()?;
    let minute: u32 = hms_parts.next()?.parse().ok()?;
    let second: u32 = hms_parts.next()?.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut sub_ticks: i64 = 0;
    for i in 0..7 {
        let digit = fraction
            .as_bytes()
            .get(i)
            .map_or(0, |b| i64::from(b - b'0'));
        sub_ticks = sub_ticks * 10 + digit;
    }

    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
    let time = chrono::NaiveTime::from_hms_opt(hour, minute, second)?;
    let seconds = date.and_time(time).and_utc().timestamp() - offset_seconds;
    seconds.checked_mul(10_000_000)?.checked_add(sub_ticks)
}

/// Returns the text with `<`, `>` and `&` escaped, for XML element content.
pub fn escape_text(value: &str) -> Cow<'_, str> {
    quick_xml::escape::partial_escape(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECURITY_XML: &str = concat!(
        r#"<?xml version="1.0" encoding="utf-8"?>"#,
        r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>"#,
        r#"<Provider Name="Microsoft-Windows-Security-Auditing" Guid="{54849625-5478-4994-a5ba-3e3b0328c30d}"/>"#,
        r#"<EventID>4688</EventID><Version>2</Version><Level>0</Level><Task>13312</Task>"#,
        r#"<TimeCreated SystemTime="2019-02-13T18:04:58.3636968Z"/><EventRecordID>227762</EventRecordID>"#,
        r#"<Correlation/><Execution ProcessID="4" ThreadID="8"/><Channel>Security</Channel>"#,
        r#"<Computer>PC01.example.corp</Computer><Security/></System>"#,
        r#"<EventData><Data Name="SubjectLogonId">0x3e7</Data>"#,
        r#"<Data Name="CommandLine">cmd /c "a &amp; b" &lt;x&gt; &#233;</Data>"#,
        r#"<Data Name="Empty"></Data><Data Name="Empty2"/><Data>unnamed</Data>"#,
        "<Data Name=\"PrivilegeList\">SeSecurityPrivilege\r\n\t\t\tSeBackupPrivilege</Data></EventData></Event>"
    );

    #[test]
    fn parses_system_and_event_data() {
        let record = parse_record_xml(SECURITY_XML).unwrap();
        assert_eq!(record.provider_name, "Microsoft-Windows-Security-Auditing");
        assert_eq!(record.event_source_name, None);
        assert_eq!(record.event_id, "4688");
        assert_eq!(record.level, "0");
        assert_eq!(record.task, "13312");
        assert_eq!(record.system_time, "2019-02-13T18:04:58.3636968Z");
        assert_eq!(record.event_record_id, "227762");
        assert_eq!(record.channel.as_deref(), Some("Security"));
        assert_eq!(record.computer, "PC01.example.corp");
        assert_eq!(record.user_id, "");

        let pairs = name_value_pairs(&record);
        assert_eq!(
            pairs,
            vec![
                (Some("SubjectLogonId"), "0x3e7"),
                (Some("CommandLine"), "cmd /c \"a & b\" <x> é"),
                (Some("Empty"), ""),
                (Some("Empty2"), ""),
                (None, "unnamed"),
                (
                    Some("PrivilegeList"),
                    "SeSecurityPrivilege\n\t\t\tSeBackupPrivilege"
                ),
            ]
        );
        assert!(record.data_xml.starts_with(
            r#"<EventData xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><Data Name="SubjectLogonId">0x3e7</Data>"#
        ));
        assert!(
            record
                .data_xml
                .ends_with("SeSecurityPrivilege\r\n\t\t\tSeBackupPrivilege</Data></EventData>")
        );
    }

    fn name_value_pairs(record: &EventRecord) -> Vec<(Option<&str>, &str)> {
        record
            .data
            .iter()
            .map(|p| (p.name.as_deref(), p.value.as_str()))
            .collect()
    }

    #[test]
    fn parses_user_data_leaves() {
        let xml = concat!(
            r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>"#,
            r#"<Provider Name="Microsoft-Windows-Eventlog"/><EventID>1102</EventID>"#,
            r#"<Channel>Security</Channel></System><UserData>"#,
            r#"<LogFileCleared xmlns="http://manifests.microsoft.com/win/2004/08/windows/eventlog">"#,
            r#"<SubjectUserSid>S-1-5-18</SubjectUserSid><Nested><Inner>x</Inner></Nested>"#,
            r#"<BackupPath/></LogFileCleared></UserData></Event>"#
        );
        let record = parse_record_xml(xml).unwrap();
        let pairs = name_value_pairs(&record);
        assert_eq!(
            pairs,
            vec![
                (Some("SubjectUserSid"), "S-1-5-18"),
                (Some("Inner"), "x"),
                (Some("BackupPath"), ""),
            ]
        );
        assert!(record.data_xml.starts_with(
            r#"<UserData xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><LogFileCleared"#
        ));
        assert!(record.data_xml.ends_with("</UserData>"));
    }

    #[test]
    fn missing_and_empty_channel_differ() {
        let missing = parse_record_xml("<Event><System><EventID>6</EventID></System></Event>");
        assert_eq!(missing.unwrap().channel, None);
        let empty = parse_record_xml("<Event><System><Channel/></System></Event>");
        assert_eq!(empty.unwrap().channel.as_deref(), Some(""));
        let empty_pair = parse_record_xml("<Event><System><Channel></Channel></System></Event>");
        assert_eq!(empty_pair.unwrap().channel.as_deref(), Some(""));
    }

    #[test]
    fn empty_event_data_element() {
        let record = parse_record_xml("<Event><System/><EventData/></Event>").unwrap();
        assert_eq!(
            record.data_xml,
            format!(r#"<EventData xmlns="{EVENT_NAMESPACE}"/>"#)
        );
        assert!(record.data.is_empty());
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(parse_record_xml("<Event><System></Event>").is_err());
        assert!(parse_record_xml("<Event><System>").is_err());
    }

    #[test]
    fn system_time_keeps_all_ticks() {
        assert_eq!(
            parse_system_time("2019-02-13T18:04:58.3636968Z"),
            Some(15_500_810_983_636_968)
        );
        assert_eq!(parse_system_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_system_time("1970-01-01T00:00:00.1Z"), Some(1_000_000));
        assert_eq!(
            parse_system_time("1970-01-01T00:00:00.123456789Z"),
            Some(1_234_567)
        );
        assert_eq!(
            parse_system_time("1970-01-01T01:00:00+01:00"),
            Some(0),
            "offsets are applied"
        );
        assert_eq!(
            parse_system_time("1601-01-01T00:00:00.0000000Z"),
            Some(-116_444_736_000_000_000)
        );
        assert_eq!(parse_system_time(""), None);
        assert_eq!(parse_system_time("2019-02-30T00:00:00Z"), None);
        assert_eq!(parse_system_time("2019-02-13T18:04:58.36x6968Z"), None);
    }
}
