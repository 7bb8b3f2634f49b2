//! CSV and freetext feeds: values whose MISP type is detected per value, as
//! MISP's ComplexTypeTool does.

pub mod csv;
pub mod detect;
pub mod freetext;

use crate::config::FeedConfig;
use crate::indicator::{DEFAULT_CONFIDENCE, DEFAULT_THREAT_TYPE, Indicator, stable_id};
use crate::mapping;
use detect::TypedValue;

/// The indicators of a text feed's values.
#[derive(Debug, Default)]
pub struct TextIndicators {
    pub active: Vec<Indicator>,
    /// Values that are not flagged for detection or map to no column.
    pub rejected: usize,
}

/// Makes one indicator per value that its type flags for detection, unless
/// the feed sets `override_ids`. The external id is derived from the feed
/// name, type and value, so a value keeps its id from pull to pull.
pub fn text_indicators(feed: &FeedConfig, values: &[TypedValue]) -> TextIndicators {
    let mut result = TextIndicators::default();
    for typed in values {
        if feed.override_ids || !typed.default_to_ids() {
            result.rejected += 1;
            continue;
        }
        let Ok(observables) = mapping::observables(typed.attribute_type, &typed.value) else {
            result.rejected += 1;
            continue;
        };
        result.active.push(Indicator {
            external_id: stable_id(&[&feed.name, typed.attribute_type, &typed.value]),
            source_system: feed.name.clone(),
            threat_type: DEFAULT_THREAT_TYPE.to_string(),
            confidence: feed.confidence.unwrap_or(DEFAULT_CONFIDENCE),
            // A text feed carries no TLP tag; Red is the Graph API's default.
            tlp: "Red".to_string(),
            description: format!("{} feed", feed.name),
            provider: feed.provider.clone(),
            tags: Vec::new(),
            observables,
            expires_ticks: None,
            active: true,
        });
    }
    result
}

/// Compiles a feed's exclude regex. The configuration was validated when the
/// feed was added, so an invalid pattern here means a hand-edited file.
pub(crate) fn exclude_regex(feed: &FeedConfig) -> Result<Option<regex::Regex>, crate::IntelError> {
    feed.exclude_regex
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|err| {
            crate::IntelError::InvalidConfig(format!(
                "exclude regex of feed {:?}: {err}",
                feed.name
            ))
        })
}
