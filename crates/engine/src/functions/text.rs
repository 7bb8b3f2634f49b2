//! String functions computed row by row over JSON values: regular
//! expression extraction, counting, multi-replacement, character
//! translation, Base64, URL encoding and hashes.

use std::cell::RefCell;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use regex::Regex;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::JsonFunction;
use kql::KqlType;

pub const TEXT_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new("extract_all", 2, 3, KqlType::Dynamic, extract_all),
    JsonFunction::new("countof", 2, 3, KqlType::Long, countof),
    JsonFunction::new("replace_strings", 3, 3, KqlType::String, replace_strings),
    JsonFunction::new("translate", 3, 3, KqlType::String, translate),
    JsonFunction::new(
        "base64_encode_tostring",
        1,
        1,
        KqlType::String,
        base64_encode_tostring,
    ),
    JsonFunction::new(
        "base64_decode_tostring",
        1,
        1,
        KqlType::String,
        base64_decode_tostring,
    ),
    JsonFunction::new("url_encode", 1, 1, KqlType::String, url_encode),
    JsonFunction::new("url_encode_component", 1, 1, KqlType::String, url_encode),
    JsonFunction::new("url_decode", 1, 1, KqlType::String, url_decode),
    JsonFunction::new("hash", 1, 2, KqlType::Long, hash_xxhash64),
    JsonFunction::new("hash_xxhash64", 1, 2, KqlType::Long, hash_xxhash64),
    JsonFunction::new("hash_sha256", 1, 1, KqlType::String, hash_sha256),
    JsonFunction::new("regex_quote", 1, 1, KqlType::String, regex_quote),
    JsonFunction::new("strcmp", 2, 2, KqlType::Long, strcmp),
    JsonFunction::new("string_size", 1, 1, KqlType::Long, string_size),
    JsonFunction::new("toguid", 1, 1, KqlType::Guid, to_guid),
    JsonFunction::new(
        "base64_decode_toarray",
        1,
        1,
        KqlType::Dynamic,
        base64_decode_toarray,
    ),
    JsonFunction::new(
        "base64_encode_fromarray",
        1,
        1,
        KqlType::String,
        base64_encode_fromarray,
    ),
    JsonFunction::new(
        "unicode_codepoints_from_string",
        1,
        1,
        KqlType::Dynamic,
        unicode_codepoints_from_string,
    ),
    JsonFunction::new(
        "unicode_codepoints_to_string",
        1,
        64,
        KqlType::String,
        unicode_codepoints_to_string,
    ),
    JsonFunction::new("range", 2, 3, KqlType::Dynamic, number_range),
    JsonFunction::new("parse_csv", 1, 1, KqlType::Dynamic, parse_csv),
    JsonFunction::new("indexof", 2, 5, KqlType::Long, index_of),
    JsonFunction::new("indexof_regex", 2, 5, KqlType::Long, index_of_regex),
    JsonFunction::new("parse_version", 1, 1, KqlType::Decimal, parse_version),
];

/// The maximum number of elements that `range()` returns.
const RANGE_LIMIT: usize = 1_048_576;

/// Returns the text a value is hashed or encoded as: a string as it is,
/// null as "", anything else as its JSON text.
pub(crate) fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

thread_local! {
    /// The last regular expression each worker thread compiled: a column of
    /// rows nearly always repeats one pattern.
    static LAST_REGEX: RefCell<Option<(String, Regex)>> = const { RefCell::new(None) };
}

/// Compiles `pattern`, reusing the previous compilation when it is the
/// same pattern. Returns `None` for an invalid pattern.
fn with_regex<T>(pattern: &str, body: impl FnOnce(&Regex) -> T) -> Option<T> {
    LAST_REGEX.with(|cell| {
        let mut last = cell.borrow_mut();
        if last.as_ref().is_none_or(|(cached, _)| cached != pattern) {
            *last = Some((pattern.to_string(), Regex::new(pattern).ok()?));
        }
        last.as_ref().map(|(_, regex)| body(regex))
    })
}

