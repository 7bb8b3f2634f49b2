//! On-demand KQL tokenizer.
//!
//! The parser lexes one token at a time from a byte offset instead of
//! tokenizing the whole text up front. Typed literals such as `datetime(2020-01-01 10:00)`
//! and `dynamic({...})` hold raw text that is not a token stream, so the
//! parser scans those characters itself and resumes lexing after them.

use crate::diagnostic::Diagnostic;
use crate::span::Span;

/// 100 ns ticks in one unit of each timespan suffix.
pub(crate) const TICKS_PER_DAY: i64 = 864_000_000_000;
const TICKS_PER_HOUR: i64 = 36_000_000_000;
const TICKS_PER_MINUTE: i64 = 600_000_000;
const TICKS_PER_SECOND: i64 = 10_000_000;
const TICKS_PER_MILLISECOND: i64 = 10_000;
const TICKS_PER_MICROSECOND: i64 = 10;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// A plain identifier or keyword; its text is the token's source slice.
    /// `$left` and `$right` are identifiers too.
    Ident,
    /// `!` immediately followed by a word, as in `!has` or `!in`; the word is
    /// the source slice after the `!`.
    BangWord,
    /// A decimal or hexadecimal integer without sign.
    Integer {
        value: u64,
        hex: bool,
    },
    Real(f64),
    /// A number with a unit suffix (`1.5h`), in 100 ns ticks.
    Timespan(i64),
    /// A string literal after escape processing.
    String(String),
    Pipe,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Semi,
    Colon,
    Dot,
    DotDot,
    Assign,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    /// `=~`.
    EqTilde,
    /// `!~`.
    BangTilde,
    Tilde,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    /// Any other character; the parser reports it where it is unexpected.
    Unknown(char),
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// Returns the offset of the first character at or after `pos` that is not
/// whitespace or part of a `//` comment.
pub(crate) fn skip_trivia(src: &str, mut pos: usize) -> usize {
    let bytes = src.as_bytes();
    while pos < bytes.len() {
        let b = bytes[pos];
        if b.is_ascii_whitespace() {
            pos += 1;
        } else if b == b'/' && bytes.get(pos + 1) == Some(&b'/') {
            pos = src[pos..].find('\n').map_or(src.len(), |i| pos + i + 1);
        } else if b >= 0x80 {
            let c = src[pos..].chars().next().unwrap_or(' ');
            if !c.is_whitespace() {
                break;
            }
            pos += c.len_utf8();
        } else {
            break;
        }
    }
    pos
}

pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Returns the end offset of the identifier that starts at `pos`, or `pos`
/// when no identifier starts there.
pub(crate) fn ident_end(src: &str, pos: usize) -> usize {
    match src[pos..].chars().next() {
        Some(c) if is_ident_start(c) => ident_continue_end(src, pos + c.len_utf8()),
        _ => pos,
    }
}

/// Returns the end offset of the run of identifier characters at `pos`.
fn ident_continue_end(src: &str, pos: usize) -> usize {
    src[pos..]
        .char_indices()
        .find(|&(_, c)| !is_ident_char(c))
        .map_or(src.len(), |(i, _)| pos + i)
}

