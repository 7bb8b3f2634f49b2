//! What homesoc remembers about each feed between pulls, stored as
//! `intel/state/<feed>.json` in the workspace: the HTTP validators, the
//! MISP events pulled with their timestamps, and the active indicators, so
//! that a pull writes only what changed and can deactivate what vanished.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{FeedConfig, FeedFormat};
use crate::config::{intel_folder, write_atomically};
use crate::error::IntelError;
use crate::fetch::Validators;
use crate::indicator::{Indicator, stable_id};
use crate::pull::PullReport;

/// Active indicators by external id.
pub type IndicatorMap = BTreeMap<String, Indicator>;

/// One MISP event as pulled before.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PulledEvent {
    /// The event's manifest timestamp at the pull.
    pub timestamp: i64,
    pub indicators: IndicatorMap,
}

/// The state of one feed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedState {
    /// Validators of the manifest (MISP feeds) or of the content (CSV and
    /// freetext feeds).
    #[serde(default)]
    pub validators: Validators,
    /// MISP feeds: validators of the `hashes.csv` stored in the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes_validators: Option<Validators>,
    /// SHA-256 of the last content of a CSV or freetext feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
    /// MISP feeds: the events pulled, by UUID.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub events: BTreeMap<String, PulledEvent>,
    /// MISP API feeds: the highest attribute timestamp pulled, in seconds
    /// since the Unix epoch; the next pull asks for attributes from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_timestamp: Option<i64>,
    /// TAXII feeds: the `X-TAXII-Date-Added-Last` of the last successful
    /// pull, sent as `added_after` by the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxii_added_after: Option<String>,
    /// CSV, freetext, MISP API and TAXII feeds: the active indicators.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub indicators: IndicatorMap,
    /// A hash of the feed settings that shape its indicators (see
    /// [`settings_fingerprint`]). When they change, the next pull reads the
    /// whole feed again instead of trusting the validators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_fingerprint: Option<String>,
    /// The outcome of the last pull, failed or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pull: Option<PullReport>,
}

impl FeedState {
    /// Returns the state file of a feed.
    fn path(workspace_root: &Path, feed_name: &str) -> PathBuf {
        FeedState::file_stem_path(workspace_root, feed_name).with_extension("json")
    }

    /// Returns the path, without extension, of a feed's files in the state
    /// folder. The name is kept readable where it is safe in a file name,
    /// and a hash of it keeps names apart that differ only in other
    /// characters. The stem contains no dot.
    pub fn file_stem_path(workspace_root: &Path, feed_name: &str) -> PathBuf {
        let readable: String = feed_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        let hash = crate::indicator::stable_id(&[feed_name]);
        let suffix = &hash["indicator--".len().."indicator--".len() + 8];
        intel_folder(workspace_root)
            .join("state")
            .join(format!("{readable}-{suffix}"))
    }

    /// Reads a feed's state, or an empty state when the feed was never
    /// pulled.
    pub fn load(workspace_root: &Path, feed_name: &str) -> Result<FeedState, IntelError> {
        let path = FeedState::path(workspace_root, feed_name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| IntelError::StateFile { path, source }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(FeedState::default()),
            Err(source) => Err(IntelError::Io { path, source }),
        }
    }

    pub fn save(&self, workspace_root: &Path, feed_name: &str) -> Result<(), IntelError> {
        let bytes = serde_json::to_vec(self)
            .map_err(|err| IntelError::Internal(format!("cannot encode feed state: {err}")))?;
        write_atomically(&FeedState::path(workspace_root, feed_name), &bytes)
    }
}

/// Returns a hash of the settings that decide which indicators a feed
/// yields: URL, format, CSV columns and delimiter, exclude regex, confidence
/// and `override_ids`, and for TAXII feeds the collection id.
pub fn settings_fingerprint(feed: &FeedConfig) -> String {
    let columns: Vec<String> = feed.value_columns.iter().map(usize::to_string).collect();
    // Other formats leave the collection out, so that their fingerprints
    // stay as they were before TAXII feeds existed.
    let url = match (&feed.format, &feed.collection) {
        (FeedFormat::Taxii, Some(collection)) => format!("{} {collection}", feed.url),
        _ => feed.url.clone(),
    };
    stable_id(&[
        &url,
        feed.format.name(),
        &columns.join(","),
        &feed.delimiter.to_string(),
        feed.exclude_regex.as_deref().unwrap_or_default(),
        &feed.confidence.map(|c| c.to_string()).unwrap_or_default(),
        if feed.override_ids {
            "override_ids"
        } else {
            ""
        },
    ])
}

/// The rows that bring a set of active indicators from `previous` to
/// `current`, with counts.
#[derive(Debug, Default)]
pub struct Changes {
    pub rows: Vec<Indicator>,
    pub added: u64,
    pub updated: u64,
    pub deactivated: u64,
}

impl Changes {
    /// Adds the rows for one set: a new indicator and a changed one get an
    /// active row, an unchanged one none, and one missing from `current` an
    /// inactive row.
    pub fn compare(&mut self, previous: &IndicatorMap, current: &IndicatorMap) {
        for (id, indicator) in current {
            match previous.get(id) {
                None => {
                    self.added += 1;
                    self.rows.push(indicator.clone());
                }
                Some(before) if before != indicator => {
                    self.updated += 1;
                    self.rows.push(indicator.clone());
                }
                Some(_) => {}
            }
        }
        for (id, indicator) in previous {
            if !current.contains_key(id) {
                self.deactivated += 1;
                self.rows.push(indicator.deactivated());
            }
        }
    }
}