/// `extract_all(regex, [captureGroups,] text)`: every match, as an array of
/// the one capture group's text, or of arrays when the regex or the
/// `captureGroups` list selects several groups. A regex without groups
/// yields the whole matches. `captureGroups` lists group numbers or names.
fn extract_all(args: &[Value]) -> Value {
    let pattern = text_of(&args[0]);
    let (groups, text) = match args {
        [_, groups, text] => (Some(groups), text_of(text)),
        [_, text] => (None, text_of(text)),
        _ => return Value::Null,
    };
    let result = with_regex(&pattern, |regex| {
        let selected: Vec<Value> = match groups {
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Value::Null,
            None if regex.captures_len() > 1 => {
                (1..regex.captures_len()).map(Value::from).collect()
            }
            None => vec![Value::from(0)],
        };
        let mut matches = Vec::new();
        for captures in regex.captures_iter(&text) {
            let mut values = Vec::with_capacity(selected.len());
            for group in &selected {
                let found = match group {
                    Value::Number(n) => n.as_u64().and_then(|i| captures.get(i as usize)),
                    Value::String(name) => captures.name(name),
                    _ => None,
                };
                values.push(found.map_or(Value::String(String::new()), |m| {
                    Value::String(m.as_str().to_string())
                }));
            }
            if values.len() == 1 {
                matches.push(values.remove(0));
            } else {
                matches.push(Value::Array(values));
            }
        }
        if matches.is_empty() {
            Value::Null
        } else {
            Value::Array(matches)
        }
    });
    result.unwrap_or(Value::Null)
}

/// `countof(text, search [, kind])`: with kind `normal` (the default)
/// overlapping occurrences count, with `regex` the non-overlapping matches.
fn countof(args: &[Value]) -> Value {
    let text = text_of(&args[0]);
    let search = text_of(&args[1]);
    let kind = args.get(2).map(text_of).unwrap_or_default();
    if kind == "regex" {
        return with_regex(&search, |regex| Value::from(regex.find_iter(&text).count()))
            .unwrap_or(Value::Null);
    }
    if search.is_empty() {
        return Value::from(0);
    }
    let count = text
        .char_indices()
        .filter(|(start, _)| text[*start..].starts_with(&search))
        .count();
    Value::from(count)
}

/// `replace_strings(text, lookups, replacements)`: the lookups apply in
/// their order, and a later lookup only matches in the text that earlier
/// ones left unreplaced.
fn replace_strings(args: &[Value]) -> Value {
    let text = text_of(&args[0]);
    let (Value::Array(lookups), Value::Array(replacements)) = (&args[1], &args[2]) else {
        return Value::Null;
    };
    let pairs: Vec<(String, String)> = lookups
        .iter()
        .enumerate()
        .map(|(i, lookup)| {
            let replacement = replacements.get(i).map(text_of).unwrap_or_default();
            (text_of(lookup), replacement)
        })
        .collect();
    Value::String(replace_in_order(&text, &pairs))
}

fn replace_in_order(text: &str, pairs: &[(String, String)]) -> String {
    let Some(((lookup, replacement), rest)) = pairs.split_first() else {
        return text.to_string();
    };
    if lookup.is_empty() {
        return replace_in_order(text, rest);
    }
    let pieces: Vec<String> = text
        .split(lookup.as_str())
        .map(|piece| replace_in_order(piece, rest))
        .collect();
    pieces.join(replacement)
}

/// `translate(searchList, replacementList, text)`: each character of
/// `searchList` becomes the character at the same position of
/// `replacementList`, or its last character when that list is shorter.
/// An empty `replacementList` removes the characters.
fn translate(args: &[Value]) -> Value {
    let search: Vec<char> = text_of(&args[0]).chars().collect();
    let replacement: Vec<char> = text_of(&args[1]).chars().collect();
    let text = text_of(&args[2]);
    let translated: String = text
        .chars()
        .filter_map(|c| match search.iter().position(|s| *s == c) {
            None => Some(c),
            Some(_) if replacement.is_empty() => None,
            Some(i) => Some(replacement[i.min(replacement.len() - 1)]),
        })
        .collect();
    Value::String(translated)
}

