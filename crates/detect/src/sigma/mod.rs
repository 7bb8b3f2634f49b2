//! Sigma rules, loaded as published and compiled to KQL.
//!
//! A `.yml` file with `logsource` and `detection` keys is a Sigma rule
//! ([`is_sigma`]). It is read ([`model`]), its log source and fields are
//! mapped to homesoc's tables ([`mapping`]) and it becomes a [`Rule`] whose
//! query is KQL ([`compile`]), so it runs, backtests and raises alerts and
//! incidents like a Sentinel rule: one alert per matching event, severity
//! from `level`, tactics and techniques from the `attack.*` tags.

pub mod compile;
pub mod condition;
pub mod mapping;
pub mod model;
pub mod modifiers;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::RuleError;
use crate::rule::{
    AlertDetailsOverride, EventGrouping, IncidentConfiguration, Rule, RuleKind, Severity,
    TICKS_PER_MINUTE, Trigger, TriggerOperator,
};
pub use compile::{Compiled, compile, kql_column, kql_string};
pub use model::{SigmaProblem, SigmaRule, parse_sigma};

/// The key of [`Rule::other_keys`] that holds a Sigma rule's own details
/// (`level`, `status`, `logsource`, `falsepositives`, `fields`,
/// `unmappedFields`).
pub const SIGMA_KEY: &str = "sigma";

/// How often a Sigma rule runs and the window it reads, in ticks: Sigma
/// rules match single events, so a short schedule sees each event once.
const SIGMA_SCHEDULE: i64 = 5 * TICKS_PER_MINUTE;

/// Returns whether a YAML document is a Sigma rule rather than a Sentinel
/// analytics rule.
pub fn is_sigma(map: &Map<String, Value>) -> bool {
    map.contains_key("detection") && map.contains_key("logsource")
}

/// ATT&CK tactic tags (`attack.<name>`) and Sentinel's tactic names.
const TACTICS: &[(&str, &str)] = &[
    ("reconnaissance", "Reconnaissance"),
    ("resource_development", "ResourceDevelopment"),
    ("resource-development", "ResourceDevelopment"),
    ("initial_access", "InitialAccess"),
    ("initial-access", "InitialAccess"),
    ("execution", "Execution"),
    ("persistence", "Persistence"),
    ("privilege_escalation", "PrivilegeEscalation"),
    ("privilege-escalation", "PrivilegeEscalation"),
    ("defense_evasion", "DefenseEvasion"),
    ("defense-evasion", "DefenseEvasion"),
    ("credential_access", "CredentialAccess"),
    ("credential-access", "CredentialAccess"),
    ("discovery", "Discovery"),
    ("lateral_movement", "LateralMovement"),
    ("lateral-movement", "LateralMovement"),
    ("collection", "Collection"),
    ("command_and_control", "CommandAndControl"),
    ("command-and-control", "CommandAndControl"),
    ("exfiltration", "Exfiltration"),
    ("impact", "Impact"),
];

/// Splits `attack.*` tags into Sentinel tactics and technique ids
/// (`attack.t1059.001` → `T1059.001`).
pub fn attack_tags(tags: &[String]) -> (Vec<String>, Vec<String>) {
    let mut tactics = Vec::new();
    let mut techniques = Vec::new();
    for tag in tags {
        let Some(name) = tag
            .to_ascii_lowercase()
            .strip_prefix("attack.")
            .map(str::to_string)
        else {
            continue;
        };
        if let Some((_, tactic)) = TACTICS.iter().find(|(tag, _)| *tag == name) {
            if !tactics.contains(&tactic.to_string()) {
                tactics.push(tactic.to_string());
            }
        } else if name.starts_with('t')
            && name[1..].chars().next().is_some_and(|c| c.is_ascii_digit())
        {
            let technique = name.to_ascii_uppercase();
            if !techniques.contains(&technique) {
                techniques.push(technique);
            }
        }
    }
    (tactics, techniques)
}

/// Maps a Sigma level to an alert severity; `critical` is `High`, the
/// highest severity Sentinel has.
pub fn severity_of_level(level: &str) -> Severity {
    match level {
        "informational" => Severity::Informational,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        _ => Severity::High,
    }
}

/// Builds a [`Rule`] from a Sigma rule's YAML document; `path` names the
/// file in errors.
pub fn load_sigma(map: &Map<String, Value>, path: &Path) -> Result<Rule, RuleError> {
    let problem = |problem: SigmaProblem| match problem {
        SigmaProblem::Invalid(reason) => RuleError::Sigma {
            path: path.to_path_buf(),
            reason,
        },
        SigmaProblem::Unsupported(feature) => RuleError::SigmaUnsupported {
            path: path.to_path_buf(),
            feature,
        },
    };
    let sigma = parse_sigma(map).map_err(problem)?;
    let compiled = compile(&sigma).map_err(problem)?;
    Ok(to_rule(&sigma, &compiled, path))
}

fn to_rule(sigma: &SigmaRule, compiled: &Compiled, path: &Path) -> Rule {
    let (tactics, techniques) = attack_tags(&sigma.tags);
    let mut other_keys = BTreeMap::new();
    other_keys.insert(
        SIGMA_KEY.to_string(),
        json!({
            "level": sigma.level,
            "status": sigma.status,
            "logsource": compiled.source,
            "tags": sigma.tags,
            "falsepositives": sigma.falsepositives,
            "fields": compiled.fields.iter().map(|(field, _)| field).collect::<Vec<_>>(),
            "unmappedFields": compiled.unmapped_fields,
            "filter": compiled.filter,
            "extends": compiled.extends,
            "condition": compiled.condition,
        }),
    );
    Rule {
        id: sigma.id.clone(),
        name: sigma.title.clone(),
        description: sigma.description.clone(),
        severity: severity_of_level(&sigma.level),
        kind: RuleKind::Scheduled,
        query: compiled.query.clone(),
        query_frequency: SIGMA_SCHEDULE,
        query_period: SIGMA_SCHEDULE,
        trigger: Trigger {
            operator: TriggerOperator::GreaterThan,
            threshold: 0,
        },
        tactics,
        relevant_techniques: techniques,
        entity_mappings: Vec::new(),
        custom_details: compiled
            .fields
            .iter()
            .map(|(field, column)| (field.clone(), column.clone()))
            .collect(),
        alert_details_override: AlertDetailsOverride::default(),
        event_grouping: EventGrouping::AlertPerResult,
        incident: IncidentConfiguration::default(),
        suppression: None,
        source: path.to_path_buf(),
        other_keys,
    }
}

/// Returns the Sigma details of a rule loaded from a Sigma file.
pub fn sigma_details(rule: &Rule) -> Option<&Value> {
    rule.other_keys.get(SIGMA_KEY)
}

/// The fields of a Sigma rule that are not in its log source's events;
/// empty for Sentinel rules.
pub fn unmapped_fields(rule: &Rule) -> Vec<String> {
    sigma_details(rule)
        .and_then(|details| details.get("unmappedFields"))
        .and_then(Value::as_array)
        .map(|fields| {
            fields
                .iter()
                .filter_map(|field| field.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
