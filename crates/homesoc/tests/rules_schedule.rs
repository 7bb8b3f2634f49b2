//! `homesoc rules enable | disable | list | schedule --once` on a real
//! EVTX file: the scheduler runs each enabled rule at its due instants,
//! remembers each rule's last run across processes, and raises no
//! duplicate alert when overlapping windows see the same result again.

mod common;

use common::{corpus_dir, homesoc, query, stderr_text, stdout_text};
use serde_json::Value;

/// 3561 failed logons (4625) from 192.168.198.149 against DESKTOP-M5SN04R,
/// all between 16:50:06 and 16:52:49 UTC on 2016-09-19. They are the
/// file's only records.
const PASSWORD_GUESSING: &str = "evtx__smb-password-guessing-security.evtx";
const GUESSING_IP: &str = "192.168.198.149";

/// The built-in "Brute force of Windows logons from one address" rule.
const BUILTIN_BRUTE_FORCE: &str = "bee49c5e-6cc4-44dc-8c6c-59782107251b";

/// A rule written for this test: the built-in brute-force query every 10
/// minutes over the last hour, so that six consecutive runs see the same
/// failures and return the same result row.
const OVERLAP_RULE_ID: &str = "0d9f3c52-3f1e-4d55-9a36-0a4f3bb0f0a1";
const OVERLAP_RULE: &str = r#"
id: 0d9f3c52-3f1e-4d55-9a36-0a4f3bb0f0a1
name: Failed logons from one address, overlapping windows
severity: Low
queryFrequency: 10m
queryPeriod: 1h
triggerOperator: gt
triggerThreshold: 0
query: |
  SecurityEvent
  | where EventID == 4625 and isnotempty(IpAddress) and IpAddress != "-"
  | summarize FailedLogons = count(), StartTime = min(TimeGenerated), EndTime = max(TimeGenerated) by IpAddress, Computer
  | where FailedLogons >= 20
entityMappings:
  - entityType: IP
    fieldMappings:
      - identifier: Address
        columnName: IpAddress
eventGroupingSettings:
  aggregationKind: AlertPerResult
"#;

fn run_json(data_dir: &std::path::Path, args: &[&str]) -> Value {
    let output = homesoc(data_dir, args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        stderr_text(&output)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{args:?} did not print JSON ({err}): {}",
            stdout_text(&output)
        )
    })
}

fn run_text(data_dir: &std::path::Path, args: &[&str]) -> String {
    let output = homesoc(data_dir, args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        stderr_text(&output)
    );
    stdout_text(&output)
}

fn runs_of<'a>(tick: &'a Value, rule_id: &str) -> Vec<&'a Value> {
    tick["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|run| run["ruleId"] == rule_id)
        .collect()
}

#[test]
fn schedule_runs_each_instant_once() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path();
    let evtx = corpus_dir().join(PASSWORD_GUESSING);
    run_text(data_dir, &["import", "evtx", evtx.to_str().unwrap()]);
    let rules = data_dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("overlap.yaml"), OVERLAP_RULE).unwrap();

    // Disabled rules are listed as such and left out of the schedule.
    run_text(data_dir, &["rules", "disable", BUILTIN_BRUTE_FORCE]);
    let listed = run_json(data_dir, &["rules", "list", "--json"]);
    let listed = listed.as_array().unwrap();
    let builtin_count = listed.iter().filter(|rule| rule["builtin"] == true).count();
    assert_eq!(builtin_count, 10, "the built-in pack has ten rules");
    let brute_force = listed
        .iter()
        .find(|rule| rule["id"] == BUILTIN_BRUTE_FORCE)
        .unwrap();
    assert_eq!(brute_force["enabled"], false);

    // From 16:00 to 17:00 the overlap rule is due at 16:10, 16:20, ...,
    // 17:00 (six runs) and each enabled hourly built-in rule at 17:00. Only
    // the window of the 17:00 run, [16:00, 17:00), contains the failures.
    let schedule = |at: &str| {
        run_json(
            data_dir,
            &[
                "rules",
                "schedule",
                "--once",
                "--start",
                "2016-09-19T16:00:00Z",
                "--at",
                at,
                "--json",
            ],
        )
    };
    let first = schedule("2016-09-19T17:00:00Z");
    assert_eq!(runs_of(&first, OVERLAP_RULE_ID).len(), 6);
    assert_eq!(runs_of(&first, BUILTIN_BRUTE_FORCE).len(), 0, "disabled");
    assert_eq!(first["summary"]["runs"], 6 + 9, "{first:#}");
    assert_eq!(first["summary"]["failed"], 0, "{first:#}");
    let alerts = first["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{first:#}");
    assert_eq!(alerts[0]["ruleId"], OVERLAP_RULE_ID);
    assert_eq!(alerts[0]["entities"][0]["Address"], GUESSING_IP);

    // Nothing is due again at the same instant.
    let again = schedule("2016-09-19T17:00:00Z");
    assert_eq!(again["summary"]["runs"], 0, "{again:#}");

    // After enabling, the brute-force rule catches up from its start (runs
    // at 17:00 and 18:00). The overlap rule's runs at 17:10 to 17:50 read
    // the same failures again. Their result row already raised an alert,
    // which this new process reads back from SecurityAlert, so none is raised.
    run_text(data_dir, &["rules", "enable", BUILTIN_BRUTE_FORCE]);
    let second = schedule("2016-09-19T18:00:00Z");
    assert_eq!(runs_of(&second, OVERLAP_RULE_ID).len(), 6);
    let overlap_rows: Vec<u64> = runs_of(&second, OVERLAP_RULE_ID)
        .iter()
        .map(|run| run["resultRows"].as_u64().unwrap())
        .collect();
    assert_eq!(
        overlap_rows,
        [1, 1, 1, 1, 1, 0],
        "windows end 17:10 .. 18:00"
    );
    assert_eq!(runs_of(&second, BUILTIN_BRUTE_FORCE).len(), 2);
    assert_eq!(second["summary"]["runs"], 6 + 2 + 9, "{second:#}");
    let alerts = second["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{second:#}");
    assert_eq!(alerts[0]["ruleId"], BUILTIN_BRUTE_FORCE);
    assert_eq!(
        alerts[0]["displayName"],
        format!("3561 failed logons from {GUESSING_IP} on DESKTOP-M5SN04R")
    );

    // Every run is recorded; each rule's alert opened one incident.
    let runs = query(data_dir, "HomesocRuleRuns | count");
    assert_eq!(runs.scalar_u64(), 15 + 17);
    let stored_alerts = query(data_dir, "SecurityAlert | count");
    assert_eq!(stored_alerts.scalar_u64(), 2);
    let incidents = run_json(data_dir, &["incidents", "list", "--json"]);
    assert_eq!(incidents.as_array().unwrap().len(), 2, "{incidents:#}");
}

#[test]
fn enable_unknown_rule_fails() {
    let data = tempfile::tempdir().unwrap();
    let output = homesoc(data.path(), &["rules", "disable", "no-such-rule"]);
    assert!(!output.status.success());
    let message = stderr_text(&output);
    assert!(
        message.contains("no rule with id no-such-rule"),
        "{message}"
    );
    assert!(message.contains("homesoc rules list"), "{message}");
}