fn base64_encode_tostring(args: &[Value]) -> Value {
    Value::String(BASE64.encode(text_of(&args[0])))
}

/// Decodes Base64 into UTF-8 text; input that is not Base64 or does not
/// decode to UTF-8 gives null.
fn base64_decode_tostring(args: &[Value]) -> Value {
    let encoded = text_of(&args[0]);
    BASE64
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map_or(Value::Null, Value::String)
}

/// Percent-encodes every byte except ASCII letters, digits and `-_.~`.
fn url_encode(args: &[Value]) -> Value {
    let text = text_of(&args[0]);
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Value::String(encoded)
}

/// Decodes `%XX` escapes and `+` as a space; malformed escapes stay as
/// they are. Returns `None` when the bytes are not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escape) {
            (_, Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                i += 1;
            }
            (byte, None) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// `url_decode(text)`; bytes that are not UTF-8 give null.
fn url_decode(args: &[Value]) -> Value {
    percent_decode(&text_of(&args[0])).map_or(Value::Null, Value::String)
}

/// `hash(value [, mod])`: XXH64 with seed 0 over the value's UTF-8 text,
/// as a signed long; with `mod`, the hash modulo `mod` (never negative).
fn hash_xxhash64(args: &[Value]) -> Value {
    let digest = twox_hash::XxHash64::oneshot(0, text_of(&args[0]).as_bytes()) as i64;
    match args.get(1) {
        None => Value::from(digest),
        Some(modulo) => match modulo.as_i64() {
            Some(m) if m > 0 => Value::from(digest.rem_euclid(m)),
            _ => Value::Null,
        },
    }
}

/// `hash(value [, mod])` of a datetime or timespan, whose ticks arrive as
/// longs: XXH64 with seed 0 over the 8 little-endian bytes of .NET ticks
/// (a datetime counts from 0001-01-01, not from 1970), as Kusto computes
/// it. `offset` is what to add to the engine's ticks for that: the ticks
/// from 0001-01-01 to 1970-01-01 for a datetime, 0 for a timespan.
pub fn hash_ticks(
    args: Vec<datafusion::logical_expr::Expr>,
    offset: i64,
) -> datafusion::logical_expr::Expr {
    use arrow::array::{ArrayRef, Int64Array};
    let body: crate::udf::ArrayFn = std::sync::Arc::new(move |arrays: &[ArrayRef]| {
        let ticks = super::int64(&arrays[0])?;
        let modulo = arrays.get(1).map(super::int64).transpose()?;
        let out: Int64Array = (0..ticks.len())
            .map(|row| {
                let value = super::long_at(&ticks, row)?.wrapping_add(offset);
                let digest = twox_hash::XxHash64::oneshot(0, &value.to_le_bytes()) as i64;
                match &modulo {
                    None => Some(digest),
                    Some(modulo) => super::long_at(modulo, row)
                        .filter(|m| *m > 0)
                        .map(|m| digest.rem_euclid(m)),
                }
            })
            .collect();
        Ok(std::sync::Arc::new(out) as ArrayRef)
    });
    crate::udf::call(
        &format!("hash_ticks_{offset}"),
        arrow::datatypes::DataType::Int64,
        false,
        body,
        args,
    )
}

fn hash_sha256(args: &[Value]) -> Value {
    let digest = Sha256::digest(text_of(&args[0]).as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    Value::String(hex)
}

/// `regex_quote(text)`: the text with every regular expression
/// metacharacter escaped.
fn regex_quote(args: &[Value]) -> Value {
    Value::String(regex::escape(&text_of(&args[0])))
}

/// `strcmp(a, b)`: -1, 0 or 1 by ordinal (case-sensitive) order.
fn strcmp(args: &[Value]) -> Value {
    let order = text_of(&args[0]).cmp(&text_of(&args[1]));
    Value::from(order as i64)
}

/// `string_size(text)`: the length of the text in UTF-8 bytes.
fn string_size(args: &[Value]) -> Value {
    Value::from(text_of(&args[0]).len() as i64)
}

/// `toguid(value)`: the GUID in the value (32 hexadecimal digits, with or
/// without dashes and braces) in the lowercase 8-4-4-4-12 form, or null.
fn to_guid(args: &[Value]) -> Value {
    let text = text_of(&args[0]);
    let digits: String = text
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if digits.len() != 32 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Value::Null;
    }
    let digits = digits.to_ascii_lowercase();
    Value::String(format!(
        "{}-{}-{}-{}-{}",
        &digits[..8],
        &digits[8..12],
        &digits[12..16],
        &digits[16..20],
        &digits[20..]
    ))
}

