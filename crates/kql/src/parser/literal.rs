//! Typed literals whose parentheses hold raw text rather than tokens:
//! `datetime(2020-01-01 10:00)`, `timespan(1.02:03:04)`, `guid(...)`,
//! `dynamic({...})`, `int(5)`, `real(nan)` and the others.

use super::{PResult, Parser};
use crate::ast::{Expr, ExprKind, Literal, TypeName};
use crate::diagnostic::Diagnostic;
use crate::lexer::{self, TICKS_PER_DAY};
use crate::span::Span;

/// Raw text between a literal's parentheses.
#[derive(Debug)]
struct RawArgs {
    /// The text as written.
    text: String,
    /// The text with every string literal rewritten as a JSON string, for
    /// `dynamic(...)`.
    json: String,
    /// Offset of the closing `)`.
    close: usize,
}

impl Parser<'_> {
    /// Parses a typed literal if the next tokens are a type name and `(`;
    /// returns `None` and consumes nothing for any other call.
    pub(super) fn parse_typed_literal(&mut self) -> PResult<Option<Expr>> {
        let token = self.peek()?;
        let name = self.text(&token).to_ascii_lowercase();
        let is_literal = matches!(
            name.as_str(),
            "bool"
                | "boolean"
                | "int"
                | "long"
                | "real"
                | "double"
                | "decimal"
                | "datetime"
                | "date"
                | "timespan"
                | "time"
                | "guid"
                | "uuid"
                | "uniqueid"
                | "dynamic"
        );
        if !is_literal {
            return Ok(None);
        }
        self.bump()?;
        let open = self.bump()?;
        let raw = scan_raw_args(self.src, open.span.end, token.span)?;
        self.advance_to(raw.close + 1);
        let span = self.span_from(token.span.start);
        let trimmed = raw.text.trim();
        let null = || {
            Literal::Null(Some(TypeName {
                name: name.clone(),
                span: token.span,
            }))
        };
        let is_null = trimmed.eq_ignore_ascii_case("null");
        let invalid = |what: &str| {
            Diagnostic::new(
                format!(
                    "invalid {what} literal `{}`",
                    &self.src[span.start..span.end]
                ),
                span,
            )
        };

        let literal = match name.as_str() {
            "dynamic" => {
                let json = raw.json.trim();
                if json.is_empty() {
                    return Err(invalid("dynamic")
                        .with_help("write `dynamic(null)` for a null dynamic value"));
                }
                Literal::Dynamic(json.to_string())
            }
            _ if is_null => null(),
            "datetime" | "date" => Literal::Datetime(unquote(trimmed)),
            "timespan" | "time" => {
                Literal::Timespan(parse_timespan_text(trimmed).ok_or_else(|| {
                    invalid("timespan").with_help(
                        "write a number with a unit (`1h`), a number of days, or `d.hh:mm:ss`",
                    )
                })?)
            }
            "guid" | "uuid" | "uniqueid" => {
                if trimmed.is_empty() {
                    return Err(invalid("guid"));
                }
                Literal::Guid(unquote(trimmed))
            }
            "bool" | "boolean" => match trimmed.to_ascii_lowercase().as_str() {
                "true" | "1" => Literal::Bool(true),
                "false" | "0" => Literal::Bool(false),
                _ => return Err(invalid("bool")),
            },
            "int" => {
                let value = parse_integer_text(trimmed).and_then(|v| i32::try_from(v).ok());
                Literal::Int(value.ok_or_else(|| invalid("int"))?)
            }
            "long" => Literal::Long(parse_integer_text(trimmed).ok_or_else(|| invalid("long"))?),
            "real" | "double" => {
                Literal::Real(parse_real_text(trimmed).ok_or_else(|| invalid("real"))?)
            }
            "decimal" => {
                if parse_real_text(trimmed).is_none() {
                    return Err(invalid("decimal"));
                }
                Literal::Decimal(trimmed.to_string())
            }
            _ => unreachable!("every typed literal name is matched above"),
        };
        Ok(Some(Expr {
            kind: ExprKind::Literal(literal),
            span,
        }))
    }
}