/// Lexes the token that starts at the first non-trivia character at or
/// after `pos`.
pub(crate) fn next_token(src: &str, pos: usize) -> Result<Token, Diagnostic> {
    let start = skip_trivia(src, pos);
    let rest = &src[start..];
    let Some(c) = rest.chars().next() else {
        return Ok(Token {
            kind: TokenKind::Eof,
            span: Span::new(src.len(), src.len()),
        });
    };
    let next = rest[c.len_utf8()..].chars().next();
    let token = |kind: TokenKind, len: usize| Token {
        kind,
        span: Span::new(start, start + len),
    };

    if let Some((value, end)) = lex_string(src, start)? {
        return Ok(Token {
            kind: TokenKind::String(value),
            span: Span::new(start, end),
        });
    }
    if c.is_ascii_digit() {
        return lex_number(src, start);
    }
    if is_ident_start(c) || (c == '$' && next.is_some_and(is_ident_start)) {
        let end = ident_continue_end(src, start + c.len_utf8());
        return Ok(token(TokenKind::Ident, end - start));
    }

    let kind_and_len = match (c, next) {
        ('!', Some(n)) if is_ident_start(n) => {
            let end = ident_continue_end(src, start + 1);
            return Ok(token(TokenKind::BangWord, end - start));
        }
        ('|', _) => (TokenKind::Pipe, 1),
        ('(', _) => (TokenKind::LParen, 1),
        (')', _) => (TokenKind::RParen, 1),
        ('[', _) => (TokenKind::LBracket, 1),
        (']', _) => (TokenKind::RBracket, 1),
        ('{', _) => (TokenKind::LBrace, 1),
        ('}', _) => (TokenKind::RBrace, 1),
        (',', _) => (TokenKind::Comma, 1),
        (';', _) => (TokenKind::Semi, 1),
        (':', _) => (TokenKind::Colon, 1),
        ('.', Some('.')) => (TokenKind::DotDot, 2),
        ('.', _) => (TokenKind::Dot, 1),
        ('=', Some('=')) => (TokenKind::EqEq, 2),
        ('=', Some('~')) => (TokenKind::EqTilde, 2),
        ('=', _) => (TokenKind::Assign, 1),
        ('!', Some('=')) => (TokenKind::NotEq, 2),
        ('!', Some('~')) => (TokenKind::BangTilde, 2),
        ('<', Some('=')) => (TokenKind::Le, 2),
        ('<', Some('>')) => (TokenKind::NotEq, 2),
        ('<', _) => (TokenKind::Lt, 1),
        ('>', Some('=')) => (TokenKind::Ge, 2),
        ('>', _) => (TokenKind::Gt, 1),
        ('~', _) => (TokenKind::Tilde, 1),
        ('+', _) => (TokenKind::Plus, 1),
        ('-', _) => (TokenKind::Minus, 1),
        ('*', _) => (TokenKind::Star, 1),
        ('/', _) => (TokenKind::Slash, 1),
        ('%', _) => (TokenKind::Percent, 1),
        _ => (TokenKind::Unknown(c), c.len_utf8()),
    };
    Ok(token(kind_and_len.0, kind_and_len.1))
}

/// Lexes a string literal at `start` if one starts there: `'...'`, `"..."`,
/// the verbatim forms `@'...'` and `@"..."`, a triple-backtick block, each
/// optionally behind an `h`/`H` obfuscation prefix. Returns the value and the
/// end offset, or `None` when no string literal starts at `start`.
///
/// In quoted strings, `\n`, `\t`, `\r`, `\0`, `\\`, `\'`, `\"` and `\uXXXX`
/// are escapes; any other backslash pair is kept as written. A quoted string
/// must end on its own line.
pub(crate) fn lex_string(src: &str, start: usize) -> Result<Option<(String, usize)>, Diagnostic> {
    let bytes = src.as_bytes();
    let mut pos = start;
    if matches!(bytes.get(pos), Some(b'h' | b'H'))
        && matches!(bytes.get(pos + 1), Some(b'\'' | b'"' | b'@' | b'`'))
    {
        pos += 1;
    }
    if src[pos..].starts_with("```") {
        let body = pos + 3;
        return match src[body..].find("```") {
            Some(i) => Ok(Some((src[body..body + i].to_string(), body + i + 3))),
            None => Err(unterminated(src, start)),
        };
    }
    let verbatim = bytes.get(pos) == Some(&b'@');
    if verbatim {
        pos += 1;
    }
    let quote = match bytes.get(pos) {
        Some(&q @ (b'\'' | b'"')) => q as char,
        _ => return Ok(None),
    };
    pos += 1;

    let mut value = String::new();
    let mut chars = src[pos..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\n' {
            break;
        }
        if c == quote {
            if verbatim && src[pos + i + 1..].starts_with(quote) {
                chars.next();
                value.push(quote);
                continue;
            }
            return Ok(Some((value, pos + i + 1)));
        }
        if c != '\\' || verbatim {
            value.push(c);
            continue;
        }
        let Some((j, escaped)) = chars.next() else {
            break;
        };
        match escaped {
            'n' => value.push('\n'),
            't' => value.push('\t'),
            'r' => value.push('\r'),
            '0' => value.push('\0'),
            '\\' | '\'' | '"' => value.push(escaped),
            'u' => {
                let hex_start = pos + j + 1;
                let decoded = src
                    .get(hex_start..hex_start + 4)
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .and_then(char::from_u32);
                let Some(decoded) = decoded else {
                    let end = (hex_start + 4).min(src.len());
                    let end = (hex_start..=end)
                        .rev()
                        .find(|&e| src.is_char_boundary(e))
                        .unwrap_or(hex_start);
                    return Err(Diagnostic::new(
                        "invalid `\\u` escape: expected four hexadecimal digits",
                        Span::new(pos + j - 1, end),
                    ));
                };
                value.push(decoded);
                for _ in 0..4 {
                    chars.next();
                }
            }
            '\n' => break,
            other => {
                value.push('\\');
                value.push(other);
            }
        }
    }
    Err(unterminated(src, start))
}

