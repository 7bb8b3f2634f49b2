//! Parsed syslog and CEF messages to `Syslog` and `CommonSecurityLog` rows.

use std::net::IpAddr;
use std::sync::OnceLock;

use chrono::NaiveDateTime;
use store::builder::Row;
use store::schema::TableDef;
use store::tables::{COMMON_SECURITY_LOG, SYSLOG};

use super::cef::{self, CefEvent};
use super::cef_columns::CEF_KEY_COLUMNS;
use super::error::ParseError;
use super::limits::Limits;
use super::message::{
    DEFAULT_PRI, SyslogMessage, facility_name, severity_name, split_pri, ticks_of,
};
use super::{rfc3164, rfc5424};

/// Which time a row's `TimeGenerated` gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeGeneratedFrom {
    /// The receive time, as Sentinel's agents do for live syslog; the
    /// message's own time goes to `EventTime`. Used by the listeners.
    Received,
    /// The message's own timestamp, or the receive time for a message
    /// without one. Used for backfills of old messages.
    EventTime,
}

/// Where and when a message was received.
#[derive(Debug, Clone, Copy)]
pub struct ReceiveContext<'a> {
    /// Receive time in 100 ns ticks since the Unix epoch.
    pub received_ticks: i64,
    /// The sender's address: `HostIP`, and `Computer` when the message
    /// names no host.
    pub sender: Option<IpAddr>,
    /// The receiving host's name for `CollectorHostName`.
    pub collector_host_name: Option<&'a str>,
    pub time_generated: TimeGeneratedFrom,
}