/// `base64_decode_toarray(text)`: the decoded bytes as an array of
/// numbers, or null when the text is not padded Base64.
fn base64_decode_toarray(args: &[Value]) -> Value {
    BASE64
        .decode(text_of(&args[0]).trim())
        .map_or(Value::Null, |bytes| {
            Value::Array(bytes.into_iter().map(Value::from).collect())
        })
}

/// `base64_encode_fromarray(array)`: the Base64 text of an array of byte
/// values, or "" when the value is not such an array.
fn base64_encode_fromarray(args: &[Value]) -> Value {
    let bytes: Option<Vec<u8>> = args[0].as_array().and_then(|items| {
        items
            .iter()
            .map(|item| item.as_u64().and_then(|byte| u8::try_from(byte).ok()))
            .collect()
    });
    Value::String(bytes.map(|bytes| BASE64.encode(bytes)).unwrap_or_default())
}

/// `unicode_codepoints_from_string(text)`: the text's Unicode code points.
fn unicode_codepoints_from_string(args: &[Value]) -> Value {
    Value::Array(
        text_of(&args[0])
            .chars()
            .map(|c| Value::from(u32::from(c)))
            .collect(),
    )
}

/// `unicode_codepoints_to_string(values...)`: the text of the code points
/// in the arguments, each a number or an array of numbers; null when one
/// is not a valid code point.
fn unicode_codepoints_to_string(args: &[Value]) -> Value {
    let mut text = String::new();
    for arg in args {
        let values = match arg {
            Value::Array(items) => items.as_slice(),
            other => std::slice::from_ref(other),
        };
        for value in values {
            let Some(c) = value
                .as_u64()
                .and_then(|code| u32::try_from(code).ok())
                .and_then(char::from_u32)
            else {
                return Value::Null;
            };
            text.push(c);
        }
    }
    Value::String(text)
}

/// `range(start, stop [, step])`: the numbers from `start` through `stop`
/// in steps of `step` (1 by default), as an array of at most
/// [`RANGE_LIMIT`] numbers; null for a zero step or non-numeric bounds.
fn number_range(args: &[Value]) -> Value {
    let step = args.get(2).cloned().unwrap_or(Value::from(1));
    if let (Some(start), Some(stop), Some(step)) =
        (args[0].as_i64(), args[1].as_i64(), step.as_i64())
    {
        if step == 0 {
            return Value::Null;
        }
        let mut items = Vec::new();
        let mut value = start;
        while (step > 0 && value <= stop) || (step < 0 && value >= stop) {
            if items.len() == RANGE_LIMIT {
                break;
            }
            items.push(Value::from(value));
            let Some(next) = value.checked_add(step) else {
                break;
            };
            value = next;
        }
        return Value::Array(items);
    }
    let (Some(start), Some(stop), Some(step)) = (args[0].as_f64(), args[1].as_f64(), step.as_f64())
    else {
        return Value::Null;
    };
    if step == 0.0 || !step.is_finite() {
        return Value::Null;
    }
    let mut items = Vec::new();
    let mut index = 0.0;
    loop {
        let value = start + index * step;
        let inside = if step > 0.0 {
            value <= stop
        } else {
            value >= stop
        };
        if !inside || items.len() == RANGE_LIMIT {
            break;
        }
        items.push(Value::from(value));
        index += 1.0;
    }
    Value::Array(items)
}

