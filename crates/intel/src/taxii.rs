//! Pulling a TAXII 2.1 collection:
//! `GET {api-root}/collections/{id}/objects/`, page by page.
//!
//! The first pull reads every object of the collection. Each later pull
//! sends `added_after` set to the `X-TAXII-Date-Added-Last` header of the
//! last successful pull, so the server returns only the objects added since.
//! A discovery URL (ending in `/taxii2/`) is resolved to its default API
//! root at each pull. Pages are followed with the envelope's `next` token. A server that sets
//! `more` without `next` is paged with `added_after` instead, as TAXII 2.1
//! (section 3.4) allows. Only `indicator` objects become indicators, read by
//! the STIX code; a revoked indicator deactivates the one pulled before.

use chrono::{DateTime, FixedOffset};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;
use tracing::{info, warn};

use crate::config::FeedConfig;
use crate::error::IntelError;
use crate::fetch::{BasicCredentials, Fetcher};
use crate::pull::Collected;
use crate::state::{Changes, FeedState};
use crate::stix::object_indicators;

/// The media type of TAXII 2.1 requests and responses.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";

/// The response header with the `date_added` of the page's newest object.
const DATE_ADDED_LAST: &str = "X-TAXII-Date-Added-Last";

/// Pages at most per pull, a guard against a server that never ends.
const MAX_PAGES: u64 = 100_000;

/// One page of a collection's objects.
struct Envelope {
    more: bool,
    next: Option<String>,
    objects: Vec<Value>,
}

/// Returns the objects endpoint of a collection under an API root URL.
pub fn objects_url(api_root: &str, collection: &str) -> Result<url::Url, IntelError> {
    let mut url = url::Url::parse(api_root).map_err(|err| {
        IntelError::InvalidConfig(format!(
            "TAXII API root {api_root:?} is not a valid URL ({err}); give the API root, such as https://taxii.example.org/api1/"
        ))
    })?;
    url.path_segments_mut()
        .map_err(|()| {
            IntelError::InvalidConfig(format!(
                "TAXII API root {api_root:?} cannot have a path; give an http:// or https:// URL"
            ))
        })?
        .pop_if_empty()
        .extend(["collections", collection, "objects", ""]);
    Ok(url)
}

/// Builds the URL of one page request.
fn page_url(
    objects: &url::Url,
    limit: usize,
    added_after: Option<&str>,
    next: Option<&str>,
) -> String {
    let mut url = objects.clone();
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("limit", &limit.to_string());
        if let Some(added_after) = added_after {
            query.append_pair("added_after", added_after);
        }
        if let Some(next) = next {
            query.append_pair("next", next);
        }
    }
    url.to_string()
}

