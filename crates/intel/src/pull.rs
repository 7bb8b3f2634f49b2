//! Pulling a feed: fetch, parse, compare with the previous pull, write the
//! changed indicators and a `HomesocIntelPulls` row.
//!
//! A failed pull writes only its `HomesocIntelPulls` row and keeps the
//! feed's state, so the indicators of earlier pulls stay as they are.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::Workspace;
use tracing::{info, warn};

use crate::config::{FeedConfig, FeedFormat, FeedsFile, write_atomically};
use crate::error::IntelError;
use crate::fetch::{Fetched, Fetcher};
use crate::indicator::now_ticks;
use crate::misp::api::collect_misp_api;
use crate::misp::hashes::{stored_hashes_path, validate_hashes};
use crate::misp::{self, event::parse_event, feed as misp_feed};
use crate::state::{Changes, FeedState, IndicatorMap, PulledEvent, settings_fingerprint};
use crate::taxii::collect_taxii;
use crate::text::{self, csv::csv_values, freetext::freetext_values};
use crate::write::write_rows;

/// How a pull ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullResult {
    Succeeded,
    /// The server or the manifest reported no change, so nothing was read.
    NotModified,
    Failed,
}

impl PullResult {
    pub fn name(self) -> &'static str {
        match self {
            PullResult::Succeeded => "Succeeded",
            PullResult::NotModified => "NotModified",
            PullResult::Failed => "Failed",
        }
    }
}

/// The outcome of one pull, as recorded in `HomesocIntelPulls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullReport {
    pub feed: String,
    pub format: String,
    pub url: String,
    /// When the pull ended, RFC 3339.
    pub time: String,
    pub result: PullResult,
    pub error: Option<String>,
    /// Why a pull that did not fail added no indicator.
    pub note: Option<String>,
    pub events_listed: u64,
    pub events_fetched: u64,
    pub added: u64,
    pub updated: u64,
    pub deactivated: u64,
    pub rejected: u64,
    pub duration_ms: u64,
}

/// What a pull read, before it is written.
pub(crate) struct Collected {
    pub(crate) changes: Changes,
    pub(crate) state: FeedState,
    pub(crate) result: PullResult,
    pub(crate) events_listed: u64,
    pub(crate) events_fetched: u64,
    pub(crate) rejected: u64,
    /// Why nothing was added, when that is so.
    pub(crate) note: Option<String>,
    /// MISP feeds: what to do with the stored copy of `hashes.csv`.
    pub(crate) hashes: HashesUpdate,
}

/// A change to the stored copy of a MISP feed's `hashes.csv`.
pub(crate) enum HashesUpdate {
    Keep,
    /// The feed no longer publishes the file.
    Remove,
    /// New validated content.
    Write(Vec<u8>),
}

impl Collected {
    /// Builds the outcome of a pull that lists no events (an API or a
    /// TAXII collection): not modified when no indicator row changed.
    pub(crate) fn without_events(
        changes: Changes,
        state: FeedState,
        rejected: u64,
        note: Option<String>,
    ) -> Collected {
        let result = if changes.rows.is_empty() {
            PullResult::NotModified
        } else {
            PullResult::Succeeded
        };
        Collected {
            changes,
            state,
            result,
            events_listed: 0,
            events_fetched: 0,
            rejected,
            note,
            hashes: HashesUpdate::Keep,
        }
    }
}

/// Pulls one feed and records the outcome. Errors of the feed itself
/// (fetch, format) end up in the report; the returned error is for failures
/// to write to the workspace. The caller holds the workspace's write lock.
pub async fn pull_feed(
    workspace: &Workspace,
    fetcher: &Fetcher,
    feeds: &FeedsFile,
    feed: &FeedConfig,
) -> Result<PullReport, IntelError> {
    let started = Instant::now();
    let root = workspace.root().to_path_buf();
    let previous = FeedState::load(&root, &feed.name)?;
    info!(feed = %feed.name, url = %feed.url, "pulling feed");

    // Changed settings can change every indicator, so nothing cached counts.
    let fingerprint = settings_fingerprint(feed);
    let mut baseline = previous.clone();
    if baseline.settings_fingerprint.as_deref() != Some(fingerprint.as_str()) {
        baseline.validators = Default::default();
        baseline.content_sha256 = None;
        for event in baseline.events.values_mut() {
            event.timestamp = i64::MIN;
        }
        baseline.api_timestamp = None;
        baseline.taxii_added_after = None;
    }
    // Without the stored copy, a 304 would leave the cache empty.
    if !stored_hashes_path(&root, &feed.name).exists() {
        baseline.hashes_validators = None;
    }
    let collected = collect(fetcher, feed, &baseline).await;
    let written_ticks = now_ticks();
    let mut report = PullReport {
        feed: feed.name.clone(),
        format: feed.format.name().to_string(),
        url: feed.url.clone(),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        result: PullResult::Failed,
        error: None,
        note: None,
        events_listed: 0,
        events_fetched: 0,
        added: 0,
        updated: 0,
        deactivated: 0,
        rejected: 0,
        duration_ms: 0,
    };

    let import_id = format!("intel-pull-{}", uuid::Uuid::new_v4());
    let source = format!("intel feed {}", feed.name);
    match collected {
        Ok(collected) => {
            report.result = collected.result;
            report.note = collected.note;
            report.events_listed = collected.events_listed;
            report.events_fetched = collected.events_fetched;
            report.added = collected.changes.added;
            report.updated = collected.changes.updated;
            report.deactivated = collected.changes.deactivated;
            report.rejected = collected.rejected;
            report.duration_ms = started.elapsed().as_millis() as u64;
            write_rows(
                workspace,
                &import_id,
                &source,
                collected.changes.rows,
                vec![report.clone()],
                written_ticks,
                feeds.validity,
            )
            .await?;
            apply_hashes_update(&root, &feed.name, collected.hashes)?;
            let mut state = collected.state;
            state.settings_fingerprint = Some(fingerprint);
            state.last_pull = Some(report.clone());
            state.save(&root, &feed.name)?;
            info!(feed = %feed.name, added = report.added, updated = report.updated, deactivated = report.deactivated, "pulled feed");
        }
        Err(err) => {
            warn!(feed = %feed.name, error = %err, "feed pull failed");
            report.error = Some(err.to_string());
            report.duration_ms = started.elapsed().as_millis() as u64;
            write_rows(
                workspace,
                &import_id,
                &source,
                Vec::new(),
                vec![report.clone()],
                written_ticks,
                feeds.validity,
            )
            .await?;
            let mut state = previous;
            state.last_pull = Some(report.clone());
            state.save(&root, &feed.name)?;
        }
    }
    Ok(report)
}

