//! RFC 5424 messages:
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`.
//!
//! Header fields are separated by one space each and `-` is the NILVALUE.
//! The parser is lenient where real senders differ from the RFC and keeps
//! every byte of the message: more than six fractional digits in the
//! timestamp are accepted, and MSG is taken as UTF-8 with or without the
//! BOM that the RFC requires (invalid UTF-8 was already replaced by U+FFFD
//! before parsing).

use super::error::ParseError;
use super::message::{SdElement, SyslogFormat, SyslogMessage, ticks_of};

/// The UTF-8 byte order mark that RFC 5424 puts before a UTF-8 MSG.
const BOM: char = '\u{feff}';

/// Returns true when the text after the PRI starts like RFC 5424: a
/// version number of one or two digits followed by a space.
pub fn looks_like_rfc5424(after_pri: &str) -> bool {
    let bytes = after_pri.as_bytes();
    matches!(
        bytes,
        [b'1'..=b'9', b' ', ..] | [b'1'..=b'9', b'0'..=b'9', b' ', ..]
    )
}

/// Parses the part of an RFC 5424 message after the PRI. `max_fields`
/// bounds the number of structured-data parameters.
pub fn parse(pri: u8, after_pri: &str, max_fields: usize) -> Result<SyslogMessage, ParseError> {
    let mut fields = HeaderFields { rest: after_pri };

    let _version = fields.next("VERSION")?;
    let timestamp = fields.next("TIMESTAMP")?;
    let hostname = fields.next("HOSTNAME")?;
    let app_name = fields.next("APP-NAME")?;
    let proc_id = fields.next("PROCID")?;
    let msg_id = fields.next("MSGID")?;

    let timestamp_ticks = parse_timestamp(timestamp)?;
    let (structured_data, sd_length) = parse_structured_data(fields.rest, max_fields)?;
    let structured_data_text = match &fields.rest[..sd_length] {
        "-" => None,
        text => Some(text.to_string()),
    };
    let after_sd = &fields.rest[sd_length..];
    let message = match after_sd.strip_prefix(' ') {
        // rsyslog's RFC 5424 templates put a space of the legacy MSG after
        // the separator, so leading spaces are cut.
        Some(message) => message
            .strip_prefix(BOM)
            .unwrap_or(message)
            .trim_start_matches(' '),
        None if after_sd.is_empty() => "",
        None => {
            return Err(ParseError::InvalidStructuredData {
                offset: sd_length,
                reason: "expected a space or the end of the message after the structured data",
            });
        }
    };

    Ok(SyslogMessage {
        format: SyslogFormat::Rfc5424,
        facility: pri >> 3,
        severity: pri & 7,
        timestamp_ticks,
        hostname: nil_to_none(hostname),
        app_name: nil_to_none(app_name),
        proc_id: nil_to_none(proc_id),
        msg_id: nil_to_none(msg_id),
        structured_data_text,
        structured_data,
        message: message.to_string(),
    })
}

/// Splits header fields off the front of the text, one space after each.
struct HeaderFields<'a> {
    rest: &'a str,
}

impl<'a> HeaderFields<'a> {
    fn next(&mut self, field: &'static str) -> Result<&'a str, ParseError> {
        let Some(space) = self.rest.find(' ') else {
            return Err(ParseError::MissingField { field });
        };
        let value = &self.rest[..space];
        if value.is_empty() {
            return Err(ParseError::MissingField { field });
        }
        self.rest = &self.rest[space + 1..];
        Ok(value)
    }
}

fn nil_to_none(value: &str) -> Option<String> {
    (value != "-").then(|| value.to_string())
}

/// Parses an RFC 3339 timestamp, `-` as none. The offset is applied, so
/// the result is UTC.
pub fn parse_timestamp(text: &str) -> Result<Option<i64>, ParseError> {
    if text == "-" {
        return Ok(None);
    }
    // chrono also accepts a space or lower-case `t` between date and time,
    // which RFC 5424 forbids; insist on the RFC's `T`.
    if text.as_bytes().get(10) != Some(&b'T') {
        return Err(ParseError::InvalidTimestamp {
            text: text.to_string(),
        });
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|time| Some(ticks_of(&time)))
        .map_err(|_| ParseError::InvalidTimestamp {
            text: text.to_string(),
        })
}

/// Parses STRUCTURED-DATA at the start of `text`: `-` or one or more
/// `[SD-ID PARAM="VALUE" ...]` elements. Returns the elements and the
/// length of the structured-data text.
fn parse_structured_data(
    text: &str,
    max_fields: usize,
) -> Result<(Vec<SdElement>, usize), ParseError> {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(b'-') => return Ok((Vec::new(), 1)),
        Some(b'[') => {}
        _ => {
            return Err(ParseError::InvalidStructuredData {
                offset: 0,
                reason: "expected `-` or `[`",
            });
        }
    }

    let mut elements = Vec::new();
    let mut params = 0usize;
    let mut pos = 0;
    while bytes.get(pos) == Some(&b'[') {
        pos += 1;
        let (id, after_id) = read_sd_name(text, pos, "expected an SD-ID after `[`")?;
        pos = after_id;
        let mut element = SdElement {
            id: id.to_string(),
            params: Vec::new(),
        };
        loop {
            match bytes.get(pos) {
                Some(b']') => {
                    pos += 1;
                    break;
                }
                Some(b' ') => pos += 1,
                _ => {
                    return Err(ParseError::InvalidStructuredData {
                        offset: pos,
                        reason: "expected a space or `]` in a structured-data element",
                    });
                }
            }
            let (name, after_name) = read_sd_name(text, pos, "expected a parameter name")?;
            pos = after_name;
            if bytes.get(pos) != Some(&b'=') || bytes.get(pos + 1) != Some(&b'"') {
                return Err(ParseError::InvalidStructuredData {
                    offset: pos,
                    reason: "expected `=\"` after a parameter name",
                });
            }
            pos += 2;
            let (value, after_value) = read_param_value(text, pos)?;
            pos = after_value;
            params += 1;
            if params > max_fields {
                return Err(ParseError::TooManyFields {
                    count: params,
                    max: max_fields,
                });
            }
            element.params.push((name.to_string(), value));
        }
        elements.push(element);
    }
    Ok((elements, pos))
}