/// Returns the API root for a feed URL: the URL itself, or for a discovery
/// URL (a path that ends in `/taxii2/`) the discovery resource's `default`
/// API root, or its only listed one.
async fn resolve_api_root(
    fetcher: &Fetcher,
    feed: &FeedConfig,
    collection: &str,
    credentials: Option<&BasicCredentials>,
) -> Result<String, IntelError> {
    let url = url::Url::parse(&feed.url).map_err(|err| {
        IntelError::InvalidConfig(format!(
            "TAXII feed URL {:?} is not a valid URL ({err}); give the API root, such as https://taxii.example.org/api1/",
            feed.url
        ))
    })?;
    if !url.path().trim_end_matches('/').ends_with("/taxii2") {
        return Ok(feed.url.clone());
    }

    let (body, headers) = fetcher
        .get_with_headers(url.as_str(), TAXII_MEDIA_TYPE, credentials)
        .await
        .map_err(|err| explain_status(err, collection))?;
    let invalid = |reason: String| IntelError::InvalidContent {
        what: "TAXII discovery resource",
        location: url.to_string(),
        reason,
    };
    let fields = parse_taxii_object(&body, &headers, url.as_str())?;
    let listed: Vec<&str> = fields
        .get("api_roots")
        .and_then(Value::as_array)
        .map(|roots| roots.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let root = match fields.get("default").and_then(Value::as_str) {
        Some(default) => default,
        None if listed.len() == 1 => listed[0],
        None => {
            return Err(invalid(format!(
                "it names no default API root and lists {} ({}); give one of them as the feed URL",
                listed.len(),
                listed.join(", ")
            )));
        }
    };
    // API root URLs may be relative to the discovery URL.
    let api_root = url
        .join(root)
        .map_err(|err| invalid(format!("API root {root:?} is not a valid URL: {err}")))?;
    info!(feed = %feed.name, api_root = %api_root, "found the API root through discovery");
    Ok(api_root.to_string())
}

/// Reads a TAXII response body as a JSON object, rejecting content that is
/// not TAXII JSON. Plain `application/json` passes too, because some servers
/// send it, and the caller then checks the object's fields.
fn parse_taxii_object(
    body: &[u8],
    headers: &HeaderMap,
    location: &str,
) -> Result<serde_json::Map<String, Value>, IntelError> {
    let invalid = |reason: String| IntelError::InvalidContent {
        what: "TAXII response",
        location: location.to_string(),
        reason,
    };

    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !content_type.starts_with("application/taxii+json")
        && !content_type.starts_with("application/json")
    {
        return Err(invalid(format!(
            "the Content-Type is {content_type:?}, not application/taxii+json; check that the feed URL is the API root of a TAXII 2.1 server"
        )));
    }

    let json: Value = serde_json::from_slice(body).map_err(|err| {
        invalid(format!(
            "the body is not JSON ({err}); check that the feed URL is the API root of a TAXII 2.1 server"
        ))
    })?;
    match json {
        Value::Object(fields) => Ok(fields),
        _ => Err(invalid("the body is not a JSON object".into())),
    }
}

/// Reads an envelope, rejecting a response that is not TAXII JSON.
fn parse_envelope(
    body: &[u8],
    headers: &HeaderMap,
    location: &str,
) -> Result<Envelope, IntelError> {
    let invalid = |reason: String| IntelError::InvalidContent {
        what: "TAXII envelope",
        location: location.to_string(),
        reason,
    };

    let fields = parse_taxii_object(body, headers, location)?;
    // Plain JSON counts as an envelope only when it has an envelope field.
    let is_taxii = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .to_ascii_lowercase()
                .starts_with("application/taxii+json")
        });
    if !is_taxii && !fields.contains_key("objects") && !fields.contains_key("more") {
        return Err(invalid(
            "the JSON has neither \"objects\" nor \"more\"; check that the feed URL is the API root of a TAXII 2.1 server".into(),
        ));
    }

    let objects = match fields.get("objects") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(objects)) => objects.clone(),
        Some(_) => return Err(invalid("\"objects\" is not a list".into())),
    };
    let more = match fields.get("more") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(more)) => *more,
        Some(_) => return Err(invalid("\"more\" is not true or false".into())),
    };
    let next = match fields.get("next") {
        None | Some(Value::Null) => None,
        Some(Value::String(next)) if !next.is_empty() => Some(next.clone()),
        Some(_) => return Err(invalid("\"next\" is not a non-empty string".into())),
    };
    Ok(Envelope {
        more,
        next,
        objects,
    })
}

/// Reads the `X-TAXII-Date-Added-Last` header, keeping its text as sent.
fn date_added_last(
    headers: &HeaderMap,
    location: &str,
) -> Result<Option<(DateTime<FixedOffset>, String)>, IntelError> {
    let Some(value) = headers.get(DATE_ADDED_LAST) else {
        return Ok(None);
    };
    let invalid = |reason: String| IntelError::InvalidContent {
        what: "TAXII response header",
        location: location.to_string(),
        reason,
    };
    let text = value
        .to_str()
        .map_err(|_| invalid(format!("{DATE_ADDED_LAST} is not ASCII text")))?;
    let time = DateTime::parse_from_rfc3339(text).map_err(|err| {
        invalid(format!(
            "{DATE_ADDED_LAST} {text:?} is not a timestamp: {err}"
        ))
    })?;
    Ok(Some((time, text.to_string())))
}