async fn collect(
    fetcher: &Fetcher,
    feed: &FeedConfig,
    previous: &FeedState,
) -> Result<Collected, IntelError> {
    feed.validate()?;
    let fetcher = &fetcher.for_feed(feed)?;
    match feed.format {
        FeedFormat::Misp => collect_misp(fetcher, feed, previous).await,
        FeedFormat::Csv | FeedFormat::Freetext => collect_text(fetcher, feed, previous).await,
        FeedFormat::MispApi => collect_misp_api(fetcher, feed, previous).await,
        FeedFormat::Taxii => collect_taxii(fetcher, feed, previous).await,
    }
}

async fn collect_misp(
    fetcher: &Fetcher,
    feed: &FeedConfig,
    previous: &FeedState,
) -> Result<Collected, IntelError> {
    let manifest_url = misp_feed::feed_file(&feed.url, "manifest.json");
    let fetched = fetcher
        .fetch(&manifest_url, &feed.headers, Some(&previous.validators))
        .await?;
    let Fetched::Content { body, validators } = fetched else {
        return Ok(unchanged(previous, 0));
    };
    let manifest = misp_feed::parse_manifest(&body, &manifest_url)?;
    let pulled: BTreeMap<String, i64> = previous
        .events
        .iter()
        .map(|(uuid, event)| (uuid.clone(), event.timestamp))
        .collect();
    let to_fetch = misp_feed::events_to_fetch(&manifest, &pulled);

    let mut state = previous.clone();
    state.validators = validators;
    let hashes = fetch_hashes(fetcher, feed, &mut state).await?;
    let mut changes = Changes::default();
    let mut rejected = 0u64;
    let mut withdrawn_only = 0u64;
    for (position, uuid) in to_fetch.iter().enumerate() {
        let event_url = misp_feed::feed_file(&feed.url, &format!("{uuid}.json"));
        info!(feed = %feed.name, event = %uuid, progress = format!("{}/{}", position + 1, to_fetch.len()), "fetching event");
        let Fetched::Content { body, .. } = fetcher.fetch(&event_url, &feed.headers, None).await?
        else {
            return Err(IntelError::InvalidContent {
                what: "MISP event",
                location: event_url,
                reason: "the server answered 304 to an unconditional request".into(),
            });
        };
        let invalid = |reason: String| IntelError::InvalidContent {
            what: "MISP event",
            location: event_url.clone(),
            reason,
        };
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|err| invalid(err.to_string()))?;
        let event =
            parse_event(&json).ok_or_else(|| invalid("no Event object in the file".into()))?;

        let indicators = misp::event_indicators(&event, &feed.name, feed.confidence);
        rejected += indicators.rejected.len() as u64;
        withdrawn_only += indicators.withdrawn.len() as u64;
        for (attribute, reason) in &indicators.rejected {
            tracing::debug!(feed = %feed.name, event = %uuid, attribute = %attribute.uuid, attribute_type = %attribute.attribute_type, reason = ?reason, "attribute makes no indicator");
        }
        let current: IndicatorMap = indicators
            .active
            .into_iter()
            .map(|indicator| (indicator.external_id.clone(), indicator))
            .collect();
        let before = previous.events.get(uuid).map(|event| &event.indicators);
        changes.compare(before.unwrap_or(&IndicatorMap::new()), &current);
        state.events.insert(
            uuid.clone(),
            PulledEvent {
                timestamp: manifest[uuid],
                indicators: current,
            },
        );
    }

    // An event the manifest no longer lists is no longer published by the
    // feed, so its indicators are deactivated.
    let vanished: Vec<String> = previous
        .events
        .keys()
        .filter(|uuid| !manifest.contains_key(*uuid))
        .cloned()
        .collect();
    for uuid in vanished {
        if let Some(event) = state.events.remove(&uuid) {
            changes.compare(&event.indicators, &IndicatorMap::new());
        }
    }

    let note = (changes.added == 0 && changes.updated == 0).then(|| {
        if to_fetch.is_empty() {
            "no event changed since the last pull".to_string()
        } else if rejected > 0 || withdrawn_only > 0 {
            format!("{withdrawn_only} attributes not flagged to_ids or deleted, {rejected} with a type that has no indicator column")
        } else {
            "the fetched events contain no attributes".to_string()
        }
    });
    let result = if to_fetch.is_empty() && changes.rows.is_empty() {
        PullResult::NotModified
    } else {
        PullResult::Succeeded
    };
    Ok(Collected {
        changes,
        state,
        result,
        events_listed: manifest.len() as u64,
        events_fetched: to_fetch.len() as u64,
        rejected,
        note,
        hashes,
    })
}

