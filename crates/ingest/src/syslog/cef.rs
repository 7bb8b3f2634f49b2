//! ArcSight Common Event Format (CEF) messages:
//! `CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class ID|Name|Severity|Extension`.
//!
//! In the header, `\|` and `\\` stand for `|` and `\`. The extension is
//! space-separated `key=value` pairs whose values may contain spaces; a
//! value ends where the next ` key=` starts. In values, `\=`, `\\`, `\n`
//! and `\r` stand for `=`, `\`, a newline and a carriage return. Many
//! devices also escape `|` in values or leave `=` unescaped (URLs with
//! query strings), so an `=` counts as a key's only when the word before
//! it is a valid key name (letters, digits, `_`, `.`, `-`, `[`, `]`).

use super::error::ParseError;

/// A parsed CEF event: the seven header fields, unescaped, and the
/// extension pairs in message order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CefEvent {
    pub version: String,
    pub device_vendor: String,
    pub device_product: String,
    pub device_version: String,
    pub device_event_class_id: String,
    pub name: String,
    pub severity: String,
    /// Extension pairs. Text before the first key, which no valid CEF has,
    /// is kept under the empty key.
    pub extensions: Vec<(String, String)>,
}

/// Returns the CEF text in a syslog MSG: the message from its `CEF:` on,
/// when the message starts with `CEF:` after optional spaces.
pub fn find_cef(message: &str) -> Option<&str> {
    let trimmed = message.trim_start();
    trimmed.starts_with("CEF:").then_some(trimmed)
}

/// Parses a CEF message that starts with `CEF:`. `max_fields` bounds the
/// number of extension pairs.
pub fn parse(text: &str, max_fields: usize) -> Result<CefEvent, ParseError> {
    let Some(body) = text.strip_prefix("CEF:") else {
        return Err(ParseError::InvalidCef {
            reason: "the message does not start with `CEF:`".to_string(),
        });
    };

    let (header, extension) = split_header(body)?;
    let [
        version,
        vendor,
        product,
        device_version,
        class_id,
        name,
        severity,
    ] = header;
    let version = version.trim().to_string();
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(ParseError::InvalidCef {
            reason: format!("version `{version}` is not a number such as 0 or 1"),
        });
    }

    Ok(CefEvent {
        version,
        device_vendor: vendor,
        device_product: product,
        device_version,
        device_event_class_id: class_id,
        name,
        severity: severity.trim().to_string(),
        extensions: parse_extension(extension, max_fields)?,
    })
}

/// Splits the seven header fields off at unescaped `|` and returns them
/// unescaped, with the extension text after the seventh `|`. A message with
/// only six `|` (no extension) has an empty extension.
fn split_header(body: &str) -> Result<([String; 7], &str), ParseError> {
    let mut fields: Vec<String> = Vec::with_capacity(7);
    let mut current = String::new();
    let mut chars = body.char_indices();
    while let Some((offset, ch)) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some((_, escaped @ ('|' | '\\'))) => current.push(escaped),
                Some((_, other)) => {
                    current.push('\\');
                    current.push(other);
                }
                None => current.push('\\'),
            },
            '|' => {
                fields.push(std::mem::take(&mut current));
                if fields.len() == 7 {
                    let header: [String; 7] = fields.try_into().expect("seven fields");
                    return Ok((header, &body[offset + 1..]));
                }
            }
            other => current.push(other),
        }
    }
    if fields.len() == 6 {
        fields.push(current);
        let header: [String; 7] = fields.try_into().expect("seven fields");
        return Ok((header, ""));
    }
    Err(ParseError::InvalidCef {
        reason: format!(
            "found {} header fields, expected 7 separated by `|` \
             (Version|Vendor|Product|Version|ClassID|Name|Severity)",
            fields.len() + 1
        ),
    })
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']')
}

/// Returns true when the byte at `index` is escaped by an odd number of
/// backslashes before it.
fn is_escaped(bytes: &[u8], index: usize) -> bool {
    let backslashes = bytes[..index]
        .iter()
        .rev()
        .take_while(|&&b| b == b'\\')
        .count();
    backslashes % 2 == 1
}

/// Parses the extension into pairs.
fn parse_extension(text: &str, max_fields: usize) -> Result<Vec<(String, String)>, ParseError> {
    let bytes = text.as_bytes();

    // Each key starts after a space (or at the start) and ends at an
    // unescaped `=`.
    let mut keys: Vec<(usize, usize)> = Vec::new();
    for (eq, _) in text.match_indices('=') {
        if is_escaped(bytes, eq) {
            continue;
        }
        let key_start = bytes[..eq]
            .iter()
            .rposition(|&b| b == b' ')
            .map_or(0, |space| space + 1);
        let key = &bytes[key_start..eq];
        if key.is_empty() || !key.iter().all(|&b| is_key_byte(b)) {
            continue;
        }
        // `a=b=c`: the second `=` is inside the first key's value.
        if keys
            .last()
            .is_some_and(|&(_, last_eq)| last_eq >= key_start)
        {
            continue;
        }
        keys.push((key_start, eq));
        if keys.len() > max_fields {
            return Err(ParseError::TooManyFields {
                count: keys.len(),
                max: max_fields,
            });
        }
    }

    let mut pairs = Vec::with_capacity(keys.len() + 1);
    let leading_end = keys.first().map_or(text.len(), |&(start, _)| start);
    let leading = text[..leading_end].trim();
    if !leading.is_empty() {
        pairs.push((String::new(), unescape_value(leading)));
    }
    for (index, &(key_start, eq)) in keys.iter().enumerate() {
        let value_end = keys.get(index + 1).map_or(text.len(), |&(next, _)| next);
        let value = text[eq + 1..value_end].trim_end_matches([' ', '\t', '\r', '\n']);
        pairs.push((text[key_start..eq].to_string(), unescape_value(value)));
    }
    Ok(pairs)
}

