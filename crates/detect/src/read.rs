//! Reading homesoc's own tables back: the current state of each incident
//! and the last alert time of each rule.

use std::collections::{BTreeMap, BTreeSet};

use engine::{Engine, QueryOptions};
use serde_json::Value;
use store::Workspace;

use crate::entities::{Entity, parse_entities_json};
use crate::error::DetectError;
use crate::incident::{Comment, Incident, IncidentStatus};
use crate::result::ResultRows;
use crate::rule::Severity;

async fn run_query(
    engine: &Engine,
    workspace: &Workspace,
    table: &str,
    query: &str,
) -> Result<engine::QueryResult, DetectError> {
    let catalog = store::catalog::load(workspace, engine, None).await?;
    engine
        .run(query, &catalog, &QueryOptions::default())
        .await
        .map_err(|err| DetectError::Internal {
            table: table.to_string(),
            message: err.to_string(),
        })
}

/// Returns the time of the latest alert of each rule id.
pub async fn read_last_alert_times(
    engine: &Engine,
    workspace: &Workspace,
) -> Result<BTreeMap<String, i64>, DetectError> {
    let query = "SecurityAlert | where ProductName == 'Azure Sentinel' and VendorName == 'homesoc' \
                 | summarize LastAlert = max(TimeGenerated) by AlertType";
    let result = run_query(engine, workspace, "SecurityAlert", query).await?;
    let rows = ResultRows::new(&result);
    Ok((0..rows.len())
        .filter_map(|row| {
            Some((
                rows.text(row, "AlertType")?,
                rows.datetime_ticks(row, "LastAlert")?,
            ))
        })
        .collect())
}

/// Returns, per rule id, the result keys of the alerts raised since
/// `since_ticks` with the time each alert was raised.
pub async fn read_alerted_rows(
    engine: &Engine,
    workspace: &Workspace,
    since_ticks: i64,
) -> Result<BTreeMap<String, BTreeMap<u64, i64>>, DetectError> {
    let mut alerted: BTreeMap<String, BTreeMap<u64, i64>> = BTreeMap::new();
    for (rule_id, raised, key) in read_alerted_instants(engine, workspace, since_ticks).await? {
        let latest = alerted
            .entry(rule_id)
            .or_default()
            .entry(key)
            .or_insert(raised);
        *latest = (*latest).max(raised);
    }
    Ok(alerted)
}

/// Returns the rule id, run instant and result key of every result row
/// that raised an alert at a run instant since `since_ticks`.
pub async fn read_alerted_instants(
    engine: &Engine,
    workspace: &Workspace,
    since_ticks: i64,
) -> Result<BTreeSet<(String, i64, u64)>, DetectError> {
    let since = engine::time::format_datetime_iso(since_ticks);
    let query = format!(
        "SecurityAlert | where VendorName == 'homesoc' and TimeGenerated >= todatetime('{since}') \
         | project AlertType, TimeGenerated, ExtendedProperties"
    );
    let result = run_query(engine, workspace, "SecurityAlert", &query).await?;
    let rows = ResultRows::new(&result);
    let mut alerted = BTreeSet::new();
    for row in 0..rows.len() {
        let (Some(rule_id), Some(raised)) = (
            rows.text(row, "AlertType"),
            rows.datetime_ticks(row, "TimeGenerated"),
        ) else {
            continue;
        };
        let properties = json_cell(&rows, row, "ExtendedProperties");
        for key in text_list(&properties[crate::alert::RESULT_KEYS_PROPERTY]) {
            if let Ok(key) = u64::from_str_radix(&key, 16) {
                alerted.insert((rule_id.clone(), raised, key));
            }
        }
    }
    Ok(alerted)
}