fn unterminated(src: &str, start: usize) -> Diagnostic {
    let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
    Diagnostic::new("unterminated string literal", Span::new(start, line_end))
        .with_help("close the string with the same quote it starts with")
}

fn lex_number(src: &str, start: usize) -> Result<Token, Diagnostic> {
    let bytes = src.as_bytes();
    let digits_end = |mut p: usize, hex: bool| {
        while p < bytes.len()
            && (bytes[p].is_ascii_digit() || (hex && bytes[p].is_ascii_hexdigit()))
        {
            p += 1;
        }
        p
    };

    if bytes[start] == b'0' && matches!(bytes.get(start + 1), Some(b'x' | b'X')) {
        let end = digits_end(start + 2, true);
        let digits = &src[start + 2..end];
        let value = u64::from_str_radix(digits, 16).map_err(|_| {
            Diagnostic::new(
                format!("invalid hexadecimal literal `{}`", &src[start..end]),
                Span::new(start, end),
            )
        })?;
        return Ok(Token {
            kind: TokenKind::Integer { value, hex: true },
            span: Span::new(start, end),
        });
    }

    let mut end = digits_end(start, false);
    let mut is_real = false;
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end = digits_end(end + 1, false);
        is_real = true;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut p = end + 1;
        if matches!(bytes.get(p), Some(b'+' | b'-')) {
            p += 1;
        }
        if bytes.get(p).is_some_and(u8::is_ascii_digit) {
            end = digits_end(p, false);
            is_real = true;
        }
    }
    let number = &src[start..end];

    let suffix_end = ident_end(src, end);
    if suffix_end > end {
        let suffix = &src[end..suffix_end];
        let span = Span::new(start, suffix_end);
        let Some(unit) = timespan_unit(suffix) else {
            return Err(Diagnostic::new(
                format!(
                    "invalid number `{}`: unknown timespan unit `{suffix}`",
                    &src[start..suffix_end]
                ),
                span,
            )
            .with_help("timespan units are d, h, m, s, ms, microsecond and tick"));
        };
        let ticks = scale_ticks(number, unit).ok_or_else(|| {
            Diagnostic::new(
                format!(
                    "timespan literal `{}` is out of range",
                    &src[start..suffix_end]
                ),
                span,
            )
        })?;
        return Ok(Token {
            kind: TokenKind::Timespan(ticks),
            span,
        });
    }

    let span = Span::new(start, end);
    if is_real {
        let value: f64 = number
            .parse()
            .map_err(|_| Diagnostic::new(format!("invalid real literal `{number}`"), span))?;
        return Ok(Token {
            kind: TokenKind::Real(value),
            span,
        });
    }
    let value: u64 = number.parse().map_err(|_| {
        Diagnostic::new(format!("integer literal `{number}` is out of range"), span)
    })?;
    Ok(Token {
        kind: TokenKind::Integer { value, hex: false },
        span,
    })
}

/// Returns the 100 ns ticks in one unit of a timespan suffix such as `h`,
/// `ms` or `minutes`; case-insensitive.
pub(crate) fn timespan_unit(suffix: &str) -> Option<i64> {
    let ticks = match suffix.to_ascii_lowercase().as_str() {
        "d" | "day" | "days" => TICKS_PER_DAY,
        "h" | "hr" | "hrs" | "hour" | "hours" => TICKS_PER_HOUR,
        "m" | "min" | "mins" | "minute" | "minutes" => TICKS_PER_MINUTE,
        "s" | "sec" | "secs" | "second" | "seconds" => TICKS_PER_SECOND,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => TICKS_PER_MILLISECOND,
        "microsecond" | "microseconds" | "micro" | "micros" => TICKS_PER_MICROSECOND,
        "tick" | "ticks" => 1,
        _ => return None,
    };
    Some(ticks)
}

