//! Rows of `SecurityAlert`, `SecurityIncident`, `HomesocRuleRuns` and
//! `HomesocAutomationRuns`, and their commit into the workspace.

use arrow::record_batch::RecordBatch;
use engine::time::format_datetime_iso;
use serde_json::{Value, json};
use store::builder::TableBatchBuilder;
use store::tables::{
    HOMESOC_AUTOMATION_RUNS, HOMESOC_RULE_RUNS, SECURITY_ALERT, SECURITY_INCIDENT,
};
use store::{TableDef, Workspace};

use crate::alert::Alert;
use crate::automation::Notification;
use crate::automation::record::{AutomationRecord, automation_batch};
use crate::entities::entities_json;
use crate::error::DetectError;
use crate::incident::{Incident, additional_data};
use crate::run::RunRecord;

/// `ProductName` of homesoc's alerts: the name Sentinel gives alerts of
/// scheduled rules, so that published queries selecting them match.
pub const ALERT_PRODUCT_NAME: &str = "Azure Sentinel";

/// Sets a column by name; the tables are fixed, so a missing name is a bug.
pub(crate) fn set_text(builder: &mut TableBatchBuilder, column: &str, value: &str) {
    match builder.table().column_index(column) {
        Some(index) => {
            let converted = builder.set_text(index, value);
            debug_assert!(converted, "{column} does not take {value:?}");
        }
        None => debug_assert!(false, "no column {column} in {}", builder.table().name),
    }
}

pub(crate) fn set_ticks(builder: &mut TableBatchBuilder, column: &str, ticks: i64) {
    match builder.table().column_index(column) {
        Some(index) => builder.set_datetime_ticks(index, ticks),
        None => debug_assert!(false, "no column {column} in {}", builder.table().name),
    }
}

pub(crate) fn finish_row(builder: &mut TableBatchBuilder) -> Result<(), DetectError> {
    builder.finish_row().map_err(|err| DetectError::Internal {
        table: builder.table().name.to_string(),
        message: err.to_string(),
    })
}

/// Builds the `SecurityAlert` rows of `alerts`.
pub fn alert_batch(
    alerts: &[Alert],
    import_id: &str,
    ingest_ticks: i64,
) -> Result<RecordBatch, DetectError> {
    let mut builder =
        TableBatchBuilder::new(&SECURITY_ALERT, import_id, ingest_ticks, alerts.len());
    for alert in alerts {
        builder.set_time_generated(alert.time_generated);
        set_text(&mut builder, "AlertName", &alert.rule_name);
        set_text(&mut builder, "AlertSeverity", alert.severity.as_str());
        set_text(&mut builder, "AlertType", &alert.rule_id);
        set_text(&mut builder, "Description", &alert.description);
        set_text(&mut builder, "DisplayName", &alert.display_name);
        set_ticks(&mut builder, "StartTime", alert.start_time);
        set_ticks(&mut builder, "EndTime", alert.end_time);
        set_ticks(&mut builder, "ProcessingEndTime", alert.time_generated);
        set_text(&mut builder, "Entities", &entities_json(&alert.entities));
        set_text(
            &mut builder,
            "ExtendedProperties",
            &Value::Object(alert.extended_properties.clone()).to_string(),
        );
        set_text(&mut builder, "IsIncident", "false");
        set_text(&mut builder, "ProductName", ALERT_PRODUCT_NAME);
        set_text(&mut builder, "ProductComponentName", "Scheduled Alerts");
        set_text(&mut builder, "ProviderName", "ASI Scheduled Alerts");
        set_text(&mut builder, "VendorName", "homesoc");
        set_text(&mut builder, "Status", "New");
        set_text(&mut builder, "SystemAlertId", &alert.system_alert_id);
        set_text(&mut builder, "VendorOriginalId", &alert.system_alert_id);
        set_text(&mut builder, "Tactics", &alert.tactics.join(","));
        set_text(
            &mut builder,
            "Techniques",
            &json!(alert.techniques).to_string(),
        );
        set_text(
            &mut builder,
            "SubTechniques",
            &json!(alert.sub_techniques).to_string(),
        );
        set_text(&mut builder, "Type", "SecurityAlert");
        for (property, value) in &alert.dynamic_properties {
            if property == "ConfidenceScore" {
                set_text(&mut builder, "ConfidenceScore", value);
            } else if SECURITY_ALERT.column_index(property).is_some() {
                set_text(&mut builder, property, value);
            }
        }
        finish_row(&mut builder)?;
    }
    Ok(builder.finish())
}

