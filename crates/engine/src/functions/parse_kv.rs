//! Key-value extraction for `parse-kv`.
//!
//! With `pair_delimiter` or `kv_delimiter`, the text is cut into pairs at
//! the pair delimiter (outside quotes) and each pair into key and value at
//! the first key-value delimiter. With `greedy=true`, a piece without the
//! key-value delimiter belongs to the previous value, so unquoted values
//! may contain the pair delimiter. Without either delimiter, each requested
//! key is looked for as a whole word followed by `:` or `=`, and its value
//! runs to the next whitespace, `,` or `;` unless it is quoted.

use serde_json::Value;

use super::parse::convert_capture;
use kql::KqlType;

/// The settings of one `parse-kv`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValueSpec {
    /// The keys to extract and their column types, in output order.
    pub keys: Vec<(String, KqlType)>,
    /// `None` in the mode without delimiters.
    pub delimiters: Option<Delimiters>,
    /// The opening and closing quote characters.
    pub quotes: Option<(char, char)>,
    /// The character that escapes a quote inside a quoted value.
    pub escape: Option<char>,
}

/// The pair and key-value delimiters and the greedy flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Delimiters {
    pub pair: String,
    pub key_value: String,
    pub greedy: bool,
}

impl KeyValueSpec {
    /// Extracts one value per key from `text`: null for a missing key or
    /// a value that does not convert to the key's type.
    pub fn extract(&self, text: &str) -> Vec<Value> {
        let pairs = match &self.delimiters {
            Some(delimiters) => self.delimited_pairs(text, delimiters),
            None => self.keyword_pairs(text),
        };
        self.keys
            .iter()
            .map(|(key, ty)| {
                pairs
                    .iter()
                    .find(|(k, _)| k == key)
                    .and_then(|(_, value)| convert_capture(value, *ty))
                    .unwrap_or(Value::Null)
            })
            .collect()
    }

