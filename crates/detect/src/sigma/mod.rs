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
pub mod correlation;
pub mod mapping;
pub mod model;
pub mod modifiers;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::RuleError;
use crate::rule::{
    AlertDetailsOverride, EntityMapping, EventGrouping, IncidentConfiguration, Rule, RuleKind,
    Severity, TICKS_PER_MINUTE, Trigger, TriggerOperator,
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

/// Turns a Sigma rule's problem into the error that names its file.
fn rule_error(path: &Path, problem: SigmaProblem) -> RuleError {
    match problem {
        SigmaProblem::Invalid(reason) => RuleError::Sigma {
            path: path.to_path_buf(),
            reason,
        },
        SigmaProblem::Unsupported(feature) => RuleError::SigmaUnsupported {
            path: path.to_path_buf(),
            feature,
        },
    }
}

/// Builds a [`Rule`] from a Sigma rule's YAML document; `path` names the
/// file in errors.
pub fn load_sigma(map: &Map<String, Value>, path: &Path) -> Result<Rule, RuleError> {
    let problem = |problem: SigmaProblem| rule_error(path, problem);
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
            "logsourceKeys": {
                "product": sigma.product,
                "category": sigma.category,
                "service": sigma.service,
            },
            "name": sigma.name,
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

/// The key of a Sigma rule's details that marks a base rule of correlation
/// rules none of which sets `generate: true`. Such a rule raises no alerts
/// of its own ([`raises_own_alerts`]).
pub const CORRELATION_ONLY_KEY: &str = "correlationOnly";

/// Returns false for a Sigma rule that only feeds correlation rules whose
/// `generate` is false (the default), so the scheduler and `hunt` do not
/// run it on its own. Returns true for every other rule.
pub fn raises_own_alerts(rule: &Rule) -> bool {
    !sigma_details(rule)
        .and_then(|details| details.get(CORRELATION_ONLY_KEY))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Entity types filled from a correlation's group-by fields: the field, the
/// entity type and its identifier.
const GROUP_ENTITIES: &[(&str, &str, &str)] = &[
    ("Computer", "Host", "HostName"),
    ("IpAddress", "IP", "Address"),
    ("SourceIp", "IP", "Address"),
    ("SourceAddress", "IP", "Address"),
    ("ClientAddress", "IP", "Address"),
    ("TargetUserName", "Account", "Name"),
    ("SubjectUserName", "Account", "Name"),
    ("User", "Account", "Name"),
];

/// Builds the [`Rule`] of a Sigma correlation rule. `rules` are the rules
/// loaded so far, among which the base rules are looked up by `name` or
/// `id`; `path` names the file in errors. Returns the rule, the ids of its
/// base rules and whether they also raise alerts of their own (`generate`).
pub fn load_correlation(
    map: &Map<String, Value>,
    path: &Path,
    rules: &[Rule],
) -> Result<(Rule, Vec<String>, bool), RuleError> {
    use correlation::{BaseRule, compile_correlation, parse_correlation};
    let problem = |problem: SigmaProblem| rule_error(path, problem);
    let correlation = parse_correlation(map).map_err(problem)?;
    let mut bases = Vec::new();
    for reference in &correlation.rules {
        let found = rules.iter().find(|rule| {
            rule.id == *reference
                || sigma_details(rule)
                    .and_then(|details| details.get("name"))
                    .and_then(Value::as_str)
                    == Some(reference.as_str())
        });
        let Some(rule) = found else {
            return Err(problem(SigmaProblem::Invalid(format!(
                "the correlation names rule `{reference}`, which no loaded Sigma rule has as its name or id; load the file of that rule with this one"
            ))));
        };
        let details = sigma_details(rule);
        if details.is_some_and(|details| details.get("correlation").is_some()) {
            return Err(problem(SigmaProblem::Unsupported(format!(
                "a correlation over another correlation rule (`{reference}`)"
            ))));
        }
        let Some(keys) = details.and_then(|details| details.get("logsourceKeys")) else {
            return Err(problem(SigmaProblem::Invalid(format!(
                "the correlation names rule `{reference}`, which is not a Sigma rule; correlations read Sigma rules only"
            ))));
        };
        let source = mapping::resolve_source(
            keys["product"].as_str(),
            keys["category"].as_str(),
            keys["service"].as_str(),
        )
        .map_err(|reason| problem(SigmaProblem::Unsupported(reason)))?;
        bases.push(BaseRule {
            reference,
            id: &rule.id,
            name: details
                .and_then(|details| details.get("name"))
                .and_then(Value::as_str),
            query: &rule.query,
            mapping: source.mapping,
        });
    }
    let compiled = compile_correlation(&correlation, &bases).map_err(problem)?;
    let base_ids: Vec<String> = bases.iter().map(|base| base.id.to_string()).collect();

    let (tactics, techniques) = attack_tags(&correlation.tags);
    let mut entity_mappings: Vec<EntityMapping> = Vec::new();
    for field in &correlation.group_by {
        if let Some((_, entity_type, identifier)) =
            GROUP_ENTITIES.iter().find(|(name, _, _)| name == field)
        {
            entity_mappings.push(EntityMapping {
                entity_type: entity_type.to_string(),
                field_mappings: vec![(identifier.to_string(), field.clone())],
            });
        }
    }
    let mut other_keys = BTreeMap::new();
    other_keys.insert(
        SIGMA_KEY.to_string(),
        json!({
            "level": correlation.level,
            "status": correlation.status,
            "logsource": format!("correlation/{}", correlation.kind.as_str()),
            "tags": correlation.tags,
            "falsepositives": correlation.falsepositives,
            "name": correlation.name,
            "unmappedFields": compiled.unmapped_fields,
            "correlation": {
                "type": correlation.kind.as_str(),
                "rules": &base_ids,
                "groupBy": correlation.group_by,
                "timespan": correlation.timespan,
                "condition": correlation.condition.iter().map(|(comparison, number)| {
                    json!([format!("{comparison:?}").to_ascii_lowercase(), number])
                }).collect::<Vec<_>>(),
                "field": correlation.field,
                "generate": correlation.generate,
            },
        }),
    );
    let rule = Rule {
        id: correlation.id.clone(),
        name: correlation.title.clone(),
        description: correlation.description.clone(),
        severity: severity_of_level(&correlation.level),
        kind: RuleKind::Scheduled,
        query: compiled.query,
        query_frequency: correlation.timespan_ticks,
        query_period: correlation.timespan_ticks,
        trigger: Trigger {
            operator: TriggerOperator::GreaterThan,
            threshold: 0,
        },
        tactics,
        relevant_techniques: techniques,
        entity_mappings,
        custom_details: compiled
            .columns
            .iter()
            .map(|column| (column.clone(), column.clone()))
            .collect(),
        alert_details_override: AlertDetailsOverride::default(),
        event_grouping: EventGrouping::AlertPerResult,
        incident: IncidentConfiguration::default(),
        suppression: None,
        source: path.to_path_buf(),
        other_keys,
    };
    Ok((rule, base_ids, correlation.generate))
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
