//! Rule runs on a small crafted SecurityEvent dataset, with exact expected
//! alerts, incidents and run records.
//!
//! The dataset (2024-05-01, UTC): failed logons (4625) by CORP\alice on
//! PC01.corp.local from 10.0.0.5 at 10:00, 10:05 and 10:10, one by
//! CORP\bob on PC02.corp.local from 10.0.0.6 at 11:00, and a successful
//! logon (4624) by alice at 11:30.

use std::path::Path;

use detect::incident::IncidentStatus;
use detect::load::parse_rule;
use detect::{Detector, Rule, RunKind, RunStatus};
use engine::Engine;
use engine::time::parse_datetime;
use store::Workspace;
use store::builder::TableBatchBuilder;
use store::tables::SECURITY_EVENT;

fn ticks(text: &str) -> i64 {
    parse_datetime(text).unwrap_or_else(|| panic!("bad datetime {text}"))
}

fn at(hour_minute: &str) -> i64 {
    ticks(&format!("2024-05-01T{hour_minute}:00Z"))
}

async fn crafted_workspace() -> (tempfile::TempDir, Workspace) {
    let folder = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(folder.path()).unwrap();
    let events = [
        ("10:00", 4625, "CORP\\alice", "PC01.corp.local", "10.0.0.5"),
        ("10:05", 4625, "CORP\\alice", "PC01.corp.local", "10.0.0.5"),
        ("10:10", 4625, "CORP\\alice", "PC01.corp.local", "10.0.0.5"),
        ("11:00", 4625, "CORP\\bob", "PC02.corp.local", "10.0.0.6"),
        ("11:30", 4624, "CORP\\alice", "PC01.corp.local", "10.0.0.5"),
    ];
    let column = |name: &str| SECURITY_EVENT.column_index(name).unwrap();
    let mut builder = TableBatchBuilder::new(&SECURITY_EVENT, "crafted", at("23:59"), events.len());
    for (time, event_id, account, computer, ip) in events {
        builder.set_time_generated(at(time));
        builder.set_int(column("EventID"), event_id);
        builder.set_string(column("Account"), account);
        builder.set_string(column("Computer"), computer);
        builder.set_string(column("IpAddress"), ip);
        builder.finish_row().unwrap();
    }
    let mut import = workspace.begin_import("crafted", "crafted events");
    import.write(&SECURITY_EVENT, builder.finish()).unwrap();
    import.commit().await.unwrap();
    (folder, workspace)
}

/// Builds a rule from fixed keys, the given query and trigger, and `extra` YAML keys.
fn rule(query: &str, operator: &str, threshold: u64, extra: &str) -> Rule {
    let text = format!(
        "id: rule-1\nname: Crafted rule\nseverity: Medium\ndescription: Crafted.\n\
         queryFrequency: 1h\nqueryPeriod: 1d\ntriggerOperator: {operator}\n\
         triggerThreshold: {threshold}\ntactics: [CredentialAccess]\n\
         relevantTechniques: [T1110.001]\nquery: \"{query}\"\n{extra}"
    );
    parse_rule(&text, Path::new("crafted.yaml")).unwrap()
}

const FAILED_LOGONS: &str = "SecurityEvent | where EventID == 4625";
const FAILURES_BY_ACCOUNT: &str = "SecurityEvent | where EventID == 4625 | summarize Failures = count() by Account, Computer, IpAddress | sort by Account asc";
const ENTITIES: &str = "entityMappings:\n  - entityType: Account\n    fieldMappings:\n      - identifier: FullName\n        columnName: Account\n  - entityType: Host\n    fieldMappings:\n      - identifier: FullName\n        columnName: Computer\n  - entityType: IP\n    fieldMappings:\n      - identifier: Address\n        columnName: IpAddress\n";

