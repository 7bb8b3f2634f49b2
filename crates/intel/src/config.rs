//! Feed configuration, stored in the workspace as `intel/feeds.json`.
//!
//! The file is JSON so that it can be edited by hand and diffed:
//!
//! ```json
//! {
//!   "validity": {"ip_days": 180, "domain_days": 180, "url_days": 365, "other_days": 50},
//!   "feeds": [{"name": "Feodo IP Blocklist", "url": "https://…", "format": "csv",
//!              "enabled": true, "value_columns": [2], "delimiter": ","}]
//! }
//! ```
//!
//! Feed names are unique and are the `SourceSystem` of their indicators.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::IntelError;
use crate::indicator::Validity;

/// How a feed's content is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    /// A `manifest.json` plus one MISP event file per event.
    Misp,
    /// Delimited rows with the values in selected columns.
    Csv,
    /// Any text, with each token's type detected.
    Freetext,
    /// A MISP server's REST API (`/attributes/restSearch`).
    MispApi,
    /// A TAXII 2.1 collection, read from its API root.
    Taxii,
}

impl FeedFormat {
    pub fn name(self) -> &'static str {
        match self {
            FeedFormat::Misp => "misp",
            FeedFormat::Csv => "csv",
            FeedFormat::Freetext => "freetext",
            FeedFormat::MispApi => "misp-api",
            FeedFormat::Taxii => "taxii",
        }
    }
}

impl std::str::FromStr for FeedFormat {
    type Err = IntelError;

    fn from_str(text: &str) -> Result<FeedFormat, IntelError> {
        match text {
            "misp" => Ok(FeedFormat::Misp),
            "csv" => Ok(FeedFormat::Csv),
            "freetext" => Ok(FeedFormat::Freetext),
            "misp-api" => Ok(FeedFormat::MispApi),
            "taxii" => Ok(FeedFormat::Taxii),
            other => Err(IntelError::InvalidConfig(format!(
                "unknown feed format {other:?}; use misp, csv, freetext, misp-api or taxii"
            ))),
        }
    }
}

/// One feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedConfig {
    pub name: String,
    #[serde(default)]
    pub provider: String,
    /// An `http(s)://` or `file://` URL, or a local path. For a MISP feed,
    /// the folder that contains `manifest.json`; for a TAXII feed, the API root
    /// or discovery URL.
    pub url: String,
    pub format: FeedFormat,
    pub enabled: bool,
    /// CSV only: the 1-based columns that hold values; empty means every
    /// column.
    #[serde(default)]
    pub value_columns: Vec<usize>,
    /// CSV only: the field delimiter.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// A regular expression; values (CSV cells or freetext tokens) that
    /// match it are skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_regex: Option<String>,
    /// A `ConfidenceScore` that replaces the one from tags for every
    /// indicator of this feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// When set, values from CSV and freetext feeds are not flagged for
    /// detection, so they make no indicators (MISP's `override_ids`).
    #[serde(default)]
    pub override_ids: bool,
    /// Extra HTTP headers, `Name: value` each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// MISP API only: where the API key is read from at each pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretSource>,
    /// MISP API only: pull only attributes with one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// MISP API only: pull only attributes of published events.
    #[serde(default)]
    pub published_only: bool,
    /// MISP API: attributes per page of `restSearch`. TAXII: the `limit`
    /// sent with each objects request, which the server may lower.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// TAXII only: the id of the collection to pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// TAXII only: the user name for HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// TAXII only: where the basic authentication password is read from at
    /// each pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretSource>,
    /// How often the refresher pulls the feed, in minutes; `None` uses the
    /// refresher's default interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_interval_minutes: Option<u64>,
    /// A PEM file of CA certificates that HTTPS servers of this feed may
    /// chain to, trusted in addition to the system's CAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A PEM file with the client certificate (and its intermediates) sent
    /// to servers that request one. It may also contain the private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    /// A PEM file with the client certificate's private key (PKCS#8, PKCS#1
    /// or SEC1), when `client_cert_file` does not contain it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
}

fn default_page_size() -> usize {
    1000
}

/// Where a secret is read from. The secret itself is never stored in the
/// feed list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// A file whose content, trimmed of white space, is the secret.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl SecretSource {
    /// Reads the secret.
    pub fn read(&self) -> Result<String, IntelError> {
        let secret = match self {
            SecretSource::File(path) => {
                std::fs::read_to_string(path).map_err(|source| IntelError::Io {
                    path: path.clone(),
                    source,
                })?
            }
            SecretSource::Env(name) => std::env::var(name).map_err(|_| {
                IntelError::InvalidConfig(format!(
                    "environment variable {name} with the secret is not set; export it or use a file"
                ))
            })?,
        };
        let secret = secret.trim().to_string();
        if secret.is_empty() {
            return Err(IntelError::InvalidConfig(format!(
                "the secret from {self:?} is empty"
            )));
        }
        Ok(secret)
    }
}

fn default_delimiter() -> char {
    ','
}

