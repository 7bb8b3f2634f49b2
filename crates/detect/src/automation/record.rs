//! Rows of `HomesocAutomationRuns`: one per incident change made by an
//! automation rule and one per notification delivery attempt.

use arrow::record_batch::RecordBatch;
use store::Workspace;
use store::builder::TableBatchBuilder;
use store::tables::HOMESOC_AUTOMATION_RUNS;

use super::config::Trigger;
use crate::error::DetectError;
use crate::write::{finish_row, set_text};

/// The outcome of one automation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Succeeded,
    /// The attempt failed and another attempt is queued.
    Retrying,
    /// The step failed for good: the last attempt of a notification, or an
    /// incident change the incident's state does not allow.
    Failed,
    /// The step had nothing to do, such as a tag the incident already has.
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "Succeeded",
            StepStatus::Retrying => "Retrying",
            StepStatus::Failed => "Failed",
            StepStatus::Skipped => "Skipped",
        }
    }
}

/// One `HomesocAutomationRuns` row.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationRecord {
    /// The time of the change or attempt, in ticks.
    pub time_ticks: i64,
    pub rule: String,
    pub trigger: Trigger,
    pub incident_number: i64,
    pub incident_name: String,
    /// `Webhook`, `Email`, `SetStatus`, `SetOwner` or `AddTag`.
    pub action: &'static str,
    /// The URL, the recipients, or the new status, owner or tag.
    pub target: String,
    pub notification_id: Option<String>,
    /// The attempt number of a notification, from 1; 1 for incident changes.
    pub attempt: u32,
    pub status: StepStatus,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: f64,
}

/// Builds the `HomesocAutomationRuns` rows of `records`.
pub fn automation_batch(
    records: &[AutomationRecord],
    import_id: &str,
    ingest_ticks: i64,
) -> Result<RecordBatch, DetectError> {
    let mut builder = TableBatchBuilder::new(
        &HOMESOC_AUTOMATION_RUNS,
        import_id,
        ingest_ticks,
        records.len(),
    );
    for record in records {
        builder.set_time_generated(record.time_ticks);
        set_text(&mut builder, "Action", record.action);
        set_text(&mut builder, "Attempt", &record.attempt.to_string());
        set_text(&mut builder, "AutomationRule", &record.rule);
        set_text(&mut builder, "DurationMs", &record.duration_ms.to_string());
        if let Some(error) = &record.error {
            set_text(&mut builder, "Error", error);
        }
        if let Some(status) = record.http_status {
            set_text(&mut builder, "HttpStatus", &status.to_string());
        }
        set_text(&mut builder, "IncidentName", &record.incident_name);
        set_text(
            &mut builder,
            "IncidentNumber",
            &record.incident_number.to_string(),
        );
        if let Some(id) = &record.notification_id {
            set_text(&mut builder, "NotificationId", id);
        }
        set_text(&mut builder, "Status", record.status.as_str());
        set_text(&mut builder, "Target", &record.target);
        set_text(&mut builder, "Trigger", record.trigger.as_str());
        set_text(&mut builder, "Type", "HomesocAutomationRuns");
        finish_row(&mut builder)?;
    }
    Ok(builder.finish())
}

/// Commits delivery records in one Delta commit. The caller holds the
/// workspace's write lock (`homesoc up` holds it for its lifetime).
pub async fn commit_records(
    workspace: &Workspace,
    records: &[AutomationRecord],
) -> Result<(), DetectError> {
    if records.is_empty() {
        return Ok(());
    }
    let now = engine::time::ticks_from_datetime(chrono::Utc::now());
    let import_id = format!("automation-{}", uuid::Uuid::new_v4());
    let batch = automation_batch(records, &import_id, now)?;
    let mut import = workspace.begin_import(&import_id, "homesoc automation");
    // Writing encodes Parquet and blocks, so it runs off the async threads.
    let import = tokio::task::spawn_blocking(move || {
        import.write(&HOMESOC_AUTOMATION_RUNS, batch)?;
        import.finish_files()?;
        Ok::<_, store::StoreError>(import)
    })
    .await
    .map_err(|err| DetectError::Internal {
        table: HOMESOC_AUTOMATION_RUNS.name.into(),
        message: format!("the writer task failed: {err}"),
    })??;
    import.commit().await?;
    Ok(())
}