/// Unescapes an extension value.
fn unescape_value(value: &str) -> String {
    if !value.contains('\\') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('=') => out.push('='),
            Some('\\') => out.push('\\'),
            Some('|') => out.push('|'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(event: &CefEvent) -> Vec<(&str, &str)> {
        event
            .extensions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn arcsight_spec_example() {
        // The example of the ArcSight CEF implementation standard.
        let event = parse(
            "CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232",
            100,
        )
        .unwrap();
        assert_eq!(event.version, "0");
        assert_eq!(event.device_vendor, "Security");
        assert_eq!(event.device_product, "threatmanager");
        assert_eq!(event.device_version, "1.0");
        assert_eq!(event.device_event_class_id, "100");
        assert_eq!(event.name, "worm successfully stopped");
        assert_eq!(event.severity, "10");
        assert_eq!(
            pairs(&event),
            vec![("src", "10.0.0.1"), ("dst", "2.1.2.2"), ("spt", "1232")]
        );
    }

    #[test]
    fn escaped_pipes_in_header() {
        let event = parse(
            r"CEF:0|security|threatmanager|1.0|100|detected a \| in message|10|src=10.0.0.1 act=blocked a | dst=1.1.1.1",
            100,
        )
        .unwrap();
        assert_eq!(event.name, "detected a | in message");
        assert_eq!(
            pairs(&event),
            vec![
                ("src", "10.0.0.1"),
                ("act", "blocked a |"),
                ("dst", "1.1.1.1")
            ]
        );
    }

    #[test]
    fn escaped_backslash_and_equals_in_values() {
        let event = parse(
            r"CEF:0|security|threatmanager|1.0|100|detected a \\ in packet|10|src=10.0.0.1 act=blocked a \\ dst=1.1.1.1 msg=a\=b line1\nline2",
            100,
        )
        .unwrap();
        assert_eq!(event.name, r"detected a \ in packet");
        assert_eq!(
            pairs(&event),
            vec![
                ("src", "10.0.0.1"),
                ("act", r"blocked a \"),
                ("dst", "1.1.1.1"),
                ("msg", "a=b line1\nline2"),
            ]
        );
    }

    #[test]
    fn spaces_in_values_and_unescaped_equals_in_urls() {
        let event = parse(
            "CEF:0|Palo Alto Networks|PAN-OS|10.1.0|url|URL filtering|3|request=http://example.com/a?x=1&y=2 suser=CORP\\alice cs1Label=Rule Name cs1=allow web out",
            100,
        )
        .unwrap();
        assert_eq!(event.device_vendor, "Palo Alto Networks");
        assert_eq!(
            pairs(&event),
            vec![
                ("request", "http://example.com/a?x=1&y=2"),
                ("suser", "CORP\\alice"),
                ("cs1Label", "Rule Name"),
                ("cs1", "allow web out"),
            ]
        );
    }

    #[test]
    fn no_extension() {
        let event = parse("CEF:1|Vendor|Product|2|sig|Name|Low|", 100).unwrap();
        assert_eq!(event.version, "1");
        assert_eq!(event.severity, "Low");
        assert!(event.extensions.is_empty());
        let event = parse("CEF:0|Vendor|Product|2|sig|Name|5", 100).unwrap();
        assert_eq!(event.severity, "5");
        assert!(event.extensions.is_empty());
    }

    #[test]
    fn text_before_first_key_is_kept() {
        let event = parse("CEF:0|V|P|1|s|n|1|garbage here src=1.2.3.4", 100).unwrap();
        assert_eq!(
            pairs(&event),
            vec![("", "garbage here"), ("src", "1.2.3.4")]
        );
    }

    #[test]
    fn short_headers_fail() {
        for text in ["CEF:0|V|P|1|s|n", "CEF:0", "CEF:", "CEF:x|V|P|1|s|n|1|"] {
            assert!(
                matches!(parse(text, 100), Err(ParseError::InvalidCef { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn too_many_pairs_fail() {
        let extension: Vec<String> = (0..10).map(|i| format!("k{i}=v")).collect();
        let text = format!("CEF:0|V|P|1|s|n|1|{}", extension.join(" "));
        assert_eq!(
            parse(&text, 9),
            Err(ParseError::TooManyFields { count: 10, max: 9 })
        );
        assert_eq!(parse(&text, 10).unwrap().extensions.len(), 10);
    }

    #[test]
    fn find_cef_in_syslog_message() {
        assert_eq!(find_cef("  CEF:0|a"), Some("CEF:0|a"));
        assert_eq!(find_cef("not CEF:0|a"), None);
    }
}