/// Parses one framed message (RFC 5424, RFC 3164, or CEF, bare or inside
/// a syslog message) into a row of `Syslog` or `CommonSecurityLog`.
///
/// Trailing newlines, carriage returns and NUL bytes are cut, invalid UTF-8
/// becomes U+FFFD, and a message without a PRI is read as `user.notice`.
/// Fails on a message longer than `limits.max_message_bytes`, with more
/// than `limits.max_fields` fields, or with an invalid RFC 5424 header or
/// CEF header. A BSD message never fails to parse.
pub fn parse_message(
    bytes: &[u8],
    context: &ReceiveContext<'_>,
    limits: &Limits,
) -> Result<Row, ParseError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(ParseError::TooLong {
            length: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    let end = bytes
        .iter()
        .rposition(|&b| !matches!(b, b'\n' | b'\r' | b'\0'))
        .map_or(0, |last| last + 1);
    if end == 0 {
        return Err(ParseError::Empty);
    }
    let text = String::from_utf8_lossy(&bytes[..end]);

    if text.starts_with("CEF:") {
        let event = cef::parse(&text, limits.max_fields)?;
        return Ok(cef_row(&event, None, context));
    }
    let message = parse_syslog(&text, context.received_ticks, limits.max_fields)?;
    match cef::find_cef(&message.message) {
        Some(cef_text) => {
            let event = cef::parse(cef_text, limits.max_fields)?;
            Ok(cef_row(&event, Some(&message), context))
        }
        None => Ok(syslog_row(&message, context)),
    }
}

/// Parses a syslog message in either format. The format is RFC 5424 when
/// a version number follows the PRI, else BSD.
pub fn parse_syslog(
    text: &str,
    received_ticks: i64,
    max_fields: usize,
) -> Result<SyslogMessage, ParseError> {
    let (pri, after_pri) = split_pri(text)?.unwrap_or((DEFAULT_PRI, text));
    if rfc5424::looks_like_rfc5424(after_pri) {
        rfc5424::parse(pri, after_pri, max_fields)
    } else {
        Ok(rfc3164::parse(pri, after_pri, received_ticks))
    }
}

/// Column indexes of a table, looked up by name once.
fn column(table: &TableDef, name: &str) -> usize {
    table
        .column_index(name)
        .unwrap_or_else(|| panic!("{} has no column {name}", table.name))
}

fn time_generated(message_ticks: Option<i64>, context: &ReceiveContext<'_>) -> i64 {
    match context.time_generated {
        TimeGeneratedFrom::Received => context.received_ticks,
        TimeGeneratedFrom::EventTime => message_ticks.unwrap_or(context.received_ticks),
    }
}

/// Maps a syslog message to a `Syslog` row.
///
/// `SyslogMessage` is the MSG, preceded by the RFC 5424 MSGID and
/// structured data when the message has them, since the table has no
/// columns of their own for them. `SourceSystem` is `Linux`, the value
/// Sentinel's agents write.
pub fn syslog_row(message: &SyslogMessage, context: &ReceiveContext<'_>) -> Row {
    let table = &SYSLOG;
    let mut row = Row::new(table);
    row.set_time_generated(time_generated(message.timestamp_ticks, context));
    row.set_datetime_ticks(
        column(table, "EventTime"),
        message.timestamp_ticks.unwrap_or(context.received_ticks),
    );

    let sender = context.sender.map(|ip| ip.to_string());
    if let Some(host) = message.hostname.as_deref().or(sender.as_deref()) {
        row.set_string(column(table, "Computer"), host);
        row.set_string(column(table, "HostName"), host);
    }
    if let Some(sender) = &sender {
        row.set_string(column(table, "HostIP"), sender);
    }
    if let Some(collector) = context.collector_host_name {
        row.set_string(column(table, "CollectorHostName"), collector);
    }
    if let Some(name) = facility_name(message.facility) {
        row.set_string(column(table, "Facility"), name);
    }
    if let Some(name) = severity_name(message.severity) {
        row.set_string(column(table, "SeverityLevel"), name);
    }
    if let Some(app_name) = &message.app_name {
        row.set_string(column(table, "ProcessName"), app_name);
    }
    // NOTE: a PROCID that is not a number (RFC 5424 allows any text) has no
    // column to go to and is not stored.
    if let Some(pid) = message
        .proc_id
        .as_deref()
        .and_then(|p| p.parse::<i32>().ok())
    {
        row.set_int(column(table, "ProcessID"), pid);
    }

    let mut text = String::with_capacity(message.message.len());
    for part in [&message.msg_id, &message.structured_data_text]
        .into_iter()
        .flatten()
    {
        text.push_str(part);
        text.push(' ');
    }
    text.push_str(&message.message);
    row.set_string(column(table, "SyslogMessage"), &text);
    row.set_string(column(table, "SourceSystem"), "Linux");
    row.set_string(column(table, "Type"), table.name);
    row
}

/// Maps a CEF event to a `CommonSecurityLog` row. `syslog` is the syslog
/// message that carried it, if any, for `Computer` and the time.
///
/// Extension values that do not convert to their column's type (a port
/// that is not a number) go to `AdditionalExtensions` like unmapped keys,
/// as `key=value` pairs joined by `;`. `SourceSystem` is `OpsManager`, the
/// value Sentinel's agents write.
pub fn cef_row(
    event: &CefEvent,
    syslog: Option<&SyslogMessage>,
    context: &ReceiveContext<'_>,
) -> Row {
    let table = &COMMON_SECURITY_LOG;
    let mut row = Row::new(table);
    row.set_time_generated(time_generated(
        syslog.and_then(|m| m.timestamp_ticks),
        context,
    ));

    let sender = context.sender.map(|ip| ip.to_string());
    let hostname = syslog.and_then(|m| m.hostname.as_deref());
    if let Some(host) = hostname.or(sender.as_deref()) {
        row.set_string(column(table, "Computer"), host);
    }
    if let Some(collector) = context.collector_host_name {
        row.set_string(column(table, "CollectorHostName"), collector);
    }

    for (name, value) in [
        ("DeviceVendor", &event.device_vendor),
        ("DeviceProduct", &event.device_product),
        ("DeviceVersion", &event.device_version),
        ("DeviceEventClassID", &event.device_event_class_id),
        ("Activity", &event.name),
        ("LogSeverity", &event.severity),
    ] {
        if !value.is_empty() {
            row.set_string(column(table, name), value);
        }
    }

    let mut additional = String::new();
    for (key, value) in &event.extensions {
        if value.is_empty() {
            continue;
        }
        let stored = match key_column(key) {
            Some(col) => set_cef_value(&mut row, table, key, col, value),
            None => false,
        };
        if !stored {
            if !additional.is_empty() {
                additional.push(';');
            }
            if !key.is_empty() {
                additional.push_str(key);
                additional.push('=');
            }
            additional.push_str(value);
        }
    }
    if !additional.is_empty() {
        row.set_string(column(table, "AdditionalExtensions"), &additional);
    }
    row.set_string(column(table, "SourceSystem"), "OpsManager");
    row.set_string(column(table, "Type"), table.name);
    row
}

/// Returns the `CommonSecurityLog` column index of a CEF key.
fn key_column(key: &str) -> Option<usize> {
    static COLUMNS: OnceLock<std::collections::HashMap<&'static str, usize>> = OnceLock::new();
    COLUMNS
        .get_or_init(|| {
            CEF_KEY_COLUMNS
                .iter()
                .map(|(key, name)| (*key, column(&COMMON_SECURITY_LOG, name)))
                .collect()
        })
        .get(key)
        .copied()
}

/// Sets a mapped extension value. Returns false when the value does not
/// convert to the column's type.
fn set_cef_value(row: &mut Row, table: &TableDef, key: &str, col: usize, value: &str) -> bool {
    match key {
        "deviceDirection" => {
            let direction = match value.trim() {
                "0" => "Inbound",
                "1" => "Outbound",
                other => other,
            };
            row.set_string(col, direction);
            return true;
        }
        // Sentinel keeps cn1 to cn3 twice: as int, and whole as long.
        "cn1" | "cn2" | "cn3" => {
            let Ok(number) = value.trim().parse::<i64>() else {
                return false;
            };
            let long_column = column(table, &format!("FieldDeviceCustomNumber{}", &key[2..]));
            row.set_long(long_column, number);
            if let Ok(small) = i32::try_from(number) {
                row.set_int(col, small);
            }
            return true;
        }
        _ => {}
    }
    if table.columns[col].ty == kql::KqlType::Datetime {
        return match parse_cef_time(value) {
            Some(ticks) => {
                row.set_datetime_ticks(col, ticks);
                true
            }
            None => false,
        };
    }
    row.set_text(col, value)
}

/// Parses a CEF time: milliseconds since the Unix epoch, `MMM dd yyyy
/// HH:mm:ss[.SSS]` with an optional `UTC`, `GMT` or `Z` zone, or RFC 3339.
/// Other zones are not converted and return `None`.
pub fn parse_cef_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let millis: i64 = text.parse().ok()?;
        return millis.checked_mul(10_000);
    }
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(ticks_of(&time));
    }
    let without_zone = ["UTC", "GMT", "Z"]
        .iter()
        .find_map(|zone| text.strip_suffix(zone).map(str::trim_end))
        .unwrap_or(text);
    NaiveDateTime::parse_from_str(without_zone, "%b %d %Y %H:%M:%S%.f")
        .ok()
        .map(|time| ticks_of(&time.and_utc()))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use arrow::array::{Array, RecordBatch};
    use arrow::util::display::array_value_to_string;
    use store::builder::TableBatchBuilder;

    use super::*;

    fn context() -> ReceiveContext<'static> {
        ReceiveContext {
            received_ticks: ticks("2026-12-05T02:40:00Z"),
            sender: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))),
            collector_host_name: Some("soc1"),
            time_generated: TimeGeneratedFrom::Received,
        }
    }

    fn ticks(rfc3339: &str) -> i64 {
        ticks_of(&chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap())
    }

    /// Stores one row in a batch and returns its non-null cells as text.
    fn cells(row: &Row) -> std::collections::BTreeMap<String, String> {
        let mut builder = TableBatchBuilder::new(row.table(), "test", 0, 1);
        builder.append_row(row).unwrap();
        let batch: RecordBatch = builder.finish();
        let schema = batch.schema();
        schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| !batch.column(*i).is_null(0))
            .map(|(i, field)| {
                (
                    field.name().clone(),
                    array_value_to_string(batch.column(i), 0).unwrap(),
                )
            })
            .collect()
    }

    fn parse(text: &str) -> Result<Row, ParseError> {
        parse_message(text.as_bytes(), &context(), &Limits::default())
    }

    #[test]
    fn bsd_message_to_syslog_row() {
        let row = parse("<38>Dec  5 02:39:58 web01 sshd[1234]: Failed password for root from 198.51.100.9 port 4242 ssh2\n").unwrap();
        assert_eq!(row.table().name, "Syslog");
        let cells = cells(&row);
        assert_eq!(cells["Computer"], "web01");
        assert_eq!(cells["HostName"], "web01");
        assert_eq!(cells["HostIP"], "192.0.2.10");
        assert_eq!(cells["CollectorHostName"], "soc1");
        assert_eq!(cells["Facility"], "auth");
        assert_eq!(cells["SeverityLevel"], "info");
        assert_eq!(cells["ProcessName"], "sshd");
        assert_eq!(cells["ProcessID"], "1234");
        assert_eq!(
            cells["SyslogMessage"],
            "Failed password for root from 198.51.100.9 port 4242 ssh2"
        );
        assert_eq!(cells["EventTime"], "2026-12-05T02:39:58Z");
        assert_eq!(cells["TimeGenerated"], "2026-12-05T02:40:00Z");
        assert_eq!(cells["SourceSystem"], "Linux");
        assert_eq!(cells["Type"], "Syslog");
    }

    #[test]
    fn rfc5424_message_keeps_msgid_and_structured_data() {
        let row = parse("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event").unwrap();
        let cells = cells(&row);
        assert_eq!(cells["Facility"], "local4");
        assert_eq!(cells["SeverityLevel"], "notice");
        assert_eq!(cells["ProcessName"], "evntslog");
        assert!(!cells.contains_key("ProcessID"));
        assert_eq!(
            cells["SyslogMessage"],
            "ID47 [exampleSDID@32473 iut=\"3\"] An application event"
        );
        assert_eq!(cells["EventTime"], "2003-10-11T22:14:15.003Z");
    }

    #[test]
    fn event_time_mode_sets_time_generated() {
        let mut context = context();
        context.time_generated = TimeGeneratedFrom::EventTime;
        let row = parse_message(
            b"<13>1 2003-10-11T22:14:15.003Z h a - - - x",
            &context,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(cells(&row)["TimeGenerated"], "2003-10-11T22:14:15.003Z");
    }

    #[test]
    fn message_without_hostname_uses_sender() {
        let row = parse("<13>hello").unwrap();
        let cells = cells(&row);
        assert_eq!(cells["Computer"], "192.0.2.10");
        assert_eq!(cells["Facility"], "user");
        assert_eq!(cells["SeverityLevel"], "notice");
        assert_eq!(cells["SyslogMessage"], "hello");
    }

    #[test]
    fn cef_in_syslog_to_common_security_log() {
        let row = parse(
            "<134>Sep 19 08:26:10 fw01 CEF:0|Check Point|VPN-1 & FireWall-1|R81|drop|Drop|5|src=10.0.0.1 spt=51514 dst=203.0.113.5 dpt=443 proto=TCP act=drop suser=alice duser=bob deviceDirection=1 cn1=5000000000 cn1Label=Bytes cs1Label=Rule cs1=Block all in=10 out=20 rt=Sep 19 2026 08:26:10 start=1789000000000 vendorKey=x1 spt2=y",
        )
        .unwrap();
        assert_eq!(row.table().name, "CommonSecurityLog");
        let cells = cells(&row);
        assert_eq!(cells["Computer"], "fw01");
        assert_eq!(cells["DeviceVendor"], "Check Point");
        assert_eq!(cells["DeviceProduct"], "VPN-1 & FireWall-1");
        assert_eq!(cells["DeviceVersion"], "R81");
        assert_eq!(cells["DeviceEventClassID"], "drop");
        assert_eq!(cells["Activity"], "Drop");
        assert_eq!(cells["LogSeverity"], "5");
        assert_eq!(cells["SourceIP"], "10.0.0.1");
        assert_eq!(cells["SourcePort"], "51514");
        assert_eq!(cells["DestinationIP"], "203.0.113.5");
        assert_eq!(cells["DestinationPort"], "443");
        assert_eq!(cells["Protocol"], "TCP");
        assert_eq!(cells["DeviceAction"], "drop");
        assert_eq!(cells["SourceUserName"], "alice");
        assert_eq!(cells["DestinationUserName"], "bob");
        assert_eq!(cells["CommunicationDirection"], "Outbound");
        assert_eq!(cells["FieldDeviceCustomNumber1"], "5000000000");
        assert!(!cells.contains_key("DeviceCustomNumber1"));
        assert_eq!(cells["DeviceCustomNumber1Label"], "Bytes");
        assert_eq!(cells["DeviceCustomString1"], "Block all");
        assert_eq!(cells["ReceivedBytes"], "10");
        assert_eq!(cells["SentBytes"], "20");
        assert_eq!(cells["ReceiptTime"], "Sep 19 2026 08:26:10");
        assert_eq!(cells["StartTime"], "2026-09-10T00:26:40Z");
        assert_eq!(cells["AdditionalExtensions"], "vendorKey=x1;spt2=y");
        assert_eq!(cells["SourceSystem"], "OpsManager");
        assert_eq!(cells["Type"], "CommonSecurityLog");
    }

    #[test]
    fn bad_typed_values_go_to_additional_extensions() {
        let row = parse("CEF:0|V|P|1|s|n|1|spt=http dpt=80 end=someday").unwrap();
        let cells = cells(&row);
        assert_eq!(cells["DestinationPort"], "80");
        assert!(!cells.contains_key("SourcePort"));
        assert_eq!(cells["AdditionalExtensions"], "spt=http;end=someday");
        assert_eq!(cells["Computer"], "192.0.2.10");
    }

    #[test]
    fn logger_cef_after_tag() {
        let row = parse("<13>Dec  5 02:39:58 web01 root: CEF:0|Fortinet|Fortigate|7.2|13|traffic|3|src=192.0.2.1").unwrap();
        let cells = cells(&row);
        assert_eq!(cells["DeviceVendor"], "Fortinet");
        assert_eq!(cells["SourceIP"], "192.0.2.1");
    }

    #[test]
    fn limits_and_empty_input() {
        let limits = Limits {
            max_message_bytes: 10,
            ..Limits::default()
        };
        assert_eq!(
            parse_message(b"<13>hello world", &context(), &limits).err(),
            Some(ParseError::TooLong {
                length: 15,
                max: 10
            })
        );
        assert_eq!(parse("\r\n\0").err(), Some(ParseError::Empty));
        assert!(matches!(
            parse("<999>x"),
            Err(ParseError::InvalidPri { .. })
        ));
        assert!(matches!(
            parse("<13>CEF:0|broken"),
            Err(ParseError::InvalidCef { .. })
        ));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let row = parse_message(
            b"<13>Dec  5 02:39:58 h app: caf\xe9",
            &context(),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(cells(&row)["SyslogMessage"], "caf\u{fffd}");
    }

    #[test]
    fn cef_times() {
        assert_eq!(
            parse_cef_time("1789000000000"),
            Some(ticks("2026-09-10T00:26:40Z"))
        );
        assert_eq!(
            parse_cef_time("Sep 19 2026 08:26:10.500 UTC"),
            Some(ticks("2026-09-19T08:26:10.5Z"))
        );
        assert_eq!(
            parse_cef_time("2026-09-19T08:26:10Z"),
            Some(ticks("2026-09-19T08:26:10Z"))
        );
        assert_eq!(parse_cef_time("Sep 19 2026 08:26:10 CEST"), None);
        assert_eq!(parse_cef_time("99999999999999999999"), None);
    }
}
