//! `homesoc rules backtest` of published Sentinel rules over the imported
//! EVTX corpus, with exact expected alerts.

mod common;

use std::collections::{BTreeMap, BTreeSet};

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
    let span = whole_span();
    let alerts = span.alerts_of(LOG_CLEARED_RULE_ID);
    let expected: Vec<Vec<&str>> = LOG_CLEARED_EXPECTED
        .lines()
        .map(|line| line.split('\t').collect())
        .collect();
    assert_eq!(
        alerts.len(),
        expected.len(),
        "one alert per day with a cleared log"
    );
    assert_eq!(span.failed_runs_of(LOG_CLEARED_RULE_ID), 0);

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

/// Alerts of eleven more published rules over the corpus, one line per
/// alert: rule id, run instant (the alert's timeGenerated) and a JSON
/// array of its entities. Worked out without homesoc by
/// `tests/scripts/expected_backtest.py`, which reads the EVTX files with
/// python-evtx 0.8.1 and restates each rule's query in Python. Its
/// docstring gives the conventions, and its output is pasted here unchanged.
const PUBLISHED_EXPECTED: &str = include_str!("scripts/expected_backtest.tsv");

/// Rules whose trigger data is in the corpus, with their file names.
const FIRING_RULES: [(&str, &str); 9] = [
    (
        "c1faf5e8-6958-11ec-90d6-0242ac120003",
        "FakeComputerAccountCreated",
    ),
    ("fcdeec10-6948-11ec-90d6-0242ac120003", "RIDHijacking"),
    (
        "875d0eb1-883a-4191-bd0e-dbfdeb95a464",
        "UserPrincipalNameAssignedToUserAccount",
    ),
    (
        "c29a03c6-d074-4934-afae-df1aeb30da70",
        "MSRPRN_Printer_Bug_Exploitation",
    ),
    (
        "f6502545-ae3a-4232-a8b0-79d87e5c98d7",
        "WDigestDowngradeAttack",
    ),
    (
        "a4dbc292-87eb-11ec-a8a3-0242ac120002",
        "DecoyUserAccountAuthenticationAttempt",
    ),
    (
        "a35f2c18-1b97-458f-ad26-e033af18eb99",
        "UserAccountAddedToPrivlegeGroup_1h",
    ),
    (
        "508cef41-2cd8-4d40-a519-b04826a9085f",
        "NRT_SecurityEventLogCleared",
    ),
    (
        "b9d2eebc-5dcb-4888-8165-900db44443ab",
        "NonDCActiveDirectoryReplication",
    ),
];

/// Rules that the script finds no trigger data for: the corpus's Sysmon 1
/// records of accessibility binaries lack `OriginalFileName`, and no
/// 10-minute window contains 20 failed logons with the same details.
const SILENT_RULES: [(&str, &str); 2] = [
    (
        "d714ef62-1a56-4779-804f-91c4158e528d",
        "AccessibilityFeaturesModification",
    ),
    (
        "0777f138-e5d8-4eab-bec1-e11ddfbc2be2",
        "gte_6_FailedLogons_10m",
    ),
];

/// One alert as the test compares it: run instant and entities, each
/// entity as its identifiers and `Type` without `$id`.
type AlertKey = (String, BTreeSet<BTreeMap<String, String>>);

fn entity_map(entity: &Value) -> BTreeMap<String, String> {
    entity
        .as_object()
        .expect("an entity is a JSON object")
        .iter()
        .filter(|(key, _)| key.as_str() != "$id")
        .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_string()))
        .collect()
}

fn entity_set(entities: &Value) -> BTreeSet<BTreeMap<String, String>> {
    entities
        .as_array()
        .expect("entities are a JSON array")
        .iter()
        .map(entity_map)
        .collect()
}

