//! `homesoc rules backtest` of published Sentinel rules over the imported
//! EVTX corpus, with exact expected alerts.

mod common;

use std::collections::BTreeSet;

use common::{homesoc, imported_corpus, manifest_dir, stderr_text};
use serde_json::Value;

/// The "Security Event log cleared" rule (daily over the previous day).
const LOG_CLEARED_RULE_ID: &str = "80da0a8f-cfe1-4cd0-a895-8bc1771a720e";

/// Its alerts over the corpus: one per UTC day with a Security-channel
/// event 1102 from Microsoft-Windows-Eventlog, with the day's accounts and
/// computers. Worked out without homesoc by
/// `tests/scripts/expected_log_cleared.py`, which reads the EVTX files with
/// python-evtx 0.8.1; its output is pasted here unchanged.
const LOG_CLEARED_EXPECTED: &str = include_str!("scripts/expected_log_cleared.tsv");

/// Runs a backtest of one corpus rule over the whole corpus span and
/// returns the `--json` document.
fn backtest(rule_id: &str) -> Value {
    let corpus = imported_corpus();
    let rules = manifest_dir().join("../../../shared/corpus/sentinel/rules");
    let output = homesoc(
        corpus.data_dir(),
        &[
            "rules",
            "backtest",
            "--rules",
            rules.to_str().unwrap(),
            "--from",
            "2015-08-01T00:00:00Z",
            "--to",
            "2024-12-01T00:00:00Z",
            "--json",
            rule_id,
        ],
    );
    assert!(
        output.status.success(),
        "backtest failed: {}",
        stderr_text(&output)
    );
    serde_json::from_slice(&output.stdout).expect("backtest --json prints JSON")
}

fn entity_values(alert: &Value, entity_type: &str, identifier: &str) -> BTreeSet<String> {
    alert["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entity| entity["Type"] == entity_type)
        .filter_map(|entity| entity[identifier].as_str().map(str::to_string))
        .collect()
}

#[test]
fn log_cleared_backtest_alerts() {
    let document = backtest(LOG_CLEARED_RULE_ID);
    let alerts = document["alerts"].as_array().unwrap();
    let expected: Vec<Vec<&str>> = LOG_CLEARED_EXPECTED
        .lines()
        .map(|line| line.split('\t').collect())
        .collect();
    assert_eq!(
        alerts.len(),
        expected.len(),
        "one alert per day with a cleared log"
    );
    assert_eq!(document["summary"]["failed"], 0);

    for (alert, fields) in alerts.iter().zip(&expected) {
        let (day, accounts, computers) = (fields[0], fields[1], fields[2]);
        // The run at the next midnight covers the day.
        let window_start = alert["startTime"].as_str().unwrap();
        assert!(window_start.starts_with(day), "{window_start} vs {day}");

        let expected_accounts: BTreeSet<String> = accounts.split(',').map(str::to_string).collect();
        assert_eq!(
            entity_values(alert, "account", "Name"),
            expected_accounts,
            "accounts on {day}"
        );
        // The rule maps the host's FullName, which splits at the first dot.
        let expected_hosts: BTreeSet<String> = computers
            .split(',')
            .map(|computer| computer.split('.').next().unwrap().to_string())
            .collect();
        assert_eq!(
            entity_values(alert, "host", "HostName"),
            expected_hosts,
            "hosts on {day}"
        );
    }
}

#[test]
fn committed_backtest_incident_workflow() {
    let corpus = imported_corpus();
    let data_dir = corpus.data_dir();
    let rules = manifest_dir().join("../../../shared/corpus/sentinel/rules");
    // January 2019 holds one day with a cleared log: 2019-01-20.
    let output = homesoc(
        data_dir,
        &[
            "rules",
            "backtest",
            "--rules",
            rules.to_str().unwrap(),
            "--from",
            "2019-01-01T00:00:00Z",
            "--to",
            "2019-02-01T00:00:00Z",
            "--commit",
            LOG_CLEARED_RULE_ID,
        ],
    );
    assert!(output.status.success(), "{}", stderr_text(&output));

    let run = |args: &[&str]| {
        let mut full = vec!["--user", "analyst1"];
        full.extend_from_slice(args);
        let output = homesoc(data_dir, &full);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            stderr_text(&output)
        );
        common::stdout_text(&output)
    };
    let listed: Value = serde_json::from_str(&run(&["incidents", "list", "--json"])).unwrap();
    let incidents = listed.as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{listed:#}");
    assert_eq!(incidents[0]["status"], "New");
    let number = incidents[0]["number"].to_string();

    run(&["incidents", "assign", &number, "bob"]);
    run(&[
        "incidents",
        "comment",
        &number,
        "cleared by the admin during the lab",
    ]);
    run(&[
        "incidents",
        "close",
        &number,
        "--classification",
        "BenignPositive",
        "--comment",
        "lab exercise",
    ]);
    let shown: Value =
        serde_json::from_str(&run(&["incidents", "show", &number, "--json"])).unwrap();
    assert_eq!(shown["status"], "Closed");
    assert_eq!(shown["owner"], "bob");
    assert_eq!(shown["classification"], "BenignPositive");
    assert_eq!(shown["comments"][0]["author"], "analyst1");
    assert_eq!(shown["modifiedBy"], "analyst1");

    // Every change is a row: created, assigned, commented, closed.
    let history = common::query(
        data_dir,
        "SecurityIncident | sort by TimeGenerated asc | project Status, ModifiedBy",
    );
    let statuses: Vec<String> = history
        .rows
        .iter()
        .map(|row| common::cell_text(&row[0]))
        .collect();
    assert_eq!(statuses, ["New", "New", "New", "Closed"]);
    let runs = common::query(
        data_dir,
        "HomesocRuleRuns | summarize Runs = count(), Alerts = sum(Alerts)",
    );
    assert_eq!(
        common::cell_text(&runs.rows[0][1]),
        "1",
        "one alert in January 2019"
    );
}