/// `parse_csv(text)`: the fields of the first CSV record of the text
/// (comma-separated, with double-quoted fields), as an array of strings.
fn parse_csv(args: &[Value]) -> Value {
    let text = text_of(&args[0]);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Value::Array(record.iter().map(Value::from).collect()),
        Ok(false) => Value::Array(vec![Value::from("")]),
        Err(_) => Value::Null,
    }
}

/// Reads the optional `start`, `length` and `occurrence` arguments of
/// `indexof` and `indexof_regex` (defaults 0, -1 and 1); `None` when one is
/// not an integer.
fn search_args(args: &[Value]) -> Option<(i64, i64, i64)> {
    let number = |index: usize, default: i64| match args.get(index) {
        None => Some(default),
        Some(value) => value.as_i64(),
    };
    Some((number(2, 0)?, number(3, -1)?, number(4, 1)?))
}

/// `indexof(text, lookup [, start [, length [, occurrence]]])`: the
/// character index of the `occurrence`-th match of `lookup` that lies
/// within `length` characters from where each search starts (`-1` for no
/// limit), or -1. A negative `start` counts from the end. Each search after
/// a match starts one character after it, with the same `length`.
fn index_of(args: &[Value]) -> Value {
    let text: Vec<char> = text_of(&args[0]).chars().collect();
    let lookup: Vec<char> = text_of(&args[1]).chars().collect();
    let Some((start, length, occurrence)) = search_args(args) else {
        return Value::Null;
    };
    if occurrence < 1 {
        return Value::Null;
    }
    let len = text.len() as i64;
    let mut from = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let mut found = 0;
    while from <= len {
        let end = if length < 0 {
            len
        } else {
            (from + length).min(len)
        };
        let window_end = usize::try_from(end).unwrap_or(0);
        let window_start = usize::try_from(from).unwrap_or(0);
        let position = (window_start..=window_end.saturating_sub(lookup.len())).find(|&at| {
            at + lookup.len() <= window_end && text[at..at + lookup.len()] == lookup[..]
        });
        let Some(at) = position else {
            return Value::from(-1);
        };
        found += 1;
        if found == occurrence {
            return Value::from(at as i64);
        }
        from = at as i64 + 1;
    }
    Value::from(-1)
}

/// `indexof_regex(text, regex [, start [, length [, occurrence]]])`: the
/// character index of the `occurrence`-th match of `regex` among the
/// non-overlapping matches within `length` characters from `start` (`-1`
/// for no limit), or -1. A negative `start` or `occurrence` below 1 gives
/// null, as does an invalid regex.
fn index_of_regex(args: &[Value]) -> Value {
    let text = text_of(&args[0]);
    let Some((start, length, occurrence)) = search_args(args) else {
        return Value::Null;
    };
    let (Ok(start), Ok(occurrence)) = (usize::try_from(start), usize::try_from(occurrence)) else {
        return Value::Null;
    };
    if occurrence < 1 {
        return Value::Null;
    }
    let byte_at = |chars: usize| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(byte, _)| byte)
    };
    let from = byte_at(start);
    let to = match usize::try_from(length) {
        Ok(length) => byte_at(start.saturating_add(length)),
        Err(_) => text.len(),
    };
    let window = &text[from..to];
    let found = with_regex(&text_of(&args[1]), |regex| {
        regex
            .find_iter(window)
            .nth(occurrence - 1)
            .map(|found| window[..found.start()].chars().count())
    });
    match found {
        None => Value::Null,
        Some(None) => Value::from(-1),
        Some(Some(offset)) => Value::from((start + offset) as i64),
    }
}