/// Reads an SD-NAME: 1 to 32 printable ASCII characters except `=`, space,
/// `]` and `"`.
fn read_sd_name<'a>(
    text: &'a str,
    start: usize,
    reason: &'static str,
) -> Result<(&'a str, usize), ParseError> {
    let bytes = text.as_bytes();
    let mut end = start;
    while let Some(&b) = bytes.get(end) {
        if !(33..=126).contains(&b) || matches!(b, b'=' | b']' | b'"') {
            break;
        }
        end += 1;
    }
    if end == start || end - start > 32 {
        return Err(ParseError::InvalidStructuredData {
            offset: start,
            reason,
        });
    }
    Ok((&text[start..end], end))
}

/// Reads a PARAM-VALUE after its opening quote, unescaping `\"`, `\\` and
/// `\]`. A backslash before any other character is kept, as the RFC specifies.
fn read_param_value(text: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut value = String::new();
    let mut chars = text[start..].char_indices();
    while let Some((offset, ch)) = chars.next() {
        match ch {
            '"' => return Ok((value, start + offset + 1)),
            '\\' => match chars.next() {
                Some((_, escaped @ ('"' | '\\' | ']'))) => value.push(escaped),
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => break,
            },
            other => value.push(other),
        }
    }
    Err(ParseError::InvalidStructuredData {
        offset: start,
        reason: "a parameter value has no closing quote",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syslog::message::split_pri;

    fn parse_message(text: &str) -> Result<SyslogMessage, ParseError> {
        let (pri, rest) = split_pri(text)?.expect("test message has a PRI");
        parse(pri, rest, 100)
    }

    fn ticks(rfc3339: &str) -> i64 {
        ticks_of(&chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap())
    }

    #[test]
    fn rfc_example_1_without_structured_data() {
        // RFC 5424 section 6.5, example 1, with the BOM before the MSG.
        let text = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8";
        let message = parse_message(text).unwrap();
        assert_eq!(message.facility, 4);
        assert_eq!(message.severity, 2);
        assert_eq!(
            message.timestamp_ticks,
            Some(ticks("2003-10-11T22:14:15.003Z"))
        );
        assert_eq!(message.hostname.as_deref(), Some("mymachine.example.com"));
        assert_eq!(message.app_name.as_deref(), Some("su"));
        assert_eq!(message.proc_id, None);
        assert_eq!(message.msg_id.as_deref(), Some("ID47"));
        assert!(message.structured_data.is_empty());
        assert_eq!(
            message.message,
            "'su root' failed for lonvick on /dev/pts/8"
        );
    }

    #[test]
    fn rfc_example_2_offset_and_microseconds() {
        let text = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.";
        let message = parse_message(text).unwrap();
        assert_eq!(message.facility, 20);
        assert_eq!(message.severity, 5);
        assert_eq!(
            message.timestamp_ticks,
            Some(ticks("2003-08-24T12:14:15.000003Z"))
        );
        assert_eq!(message.proc_id.as_deref(), Some("8710"));
        assert_eq!(message.msg_id, None);
        assert_eq!(message.message, "%% It's time to make the do-nuts.");
    }

    #[test]
    fn rfc_example_3_structured_data_and_message() {
        let text = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \u{feff}An application event log entry...";
        let message = parse_message(text).unwrap();
        assert_eq!(message.structured_data.len(), 1);
        let element = &message.structured_data[0];
        assert_eq!(element.id, "exampleSDID@32473");
        assert_eq!(
            element.params,
            vec![
                ("iut".to_string(), "3".to_string()),
                ("eventSource".to_string(), "Application".to_string()),
                ("eventID".to_string(), "1011".to_string()),
            ]
        );
        assert_eq!(
            message.structured_data_text.as_deref(),
            Some("[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]")
        );
        assert_eq!(message.message, "An application event log entry...");
    }

    #[test]
    fn rfc_example_4_two_elements_no_message() {
        let text = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]";
        let message = parse_message(text).unwrap();
        assert_eq!(message.structured_data.len(), 2);
        assert_eq!(message.structured_data[1].id, "examplePriority@32473");
        assert_eq!(message.message, "");
    }

    #[test]
    fn escaped_param_values() {
        let text = r#"<13>1 - host app - - [a@1 q="say \"hi\"" b="back\\slash" c="close\]" d="keep\n"] msg"#;
        let message = parse_message(text).unwrap();
        let params = &message.structured_data[0].params;
        assert_eq!(params[0].1, "say \"hi\"");
        assert_eq!(params[1].1, "back\\slash");
        assert_eq!(params[2].1, "close]");
        assert_eq!(params[3].1, "keep\\n");
    }

    #[test]
    fn nil_values_everywhere() {
        let message = parse_message("<14>1 - - - - - -").unwrap();
        assert_eq!(message.timestamp_ticks, None);
        assert_eq!(message.hostname, None);
        assert_eq!(message.app_name, None);
        assert_eq!(message.message, "");
    }

    #[test]
    fn logger_rfc5424_message() {
        // util-linux 2.38 `logger --rfc5424` output.
        let text = "<13>1 2026-12-05T02:40:00.123456+00:00 web01 root 4242 - [timeQuality tzKnown=\"1\" isSynced=\"0\"] hello from logger";
        let message = parse_message(text).unwrap();
        assert_eq!(message.app_name.as_deref(), Some("root"));
        assert_eq!(message.proc_id.as_deref(), Some("4242"));
        assert_eq!(message.structured_data[0].id, "timeQuality");
        assert_eq!(message.message, "hello from logger");
    }

    #[test]
    fn truncated_headers_fail() {
        for text in [
            "<13>1",
            "<13>1 ",
            "<13>1 2003-10-11T22:14:15Z",
            "<13>1 2003-10-11T22:14:15Z host app pid",
            "<13>1 2003-10-11T22:14:15Z host app pid msgid",
        ] {
            assert!(
                matches!(parse_message(text), Err(ParseError::MissingField { .. })),
                "{text}: {:?}",
                parse_message(text)
            );
        }
    }

    #[test]
    fn invalid_timestamps_fail() {
        for text in [
            "<13>1 2003-10-11 host app - - - x",
            "<13>1 2003-13-11T22:14:15Z host app - - - x",
            "<13>1 2003-10-11t22:14:15Z host app - - - x",
            "<13>1 yesterday host app - - - x",
        ] {
            assert!(
                matches!(
                    parse_message(text),
                    Err(ParseError::InvalidTimestamp { .. })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn invalid_structured_data_fails() {
        for text in [
            "<13>1 - h a - - [id x=\"1\" msg",
            "<13>1 - h a - - [id x=1] msg",
            "<13>1 - h a - - [] msg",
            "<13>1 - h a - - [id]msg",
            "<13>1 - h a - - x msg",
        ] {
            assert!(
                matches!(
                    parse_message(text),
                    Err(ParseError::InvalidStructuredData { .. })
                ),
                "{text}: {:?}",
                parse_message(text)
            );
        }
    }

    #[test]
    fn too_many_params_fail() {
        let params: String = (0..5).map(|i| format!(" p{i}=\"v\"")).collect();
        let text = format!("1 - h a - - [id{params}] msg");
        assert_eq!(
            parse(13, &text, 4),
            Err(ParseError::TooManyFields { count: 5, max: 4 })
        );
        assert!(parse(13, &text, 5).is_ok());
    }

    #[test]
    fn version_detection() {
        assert!(looks_like_rfc5424("1 2003-10-11T22:14:15Z"));
        assert!(!looks_like_rfc5424("Oct 11 22:14:15 host"));
        assert!(!looks_like_rfc5424("2003-10-11T22:14:15Z host"));
        assert!(!looks_like_rfc5424("1"));
    }
}