/// Returns the length of `dynamic(` (with any white space before the
/// parenthesis) when a nested `dynamic(...)` starts at `pos`.
fn nested_dynamic(src: &str, pos: usize) -> Option<usize> {
    let rest = src[pos..].strip_prefix("dynamic")?;
    let word_start = src[..pos]
        .chars()
        .next_back()
        .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
    let spaces = rest.len() - rest.trim_start().len();
    (word_start && rest[spaces..].starts_with('(')).then_some("dynamic".len() + spaces + 1)
}

/// Scans from `start` (just after an opening parenthesis) to the matching
/// `)`, skipping nested brackets and string literals. The JSON text it
/// collects leaves out nested `dynamic(...)` wrappers, which Kusto allows
/// inside a dynamic literal (`dynamic({"a": dynamic({})})`).
fn scan_raw_args(src: &str, start: usize, name_span: Span) -> PResult<RawArgs> {
    let mut json = String::new();
    // One entry per open bracket: whether it opened a nested `dynamic(`.
    let mut open: Vec<bool> = Vec::new();
    let mut pos = start;
    while let Some(c) = src[pos..].chars().next() {
        if matches!(c, '\'' | '"' | '@' | 'h' | 'H' | '`')
            && let Some((value, end)) = lexer::lex_string(src, pos)?
        {
            push_json_string(&mut json, &value);
            pos = end;
            continue;
        }
        if c == 'd'
            && let Some(length) = nested_dynamic(src, pos)
        {
            open.push(true);
            pos += length;
            continue;
        }
        match c {
            '(' | '[' | '{' => open.push(false),
            ')' if open.is_empty() => {
                return Ok(RawArgs {
                    text: src[start..pos].to_string(),
                    json,
                    close: pos,
                });
            }
            ')' | ']' | '}' if open.last() == Some(&true) => {
                open.pop();
                pos += c.len_utf8();
                continue;
            }
            ')' | ']' | '}' => {
                open.pop();
            }
            _ => {}
        }
        json.push(c);
        pos += c.len_utf8();
    }
    let name = &src[name_span.start..name_span.end];
    Err(Diagnostic::new(
        format!("expected `)` to close `{name}(`, found end of query"),
        Span::new(src.len(), src.len()),
    )
    .with_help(format!(
        "the `{name}(` literal starts at offset {}",
        name_span.start
    )))
}

/// Appends `value` as a JSON string literal.
fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Returns the content of `text` when it is exactly one string literal
/// (`datetime("2020-01-01")`), else `text` itself.
fn unquote(text: &str) -> String {
    if let Ok(Some((value, end))) = lexer::lex_string(text, 0)
        && end == text.len()
    {
        return value;
    }
    text.to_string()
}

/// Parses an optionally signed decimal or `0x` hexadecimal integer.
fn parse_integer_text(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, text[1..].trim_start()),
        b'+' => (false, text[1..].trim_start()),
        _ => (false, text),
    };
    let magnitude = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None if digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse::<u64>().ok()?,
        None => return None,
    };
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses a real: a decimal number, `nan`, `inf`, `+inf` or `-inf`.
fn parse_real_text(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        "nan" => return Some(f64::NAN),
        "inf" | "+inf" => return Some(f64::INFINITY),
        "-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !numeric || !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses the text of `timespan(...)`: a number with an optional unit
/// (`2` is two days, `15 seconds`, `1.5h`), or `[-][d.]hh:mm[:ss[.fffffff]]`.
/// Returns ticks of 100 ns.
pub(super) fn parse_timespan_text(text: &str) -> Option<i64> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, text),
    };
    let ticks = if body.contains(':') {
        parse_clock_timespan(body)?
    } else {
        let number_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (number, unit) = body.split_at(number_end);
        if number.is_empty() || !number.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        let unit = unit.trim();
        let unit_ticks = if unit.is_empty() {
            TICKS_PER_DAY
        } else {
            lexer::timespan_unit(unit)?
        };
        lexer::scale_ticks(number, unit_ticks)?
    };
    Some(if negative { -ticks } else { ticks })
}