impl FeedConfig {
    /// Creates an enabled feed with the default settings of its format.
    pub fn new(name: &str, url: &str, format: FeedFormat) -> FeedConfig {
        FeedConfig {
            name: name.to_string(),
            provider: String::new(),
            url: url.to_string(),
            format,
            enabled: true,
            value_columns: Vec::new(),
            delimiter: default_delimiter(),
            exclude_regex: None,
            confidence: None,
            override_ids: false,
            headers: Vec::new(),
            api_key: None,
            tags: Vec::new(),
            published_only: false,
            page_size: default_page_size(),
            collection: None,
            user: None,
            password: None,
            pull_interval_minutes: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }

    /// Returns true when the feed has its own TLS settings, so that its
    /// requests need an HTTP client of their own.
    pub fn has_tls_settings(&self) -> bool {
        self.ca_file.is_some() || self.client_cert_file.is_some()
    }

    /// Checks the settings that a pull relies on.
    pub fn validate(&self) -> Result<(), IntelError> {
        if self.name.trim().is_empty() {
            return Err(IntelError::InvalidConfig("a feed needs a name".into()));
        }
        if let Some(confidence) = self.confidence
            && !(0.0..=100.0).contains(&confidence)
        {
            return Err(IntelError::InvalidConfig(format!(
                "confidence {confidence} of feed {:?} is outside 0 to 100",
                self.name
            )));
        }
        if self.value_columns.contains(&0) {
            return Err(IntelError::InvalidConfig(format!(
                "value column 0 of feed {:?}: columns are numbered from 1",
                self.name
            )));
        }
        if self.format == FeedFormat::MispApi && self.api_key.is_none() {
            return Err(IntelError::InvalidConfig(format!(
                "MISP API feed {:?} needs an API key file or environment variable",
                self.name
            )));
        }
        if self.format == FeedFormat::Taxii {
            self.validate_taxii()?;
        }
        if self.client_key_file.is_some() && self.client_cert_file.is_none() {
            return Err(IntelError::InvalidConfig(format!(
                "feed {:?} has a client key file but no client certificate file; give both",
                self.name
            )));
        }
        if let Some(pattern) = &self.exclude_regex {
            regex::Regex::new(pattern).map_err(|err| {
                IntelError::InvalidConfig(format!(
                    "exclude regex {pattern:?} of feed {:?}: {err}",
                    self.name
                ))
            })?;
        }
        Ok(())
    }
}

impl FeedConfig {
    fn validate_taxii(&self) -> Result<(), IntelError> {
        let url = url::Url::parse(&self.url).ok();
        if !url
            .as_ref()
            .is_some_and(|url| url.scheme() == "http" || url.scheme() == "https")
        {
            return Err(IntelError::InvalidConfig(format!(
                "TAXII feed {:?} has URL {:?}; give the API root as an http:// or https:// URL",
                self.name, self.url
            )));
        }
        if url.is_some_and(|url| !url.username().is_empty() || url.password().is_some()) {
            return Err(IntelError::InvalidConfig(format!(
                "the URL of TAXII feed {:?} contains credentials; give the user with --user and the password in a file or environment variable",
                self.name
            )));
        }
        if self
            .collection
            .as_deref()
            .is_none_or(|id| id.trim().is_empty())
        {
            return Err(IntelError::InvalidConfig(format!(
                "TAXII feed {:?} needs a collection id",
                self.name
            )));
        }
        match (&self.user, &self.password) {
            (Some(_), None) => Err(IntelError::InvalidConfig(format!(
                "TAXII feed {:?} has a user but no password file or environment variable",
                self.name
            ))),
            (None, Some(_)) => Err(IntelError::InvalidConfig(format!(
                "TAXII feed {:?} has a password source but no user",
                self.name
            ))),
            _ => Ok(()),
        }
    }
}

/// The content of `intel/feeds.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedsFile {
    #[serde(default)]
    pub validity: Validity,
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
}

/// Returns the workspace's intel folder.
pub fn intel_folder(workspace_root: &Path) -> PathBuf {
    workspace_root.join("intel")
}

impl FeedsFile {
    fn path(workspace_root: &Path) -> PathBuf {
        intel_folder(workspace_root).join("feeds.json")
    }

    /// Reads the feed list, or an empty one when the file does not exist.
    pub fn load(workspace_root: &Path) -> Result<FeedsFile, IntelError> {
        let path = FeedsFile::path(workspace_root);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| IntelError::StateFile { path, source }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(FeedsFile::default()),
            Err(source) => Err(IntelError::Io { path, source }),
        }
    }

    /// Writes the feed list, replacing the file atomically.
    pub fn save(&self, workspace_root: &Path) -> Result<(), IntelError> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|err| IntelError::Internal(format!("cannot encode the feed list: {err}")))?;
        write_atomically(&FeedsFile::path(workspace_root), &bytes)
    }

    pub fn feed(&self, name: &str) -> Option<&FeedConfig> {
        self.feeds.iter().find(|feed| feed.name == name)
    }

    /// Adds a feed, failing when one of that name exists.
    pub fn add(&mut self, feed: FeedConfig) -> Result<(), IntelError> {
        feed.validate()?;
        if self.feed(&feed.name).is_some() {
            return Err(IntelError::InvalidConfig(format!(
                "a feed named {:?} exists already; choose another name",
                feed.name
            )));
        }
        self.feeds.push(feed);
        Ok(())
    }

    /// Enables or disables a feed.
    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<(), IntelError> {
        let feed = self
            .feeds
            .iter_mut()
            .find(|feed| feed.name == name)
            .ok_or_else(|| IntelError::UnknownFeed {
                name: name.to_string(),
            })?;
        feed.enabled = enabled;
        Ok(())
    }
}

/// Writes `bytes` to a temporary file beside `path` and renames it over
/// `path`, so that a reader sees the old or the new content, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IntelError> {
    let io_error = |source| IntelError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error)?;
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, bytes).map_err(io_error)?;
    std::fs::rename(&temporary, path).map_err(io_error)
}