/// Replaces a 401 or 403 with an error that points at the credentials, and
/// a 404 with one that points at the API root and collection.
fn explain_status(err: IntelError, collection: &str) -> IntelError {
    match err {
        IntelError::HttpStatus { location, status } if status == 401 || status == 403 => {
            IntelError::Unauthorized { location, status }
        }
        IntelError::HttpStatus {
            location,
            status: 404,
        } => IntelError::InvalidConfig(format!(
            "{location} returned HTTP 404: the server has no such API root or no collection {collection:?}; check the feed URL (an API root, or a discovery URL that ends in /taxii2/) and the collection id"
        )),
        other => other,
    }
}

/// Reads the collection's objects added after `added_after`, or all of them.
/// Returns them with the newest `X-TAXII-Date-Added-Last` seen.
async fn read_objects(
    fetcher: &Fetcher,
    feed: &FeedConfig,
    objects_endpoint: &url::Url,
    collection: &str,
    credentials: Option<&BasicCredentials>,
    added_after: Option<&str>,
) -> Result<(Vec<Value>, Option<(DateTime<FixedOffset>, String)>), IntelError> {
    let limit = feed.page_size.max(1);
    let mut added_after = added_after.map(str::to_string);
    let mut next: Option<String> = None;
    let mut newest: Option<(DateTime<FixedOffset>, String)> = None;
    let mut objects = Vec::new();
    for page in 1..=MAX_PAGES {
        let location = page_url(
            objects_endpoint,
            limit,
            added_after.as_deref(),
            next.as_deref(),
        );
        let (body, headers) = fetcher
            .get_with_headers(&location, TAXII_MEDIA_TYPE, credentials)
            .await
            .map_err(|err| explain_status(err, collection))?;
        let envelope = parse_envelope(&body, &headers, &location)?;
        let page_last = date_added_last(&headers, &location)?;
        info!(feed = %feed.name, page, objects = envelope.objects.len(), more = envelope.more, "read TAXII objects page");
        objects.extend(envelope.objects);
        if let Some(last) = &page_last
            && newest.as_ref().is_none_or(|(time, _)| last.0 > *time)
        {
            newest = Some(last.clone());
        }
        if !envelope.more {
            return Ok((objects, newest));
        }
        if let Some(token) = envelope.next {
            next = Some(token);
            continue;
        }
        // Without a `next` token, the following page starts after this one's
        // newest object.
        let Some((_, last)) = page_last else {
            return Err(IntelError::InvalidContent {
                what: "TAXII envelope",
                location,
                reason: format!(
                    "\"more\" is true, but the response has neither \"next\" nor {DATE_ADDED_LAST}, so the next page cannot be requested"
                ),
            });
        };
        if added_after.as_deref() == Some(last.as_str()) {
            return Err(IntelError::InvalidContent {
                what: "TAXII envelope",
                location,
                reason: format!(
                    "\"more\" is true, but {DATE_ADDED_LAST} {last:?} equals the added_after of the request, so paging would not advance"
                ),
            });
        }
        next = None;
        added_after = Some(last);
    }
    warn!(feed = %feed.name, pages = MAX_PAGES, "stopped reading TAXII pages at the page limit; the next pull continues from the newest object read");
    Ok((objects, newest))
}

