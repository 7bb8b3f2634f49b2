//! `homesoc hunt` end to end: EVTX recordings of SigmaHQ's regression
//! cases, their rules, and a rule file that does not load.

mod common;

use std::path::PathBuf;

use serde_json::Value;

fn case(name: &str) -> PathBuf {
    common::manifest_dir()
        .join("../../../shared/corpus/sigma-regression")
        .join(name)
}

const ANYDESK: &str = "file_event_win_anydesk_artefact";
const DEFENDER: &str = "win_defender_exploit_redsun_tiering_engine_detected_as_eicar";

/// Runs `homesoc hunt` over both recordings with both rules plus a bad
/// rule file, and returns the output.
fn hunt(extra: &[&str]) -> std::process::Output {
    let rules = tempfile::tempdir().unwrap();
    for name in [ANYDESK, DEFENDER] {
        std::fs::copy(
            case(name).join("rule.yml"),
            rules.path().join(format!("{name}.yml")),
        )
        .unwrap();
    }
    std::fs::write(
        rules.path().join("broken.yml"),
        "title: broken\nid: b\nlogsource: {category: process_creation, product: windows}\ndetection:\n  sel:\n    Image|nosuch: x\n  condition: sel\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut args = vec![
        "hunt".to_string(),
        case(ANYDESK).to_string_lossy().into_owned(),
        case(DEFENDER).to_string_lossy().into_owned(),
        "--rules".to_string(),
        rules.path().to_string_lossy().into_owned(),
    ];
    args.extend(extra.iter().map(|arg| arg.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::homesoc(data.path(), &args)
}

#[test]
fn hunt_json_has_one_row_per_detection() {
    let output = hunt(&["--format", "json"]);
    let stderr = common::stderr_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("broken.yml") && stderr.contains("unknown modifier `nosuch`"),
        "{stderr}"
    );
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    let columns: Vec<&str> = document["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| column["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "TimeGenerated",
            "Computer",
            "RuleId",
            "Rule",
            "Level",
            "Tactics",
            "Fields"
        ]
    );
    let rows = document["rows"].as_array().unwrap();
    let count = |level: &str| rows.iter().filter(|row| row[4] == level).count();
    // The AnyDesk recording creates three files whose names contain
    // `\AnyDesk\user.conf`; the Defender recording has one detection.
    assert_eq!(count("medium"), 3, "{rows:#?}");
    assert_eq!(count("critical"), 1, "{rows:#?}");
    assert_eq!(rows.len(), 4);
    let defender = rows.iter().find(|row| row[4] == "critical").unwrap();
    assert!(
        defender[6].as_str().unwrap().contains("RedSun.exe"),
        "{defender}"
    );
    assert!(
        defender[0].as_str().unwrap().starts_with("2026-04-17T"),
        "{defender}"
    );
}

#[test]
fn hunt_min_level_and_csv() {
    let output = hunt(&["--format", "csv", "--min-level", "high"]);
    assert!(output.status.success(), "{}", common::stderr_text(&output));
    let text = common::stdout_text(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "TimeGenerated,Computer,RuleId,Rule,Level,Tactics,Fields"
    );
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].contains(",critical,"), "{text}");
}

#[test]
fn hunt_time_window_excludes_events() {
    let output = hunt(&["--format", "json", "--from", "2026-01-01T00:00:00Z"]);
    assert!(output.status.success(), "{}", common::stderr_text(&output));
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    // Only the Defender event (2026-04-17) is after --from.
    assert_eq!(document["rows"].as_array().unwrap().len(), 1);
}

/// `process_creation` rules over Security logs with process creation
/// events (4688) and no Sysmon: a rule that reads only fields 4688 records
/// matches them, and a rule that also reads `OriginalFileName` does not.
#[test]
fn process_creation_rules_read_security_4688() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("child-of-cmd.yml"),
        "title: Child of cmd\nid: 4688-child-of-cmd\nlogsource: {category: process_creation, product: windows}\ndetection:\n  selection:\n    ParentImage|endswith: '\\cmd.exe'\n  condition: selection\n",
    )
    .unwrap();
    std::fs::write(
        rules.path().join("wevtutil.yml"),
        "title: Wevtutil\nid: 4688-wevtutil\nlogsource: {category: process_creation, product: windows}\ndetection:\n  selection:\n    - Image|endswith: '\\wevtutil.exe'\n    - OriginalFileName: 'wevtutil.exe'\n  condition: selection\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let files = ["evtx__sliver-security.evtx", "evtx__psattack-security.evtx"].map(|name| {
        common::corpus_dir()
            .join(name)
            .to_string_lossy()
            .into_owned()
    });
    let output = common::homesoc(
        data.path(),
        &[
            "hunt",
            &files[0],
            &files[1],
            "--rules",
            rules.path().to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(output.status.success(), "{}", common::stderr_text(&output));
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = document["rows"].as_array().unwrap();
    let count = |rule_id: &str| rows.iter().filter(|row| row[2] == rule_id).count() as u64;

    // Worked out from the `SecurityEvent` table's own columns.
    let expected = common::query(
        data.path(),
        r#"SecurityEvent | where EventID == 4688 and ParentProcessName endswith "\\cmd.exe" | count"#,
    )
    .scalar_u64();
    assert_eq!(expected, 10, "the recordings' children of cmd.exe");
    assert_eq!(count("4688-child-of-cmd"), expected);
    let wevtutil = common::query(
        data.path(),
        r#"SecurityEvent | where EventID == 4688 and NewProcessName endswith "\\wevtutil.exe" | count"#,
    )
    .scalar_u64();
    assert!(wevtutil > 0, "the recordings start wevtutil.exe");
    assert_eq!(count("4688-wevtutil"), 0);
}
