//! The disabled rules, kept in the data folder so that `homesoc rules
//! disable ID` applies to every later run and to the scheduler.
//!
//! The state is one JSON file, `rule-state.json`, with the sorted ids of
//! the disabled rules. A rule not listed is enabled, so new rules (and the
//! built-in pack) run by default.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DetectError;

/// The name of the state file in the data folder.
pub const RULE_STATE_FILE: &str = "rule-state.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    disabled: BTreeSet<String>,
}

/// The enabled or disabled state of the rules of one data folder.
#[derive(Debug, Clone)]
pub struct RuleStates {
    path: PathBuf,
    disabled: BTreeSet<String>,
}

impl RuleStates {
    /// Reads the state of `data_dir`; a missing file means every rule is
    /// enabled. A file that is not valid JSON is an error naming the file.
    pub fn load(data_dir: &Path) -> Result<RuleStates, DetectError> {
        let path = data_dir.join(RULE_STATE_FILE);
        let disabled = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let file: StateFile =
                    serde_json::from_str(&text).map_err(|err| DetectError::RuleState {
                        path: path.clone(),
                        reason: format!(
                            "invalid JSON ({err}); fix the file or delete it to enable every rule"
                        ),
                    })?;
                file.disabled
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(err) => {
                return Err(DetectError::RuleState {
                    path,
                    reason: err.to_string(),
                });
            }
        };
        Ok(RuleStates { path, disabled })
    }

    /// Returns true unless the rule was disabled.
    pub fn is_enabled(&self, rule_id: &str) -> bool {
        !self.disabled.contains(rule_id)
    }

    /// Enables or disables a rule; returns true when the state changed.
    /// Call [`RuleStates::save`] to keep the change.
    pub fn set_enabled(&mut self, rule_id: &str, enabled: bool) -> bool {
        if enabled {
            self.disabled.remove(rule_id)
        } else {
            self.disabled.insert(rule_id.to_string())
        }
    }

    /// Returns the ids of the disabled rules, sorted.
    pub fn disabled(&self) -> impl Iterator<Item = &str> {
        self.disabled.iter().map(String::as_str)
    }

    /// Writes the state to a temporary file and renames it over the state
    /// file, so that a crash leaves either the old or the new state.
    pub fn save(&self) -> Result<(), DetectError> {
        let error = |err: std::io::Error| DetectError::RuleState {
            path: self.path.clone(),
            reason: err.to_string(),
        };
        if let Some(folder) = self.path.parent() {
            std::fs::create_dir_all(folder).map_err(error)?;
        }
        let file = StateFile {
            disabled: self.disabled.clone(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|err| DetectError::RuleState {
            path: self.path.clone(),
            reason: err.to_string(),
        })?;
        let temporary = self.path.with_extension("json.tmp");
        std::fs::write(&temporary, format!("{text}\n")).map_err(error)?;
        std::fs::rename(&temporary, &self.path).map_err(error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_save_and_load() {
        let folder = tempfile::tempdir().unwrap();
        let mut states = RuleStates::load(folder.path()).unwrap();
        assert!(states.is_enabled("a"));
        assert!(states.set_enabled("a", false));
        assert!(!states.set_enabled("a", false), "already disabled");
        states.save().unwrap();

        let mut reloaded = RuleStates::load(folder.path()).unwrap();
        assert!(!reloaded.is_enabled("a"));
        assert!(reloaded.is_enabled("b"));
        assert!(reloaded.set_enabled("a", true));
        reloaded.save().unwrap();
        assert!(RuleStates::load(folder.path()).unwrap().is_enabled("a"));
    }

    #[test]
    fn invalid_state_file_names_path() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join(RULE_STATE_FILE), "{not json").unwrap();
        let error = RuleStates::load(folder.path()).unwrap_err().to_string();
        assert!(error.contains(RULE_STATE_FILE), "{error}");
        assert!(error.contains("invalid JSON"), "{error}");
    }
}
