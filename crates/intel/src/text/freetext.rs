//! Freetext feeds: every token of the text is typed on its own.
//!
//! Tokens are split at white space, `,`, `<`, `>` and `;`, every
//! double-quoted string is added as an extra token, and tokens are trimmed
//! of quotes, dots, commas and brackets and de-duplicated, as MISP does.
//! There is no comment skipping: a comment line's tokens are typed too.

use std::collections::BTreeSet;

use crate::config::FeedConfig;
use crate::error::IntelError;
use crate::text::detect::{TypedValue, detect};

const TRIMMED: &[char] = &['\'', '"', '.', ',', '(', ')', ' ', '\t', '\n', '\r'];

/// Reads the typed values of a freetext feed in order of first occurrence.
// NOTE: MISP first tries input that starts with `{` as JSON and types its
// string leaves; this reader types such input as text.
pub fn freetext_values(feed: &FeedConfig, body: &[u8]) -> Result<Vec<TypedValue>, IntelError> {
    let exclude = super::exclude_regex(feed)?;
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| {
            if (c.is_control() && c != '\n') || c == '\u{a0}' {
                ' '
            } else {
                c
            }
        })
        .collect();

    let mut tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '<' | '>' | ';'))
        .collect();
    tokens.extend(text.split('"').skip(1).step_by(2));

    let mut seen = BTreeSet::new();
    let mut values = Vec::new();
    for token in tokens {
        let token = token.trim_matches(TRIMMED);
        if token.is_empty() || !seen.insert(token) {
            continue;
        }
        if exclude.as_ref().is_some_and(|regex| regex.is_match(token)) {
            continue;
        }
        values.extend(detect(token));
    }

    let mut unique = BTreeSet::new();
    values.retain(|typed| unique.insert((typed.attribute_type, typed.value.clone())));
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedFormat;

    #[test]
    fn tokens_are_typed_and_deduplicated() {
        let feed = FeedConfig::new("t", "x", FeedFormat::Freetext);
        let body =
            b"# list\nhxxp://a.example/x,2018-07-02 16:31:02,Submission\n192.0.2.1\n192.0.2.1\n";
        let values = freetext_values(&feed, body).unwrap();
        let found: Vec<&str> = values.iter().map(|v| v.value.as_str()).collect();
        assert_eq!(found, ["http://a.example/x", "192.0.2.1"]);
    }
}
