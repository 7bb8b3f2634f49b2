//! MISP's default feed list (`app/files/feed-metadata/defaults.json`): a JSON
//! array of `{"Feed": {...}, "Tag": {...}}`.
//!
//! Unlike MISP, which ignores the list's `enabled` flags on import, homesoc
//! keeps them, so that the feeds MISP marks as enabled are pulled at once.

use serde_json::Value;

use crate::config::{FeedConfig, FeedFormat};
use crate::error::IntelError;
use crate::misp::event::text;

/// Reads the feeds of a default feed list. `location` names the file in
/// errors.
pub fn parse_default_feeds(bytes: &[u8], location: &str) -> Result<Vec<FeedConfig>, IntelError> {
    let invalid = |reason: String| IntelError::InvalidContent {
        what: "MISP feed list",
        location: location.to_string(),
        reason,
    };
    let json: Value = serde_json::from_slice(bytes).map_err(|err| invalid(err.to_string()))?;
    let entries = json
        .as_array()
        .ok_or_else(|| invalid("expected a JSON array of {\"Feed\": …} objects".into()))?;

    let mut feeds = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let feed = entry
            .get("Feed")
            .ok_or_else(|| invalid(format!("entry {index} has no \"Feed\" object")))?;
        let name = text(feed, "name");
        let format: FeedFormat = text(feed, "source_format")
            .parse()
            .map_err(|err: IntelError| invalid(format!("feed {name:?}: {err}")))?;
        let settings = parse_settings(feed.get("settings"));
        let csv = settings.get("csv");
        let value_columns = csv
            .map(|csv| text(csv, "value"))
            .unwrap_or_default()
            .split(',')
            .filter_map(|column| column.trim().parse::<usize>().ok())
            .collect();
        let delimiter = match csv.map(|csv| text(csv, "delimiter")).as_deref() {
            Some("\\t") => '\t',
            Some(other) => other.chars().next().unwrap_or(','),
            None => ',',
        };
        let exclude_regex = settings
            .get("common")
            .map(|common| text(common, "excluderegex"))
            .filter(|pattern| !pattern.is_empty())
            .map(|pattern| pcre_to_regex(&pattern));
        let headers = text(feed, "headers")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect();

        feeds.push(FeedConfig {
            provider: text(feed, "provider"),
            enabled: feed
                .get("enabled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            value_columns,
            delimiter,
            exclude_regex,
            override_ids: feed
                .get("override_ids")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            headers,
            ..FeedConfig::new(&name, &text(feed, "url"), format)
        });
    }
    Ok(feeds)
}

/// Parses the `settings` field, a JSON object encoded as a string, which one
/// entry of MISP's list encodes twice. Returns `Null` when it holds nothing.
fn parse_settings(settings: Option<&Value>) -> Value {
    let mut value = settings.cloned().unwrap_or(Value::Null);
    for _ in 0..2 {
        match &value {
            Value::String(text) if !text.is_empty() => {
                value = serde_json::from_str(text).unwrap_or(Value::Null);
            }
            _ => break,
        }
    }
    if value.is_object() {
        value
    } else {
        Value::Null
    }
}

/// Converts a PCRE with delimiters and flags (`/^#.*/i`) to Rust regex
/// syntax (`(?i)^#.*`). A pattern without delimiters is returned as it is.
fn pcre_to_regex(pattern: &str) -> String {
    let Some(delimiter) = pattern
        .chars()
        .next()
        .filter(|c| !c.is_alphanumeric() && *c != '\\')
    else {
        return pattern.to_string();
    };
    let Some(end) = pattern.rfind(delimiter).filter(|end| *end > 0) else {
        return pattern.to_string();
    };
    let body = &pattern[delimiter.len_utf8()..end];
    let flags: String = pattern[end + delimiter.len_utf8()..]
        .chars()
        .filter(|flag| matches!(flag, 'i' | 'm' | 's' | 'x'))
        .collect();
    if flags.is_empty() {
        body.to_string()
    } else {
        format!("(?{flags}){body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcre_delimiters_and_flags() {
        assert_eq!(pcre_to_regex("/^#.*/i"), "(?i)^#.*");
        assert_eq!(pcre_to_regex("/a/"), "a");
        assert_eq!(pcre_to_regex("abc"), "abc");
    }

    #[test]
    fn doubly_encoded_settings() {
        let settings = Value::String("\"{\\\"csv\\\":{\\\"value\\\":\\\"3\\\"}}\"".into());
        let parsed = parse_settings(Some(&settings));
        assert_eq!(parsed["csv"]["value"], "3");
        assert_eq!(
            parse_settings(Some(&Value::String(String::new()))),
            Value::Null
        );
    }
}
