//! Errors of the detect crate.

use std::path::PathBuf;

/// A rule file that cannot be loaded. Each variant names the file, and the
/// key where one is at fault, so the user can fix the YAML.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    /// The file or folder cannot be read.
    #[error("{path}: cannot read: {reason}")]
    Read { path: PathBuf, reason: String },
    /// The file is not valid YAML.
    #[error("{path}: invalid YAML: {reason}")]
    Yaml { path: PathBuf, reason: String },
    /// The document is not a mapping of keys to values.
    #[error("{path}: the rule must be a YAML mapping of keys such as id, name and query")]
    NotAMapping { path: PathBuf },
    /// A key that the rule's kind requires is missing or empty.
    #[error("{path}: missing required key `{key}`")]
    MissingKey { path: PathBuf, key: String },
    /// A key has a value of the wrong form.
    #[error("{path}: invalid value {value} for key `{key}`: {expected}")]
    InvalidValue {
        path: PathBuf,
        key: String,
        value: String,
        expected: String,
    },
    /// A second rule uses an id already loaded from another file; the
    /// second file is not loaded.
    #[error(
        "{path}: duplicate rule id {id}, already used by {first_path}; give each rule its own id"
    )]
    DuplicateId {
        id: String,
        path: PathBuf,
        first_path: PathBuf,
    },
    /// A Sigma rule is invalid: an unknown modifier, a condition naming a
    /// missing selection, a regular expression that does not compile, ...
    #[error("{path}: invalid Sigma rule: {reason}")]
    Sigma { path: PathBuf, reason: String },
    /// A Sigma rule uses a feature (named) that homesoc does not support.
    #[error("{path}: unsupported Sigma feature: {feature}")]
    SigmaUnsupported { path: PathBuf, feature: String },
    /// An error of one document of a file that contains several, with the
    /// document's position (from 1) and its `title` or `name` if it has one.
    #[error(
        "{source} (in document {document} of {documents}{})",
        title_suffix(title)
    )]
    InDocument {
        document: usize,
        documents: usize,
        title: Option<String>,
        source: Box<RuleError>,
    },
}

fn title_suffix(title: &Option<String>) -> String {
    match title {
        Some(title) => format!(", `{title}`"),
        None => String::new(),
    }
}

impl RuleError {
    /// Returns the file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            RuleError::Read { path, .. }
            | RuleError::Yaml { path, .. }
            | RuleError::NotAMapping { path }
            | RuleError::MissingKey { path, .. }
            | RuleError::InvalidValue { path, .. }
            | RuleError::DuplicateId { path, .. }
            | RuleError::Sigma { path, .. }
            | RuleError::SigmaUnsupported { path, .. } => path,
            RuleError::InDocument { source, .. } => source.path(),
        }
    }

    /// Returns the error itself, or for an error of one document of a
    /// file, the error inside.
    pub fn innermost(&self) -> &RuleError {
        match self {
            RuleError::InDocument { source, .. } => source.innermost(),
            other => other,
        }
    }
}

/// A failure while running rules or changing incidents.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The rule's query does not parse or plan, or failed while running.
    #[error("rule {rule_id} ({rule_name}): {message}")]
    Query {
        rule_id: String,
        rule_name: String,
        message: String,
    },
    /// Reading or writing the workspace failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A query over homesoc's own tables failed; a bug in homesoc.
    #[error("cannot read {table}: {message}")]
    Internal { table: String, message: String },
    /// No incident has this number.
    #[error("no incident number {number}; list incidents with `homesoc incidents list`")]
    IncidentNotFound { number: i64 },
    /// An incident change is not allowed in the incident's state.
    #[error("incident {number}: {reason}")]
    InvalidChange { number: i64, reason: String },
    /// The rule state file cannot be read or written.
    #[error("{path}: {reason}")]
    RuleState { path: PathBuf, reason: String },
    /// The automation rules file is invalid; `rule` names the rule at
    /// fault, when one is.
    #[error("{path}: {}{reason}", rule_prefix(.rule))]
    AutomationConfig {
        path: PathBuf,
        rule: Option<String>,
        reason: String,
    },
    /// The notification outbox cannot be read or written.
    #[error("{path}: {reason}")]
    Outbox { path: PathBuf, reason: String },
}

/// Returns "automation rule `NAME`: " for an error about one rule.
fn rule_prefix(rule: &Option<String>) -> String {
    rule.as_ref()
        .map(|name| format!("automation rule `{name}`: "))
        .unwrap_or_default()
}