/// Fetches the feed's optional `hashes.csv` and checks it. Sends the
/// validators of the stored copy and updates them in `state`.
async fn fetch_hashes(
    fetcher: &Fetcher,
    feed: &FeedConfig,
    state: &mut FeedState,
) -> Result<HashesUpdate, IntelError> {
    let url = misp_feed::feed_file(&feed.url, "hashes.csv");
    let fetched = fetcher
        .fetch_optional(&url, &feed.headers, state.hashes_validators.as_ref())
        .await?;
    match fetched {
        None => {
            state.hashes_validators = None;
            Ok(HashesUpdate::Remove)
        }
        Some(Fetched::NotModified) => Ok(HashesUpdate::Keep),
        Some(Fetched::Content { body, validators }) => {
            let lines = validate_hashes(&body, &url)?;
            info!(feed = %feed.name, lines, "read hashes.csv");
            state.hashes_validators = Some(validators);
            Ok(HashesUpdate::Write(body))
        }
    }
}

fn apply_hashes_update(
    root: &std::path::Path,
    feed_name: &str,
    update: HashesUpdate,
) -> Result<(), IntelError> {
    let path = stored_hashes_path(root, feed_name);
    match update {
        HashesUpdate::Keep => Ok(()),
        HashesUpdate::Write(bytes) => write_atomically(&path, &bytes),
        HashesUpdate::Remove => match std::fs::remove_file(&path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(IntelError::Io { path, source: err })
            }
            _ => Ok(()),
        },
    }
}

async fn collect_text(
    fetcher: &Fetcher,
    feed: &FeedConfig,
    previous: &FeedState,
) -> Result<Collected, IntelError> {
    let fetched = fetcher
        .fetch(&feed.url, &feed.headers, Some(&previous.validators))
        .await?;
    let Fetched::Content { body, validators } = fetched else {
        return Ok(unchanged(previous, 0));
    };
    if crate::fetch::looks_like_html(&body) {
        return Err(IntelError::HtmlPage {
            location: feed.url.clone(),
        });
    }
    let digest: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if previous.content_sha256.as_deref() == Some(digest.as_str()) {
        let mut state = previous.clone();
        state.validators = validators;
        let mut collected = unchanged(&state, 0);
        collected.state = state;
        return Ok(collected);
    }

    let values = match feed.format {
        FeedFormat::Csv => csv_values(feed, &body, &feed.url)?,
        _ => freetext_values(feed, &body)?,
    };
    let indicators = text::text_indicators(feed, &values);
    let current: IndicatorMap = indicators
        .active
        .into_iter()
        .map(|indicator| (indicator.external_id.clone(), indicator))
        .collect();
    let mut changes = Changes::default();
    changes.compare(&previous.indicators, &current);

    let note = (changes.added == 0 && changes.updated == 0).then(|| {
        if values.is_empty() {
            "no value of a known type in the content".to_string()
        } else if current.is_empty() {
            format!(
                "{} values, none flagged for detection (override_ids) or mappable",
                values.len()
            )
        } else {
            "every value was pulled before".to_string()
        }
    });
    let mut state = previous.clone();
    state.validators = validators;
    state.content_sha256 = Some(digest);
    state.indicators = current;
    Ok(Collected {
        changes,
        state,
        result: PullResult::Succeeded,
        events_listed: 0,
        events_fetched: 0,
        rejected: indicators.rejected as u64,
        note,
        hashes: HashesUpdate::Keep,
    })
}

fn unchanged(previous: &FeedState, events_listed: u64) -> Collected {
    Collected {
        changes: Changes::default(),
        state: previous.clone(),
        result: PullResult::NotModified,
        events_listed,
        events_fetched: 0,
        rejected: 0,
        note: Some("the source reported no change since the last pull".into()),
        hashes: HashesUpdate::Keep,
    }
}
