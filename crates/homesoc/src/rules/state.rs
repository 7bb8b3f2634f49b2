//! `homesoc rules list | enable | disable`: the rules and whether each is
//! enabled, kept in the data folder.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use detect::RuleStates;
use detect::builtin::BUILTIN_FOLDER;
use serde_json::{Value, json};

use super::RuleSource;
use crate::query::write_stdout;

/// Lists the rules with their state, as a table or as JSON.
pub fn list(data_dir: &Path, source: &RuleSource, json_output: bool) -> anyhow::Result<ExitCode> {
    let rules = source.load(data_dir)?;
    let states = RuleStates::load(data_dir)?;
    if json_output {
        let items: Vec<Value> = rules
            .iter()
            .map(|rule| {
                json!({
                    "id": rule.id,
                    "name": rule.name,
                    "kind": rule.kind.as_str(),
                    "severity": rule.severity.as_str(),
                    "enabled": states.is_enabled(&rule.id),
                    "builtin": rule.source.starts_with(BUILTIN_FOLDER),
                    "queryFrequency": detect::timespan::format_iso8601(rule.query_frequency),
                    "queryPeriod": detect::timespan::format_iso8601(rule.query_period),
                    "path": rule.source,
                })
            })
            .collect();
        write_stdout(&format!("{}\n", Value::Array(items)))?;
        return Ok(ExitCode::SUCCESS);
    }

    let mut text = String::new();
    for rule in &rules {
        let state = if states.is_enabled(&rule.id) {
            "enabled"
        } else {
            "disabled"
        };
        text.push_str(&format!(
            "{:<38} {:<8} {:<13} {:<9} every {:<6} {}\n",
            rule.id,
            state,
            rule.severity.as_str(),
            rule.kind.as_str(),
            detect::timespan::format_iso8601(rule.query_frequency),
            rule.name
        ));
    }
    let enabled = rules
        .iter()
        .filter(|rule| states.is_enabled(&rule.id))
        .count();
    text.push_str(&format!("{} rules, {enabled} enabled\n", rules.len()));
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Enables or disables the rules `ids`, which must be known rules.
pub fn set_enabled(
    data_dir: &Path,
    source: &RuleSource,
    ids: &[String],
    enabled: bool,
) -> anyhow::Result<ExitCode> {
    let rules = source.load(data_dir)?;
    let mut states = RuleStates::load(data_dir)?;
    for id in ids {
        if !rules.iter().any(|rule| &rule.id == id) {
            bail!(
                "no rule with id {id} in {} or the built-in rules; list the rules with `homesoc rules list`",
                source.folder(data_dir).display()
            );
        }
    }
    let mut text = String::new();
    for id in ids {
        let changed = states.set_enabled(id, enabled);
        let state = if enabled { "enabled" } else { "disabled" };
        if changed {
            text.push_str(&format!("{id}: {state}\n"));
        } else {
            text.push_str(&format!("{id}: already {state}\n"));
        }
    }
    states.save()?;
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
