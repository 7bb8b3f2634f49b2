//! Loading rule files: loose forms, unknown keys, and each kind of bad rule
//! reported with its file and key while the other rules still load.

use std::path::{Path, PathBuf};

use detect::RuleError;
use detect::load::parse_rule;
use detect::rule::{EventGrouping, MatchingMethod, RuleKind, Severity, TriggerOperator};

const HOUR: i64 = 36_000_000_000;

const LOOSE_RULE: &str = r#"
id: 11111111-2222-3333-4444-555555555555
name: Loose rule
severity: high
kind: scheduled
queryFrequency: PT1H
queryPeriod: 1d
triggerOperator: GreaterThan
triggerThreshold: "2"
tactics: CredentialAccess, InitialAccess
relevantTechniques:
  - T1110.001
query: |
  SecurityEvent | where EventID == 4625
entityMappings:
  - entityType: account
    fieldMappings:
      - identifier: FullName
        columnName: Account
customDetails:
  Target: TargetUserName
alertDetailsOverride:
  alertDisplayNameFormat: "Failed logons for {{TargetUserName}}"
  alertSeverityColumnName: Sev
eventGroupingSettings:
  aggregationKind: alertPerResult
incidentConfiguration:
  createIncident: "true"
  groupingConfiguration:
    enabled: true
    reopenClosedIncident: true
    lookbackDuration: PT2H
    matchingMethod: Selected
    groupByEntities: [Account]
    groupByAlertDetails: [DisplayName]
    groupByCustomDetails: [Target]
suppressionEnabled: true
suppressionDuration: 3h
requiredDataConnectors:
  - connectorId: SecurityEvents
version: 1.0.0
"#;

#[test]
fn loose_forms_load() {
    let rule = parse_rule(LOOSE_RULE, Path::new("loose.yaml")).expect("rule loads");
    assert_eq!(rule.severity, Severity::High);
    assert_eq!(rule.kind, RuleKind::Scheduled);
    assert_eq!(rule.query_frequency, HOUR);
    assert_eq!(rule.query_period, 24 * HOUR);
    assert_eq!(rule.trigger.operator, TriggerOperator::GreaterThan);
    assert_eq!(rule.trigger.threshold, 2);
    assert_eq!(rule.tactics, ["CredentialAccess", "InitialAccess"]);
    assert_eq!(rule.entity_mappings[0].entity_type, "account");
    assert_eq!(
        rule.custom_details,
        [("Target".to_string(), "TargetUserName".to_string())]
    );
    assert_eq!(
        rule.alert_details_override.display_name_format.as_deref(),
        Some("Failed logons for {{TargetUserName}}")
    );
    assert_eq!(rule.event_grouping, EventGrouping::AlertPerResult);
    let grouping = rule.incident.grouping.as_ref().expect("grouping enabled");
    assert!(rule.incident.create_incident);
    assert!(grouping.reopen_closed_incident);
    assert_eq!(grouping.lookback, 2 * HOUR);
    assert_eq!(grouping.matching, MatchingMethod::Selected);
    assert_eq!(grouping.group_by_entities, ["account"]);
    assert_eq!(rule.suppression, Some(3 * HOUR));
    assert!(rule.other_keys.contains_key("requiredDataConnectors"));
    assert!(rule.other_keys.contains_key("version"));
}

#[test]
fn missing_kind_is_scheduled() {
    let text = LOOSE_RULE.replace("kind: scheduled\n", "");
    let rule = parse_rule(&text, Path::new("r.yaml")).expect("rule loads");
    assert_eq!(rule.kind, RuleKind::Scheduled);
}

#[test]
fn nrt_needs_no_schedule() {
    let text = "id: a\nname: n\nseverity: Low\nkind: NRT\nquery: Event\n";
    let rule = parse_rule(text, Path::new("nrt.yaml")).expect("rule loads");
    assert_eq!(rule.kind, RuleKind::Nrt);
    assert_eq!(rule.query_frequency, HOUR / 60);
}

fn error_of(text: &str) -> RuleError {
    parse_rule(text, Path::new("bad.yaml")).expect_err("rule must not load")
}