async fn detector(workspace: &Workspace) -> Detector {
    Detector::open(Engine::new(), workspace.clone())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_operators_compare_row_count() {
    let (_folder, workspace) = crafted_workspace().await;
    let mut detector = detector(&workspace).await;
    // Four 4625 rows are in the window [2024-04-30 12:00, 2024-05-01 12:00).
    let cases = [
        ("gt", 3, 1),
        ("gt", 4, 0),
        ("GreaterThan", 3, 1),
        ("lt", 5, 1),
        ("lt", 4, 0),
        ("eq", 4, 1),
        ("Equal", 3, 0),
        ("ne", 3, 1),
        ("NotEqual", 4, 0),
    ];
    for (operator, threshold, expected_alerts) in cases {
        let rule = rule(FAILED_LOGONS, operator, threshold, "");
        let record = detector.run_rule(&rule, at("12:00"), RunKind::Manual).await;
        assert_eq!(
            record.status,
            RunStatus::Succeeded,
            "{operator} {threshold}"
        );
        assert_eq!(record.result_rows, 4, "{operator} {threshold}");
        assert_eq!(record.alerts, expected_alerts, "{operator} {threshold}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_period_restricts_tables() {
    let (_folder, workspace) = crafted_workspace().await;
    let mut detector = detector(&workspace).await;
    let mut rule = rule(FAILED_LOGONS, "gt", 0, "");
    rule.query_period = ticks("2024-05-01T00:10:00Z") - ticks("2024-05-01T00:00:00Z");

    // Window [09:57, 10:07): the 10:00 and 10:05 events; 10:10 is after now.
    let record = detector.run_rule(&rule, at("10:07"), RunKind::Manual).await;
    assert_eq!(record.result_rows, 2);
    assert_eq!(record.window.start_ticks, at("09:57"));
    assert_eq!(record.window.end_ticks, at("10:07"));

    // An event exactly at the window end belongs to the next window.
    let record = detector.run_rule(&rule, at("10:10"), RunKind::Manual).await;
    assert_eq!(
        record.result_rows, 2,
        "10:00 and 10:05 are in [10:00, 10:10); the 10:10 event is not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_per_result_maps_entities() {
    let (_folder, workspace) = crafted_workspace().await;
    let mut detector = detector(&workspace).await;
    let extra = format!(
        "{ENTITIES}customDetails:\n  Failures: Failures\n\
         alertDetailsOverride:\n  alertDisplayNameFormat: Failed logons for {{{{Account}}}}\n\
         eventGroupingSettings:\n  aggregationKind: AlertPerResult\n"
    );
    let rule = rule(FAILURES_BY_ACCOUNT, "gt", 0, &extra);
    let record = detector.run_rule(&rule, at("12:00"), RunKind::Manual).await;
    assert_eq!(record.result_rows, 2);
    assert_eq!(record.alerts, 2);

    let alerts = &detector.pending().alerts;
    assert_eq!(alerts[0].display_name, "Failed logons for CORP\\alice");
    assert_eq!(alerts[1].display_name, "Failed logons for CORP\\bob");
    assert_eq!(
        detect::entities::entities_json(&alerts[0].entities),
        r#"[{"$id":"1","Name":"alice","NTDomain":"CORP","Type":"account"},{"$id":"2","HostName":"PC01","DnsDomain":"corp.local","Type":"host"},{"$id":"3","Address":"10.0.0.5","Type":"ip"}]"#
    );
    assert_eq!(
        alerts[0].custom_details,
        [("Failures".to_string(), vec!["3".to_string()])]
    );
    assert_eq!(
        alerts[1].custom_details,
        [("Failures".to_string(), vec!["1".to_string()])]
    );
    assert_eq!(alerts[0].techniques, ["T1110"]);
    assert_eq!(alerts[0].sub_techniques, ["T1110.001"]);
    // No TimeGenerated column in the result: the alert spans the query window.
    assert_eq!(alerts[0].start_time, at("12:00") - 24 * 36_000_000_000);
    assert_eq!(alerts[0].end_time, at("12:00"));
    let evidence = alerts[0].extended_properties["Evidence"]
        .as_array()
        .unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0]["Failures"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_alert_merges_rows() {
    let (_folder, workspace) = crafted_workspace().await;
    let mut detector = detector(&workspace).await;
    let rule = rule(FAILED_LOGONS, "gt", 0, ENTITIES);
    let record = detector.run_rule(&rule, at("12:00"), RunKind::Manual).await;
    assert_eq!(record.alerts, 1);
    let alert = &detector.pending().alerts[0];
    let types: Vec<&str> = alert
        .entities
        .iter()
        .map(|entity| entity.json_type)
        .collect();
    assert_eq!(types, ["account", "host", "ip", "account", "host", "ip"]);
    assert_eq!(
        alert.start_time,
        at("10:00"),
        "earliest TimeGenerated of the rows"
    );
    assert_eq!(
        alert.end_time,
        at("11:00"),
        "latest TimeGenerated of the rows"
    );
    assert_eq!(alert.extended_properties["Evidence Rows"], 4);
    assert_eq!(
        alert.extended_properties["Search Query Results Overall Count"],
        "4"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppression_skips_runs() {
    let (_folder, workspace) = crafted_workspace().await;
    let mut detector = detector(&workspace).await;
    let rule = rule(
        FAILED_LOGONS,
        "gt",
        0,
        "suppressionEnabled: true\nsuppressionDuration: PT2H\n",
    );
    let mut statuses = Vec::new();
    for instant in detect::run::schedule(&rule, at("11:00"), at("15:00")) {
        let record = detector.run_rule(&rule, instant, RunKind::Backtest).await;
        statuses.push((record.status, record.alerts));
    }
    // Runs at 12:00, 13:00, 14:00, 15:00: alert at 12:00, suppressed until 14:00.
    assert_eq!(
        statuses,
        [
            (RunStatus::Succeeded, 1),
            (RunStatus::Suppressed, 0),
            (RunStatus::Succeeded, 1),
            (RunStatus::Suppressed, 0),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_without_grouping() {
    let (_folder, workspace) = crafted_workspace().await;
    let mut detector = detector(&workspace).await;
    let per_alert = rule(FAILED_LOGONS, "gt", 0, "");
    detector
        .run_rule(&per_alert, at("12:00"), RunKind::Manual)
        .await;
    detector
        .run_rule(&per_alert, at("13:00"), RunKind::Manual)
        .await;
    assert_eq!(
        detector.incidents().incidents().count(),
        2,
        "one incident per alert"
    );

    let no_incident = rule(
        FAILED_LOGONS,
        "gt",
        0,
        "incidentConfiguration:\n  createIncident: false\n",
    );
    let record = detector
        .run_rule(&no_incident, at("14:00"), RunKind::Manual)
        .await;
    assert_eq!(record.alerts, 1);
    assert_eq!(record.incidents, 0);
    assert_eq!(detector.incidents().incidents().count(), 2);
}

fn grouping(matching: &str, reopen: bool, extra: &str) -> String {
    format!(
        "incidentConfiguration:\n  createIncident: true\n  groupingConfiguration:\n    enabled: true\n\
         \x20   reopenClosedIncident: {reopen}\n    lookbackDuration: PT5H\n    matchingMethod: {matching}\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_alert_groups_within_lookback() {
    let (_folder, workspace) = crafted_workspace().await;
    let mut detector = detector(&workspace).await;
    let rule = rule(FAILED_LOGONS, "gt", 0, &grouping("AnyAlert", false, ""));
    for hour in ["12:00", "13:00", "17:00", "18:00"] {
        detector.run_rule(&rule, at(hour), RunKind::Backtest).await;
    }
    let incidents: Vec<(i64, usize)> = detector
        .incidents()
        .incidents()
        .map(|incident| (incident.number, incident.alert_ids.len()))
        .collect();
    // 12:00 creates #1; 13:00 and 17:00 are within 5 h of its creation;
    // 18:00 is not, so it creates #2.
    assert_eq!(incidents, [(1, 3), (2, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_entities_groups_same_entities() {
    let (_folder, workspace) = crafted_workspace().await;
    let mut detector = detector(&workspace).await;
    let extra = format!(
        "{ENTITIES}eventGroupingSettings:\n  aggregationKind: AlertPerResult\n{}",
        grouping("AllEntities", false, "")
    );
    let rule = rule(FAILURES_BY_ACCOUNT, "gt", 0, &extra);
    detector
        .run_rule(&rule, at("12:00"), RunKind::Backtest)
        .await;
    detector
        .run_rule(&rule, at("13:00"), RunKind::Backtest)
        .await;
    let incidents: Vec<(i64, usize)> = detector
        .incidents()
        .incidents()
        .map(|incident| (incident.number, incident.alert_ids.len()))
        .collect();
    assert_eq!(
        incidents,
        [(1, 2), (2, 2)],
        "alice's alerts and bob's alerts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selected_groups_by_chosen_keys() {
    let (_folder, workspace) = crafted_workspace().await;
    let mut detector = detector(&workspace).await;
    // Grouping by IP alone would still split alice and bob; grouping by
    // severity alone puts every alert in one incident.
    let extra = format!(
        "{ENTITIES}eventGroupingSettings:\n  aggregationKind: AlertPerResult\n{}",
        grouping("Selected", false, "    groupByAlertDetails: [Severity]\n")
    );
    let rule_by_severity = rule(FAILURES_BY_ACCOUNT, "gt", 0, &extra);
    detector
        .run_rule(&rule_by_severity, at("12:00"), RunKind::Backtest)
        .await;
    let counts: Vec<usize> = detector
        .incidents()
        .incidents()
        .map(|i| i.alert_ids.len())
        .collect();
    assert_eq!(counts, [2]);

    let extra = format!(
        "{ENTITIES}eventGroupingSettings:\n  aggregationKind: AlertPerResult\n{}",
        grouping("Selected", false, "    groupByEntities: [IP]\n")
    );
    let mut rule_by_ip = rule(FAILURES_BY_ACCOUNT, "gt", 0, &extra);
    rule_by_ip.id = "rule-2".into();
    detector
        .run_rule(&rule_by_ip, at("12:00"), RunKind::Backtest)
        .await;
    let counts: Vec<usize> = detector
        .incidents()
        .incidents()
        .map(|i| i.alert_ids.len())
        .collect();
    assert_eq!(counts, [2, 1, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_incident_reopens_or_not() {
    for (reopen, expected) in [
        (true, vec![(1, IncidentStatus::Active, 2)]),
        (
            false,
            vec![(1, IncidentStatus::Closed, 1), (2, IncidentStatus::New, 1)],
        ),
    ] {
        let (_folder, workspace) = crafted_workspace().await;
        let mut detector = detector(&workspace).await;
        let rule = rule(FAILED_LOGONS, "gt", 0, &grouping("AnyAlert", reopen, ""));
        detector.run_rule(&rule, at("12:00"), RunKind::Manual).await;
        detector
            .change_incident(|book| {
                book.close(1, "TruePositive", "seen", "analyst", at("12:30"))
                    .map(|_| ())
            })
            .unwrap();
        detector.run_rule(&rule, at("13:00"), RunKind::Manual).await;
        let incidents: Vec<(i64, IncidentStatus, usize)> = detector
            .incidents()
            .incidents()
            .map(|incident| (incident.number, incident.status, incident.alert_ids.len()))
            .collect();
        assert_eq!(incidents, expected, "reopenClosedIncident: {reopen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_query_is_recorded() {
    let (_folder, workspace) = crafted_workspace().await;
    let mut detector = detector(&workspace).await;
    let broken = rule("SecurityEvent | where NoSuchColumn == 1", "gt", 0, "");
    let record = detector
        .run_rule(&broken, at("12:00"), RunKind::Manual)
        .await;
    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.unwrap();
    assert!(error.contains("NoSuchColumn"), "{error}");
    let good = rule(FAILED_LOGONS, "gt", 0, "");
    let record = detector.run_rule(&good, at("12:00"), RunKind::Manual).await;
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(detector.pending().runs.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_rows_read_back() {
    let (_folder, workspace) = crafted_workspace().await;
    let mut detector = detector(&workspace).await;
    let rule = rule(
        FAILED_LOGONS,
        "gt",
        0,
        &format!("{ENTITIES}suppressionEnabled: true\nsuppressionDuration: PT2H\n"),
    );
    detector.run_rule(&rule, at("12:00"), RunKind::Manual).await;
    detector
        .change_incident(|book| {
            book.comment(1, "looking", "analyst", at("12:10"))
                .map(|_| ())
        })
        .unwrap();
    let alert_id = detector.pending().alerts[0].system_alert_id.clone();
    detector.commit().await.unwrap();

    // A new detector reads the state back from the tables.
    let mut reopened = Detector::open(Engine::new(), workspace.clone())
        .await
        .unwrap();
    let incident = reopened
        .incidents()
        .get(1)
        .expect("incident 1 read back")
        .clone();
    assert_eq!(incident.alert_ids, [alert_id]);
    assert_eq!(incident.comments.len(), 1);
    assert_eq!(incident.comments[0].author, "analyst");
    assert_eq!(incident.revision, 2, "created, then commented: two rows");
    let record = reopened.run_rule(&rule, at("13:00"), RunKind::Manual).await;
    assert_eq!(
        record.status,
        RunStatus::Suppressed,
        "last alert time read from SecurityAlert"
    );

    let engine = Engine::new();
    let catalog = store::catalog::load(&workspace, &engine, None)
        .await
        .unwrap();
    let options = engine::QueryOptions::default();
    let result = engine
        .run(
            "SecurityAlert | project AlertName, AlertSeverity, Tactics, Entities",
            &catalog,
            &options,
        )
        .await
        .unwrap();
    let rows = engine::output::rows_json(&result);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "Crafted rule");
    assert_eq!(rows[0][1], "Medium");
    assert_eq!(rows[0][2], "CredentialAccess");
    let result = engine
        .run(
            "HomesocRuleRuns | project Status, ResultRows, Alerts",
            &catalog,
            &options,
        )
        .await
        .unwrap();
    assert_eq!(
        engine::output::rows_json(&result),
        [[
            serde_json::json!("Succeeded"),
            serde_json::json!(4),
            serde_json::json!(1)
        ]]
    );
}