/// Pulls a TAXII feed: the indicators added to the collection since the
/// last successful pull.
pub(crate) async fn collect_taxii(
    fetcher: &Fetcher,
    feed: &FeedConfig,
    previous: &FeedState,
) -> Result<Collected, IntelError> {
    let collection = feed.collection.as_deref().ok_or_else(|| {
        IntelError::InvalidConfig(format!("TAXII feed {:?} has no collection id", feed.name))
    })?;
    let credentials = match (&feed.user, &feed.password) {
        (Some(user), Some(password)) => Some(BasicCredentials {
            user: user.clone(),
            password: password.read()?,
        }),
        _ => None,
    };
    let api_root = resolve_api_root(fetcher, feed, collection, credentials.as_ref()).await?;
    let objects_endpoint = objects_url(&api_root, collection)?;
    let (objects, newest) = read_objects(
        fetcher,
        feed,
        &objects_endpoint,
        collection,
        credentials.as_ref(),
        previous.taxii_added_after.as_deref(),
    )
    .await?;

    let read = object_indicators(&objects, objects_endpoint.as_str(), &feed.name)?;
    let rejected = read.compound + read.unmapped + read.other_pattern_types;
    let mut current = previous.indicators.clone();
    for mut indicator in read.indicators {
        if let Some(confidence) = feed.confidence {
            indicator.confidence = confidence;
        }
        if indicator.active {
            current.insert(indicator.external_id.clone(), indicator);
        } else {
            // A revoked indicator deactivates the version pulled before.
            current.remove(&indicator.external_id);
        }
    }

    let mut changes = Changes::default();
    changes.compare(&previous.indicators, &current);
    let since = previous
        .taxii_added_after
        .as_deref()
        .map(|time| format!(" added after {time}"))
        .unwrap_or_default();
    let note = (changes.added == 0 && changes.updated == 0).then(|| {
        if objects.is_empty() {
            format!("the collection has no objects{since}")
        } else {
            format!(
                "{} objects{since}, none a new or changed indicator with a supported pattern ({rejected} indicators with unsupported patterns)",
                objects.len()
            )
        }
    });

    let mut state = previous.clone();
    state.indicators = current;
    if let Some((_, last)) = newest {
        state.taxii_added_after = Some(last);
    } else if !objects.is_empty() {
        // NOTE: without the header, the next pull reads the whole
        // collection again. The comparison with the stored indicators still
        // writes only what changed.
        warn!(feed = %feed.name, "the TAXII server sent objects without {DATE_ADDED_LAST}, so the next pull cannot ask for new objects only");
    }
    Ok(Collected::without_events(changes, state, rejected, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_url_joins_api_root_and_collection() {
        let with_slash = objects_url("http://127.0.0.1:5000/api1/", "91a7b528").unwrap();
        assert_eq!(
            with_slash.as_str(),
            "http://127.0.0.1:5000/api1/collections/91a7b528/objects/"
        );
        let without_slash = objects_url("http://127.0.0.1:5000/api1", "91a7b528").unwrap();
        assert_eq!(with_slash, without_slash);
        let encoded = objects_url("http://127.0.0.1:5000/api1/", "a b/c").unwrap();
        assert_eq!(
            encoded.as_str(),
            "http://127.0.0.1:5000/api1/collections/a%20b%2Fc/objects/"
        );
    }

    #[test]
    fn page_url_sends_limit_added_after_and_next() {
        let objects = objects_url("http://127.0.0.1:5000/api1/", "c").unwrap();
        assert_eq!(
            page_url(
                &objects,
                50,
                Some("2026-01-02T03:04:05.000000Z"),
                Some("t1")
            ),
            "http://127.0.0.1:5000/api1/collections/c/objects/?limit=50&added_after=2026-01-02T03%3A04%3A05.000000Z&next=t1"
        );
        assert_eq!(
            page_url(&objects, 50, None, None),
            "http://127.0.0.1:5000/api1/collections/c/objects/?limit=50"
        );
    }

    #[test]
    fn envelope_rejects_non_taxii_content() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        let error = parse_envelope(b"hello", &headers, "u").err().unwrap();
        assert!(error.to_string().contains("text/plain"), "{error}");

        headers.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        let error = parse_envelope(b"{\"status\": 1}", &headers, "u")
            .err()
            .unwrap();
        assert!(error.to_string().contains("neither"), "{error}");

        headers.insert(CONTENT_TYPE, TAXII_MEDIA_TYPE.parse().unwrap());
        let envelope = parse_envelope(b"{\"more\": true, \"next\": \"n\"}", &headers, "u").unwrap();
        assert!(envelope.more);
        assert_eq!(envelope.next.as_deref(), Some("n"));
        assert!(envelope.objects.is_empty());
    }
}