#[test]
fn published_rules_backtest_alerts() {
    let mut expected: BTreeMap<String, Vec<AlertKey>> = BTreeMap::new();
    for line in PUBLISHED_EXPECTED.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "bad expected line: {line}");
        let entities: Value = serde_json::from_str(fields[2]).expect("entities JSON");
        expected
            .entry(fields[0].to_string())
            .or_default()
            .push((fields[1].to_string(), entity_set(&entities)));
    }

    let span = whole_span();
    let mut actual: BTreeMap<String, Vec<AlertKey>> = BTreeMap::new();
    for (id, name) in FIRING_RULES.iter().chain(&SILENT_RULES) {
        assert!(
            span.planned.iter().any(|planned| planned == id),
            "{name} is not among the rules backtested"
        );
        assert_eq!(span.failed_runs_of(id), 0, "failed runs of {name}");
    }
    for (id, _) in FIRING_RULES.iter().chain(&SILENT_RULES) {
        for alert in span.alerts_of(id) {
            // The JSON has seven decimals; the script prints whole seconds.
            let instant = alert["timeGenerated"].as_str().unwrap();
            let instant = format!("{}Z", &instant[..19]);
            actual
                .entry(alert["ruleId"].as_str().unwrap().to_string())
                .or_default()
                .push((instant, entity_set(&alert["entities"])));
        }
    }

    for (id, name) in FIRING_RULES {
        let mut alerts = actual.remove(id).unwrap_or_default();
        alerts.sort();
        let wanted = expected.remove(id).unwrap_or_default();
        assert!(!wanted.is_empty(), "{name}: no expected alerts");
        assert_eq!(alerts.len(), wanted.len(), "{name}: alert count");
        for (alert, want) in alerts.iter().zip(&wanted) {
            assert_eq!(alert, want, "{name}: alert at {}", want.0);
        }
    }
    for (id, name) in SILENT_RULES {
        assert_eq!(actual.remove(id), None, "{name} raised alerts");
        assert_eq!(expected.remove(id), None, "{name} has expected alerts");
    }
    assert!(
        expected.is_empty(),
        "expected alerts of other rules: {expected:?}"
    );
}

/// Returns the ids of the corpus rules that read `SecurityEvent` or
/// `Event` (by the corpus manifest's table list) and that plan (by
/// `homesoc rules check --json`), with the file names of those that do not
/// plan.
fn security_rules() -> (Vec<String>, Vec<String>) {
    let sentinel = manifest_dir().join("../../../shared/corpus/sentinel");
    let manifest = std::fs::read_to_string(sentinel.join("MANIFEST.tsv"))
        .expect("cannot read the Sentinel corpus MANIFEST.tsv");
    let files: BTreeSet<String> = manifest
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let file = fields.first()?.strip_prefix("rules/")?;
            let tables = fields.get(4)?;
            tables
                .split(',')
                .any(|table| table == "SecurityEvent" || table == "Event")
                .then(|| file.to_string())
        })
        .collect();

    let rules = sentinel.join("rules");
    let corpus = imported_corpus();
    let output = homesoc(
        corpus.data_dir(),
        &["rules", "check", "--json", rules.to_str().unwrap()],
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("check --json prints JSON");
    let mut planned = Vec::new();
    let mut not_planned = Vec::new();
    for file in report["files"].as_array().unwrap() {
        let path = file["path"].as_str().unwrap();
        let name = path.rsplit('/').next().unwrap().to_string();
        if !files.contains(&name) {
            continue;
        }
        if file["plans"] == true {
            planned.push(file["id"].as_str().unwrap().to_string());
        } else {
            not_planned.push(name);
        }
    }
    assert_eq!(
        planned.len() + not_planned.len(),
        files.len(),
        "every manifest rule is in the check report"
    );
    (planned, not_planned)
}

/// The backtest of every corpus rule that reads `SecurityEvent` or
/// `Event` and plans, over the whole corpus span (2015-08 to 2024-11),
/// which the tests of this file share.
struct WholeSpan {
    planned: Vec<String>,
    not_planned: Vec<String>,
    runs: Vec<Value>,
    alerts: Vec<Value>,
}

impl WholeSpan {
    fn alerts_of(&self, rule_id: &str) -> Vec<&Value> {
        self.alerts
            .iter()
            .filter(|alert| alert["ruleId"] == rule_id)
            .collect()
    }

    fn failed_runs_of(&self, rule_id: &str) -> usize {
        self.runs
            .iter()
            .filter(|run| run["ruleId"] == rule_id && run["status"] == "Failed")
            .count()
    }
}