/// `parse_version(text)`: a version of one to four parts, each of at most
/// eight digits, as the decimal `p1 * 10^24 + p2 * 10^16 + p3 * 10^8 + p4`
/// (missing parts are 0), so that versions compare as numbers.
fn parse_version(args: &[Value]) -> Value {
    let text = text_of(&args[0]);
    let parts: Vec<&str> = text.trim().split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return Value::Null;
    }
    let mut version = 0.0f64;
    for index in 0..4 {
        let part = match parts.get(index) {
            Some(part)
                if !part.is_empty()
                    && part.len() <= 8
                    && part.bytes().all(|b| b.is_ascii_digit()) =>
            {
                part.parse::<u32>().unwrap_or(0)
            }
            Some(_) => return Value::Null,
            None => 0,
        };
        version = version * 1e8 + f64::from(part);
    }
    Value::from(version)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn regex_occurrences_do_not_overlap() {
        let call = |args: Value| index_of_regex(args.as_array().unwrap());
        assert_eq!(call(json!(["abcabc", "a.c"])), json!(0));
        assert_eq!(call(json!(["abcabcdefg", "a.c", 0, 9, 2])), json!(3));
        assert_eq!(call(json!(["abcabc", "a.c", 1, -1, 2])), json!(-1));
        assert_eq!(call(json!(["ababaa", "a.a", 0, -1, 2])), json!(-1));
        assert_eq!(call(json!(["abcabc", "a|ab", -1])), Value::Null);
        assert_eq!(call(json!(["ééabc", "b"])), json!(3));
    }

    #[test]
    fn versions_become_comparable_numbers() {
        assert_eq!(parse_version(&[json!("0.0.0.5")]), json!(5.0));
        assert_eq!(parse_version(&[json!("0.2")]), json!(2e16));
        assert_eq!(parse_version(&[json!("1.2.3.4.5")]), Value::Null);
        assert_eq!(parse_version(&[json!("1.x")]), Value::Null);
    }

    #[test]
    fn extract_all_groups() {
        assert_eq!(
            extract_all(&[json!(r"(\d+)"), json!("numbers: 123, 567 and 789")]),
            json!(["123", "567", "789"])
        );
        assert_eq!(
            extract_all(&[json!(r"(\w)(\w+)(\w)"), json!([1, 3]), json!("abcd efgh")]),
            json!([["a", "d"], ["e", "h"]])
        );
        assert_eq!(extract_all(&[json!(r"(\d+)"), json!("none")]), Value::Null);
        assert_eq!(extract_all(&[json!("(unclosed"), json!("x")]), Value::Null);
    }

    #[test]
    fn countof_kinds() {
        assert_eq!(countof(&[json!("aaaa"), json!("aa")]), json!(3));
        assert_eq!(countof(&[json!("ababa"), json!("aba")]), json!(2));
        assert_eq!(
            countof(&[json!("ababa"), json!("aba"), json!("regex")]),
            json!(1)
        );
    }

    #[test]
    fn replace_strings_order() {
        let text = json!("This is an example");
        assert_eq!(
            replace_strings(&[text.clone(), json!(["This", "is"]), json!(["This", "was"])]),
            json!("This was an example")
        );
        assert_eq!(
            replace_strings(&[text, json!(["is", "This"]), json!(["was", "This"])]),
            json!("Thwas was an example")
        );
    }

    #[test]
    fn translate_characters() {
        assert_eq!(
            translate(&[json!("krasp"), json!("otsku"), json!("spark")]),
            json!("kusto")
        );
        assert_eq!(
            translate(&[json!("abc"), json!(""), json!("ab")]),
            json!("")
        );
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(base64_encode_tostring(&[json!("Kusto")]), json!("S3VzdG8="));
        assert_eq!(base64_decode_tostring(&[json!("S3VzdG8=")]), json!("Kusto"));
        assert_eq!(base64_decode_tostring(&[json!("not base64!")]), Value::Null);
    }

    #[test]
    fn url_round_trip() {
        assert_eq!(url_encode(&[json!("a b/c")]), json!("a%20b%2Fc"));
        assert_eq!(url_decode(&[json!("a%20b+c%2F")]), json!("a b c/"));
    }

    #[test]
    fn hash_modulo() {
        assert_eq!(hash_xxhash64(&[json!("World"), json!(100)]), json!(51));
        assert_eq!(
            hash_xxhash64(&[json!("World")]),
            json!(1846988464401551951i64)
        );
    }
}