    /// Cuts `text` at every `delimiter` outside quotes.
    fn split_outside_quotes<'t>(&self, text: &'t str, delimiter: &str) -> Vec<&'t str> {
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut quote_close: Option<char> = None;
        let mut chars = text.char_indices().peekable();
        while let Some((index, c)) = chars.next() {
            match quote_close {
                Some(close) => {
                    if Some(c) == self.escape {
                        chars.next();
                    } else if c == close {
                        quote_close = None;
                    }
                }
                None => {
                    if let Some((open, close)) = self.quotes
                        && c == open
                    {
                        quote_close = Some(close);
                    } else if !delimiter.is_empty() && text[index..].starts_with(delimiter) {
                        pieces.push(&text[start..index]);
                        start = index + delimiter.len();
                        for _ in 1..delimiter.chars().count() {
                            chars.next();
                        }
                    }
                }
            }
        }
        pieces.push(&text[start..]);
        pieces
    }

    fn delimited_pairs(&self, text: &str, delimiters: &Delimiters) -> Vec<(String, String)> {
        let mut raw: Vec<(String, String)> = Vec::new();
        for piece in self.split_outside_quotes(text, &delimiters.pair) {
            let parts = self.split_outside_quotes(piece, &delimiters.key_value);
            if parts.len() < 2 {
                if delimiters.greedy
                    && let Some((_, value)) = raw.last_mut()
                {
                    value.push_str(&delimiters.pair);
                    value.push_str(piece);
                }
                continue;
            }
            let key = parts[0];
            let value = &piece[key.len() + delimiters.key_value.len()..];
            raw.push((key.to_string(), value.to_string()));
        }
        raw.into_iter()
            .map(|(key, value)| (self.unquote(key.trim()), self.unquote(value.trim())))
            .collect()
    }

    fn keyword_pairs(&self, text: &str) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for (key, _) in &self.keys {
            if let Some(value) = self.find_keyword_value(text, key) {
                pairs.push((key.clone(), value));
            }
        }
        pairs
    }

    /// Finds `key` as a whole word followed by `:` or `=` and returns its
    /// value.
    fn find_keyword_value(&self, text: &str, key: &str) -> Option<String> {
        let is_word = |c: char| c.is_alphanumeric() || c == '_';
        let mut from = 0;
        while let Some(offset) = text[from..].find(key) {
            let start = from + offset;
            let end = start + key.len();
            from = end;
            let starts_word = text[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !is_word(c));
            let rest = &text[end..];
            if !starts_word || rest.chars().next().is_some_and(is_word) {
                continue;
            }
            let rest = rest.trim_start();
            let Some(rest) = rest.strip_prefix([':', '=']) else {
                continue;
            };
            let rest = rest.trim_start();
            if let Some((open, _)) = self.quotes
                && rest.starts_with(open)
            {
                let quoted = self.split_outside_quotes(rest, " ").into_iter().next()?;
                let quoted = quoted.trim_end_matches([',', ';']);
                return Some(self.unquote(quoted));
            }
            let value_end = rest
                .find(|c: char| c.is_whitespace() || c == ',' || c == ';')
                .unwrap_or(rest.len());
            return Some(rest[..value_end].to_string());
        }
        None
    }

    /// Removes surrounding quotes and the escape characters inside them.
    fn unquote(&self, text: &str) -> String {
        let Some((open, close)) = self.quotes else {
            return text.to_string();
        };
        let Some(inner) = text
            .strip_prefix(open)
            .and_then(|rest| rest.strip_suffix(close))
        else {
            return text.to_string();
        };
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if Some(c) == self.escape {
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(keys: &[(&str, KqlType)]) -> KeyValueSpec {
        KeyValueSpec {
            keys: keys.iter().map(|(k, t)| (k.to_string(), *t)).collect(),
            delimiters: None,
            quotes: None,
            escape: None,
        }
    }

    fn delimiters(pair: &str, key_value: &str, greedy: bool) -> Option<Delimiters> {
        Some(Delimiters {
            pair: pair.to_string(),
            key_value: key_value.to_string(),
            greedy,
        })
    }

    #[test]
    fn delimited_pairs_trim_and_convert() {
        let mut kv = spec(&[("Text", KqlType::String), ("ThreadId", KqlType::Long)]);
        kv.delimiters = delimiters(",", ":", false);
        assert_eq!(
            kv.extract("ThreadId:458745723, Machine:Node001, Text: The service is up"),
            vec![json!("The service is up"), json!(458745723)]
        );
    }

    #[test]
    fn quoted_keys_and_escaped_values() {
        let mut kv = spec(&[
            ("event time", KqlType::String),
            ("failure", KqlType::String),
        ]);
        kv.delimiters = delimiters(" ", "=", false);
        kv.quotes = Some(('"', '"'));
        kv.escape = Some('\\');
        assert_eq!(
            kv.extract(r#"failure="sent \"bye!\"" "event time"=10:00"#),
            vec![json!("10:00"), json!("sent \"bye!\"")]
        );
    }

    #[test]
    fn greedy_values_keep_pair_delimiter() {
        let mut kv = spec(&[("name", KqlType::String), ("city", KqlType::String)]);
        kv.delimiters = delimiters(" ", "=", true);
        assert_eq!(
            kv.extract("name=John Doe phone=555 5555 city=New York"),
            vec![json!("John Doe"), json!("New York")]
        );
    }

    #[test]
    fn keywords_without_delimiters() {
        let mut kv = spec(&[
            ("Text", KqlType::String),
            ("ThreadId", KqlType::Long),
            ("Missing", KqlType::Long),
        ]);
        kv.quotes = Some(('\'', '\''));
        kv.escape = Some('\\');
        assert_eq!(
            kv.extract(r"[INFO] ThreadId:458745723, Text: 'The service \' is up'"),
            vec![json!("The service ' is up"), json!(458745723), Value::Null]
        );
    }
}