/// Runs the whole-span backtest once for the tests of this binary. Two
/// `homesoc` processes backtest half of the rules each, so that both cores
/// work. A rule's runs do not depend on the other rules of its process.
fn whole_span() -> &'static WholeSpan {
    static SPAN: std::sync::OnceLock<WholeSpan> = std::sync::OnceLock::new();
    SPAN.get_or_init(|| {
        let (planned, not_planned) = security_rules();
        let corpus = imported_corpus();
        let rules = manifest_dir().join("../../../shared/corpus/sentinel/rules");
        let halves: [Vec<&str>; 2] = [0, 1].map(|half| {
            planned
                .iter()
                .enumerate()
                .filter(|(index, _)| index % 2 == half)
                .map(|(_, id)| id.as_str())
                .collect()
        });
        let documents: Vec<Value> = std::thread::scope(|scope| {
            let handles: Vec<_> = halves
                .iter()
                .map(|ids| {
                    let rules = &rules;
                    scope.spawn(move || {
                        let mut args = vec![
                            "rules",
                            "backtest",
                            "--rules",
                            rules.to_str().unwrap(),
                            "--from",
                            "2015-08-01T00:00:00Z",
                            "--to",
                            "2024-12-01T00:00:00Z",
                            "--json",
                        ];
                        args.extend(ids.iter().copied());
                        let output = homesoc(corpus.data_dir(), &args);
                        serde_json::from_slice::<Value>(&output.stdout).unwrap_or_else(|err| {
                            panic!(
                                "backtest --json did not print JSON ({err}): {}",
                                stderr_text(&output)
                            )
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("a backtest thread panicked"))
                .collect()
        });
        let mut span = WholeSpan {
            planned,
            not_planned,
            runs: Vec::new(),
            alerts: Vec::new(),
        };
        for document in documents {
            span.runs
                .extend(document["runs"].as_array().unwrap().iter().cloned());
            span.alerts
                .extend(document["alerts"].as_array().unwrap().iter().cloned());
        }
        span
    })
}

/// Backtests every corpus rule that reads `SecurityEvent` or `Event` and
/// plans over the whole corpus span. No run may fail, and all but the two
/// rules that join with tables the corpus leaves empty
/// (`ThreatIntelIndicators`, `CommonSecurityLog`) must run at least once.
#[test]
fn security_rules_backtest_without_failures() {
    let span = whole_span();
    // 55 rules read the tables; 12 use `evaluate`, `row_window_session`,
    // a Defender table or `externaldata` over HTTPS, which do not plan yet.
    assert!(span.planned.len() >= 43, "planned: {:?}", span.planned);
    assert!(
        span.not_planned.len() <= 12,
        "not planned: {:?}",
        span.not_planned
    );
    let failures: Vec<&Value> = span
        .runs
        .iter()
        .filter(|run| run["status"] == "Failed")
        .collect();
    assert!(failures.is_empty(), "failed runs: {failures:#?}");
    let rules_run: BTreeSet<&str> = span
        .runs
        .iter()
        .filter_map(|run| run["ruleId"].as_str())
        .collect();
    assert!(
        rules_run.len() + 2 >= span.planned.len(),
        "only {} of {} rules ran: {rules_run:?}",
        rules_run.len(),
        span.planned.len()
    );
}

#[test]
fn committed_backtest_incident_workflow() {
    let corpus = imported_corpus();
    let data_dir = corpus.data_dir();
    let rules = manifest_dir().join("../../../shared/corpus/sentinel/rules");
    // January 2019 holds one day with a cleared log: 2019-01-20.
    let backtest_args = [
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
    ];
    let output = homesoc(data_dir, &backtest_args);
    assert!(output.status.success(), "{}", stderr_text(&output));
    // Committing the same period again stores no second alert.
    let again = homesoc(data_dir, &backtest_args);
    assert!(again.status.success(), "{}", stderr_text(&again));
    assert!(
        stderr_text(&again).contains("raised no new alert"),
        "{}",
        stderr_text(&again)
    );
    let alerts = common::query(data_dir, "SecurityAlert | count");
    assert_eq!(common::cell_text(&alerts.rows[0][0]), "1");

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
