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