/// Returns the current state of every incident: of its rows, the one with
/// the highest revision.
///
/// NOTE: this reads every SecurityIncident row; a workspace with very many
/// incidents will want a compacted current-state view.
pub async fn read_incidents(
    engine: &Engine,
    workspace: &Workspace,
) -> Result<Vec<Incident>, DetectError> {
    let result = run_query(engine, workspace, "SecurityIncident", "SecurityIncident").await?;
    let rows = ResultRows::new(&result);
    let mut latest: BTreeMap<i64, Incident> = BTreeMap::new();
    for row in 0..rows.len() {
        let Some(incident) = incident_from_row(&rows, row) else {
            continue;
        };
        let newer = latest
            .get(&incident.number)
            .is_none_or(|current| incident.revision > current.revision);
        if newer {
            latest.insert(incident.number, incident);
        }
    }
    Ok(latest.into_values().collect())
}

/// Returns the rule name and entities of each alert of `alert_ids` found
/// in `SecurityAlert`, by alert id.
pub async fn read_alert_entities(
    engine: &Engine,
    workspace: &Workspace,
    alert_ids: &[String],
) -> Result<BTreeMap<String, (String, Vec<Entity>)>, DetectError> {
    if alert_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let quoted: Vec<String> = alert_ids
        .iter()
        .map(|id| format!("'{}'", id.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect();
    let query = format!(
        "SecurityAlert | where SystemAlertId in ({}) | project SystemAlertId, AlertName, Entities",
        quoted.join(", ")
    );
    let result = run_query(engine, workspace, "SecurityAlert", &query).await?;
    let rows = ResultRows::new(&result);
    let mut found = BTreeMap::new();
    for row in 0..rows.len() {
        let Some(id) = rows.text(row, "SystemAlertId") else {
            continue;
        };
        let name = rows.text(row, "AlertName").unwrap_or_default();
        let entities = parse_entities_json(&rows.text(row, "Entities").unwrap_or_default());
        found.insert(id, (name, entities));
    }
    Ok(found)
}

fn json_cell(rows: &ResultRows<'_>, row: usize, column: &str) -> Value {
    rows.text(row, column)
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

fn text_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.is_empty())
}

fn incident_from_row(rows: &ResultRows<'_>, row: usize) -> Option<Incident> {
    let text = |column: &str| rows.text(row, column).unwrap_or_default();
    let ticks = |column: &str| rows.datetime_ticks(row, column);
    let additional = json_cell(rows, row, "AdditionalData");
    let owner = json_cell(rows, row, "Owner");
    let comments = json_cell(rows, row, "Comments")
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| Comment {
                    message: item["message"].as_str().unwrap_or_default().to_string(),
                    author: item["author"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    created_ticks: item["createdTimeUtc"]
                        .as_str()
                        .and_then(engine::time::parse_datetime)
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let labels = json_cell(rows, row, "Labels")
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["labelName"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();

    Some(Incident {
        number: text("IncidentNumber").parse().ok()?,
        name: text("IncidentName"),
        title: text("Title"),
        description: text("Description"),
        severity: Severity::parse(&text("Severity")).unwrap_or(Severity::Informational),
        status: IncidentStatus::parse(&text("Status")).unwrap_or(IncidentStatus::New),
        owner: owner["assignedTo"].as_str().map(str::to_string),
        classification: non_empty(rows.text(row, "Classification")),
        classification_comment: non_empty(rows.text(row, "ClassificationComment")),
        closed_ticks: ticks("ClosedTime"),
        created_ticks: ticks("CreatedTime")?,
        first_activity_ticks: ticks("FirstActivityTime").unwrap_or_default(),
        last_activity_ticks: ticks("LastActivityTime").unwrap_or_default(),
        first_modified_ticks: ticks("FirstModifiedTime").unwrap_or_default(),
        last_modified_ticks: ticks("LastModifiedTime").unwrap_or_default(),
        modified_by: text("ModifiedBy"),
        alert_ids: text_list(&json_cell(rows, row, "AlertIds")),
        rule_ids: text_list(&json_cell(rows, row, "RelatedAnalyticRuleIds")),
        tactics: text_list(&additional["tactics"]),
        comments,
        labels,
        grouping_key: additional["homesocGroupingKey"]
            .as_str()
            .map(str::to_string),
        revision: additional["homesocRevision"].as_i64().unwrap_or(0),
    })
}