#[test]
fn bad_timespan_names_key() {
    let err = error_of(&LOOSE_RULE.replace("queryPeriod: 1d", "queryPeriod: 5x"));
    assert!(
        matches!(&err, RuleError::InvalidValue { key, value, .. } if key == "queryPeriod" && value == "`5x`"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.starts_with("bad.yaml: "), "{message}");
    assert!(message.contains("PT5H"), "{message}");
}

#[test]
fn missing_query_names_key() {
    let text = LOOSE_RULE.replace("query: |\n  SecurityEvent | where EventID == 4625\n", "");
    let err = error_of(&text);
    assert_eq!(
        err,
        RuleError::MissingKey {
            path: PathBuf::from("bad.yaml"),
            key: "query".into()
        }
    );
}

#[test]
fn invalid_yaml_reported() {
    let err = error_of("id: [unclosed\nname: x\n");
    assert!(matches!(err, RuleError::Yaml { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("bad.yaml: invalid YAML"),
        "{err}"
    );
}

#[test]
fn invalid_values_name_keys() {
    let cases = [
        ("severity: high", "severity: urgent", "severity"),
        (
            "triggerOperator: GreaterThan",
            "triggerOperator: about",
            "triggerOperator",
        ),
        (
            "triggerThreshold: \"2\"",
            "triggerThreshold: -1",
            "triggerThreshold",
        ),
        ("kind: scheduled", "kind: Fusion", "kind"),
        (
            "aggregationKind: alertPerResult",
            "aggregationKind: Some",
            "eventGroupingSettings.aggregationKind",
        ),
        (
            "entityType: account",
            "entityType: Spaceship",
            "entityMappings[0].entityType",
        ),
        (
            "matchingMethod: Selected",
            "matchingMethod: Maybe",
            "incidentConfiguration.groupingConfiguration.matchingMethod",
        ),
        (
            "suppressionDuration: 3h",
            "suppressionDuration: soon",
            "suppressionDuration",
        ),
    ];
    for (from, to, expected_key) in cases {
        let err = error_of(&LOOSE_RULE.replace(from, to));
        assert!(
            matches!(&err, RuleError::InvalidValue { key, .. } if key == expected_key),
            "{to}: {err:?}"
        );
    }
}

#[test]
fn folder_reports_bad_and_duplicate_rules() {
    let folder = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(folder.path().join(name), text).unwrap();
    write("a_good.yaml", LOOSE_RULE);
    write("b_duplicate.yml", LOOSE_RULE);
    write("c_broken.yaml", "id: [");
    write("d_other.yaml", &LOOSE_RULE.replace("11111111", "99999999"));
    write("notes.txt", "not a rule");

    let set = detect::load_rules(&[folder.path().to_path_buf()]);
    let ids: Vec<&str> = set.rules.iter().map(|rule| rule.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "11111111-2222-3333-4444-555555555555",
            "99999999-2222-3333-4444-555555555555"
        ]
    );
    assert_eq!(set.errors.len(), 2, "{:?}", set.errors);
    assert!(
        matches!(&set.errors[0], RuleError::DuplicateId { path, first_path, .. }
            if path.ends_with("b_duplicate.yml") && first_path.ends_with("a_good.yaml")),
        "{:?}",
        set.errors[0]
    );
    assert!(
        matches!(&set.errors[1], RuleError::Yaml { path, .. } if path.ends_with("c_broken.yaml")),
        "{:?}",
        set.errors[1]
    );
}

#[test]
fn multi_document_error_names_document() {
    let folder = tempfile::tempdir().unwrap();
    let second = LOOSE_RULE
        .replace("11111111", "22222222")
        .replace("name: Loose rule", "name: Second rule")
        .replace("severity: high", "severity: extreme");
    let text = format!("{LOOSE_RULE}\n---\n{second}");
    std::fs::write(folder.path().join("pair.yaml"), text).unwrap();

    let set = detect::load_rules(&[folder.path().to_path_buf()]);
    assert_eq!(set.rules.len(), 1, "{:?}", set.errors);
    assert_eq!(set.errors.len(), 1, "{:?}", set.errors);
    let error = &set.errors[0];
    assert!(error.path().ends_with("pair.yaml"), "{error}");
    assert!(
        matches!(error.innermost(), RuleError::InvalidValue { key, .. } if key == "severity"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("in document 2 of 2"), "{message}");
    assert!(message.contains("`Second rule`"), "{message}");
}