/// Builds the `SecurityIncident` rows of `incidents`, one per incident.
pub fn incident_batch(
    incidents: &[Incident],
    import_id: &str,
    ingest_ticks: i64,
) -> Result<RecordBatch, DetectError> {
    let mut builder =
        TableBatchBuilder::new(&SECURITY_INCIDENT, import_id, ingest_ticks, incidents.len());
    for incident in incidents {
        builder.set_time_generated(incident.last_modified_ticks);
        set_text(
            &mut builder,
            "AdditionalData",
            &additional_data(incident).to_string(),
        );
        set_text(
            &mut builder,
            "AlertIds",
            &json!(incident.alert_ids).to_string(),
        );
        set_text(&mut builder, "BookmarkIds", "[]");
        if let Some(classification) = &incident.classification {
            set_text(&mut builder, "Classification", classification);
        }
        if let Some(comment) = &incident.classification_comment {
            set_text(&mut builder, "ClassificationComment", comment);
        }
        if let Some(closed) = incident.closed_ticks {
            set_ticks(&mut builder, "ClosedTime", closed);
        }
        let comments: Vec<Value> = incident
            .comments
            .iter()
            .map(|comment| {
                json!({
                    "message": comment.message,
                    "createdTimeUtc": format_datetime_iso(comment.created_ticks),
                    "author": {"name": comment.author},
                })
            })
            .collect();
        set_text(
            &mut builder,
            "Comments",
            &Value::Array(comments).to_string(),
        );
        set_ticks(&mut builder, "CreatedTime", incident.created_ticks);
        set_text(&mut builder, "Description", &incident.description);
        set_ticks(
            &mut builder,
            "FirstActivityTime",
            incident.first_activity_ticks,
        );
        set_ticks(
            &mut builder,
            "FirstModifiedTime",
            incident.first_modified_ticks,
        );
        set_text(&mut builder, "IncidentName", &incident.name);
        set_text(&mut builder, "IncidentNumber", &incident.number.to_string());
        let labels: Vec<Value> = incident
            .labels
            .iter()
            .map(|label| json!({"labelName": label, "labelType": "User"}))
            .collect();
        set_text(&mut builder, "Labels", &Value::Array(labels).to_string());
        set_ticks(
            &mut builder,
            "LastActivityTime",
            incident.last_activity_ticks,
        );
        set_ticks(
            &mut builder,
            "LastModifiedTime",
            incident.last_modified_ticks,
        );
        set_text(&mut builder, "ModifiedBy", &incident.modified_by);
        let owner = json!({
            "objectId": null,
            "email": null,
            "assignedTo": incident.owner,
            "userPrincipalName": incident.owner,
        });
        set_text(&mut builder, "Owner", &owner.to_string());
        set_text(
            &mut builder,
            "ProviderIncidentId",
            &incident.number.to_string(),
        );
        set_text(&mut builder, "ProviderName", ALERT_PRODUCT_NAME);
        set_text(
            &mut builder,
            "RelatedAnalyticRuleIds",
            &json!(incident.rule_ids).to_string(),
        );
        set_text(&mut builder, "Severity", incident.severity.as_str());
        set_text(&mut builder, "Status", incident.status.as_str());
        set_text(&mut builder, "Tasks", "[]");
        set_text(&mut builder, "Title", &incident.title);
        set_text(&mut builder, "Type", "SecurityIncident");
        finish_row(&mut builder)?;
    }
    Ok(builder.finish())
}