/// Multiplies a non-negative decimal number written as text by a unit in
/// ticks. Integers are scaled exactly; fractions are rounded to the nearest
/// tick. Returns `None` on overflow or invalid text.
pub(crate) fn scale_ticks(number: &str, unit: i64) -> Option<i64> {
    if let Ok(whole) = number.parse::<i64>() {
        return whole.checked_mul(unit);
    }
    let value: f64 = number.parse().ok()?;
    let ticks = (value * unit as f64).round();
    if !ticks.is_finite() || ticks.abs() >= i64::MAX as f64 {
        return None;
    }
    Some(ticks as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            let token = next_token(src, pos).unwrap();
            if token.kind == TokenKind::Eof {
                return out;
            }
            pos = token.span.end;
            out.push(token.kind);
        }
    }

    fn string_value(src: &str) -> String {
        match kinds(src).as_slice() {
            [TokenKind::String(s)] => s.clone(),
            other => panic!("expected one string token, got {other:?}"),
        }
    }

    #[test]
    fn timespan_units_in_ticks() {
        assert_eq!(kinds("1h"), vec![TokenKind::Timespan(36_000_000_000)]);
        assert_eq!(kinds("1ms"), vec![TokenKind::Timespan(10_000)]);
        assert_eq!(kinds("1tick"), vec![TokenKind::Timespan(1)]);
        assert_eq!(kinds("1.5h"), vec![TokenKind::Timespan(54_000_000_000)]);
        assert_eq!(kinds("2d"), vec![TokenKind::Timespan(2 * TICKS_PER_DAY)]);
        assert_eq!(kinds("10min"), vec![TokenKind::Timespan(6_000_000_000)]);
        assert_eq!(kinds("3microseconds"), vec![TokenKind::Timespan(30)]);
        assert_eq!(kinds("5sec"), vec![TokenKind::Timespan(50_000_000)]);
    }

    #[test]
    fn numbers_and_ranges() {
        assert_eq!(
            kinds("0x1f"),
            vec![TokenKind::Integer {
                value: 31,
                hex: true
            }]
        );
        assert_eq!(kinds("1e5"), vec![TokenKind::Real(1e5)]);
        assert_eq!(kinds("2.5E-1"), vec![TokenKind::Real(0.25)]);
        assert_eq!(
            kinds("1..5"),
            vec![
                TokenKind::Integer {
                    value: 1,
                    hex: false
                },
                TokenKind::DotDot,
                TokenKind::Integer {
                    value: 5,
                    hex: false
                }
            ]
        );
    }

    #[test]
    fn number_with_unknown_unit_is_error() {
        let err = next_token("12abc", 0).unwrap_err();
        assert_eq!(err.span, Span::new(0, 5));
        assert!(
            err.message.contains("unknown timespan unit `abc`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn string_escapes() {
        assert_eq!(string_value(r#""a\nb\t\\\"""#), "a\nb\t\\\"");
        assert_eq!(string_value(r"'it\'s'"), "it's");
        assert_eq!(string_value(r#""\u0041""#), "A");
        assert_eq!(string_value(r"'\d+'"), r"\d+");
    }

    #[test]
    fn verbatim_and_prefixed_strings() {
        assert_eq!(string_value(r#"@"C:\dir\""#), r"C:\dir\");
        assert_eq!(string_value(r#"@"say ""hi""""#), r#"say "hi""#);
        assert_eq!(string_value("@'it''s'"), "it's");
        assert_eq!(string_value("h'secret'"), "secret");
        assert_eq!(string_value("H@\"x\\y\""), "x\\y");
        assert_eq!(string_value("```line1\nline2```"), "line1\nline2");
    }

    #[test]
    fn unterminated_string_spans_to_line_end() {
        let err = next_token("x 'abc\nmore", 2).unwrap_err();
        assert_eq!(err.message, "unterminated string literal");
        assert_eq!(err.span, Span::new(2, 6));
    }

    #[test]
    fn comments_are_trivia() {
        assert_eq!(
            kinds("a // note\n| b"),
            vec![TokenKind::Ident, TokenKind::Pipe, TokenKind::Ident]
        );
    }

    #[test]
    fn operators() {
        assert_eq!(
            kinds("!has =~ !~ != <> == = !in~"),
            vec![
                TokenKind::BangWord,
                TokenKind::EqTilde,
                TokenKind::BangTilde,
                TokenKind::NotEq,
                TokenKind::NotEq,
                TokenKind::EqEq,
                TokenKind::Assign,
                TokenKind::BangWord,
                TokenKind::Tilde
            ]
        );
    }
}
