//! homesoc's own analytics rules, in Sentinel's YAML format, compiled into
//! the binary and loaded beside the user's rules unless disabled.
//!
//! The pack covers a Windows host exposed over RDP: password guessing,
//! a guess that worked, new services, suspicious command lines, cleared
//! logs, new accounts and privileged group changes, and event addresses,
//! domain names, URLs and file hashes that a trusted threat-intelligence
//! feed lists.

use std::path::PathBuf;

use crate::load::{RuleSet, parse_rule};

/// The file names (under `builtin/`) and YAML texts of the built-in rules.
pub const BUILTIN_RULE_FILES: &[(&str, &str)] = &[
    (
        "account-created-or-made-admin.yaml",
        include_str!("../rules/account-created-or-made-admin.yaml"),
    ),
    (
        "brute-force-then-logon.yaml",
        include_str!("../rules/brute-force-then-logon.yaml"),
    ),
    (
        "log-cleared.yaml",
        include_str!("../rules/log-cleared.yaml"),
    ),
    (
        "new-service.yaml",
        include_str!("../rules/new-service.yaml"),
    ),
    (
        "rdp-brute-force.yaml",
        include_str!("../rules/rdp-brute-force.yaml"),
    ),
    (
        "suspicious-process.yaml",
        include_str!("../rules/suspicious-process.yaml"),
    ),
    (
        "ti-domain-confidence-100.yaml",
        include_str!("../rules/ti-domain-confidence-100.yaml"),
    ),
    (
        "ti-file-hash-confidence-100.yaml",
        include_str!("../rules/ti-file-hash-confidence-100.yaml"),
    ),
    (
        "ti-ip-confidence-100.yaml",
        include_str!("../rules/ti-ip-confidence-100.yaml"),
    ),
    (
        "ti-url-confidence-100.yaml",
        include_str!("../rules/ti-url-confidence-100.yaml"),
    ),
];

/// The folder name that built-in rules report as their source, so that
/// `rules list` and run records tell them from the user's files.
pub const BUILTIN_FOLDER: &str = "builtin";

/// Parses the built-in rules. A rule that fails to parse is a bug in
/// homesoc and is reported in [`RuleSet::errors`] like a user's file. A
/// unit test keeps such a rule from shipping.
pub fn builtin_rules() -> RuleSet {
    let mut set = RuleSet::default();
    for (file_name, text) in BUILTIN_RULE_FILES {
        let path = PathBuf::from(BUILTIN_FOLDER).join(file_name);
        match parse_rule(text, &path) {
            Ok(rule) => set.rules.push(rule),
            Err(err) => set.errors.push(err),
        }
    }
    set
}

/// Adds the rules of `extra` to `set`, reporting a rule whose id is
/// already in `set` as a duplicate instead of loading it.
pub fn merge_rule_sets(set: &mut RuleSet, extra: RuleSet) {
    set.errors.extend(extra.errors);
    for rule in extra.rules {
        let first = set.rules.iter().find(|loaded| loaded.id == rule.id);
        match first {
            Some(first) => set.errors.push(crate::RuleError::DuplicateId {
                id: rule.id.clone(),
                path: rule.source.clone(),
                first_path: first.source.clone(),
            }),
            None => set.rules.push(rule),
        }
    }
}

/// Loads the rules `homesoc up` schedules from `data_dir`: the rule files
/// under its `rules` folder (when it exists) and the built-in rules. Files
/// that fail to load are in [`RuleSet::errors`].
pub fn data_dir_rules(data_dir: &std::path::Path) -> RuleSet {
    let folder = data_dir.join("rules");
    let mut set = if folder.exists() {
        crate::load_rules(&[folder])
    } else {
        RuleSet::default()
    };
    merge_rule_sets(&mut set, builtin_rules());
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_parse_and_plan() {
        let set = builtin_rules();
        assert!(set.errors.is_empty(), "{:?}", set.errors);
        assert_eq!(set.rules.len(), BUILTIN_RULE_FILES.len());

        let engine = engine::Engine::new();
        let catalog = store::catalog::schema_catalog().unwrap();
        let reports = crate::check::check_rules(&set, &engine, &catalog);
        for report in &reports {
            assert!(
                report.plans,
                "{}: {:?}",
                report.path.display(),
                report.error
            );
        }
    }

    #[test]
    fn builtin_ids_are_unique() {
        let set = builtin_rules();
        let mut ids: Vec<&str> = set.rules.iter().map(|rule| rule.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), BUILTIN_RULE_FILES.len());
    }

    #[test]
    fn merge_reports_duplicate_id() {
        let mut set = builtin_rules();
        merge_rule_sets(&mut set, builtin_rules());
        assert_eq!(set.rules.len(), BUILTIN_RULE_FILES.len());
        assert_eq!(set.errors.len(), BUILTIN_RULE_FILES.len());
    }
}
