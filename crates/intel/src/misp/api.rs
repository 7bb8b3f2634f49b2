//! Pulling attributes from a MISP server's REST API
//! (`POST /attributes/restSearch`), page by page.
//!
//! The first pull requests every to_ids attribute; later pulls request
//! attributes whose `timestamp` is at least the highest one seen before.
//! Attributes changed since then to not to_ids, or soft-deleted, are
//! requested separately so that their indicators are deactivated.

use serde_json::{Value, json};
use tracing::info;

use crate::config::FeedConfig;
use crate::error::IntelError;
use crate::fetch::Fetcher;
use crate::misp::event::{MispAttribute, MispEvent, integer, text};
use crate::misp::event_indicators;
use crate::pull::Collected;
use crate::state::{Changes, FeedState};

/// Pages at most per query, a guard against a server that ignores `limit`.
const MAX_PAGES: u64 = 100_000;

/// Builds a one-attribute event from an attribute of a `restSearch`
/// response, splitting its tags into event tags (`inherited`) and its own.
fn attribute_event(attribute: &Value) -> MispEvent {
    let event = attribute.get("Event").cloned().unwrap_or(Value::Null);
    let (event_tags, attribute_tags): (Vec<&Value>, Vec<&Value>) = attribute
        .get("Tag")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .partition(|tag| integer(tag.get("inherited")) == Some(1))
        })
        .unwrap_or_default();
    let names = |tags: Vec<&Value>| -> Vec<String> {
        tags.iter()
            .filter_map(|tag| tag.get("name").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    };
    let mut to_ids = attribute.clone();
    // Reuse the event reader's lenient truth values.
    to_ids["Tag"] = Value::Null;
    let parsed = crate::misp::event::parse_event(
        &json!({"Event": {"uuid": text(&event, "uuid"), "Attribute": [to_ids]}}),
    );
    let mut parsed_attribute = parsed
        .and_then(|event| event.attributes.into_iter().next())
        .unwrap_or(MispAttribute {
            uuid: text(attribute, "uuid"),
            attribute_type: text(attribute, "type"),
            value: text(attribute, "value"),
            to_ids: false,
            deleted: false,
            comment: String::new(),
            tags: Vec::new(),
        });
    parsed_attribute.tags = names(attribute_tags);
    MispEvent {
        uuid: text(&event, "uuid"),
        info: text(&event, "info"),
        timestamp: integer(attribute.get("timestamp")).unwrap_or(0),
        published: event
            .get("published")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        orgc_name: event
            .get("Orgc")
            .map(|orgc| text(orgc, "name"))
            .unwrap_or_default(),
        tags: names(event_tags),
        attributes: vec![parsed_attribute],
    }
}

/// Runs one `restSearch` query over every page and returns the attributes.
async fn search(
    fetcher: &Fetcher,
    feed: &FeedConfig,
    api_key: &str,
    filters: Value,
) -> Result<Vec<Value>, IntelError> {
    let url = format!("{}/attributes/restSearch", feed.url.trim_end_matches('/'));
    let page_size = feed.page_size.max(1);
    let mut attributes = Vec::new();
    for page in 1..=MAX_PAGES {
        let mut body = filters.clone();
        body["returnFormat"] = json!("json");
        body["includeEventTags"] = json!(1);
        body["includeEventUuid"] = json!(1);
        body["limit"] = json!(page_size);
        body["page"] = json!(page);
        let answer = fetcher.post_json(&url, api_key, &body).await?;
        let json: Value =
            serde_json::from_slice(&answer).map_err(|err| IntelError::InvalidContent {
                what: "MISP restSearch answer",
                location: url.clone(),
                reason: err.to_string(),
            })?;
        let page_attributes = json
            .pointer("/response/Attribute")
            .and_then(Value::as_array)
            .ok_or_else(|| IntelError::InvalidContent {
                what: "MISP restSearch answer",
                location: url.clone(),
                reason: "no response.Attribute list".into(),
            })?;
        let count = page_attributes.len();
        attributes.extend(page_attributes.iter().cloned());
        info!(feed = %feed.name, page, attributes = count, "read restSearch page");
        if count < page_size {
            break;
        }
    }
    Ok(attributes)
}

/// Pulls a MISP API feed: new and changed to_ids attributes, and the
/// attributes withdrawn since the last pull.
pub(crate) async fn collect_misp_api(
    fetcher: &Fetcher,
    feed: &FeedConfig,
    previous: &FeedState,
) -> Result<Collected, IntelError> {
    let api_key = feed
        .api_key
        .as_ref()
        .ok_or_else(|| {
            IntelError::InvalidConfig(format!(
                "MISP API feed {:?} has no API key source",
                feed.name
            ))
        })?
        .read()?;

    let mut filters = json!({"to_ids": 1});
    if feed.published_only {
        filters["published"] = json!(1);
    }
    if !feed.tags.is_empty() {
        filters["tags"] = json!(feed.tags);
    }
    if let Some(since) = previous.api_timestamp {
        filters["timestamp"] = json!(since);
    }
    let attributes = search(fetcher, feed, &api_key, filters.clone()).await?;

    let mut withdrawn = Vec::new();
    if let Some(since) = previous.api_timestamp {
        for extra in [
            json!({"to_ids": 0, "timestamp": since}),
            json!({"deleted": 1, "timestamp": since}),
        ] {
            withdrawn.extend(search(fetcher, feed, &api_key, extra).await?);
        }
    }

    let mut current = previous.indicators.clone();
    let mut rejected = 0u64;
    let mut high_water = previous.api_timestamp;
    for attribute in attributes.iter().chain(&withdrawn) {
        let event = attribute_event(attribute);
        high_water = high_water.max(Some(event.timestamp));
        let indicators = event_indicators(&event, &feed.name, feed.confidence);
        rejected += indicators.rejected.len() as u64;
        for uuid in indicators.withdrawn {
            current.remove(&uuid);
        }
        for indicator in indicators.active {
            current.insert(indicator.external_id.clone(), indicator);
        }
    }

    let mut changes = Changes::default();
    changes.compare(&previous.indicators, &current);
    let note = (changes.added == 0 && changes.updated == 0).then(|| {
        if attributes.is_empty() {
            "the server returned no to_ids attribute for the filters".to_string()
        } else {
            format!(
                "{} attributes returned, none new or changed",
                attributes.len()
            )
        }
    });
    let mut state = previous.clone();
    state.indicators = current;
    state.api_timestamp = high_water;
    Ok(Collected::without_events(changes, state, rejected, note))
}