/// Parses `[d.]hh:mm[:ss[.fffffff]]` into ticks.
fn parse_clock_timespan(text: &str) -> Option<i64> {
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut parts = text.split(':');
    let first = parts.next()?;
    let minutes = parts.next()?;
    let seconds = parts.next();
    if parts.next().is_some() {
        return None;
    }

    let (days, hours) = match first.split_once('.') {
        Some((days, hours)) => (days, hours),
        None => ("0", first),
    };
    if !all_digits(days) || !all_digits(hours) || !all_digits(minutes) {
        return None;
    }
    let (whole_seconds, fraction) = match seconds.map(|s| s.split_once('.').unwrap_or((s, ""))) {
        Some((whole, fraction)) => (whole, fraction),
        None => ("0", ""),
    };
    if !all_digits(whole_seconds)
        || !(fraction.is_empty() || all_digits(fraction))
        || fraction.len() > 7
    {
        return None;
    }

    let days: i64 = days.parse().ok()?;
    let hours: i64 = hours.parse().ok()?;
    let minutes: i64 = minutes.parse().ok()?;
    let whole_seconds: i64 = whole_seconds.parse().ok()?;
    let fraction_ticks: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<7}").parse().ok()?
    };
    let total_seconds = days
        .checked_mul(86_400)?
        .checked_add(hours.checked_mul(3_600)?)?
        .checked_add(minutes.checked_mul(60)?)?
        .checked_add(whole_seconds)?;
    total_seconds
        .checked_mul(10_000_000)?
        .checked_add(fraction_ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespan_text_forms() {
        assert_eq!(parse_timespan_text("2"), Some(2 * TICKS_PER_DAY));
        assert_eq!(parse_timespan_text("15 seconds"), Some(150_000_000));
        assert_eq!(parse_timespan_text("1h"), Some(36_000_000_000));
        assert_eq!(
            parse_timespan_text("0.12:34:56.7"),
            Some(((12 * 3600 + 34 * 60 + 56) * 10_000_000) + 7_000_000)
        );
        assert_eq!(parse_timespan_text("-01:00:00"), Some(-36_000_000_000));
        assert_eq!(parse_timespan_text("00:30"), Some(30 * 600_000_000));
        assert_eq!(parse_timespan_text("abc"), None);
        assert_eq!(parse_timespan_text("1:2:3:4"), None);
    }

    #[test]
    fn integer_text_forms() {
        assert_eq!(parse_integer_text("5"), Some(5));
        assert_eq!(parse_integer_text("-5"), Some(-5));
        assert_eq!(parse_integer_text("0x10"), Some(16));
        assert_eq!(parse_integer_text("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_integer_text("1.5"), None);
        assert_eq!(parse_integer_text(""), None);
    }

    #[test]
    fn real_text_forms() {
        assert!(parse_real_text("nan").unwrap().is_nan());
        assert_eq!(parse_real_text("+inf"), Some(f64::INFINITY));
        assert_eq!(parse_real_text("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_real_text("1e5"), Some(1e5));
        assert_eq!(parse_real_text("x"), None);
    }

    #[test]
    fn raw_args_convert_single_quotes_to_json() {
        let src = r#"{'a': 'x', "b": [1, 'x\'y', "q\"r"]}) tail"#;
        let raw = scan_raw_args(src, 0, Span::new(0, 0)).unwrap();
        assert_eq!(&src[raw.close..], ") tail");
        assert_eq!(raw.json, r#"{"a": "x", "b": [1, "x'y", "q\"r"]}"#);
    }

    #[test]
    fn raw_args_missing_close_is_error() {
        let err = scan_raw_args("2020-01-01", 0, Span::new(0, 0)).unwrap_err();
        assert!(err.message.starts_with("expected `)`"), "{}", err.message);
    }
}
