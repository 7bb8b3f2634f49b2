//! Tests of Sigma loading and compiling, on small rules.

use std::path::Path;

use serde_json::{Map, Value};

use super::*;
use crate::RuleError;

fn document(yaml: &str) -> Map<String, Value> {
    match serde_norway::from_str::<Value>(yaml).unwrap() {
        Value::Object(map) => map,
        other => panic!("not a mapping: {other}"),
    }
}

fn load(yaml: &str) -> Result<Rule, RuleError> {
    load_sigma(&document(yaml), Path::new("rule.yml"))
}

const PROCESS_RULE: &str = r#"
title: Suspicious Whoami
id: 8b5b2c1a-0000-4000-8000-000000000001
level: high
status: test
tags: [attack.discovery, attack.t1033]
logsource: {category: process_creation, product: windows}
detection:
    selection_img:
        - Image|endswith: '\whoami.exe'
        - OriginalFileName: 'whoami.exe'
    selection_cli:
        CommandLine|contains|all: ['/priv', '/all']
    filter_main:
        ParentImage: null
    condition: all of selection_* and not 1 of filter_*
falsepositives: [Admins]
"#;

#[test]
fn process_rule_compiles_to_windows_event_query() {
    let rule = load(PROCESS_RULE).unwrap();
    assert_eq!(rule.severity, Severity::High);
    assert_eq!(rule.tactics, vec!["Discovery"]);
    assert_eq!(rule.relevant_techniques, vec!["T1033"]);
    let query = &rule.query;
    assert!(query.starts_with(
        "WindowsEvent\n| where Channel == \"Microsoft-Windows-Sysmon/Operational\" and EventID == 1"
    ));
    assert!(
        query.contains(r#"Image endswith "\\whoami.exe""#),
        "{query}"
    );
    assert!(
        query.contains(r#"OriginalFileName =~ "whoami.exe""#),
        "{query}"
    );
    assert!(
        query.contains(r#"(CommandLine contains "/priv") and (CommandLine contains "/all")"#),
        "{query}"
    );
    assert!(query.contains("not(isempty(ParentImage))"), "{query}");
    kql::parse(query).unwrap();
}

#[test]
fn wildcards_become_anchored_regexes() {
    let rule = load(
        r#"
title: t
id: x1
logsource: {product: windows, service: security}
detection:
    sel:
        TargetUserName: 'adm?n*\*'
        EventID: 4624
    condition: sel
"#,
    )
    .unwrap();
    assert!(
        rule.query
            .contains(r#"TargetUserName matches regex "(?is)^adm.n.*\\*$""#),
        "{}",
        rule.query
    );
    assert!(rule.query.contains("EventID == 4624"));
}

#[test]
fn base64offset_and_windash_expand_at_compile_time() {
    let rule = load(
        r#"
title: t
id: x2
logsource: {category: process_creation, product: windows}
detection:
    sel:
        CommandLine|base64offset|contains: 'IEX'
        ParentCommandLine|windash|contains: ' -enc '
    condition: sel
"#,
    )
    .unwrap();
    for variant in ["SUVY", "lFW", "JRV"] {
        assert!(rule.query.contains(variant), "{variant}: {}", rule.query);
    }
    assert!(
        rule.query.contains(r#"contains " /enc ""#),
        "{}",
        rule.query
    );
}

#[test]
fn bad_rules_name_the_problem() {
    let unknown = load(
        "title: t\nid: a\nlogsource: {category: process_creation, product: windows}\ndetection:\n  sel:\n    Image|containz: x\n  condition: sel\n",
    )
    .unwrap_err();
    assert!(
        unknown.to_string().contains("unknown modifier `containz`"),
        "{unknown}"
    );
    assert!(unknown.to_string().starts_with("rule.yml: "));

    let missing = load(
        "title: t\nid: a\nlogsource: {category: process_creation, product: windows}\ndetection:\n  sel:\n    Image: x\n  condition: sel and filter\n",
    )
    .unwrap_err();
    assert!(
        missing.to_string().contains("selection `filter`"),
        "{missing}"
    );

    let regex = load(
        "title: t\nid: a\nlogsource: {category: process_creation, product: windows}\ndetection:\n  sel:\n    Image|re: '(unclosed'\n  condition: sel\n",
    )
    .unwrap_err();
    assert!(regex.to_string().contains("does not compile"), "{regex}");

    let linux = load(
        "title: t\nid: a\nlogsource: {category: process_creation, product: linux}\ndetection:\n  sel:\n    Image: x\n  condition: sel\n",
    )
    .unwrap_err();
    assert!(
        matches!(linux, RuleError::SigmaUnsupported { .. }),
        "{linux}"
    );
}

#[test]
fn unmapped_fields_are_reported() {
    let rule = load(
        "title: t\nid: a\nlogsource: {category: process_creation, product: windows}\ndetection:\n  sel:\n    TargetFilename: x\n  condition: sel\n",
    )
    .unwrap();
    assert_eq!(
        unmapped_fields(&rule),
        vec!["field `TargetFilename` is not in Sysmon event 1"]
    );
}

#[test]
fn keywords_search_the_event_data() {
    let rule = load(
        "title: t\nid: a\nlogsource: {product: windows, service: system}\ndetection:\n  keywords:\n    - 'C:\\temp'\n    - 'mimikatz'\n  condition: keywords\n",
    )
    .unwrap();
    assert!(
        rule.query
            .contains(r#"tostring(EventData) contains "C:\\\\temp""#),
        "{}",
        rule.query
    );
}

#[test]
fn bad_files_are_reported_and_the_rest_load() {
    let dir = tempfile::tempdir().unwrap();
    let good = "title: good\nid: good-1\nlogsource: {category: process_creation, product: windows}\ndetection:\n  sel:\n    Image|endswith: '\\x.exe'\n  condition: sel\n";
    let files = [
        ("good.yml", good.to_string()),
        ("yaml.yml", "title: [unclosed\ndetection: {".to_string()),
        (
            "modifier.yml",
            good.replace("good-1", "b1").replace("endswith", "endswit"),
        ),
        (
            "selection.yml",
            good.replace("good-1", "b2")
                .replace("condition: sel", "condition: sel and nope"),
        ),
        (
            "regex.yml",
            good.replace("good-1", "b3")
                .replace("Image|endswith: '\\x.exe'", "Image|re: '[z-a]'"),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let set = crate::load_rules(&[dir.path().to_path_buf()]);
    assert_eq!(set.rules.len(), 1);
    assert_eq!(set.rules[0].id, "good-1");
    let errors: Vec<String> = set.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    for (file, needle) in [
        ("yaml.yml", "invalid YAML"),
        ("modifier.yml", "unknown modifier `endswit`"),
        ("selection.yml", "selection `nope`"),
        ("regex.yml", "does not compile"),
    ] {
        assert!(
            errors
                .iter()
                .any(|error| error.contains(file) && error.contains(needle)),
            "{file}: {errors:#?}"
        );
    }
}

const FAILED_LOGON: &str = r#"
title: Failed logon
id: 0b9e7a52-1111-4c1e-9a11-000000000001
name: failed_logon
level: low
logsource: {product: windows, service: security}
detection:
    selection:
        EventID: 4625
    condition: selection
"#;

const SUCCESSFUL_LOGON: &str = r#"
title: Successful network logon
id: 0b9e7a52-1111-4c1e-9a11-000000000002
name: network_logon
level: low
logsource: {product: windows, service: security}
detection:
    selection:
        EventID: 4624
        LogonType: 3
    condition: selection
"#;

fn correlation(body: &str) -> String {
    format!(
        "title: Test correlation\nid: 0b9e7a52-1111-4c1e-9a11-0000000000c1\nlevel: high\ntags: [attack.credential_access, attack.t1110]\ncorrelation:\n{body}"
    )
}

/// Loads `files` (name and text) from one folder.
fn load_folder(files: &[(&str, String)]) -> crate::RuleSet {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    crate::load_rules(&[dir.path().to_path_buf()])
}

#[test]
fn event_count_correlation_in_one_file_with_its_base_rule() {
    let text = format!(
        "{FAILED_LOGON}---\n{}",
        correlation(
            "    type: event_count\n    rules: failed_logon\n    group-by: [IpAddress]\n    timespan: 5m\n    condition: {gte: 10}\n"
        )
    );
    let set = load_folder(&[("burst.yml", text)]);
    assert!(set.errors.is_empty(), "{:#?}", set.errors);
    assert_eq!(set.rules.len(), 2);
    let base = &set.rules[0];
    let rule = &set.rules[1];
    assert_eq!(base.id, "0b9e7a52-1111-4c1e-9a11-000000000001");
    // `generate` defaults to false: the base rule feeds the correlation only.
    assert!(!raises_own_alerts(base));
    assert!(raises_own_alerts(rule));
    assert_eq!(rule.severity, Severity::High);
    assert_eq!(rule.tactics, vec!["CredentialAccess"]);
    assert_eq!(rule.query_frequency, 5 * TICKS_PER_MINUTE);
    assert_eq!(rule.query_period, 5 * TICKS_PER_MINUTE);
    assert_eq!(rule.entity_mappings[0].entity_type, "IP");
    let query = &rule.query;
    assert!(query.starts_with(base.query.trim()), "{query}");
    for needle in [
        "| project TimeGenerated, SigmaRule = \"0b9e7a52-1111-4c1e-9a11-000000000001\", IpAddress = tostring(EventData[\"IpAddress\"])",
        "| summarize EventCount = count(), FirstTime = min(TimeGenerated), LastTime = max(TimeGenerated) by WindowStart = bin_at(TimeGenerated, 5m, now()), IpAddress",
        "| where EventCount >= 10",
    ] {
        assert!(query.contains(needle), "{needle}\n{query}");
    }
    assert_eq!(
        rule.custom_details,
        vec![
            ("IpAddress".to_string(), "IpAddress".to_string()),
            ("EventCount".to_string(), "EventCount".to_string())
        ]
    );
}

#[test]
fn correlation_reads_base_rules_of_other_files_and_generate_keeps_their_alerts() {
    let set = load_folder(&[
        ("a-failed.yml", FAILED_LOGON.to_string()),
        ("b-success.yml", SUCCESSFUL_LOGON.to_string()),
        (
            "c-ordered.yml",
            correlation(
                "    type: temporal_ordered\n    rules: [failed_logon, 0b9e7a52-1111-4c1e-9a11-000000000002]\n    group-by: [IpAddress]\n    timespan: 1h\n    generate: true\n",
            ),
        ),
    ]);
    assert!(set.errors.is_empty(), "{:#?}", set.errors);
    assert_eq!(set.rules.len(), 3);
    assert!(set.rules.iter().all(raises_own_alerts));
    let query = &set.rules[2].query;
    for needle in [
        "let homesoc_events = union\n(WindowsEvent",
        "| extend WindowStart = bin_at(TimeGenerated, 1h, now());",
        "| summarize Step1 = min(TimeGenerated) by WindowStart, IpAddress;",
        "| join kind=inner homesoc_step1 on WindowStart, IpAddress\n| where TimeGenerated > Step1\n| summarize Step2 = min(TimeGenerated) by WindowStart, IpAddress, Step1;",
        "homesoc_step2\n| project TimeGenerated = Step1, LastTime = Step2, WindowStart, IpAddress",
    ] {
        assert!(query.contains(needle), "{needle}\n{query}");
    }
}

#[test]
fn value_count_and_temporal_compile() {
    let set = load_folder(&[
        ("a.yml", FAILED_LOGON.to_string()),
        ("b.yml", SUCCESSFUL_LOGON.to_string()),
        (
            "c.yml",
            correlation(
                "    type: value_count\n    rules: [failed_logon]\n    group-by: [IpAddress]\n    timespan: 1d\n    condition: {field: TargetUserName, gt: 3, lte: 50}\n",
            ),
        ),
        (
            "d.yml",
            correlation(
                "    type: temporal\n    rules: [failed_logon, network_logon]\n    group-by: [Computer, IpAddress]\n    timespan: 2w\n",
            )
            .replace("0000000000c1", "0000000000c2"),
        ),
    ]);
    assert!(set.errors.is_empty(), "{:#?}", set.errors);
    let value = &set.rules[2].query;
    assert!(
        value.contains("CountedValue = tostring(EventData[\"TargetUserName\"])"),
        "{value}"
    );
    assert!(
        value.contains("| summarize ValueCount = dcountif(CountedValue, isnotempty(CountedValue))"),
        "{value}"
    );
    assert!(
        value.contains("| where ValueCount > 3 and ValueCount <= 50"),
        "{value}"
    );
    let temporal = &set.rules[3].query;
    assert!(
        temporal.contains("by WindowStart = bin_at(TimeGenerated, 14d, now()), Computer, IpAddress\n| where RuleCount == 2"),
        "{temporal}"
    );
    assert!(
        temporal.contains("Computer = tostring(Computer)"),
        "{temporal}"
    );
}

#[test]
fn bad_correlations_name_the_file_and_the_problem() {
    let body = |text: &str| correlation(text);
    let set = load_folder(&[
        ("base.yml", FAILED_LOGON.to_string()),
        (
            "unknown.yml",
            body("    type: event_count\n    rules: [no_such_rule]\n    timespan: 5m\n    condition: {gt: 1}\n"),
        ),
        (
            "type.yml",
            body("    type: event_rate\n    rules: [failed_logon]\n    timespan: 5m\n    condition: {gt: 1}\n")
                .replace("0000000000c1", "0000000000c3"),
        ),
        (
            "month.yml",
            body("    type: event_count\n    rules: [failed_logon]\n    timespan: 1M\n    condition: {gt: 1}\n")
                .replace("0000000000c1", "0000000000c4"),
        ),
        (
            "nocondition.yml",
            body("    type: value_count\n    rules: [failed_logon]\n    timespan: 5m\n    condition: {gt: 1}\n")
                .replace("0000000000c1", "0000000000c5"),
        ),
        (
            "collection.yml",
            format!("action: global\n{FAILED_LOGON}"),
        ),
    ]);
    assert_eq!(set.rules.len(), 1, "{:#?}", set.rules);
    let errors: Vec<(String, bool)> = set
        .errors
        .iter()
        .map(|error| {
            (
                error.to_string(),
                matches!(error, RuleError::SigmaUnsupported { .. }),
            )
        })
        .collect();
    assert_eq!(errors.len(), 5, "{errors:#?}");
    for (file, needle, unsupported) in [
        ("unknown.yml", "names rule `no_such_rule`", false),
        ("type.yml", "correlation type `event_rate`", true),
        ("month.yml", "calendar units (`1M`)", true),
        ("nocondition.yml", "needs the field to count", false),
        ("collection.yml", "rule collection `action: global`", true),
    ] {
        assert!(
            errors
                .iter()
                .any(|(error, is_unsupported)| error.contains(file)
                    && error.contains(needle)
                    && *is_unsupported == unsupported),
            "{file}: {errors:#?}"
        );
    }
    // The base rule is not marked: no correlation over it loaded.
    assert!(raises_own_alerts(&set.rules[0]));
}

#[test]
fn process_rule_reads_security_4688_when_its_fields_allow() {
    let rule = load(
        r#"
title: Cmd started by Office
id: 8b5b2c1a-0000-4000-8000-000000004688
logsource: {category: process_creation, product: windows}
detection:
    selection:
        Image|endswith: '\cmd.exe'
        ParentImage|endswith: '\winword.exe'
    filter:
        CommandLine|contains: '/c echo'
    condition: selection and not filter
"#,
    )
    .unwrap();
    let query = &rule.query;
    assert!(
        query.starts_with("WindowsEvent\n| where (Channel == \"Microsoft-Windows-Sysmon/Operational\" and EventID == 1) or (Channel == \"Security\" and EventID == 4688)"),
        "{query}"
    );
    assert!(
        query.contains("Image = iff(EventID == 4688, tostring(EventData[\"NewProcessName\"]), tostring(EventData[\"Image\"]))"),
        "{query}"
    );
    assert!(
        query.contains("ParentImage = iff(EventID == 4688, tostring(EventData[\"ParentProcessName\"]), tostring(EventData[\"ParentImage\"]))"),
        "{query}"
    );
    assert!(
        query.contains("CommandLine = tostring(EventData[\"CommandLine\"])"),
        "{query}"
    );
    // A field 4688 does not record keeps the rule on Sysmon events.
    let sysmon_only = load(PROCESS_RULE).unwrap();
    assert!(!sysmon_only.query.contains("4688"), "{}", sysmon_only.query);
}