/// Builds the `HomesocRuleRuns` rows of `runs`.
pub fn run_batch(
    runs: &[RunRecord],
    import_id: &str,
    ingest_ticks: i64,
) -> Result<RecordBatch, DetectError> {
    let mut builder =
        TableBatchBuilder::new(&HOMESOC_RULE_RUNS, import_id, ingest_ticks, runs.len());
    for run in runs {
        builder.set_time_generated(run.at_ticks);
        set_text(&mut builder, "Alerts", &run.alerts.to_string());
        set_text(&mut builder, "DurationMs", &run.duration_ms.to_string());
        if let Some(error) = &run.error {
            set_text(&mut builder, "Error", error);
        }
        set_text(&mut builder, "Incidents", &run.incidents.to_string());
        set_text(&mut builder, "ResultRows", &run.result_rows.to_string());
        set_text(&mut builder, "RuleId", &run.rule_id);
        set_text(&mut builder, "RuleName", &run.rule_name);
        set_text(&mut builder, "RunKind", run.kind.as_str());
        set_ticks(&mut builder, "StartedTime", run.started_ticks);
        set_text(&mut builder, "Status", run.status.as_str());
        set_text(&mut builder, "Type", "HomesocRuleRuns");
        set_ticks(&mut builder, "WindowStart", run.window.start_ticks);
        set_ticks(&mut builder, "WindowEnd", run.window.end_ticks);
        finish_row(&mut builder)?;
    }
    Ok(builder.finish())
}

/// Rows waiting to be committed together.
#[derive(Debug, Default)]
pub struct PendingRows {
    pub alerts: Vec<Alert>,
    pub incidents: Vec<Incident>,
    pub runs: Vec<RunRecord>,
    /// Incident changes made by automation rules.
    pub automation: Vec<AutomationRecord>,
    /// Notifications to queue in the outbox once the rows are committed.
    pub notifications: Vec<Notification>,
    /// The number of leading `incidents` rows automation has run on; the
    /// rows automation itself adds are counted, so they never trigger it.
    pub automated_incidents: usize,
}

impl PendingRows {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.incidents.is_empty()
            && self.runs.is_empty()
            && self.automation.is_empty()
    }
}

/// Commits the pending rows, one Delta commit per table, each recording
/// `import_id` (see [`store::Workspace::import_state`]). The caller holds
/// the workspace's write lock.
pub async fn commit_rows(
    workspace: &Workspace,
    rows: &PendingRows,
    ingest_ticks: i64,
    import_id: &str,
) -> Result<(), DetectError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut batches: Vec<(&'static TableDef, RecordBatch)> = Vec::new();
    if !rows.alerts.is_empty() {
        batches.push((
            &SECURITY_ALERT,
            alert_batch(&rows.alerts, import_id, ingest_ticks)?,
        ));
    }
    if !rows.incidents.is_empty() {
        batches.push((
            &SECURITY_INCIDENT,
            incident_batch(&rows.incidents, import_id, ingest_ticks)?,
        ));
    }
    if !rows.runs.is_empty() {
        batches.push((
            &HOMESOC_RULE_RUNS,
            run_batch(&rows.runs, import_id, ingest_ticks)?,
        ));
    }
    if !rows.automation.is_empty() {
        batches.push((
            &HOMESOC_AUTOMATION_RUNS,
            automation_batch(&rows.automation, import_id, ingest_ticks)?,
        ));
    }

    let mut import = workspace.begin_import(import_id, "homesoc detect");
    // Writing encodes Parquet and blocks, so it runs off the async threads.
    let import = tokio::task::spawn_blocking(move || {
        for (table, batch) in batches {
            import.write(table, batch)?;
        }
        import.finish_files()?;
        Ok::<_, store::StoreError>(import)
    })
    .await
    .map_err(|err| DetectError::Internal {
        table: "SecurityAlert".into(),
        message: format!("the writer task failed: {err}"),
    })??;
    import.commit().await?;
    Ok(())
}
