//! Writing indicator rows (to `ThreatIntelligenceIndicator` and
//! `ThreatIntelIndicators`) and pull records to the workspace in one import.

use arrow::record_batch::RecordBatch;
use store::Workspace;
use store::builder::TableBatchBuilder;
use store::tables::{HOMESOC_INTEL_PULLS, THREAT_INTEL_INDICATORS, THREAT_INTELLIGENCE_INDICATOR};

use crate::error::IntelError;
use crate::indicator::{Indicator, IndicatorRows, Validity};
use crate::pull::PullReport;

/// Rows at most per written batch.
const BATCH_ROWS: usize = 8192;

/// Writes indicators and pull records with `TimeGenerated` = `written_ticks`
/// and commits them. The caller holds the workspace's write lock.
pub async fn write_rows(
    workspace: &Workspace,
    import_id: &str,
    source: &str,
    indicators: Vec<Indicator>,
    reports: Vec<PullReport>,
    written_ticks: i64,
    validity: Validity,
) -> Result<(), IntelError> {
    let mut import = workspace.begin_import(import_id, source);
    let import_id_owned = import_id.to_string();
    import = tokio::task::spawn_blocking(move || -> Result<store::Import, IntelError> {
        let mut rows = IndicatorRows::new(&import_id_owned, written_ticks, validity);
        for chunk in indicators.chunks(BATCH_ROWS) {
            for indicator in chunk {
                rows.push(indicator);
            }
            import.write(&THREAT_INTELLIGENCE_INDICATOR, rows.finish())?;
            import.write(&THREAT_INTEL_INDICATORS, rows.finish_stix())?;
        }
        if !reports.is_empty() {
            import.write(
                &HOMESOC_INTEL_PULLS,
                pull_batch(&import_id_owned, written_ticks, &reports),
            )?;
        }
        import.finish_files()?;
        Ok(import)
    })
    .await
    .map_err(|err| IntelError::Internal(format!("the writer task failed: {err}")))??;
    import.commit().await?;
    Ok(())
}

fn pull_batch(import_id: &str, written_ticks: i64, reports: &[PullReport]) -> RecordBatch {
    let table = &HOMESOC_INTEL_PULLS;
    let index = |name: &str| {
        table
            .column_index(name)
            .unwrap_or_else(|| panic!("{name} is a column of {}", table.name))
    };
    let mut builder = TableBatchBuilder::new(table, import_id, written_ticks, reports.len());
    for report in reports {
        builder.set_time_generated(written_ticks);
        builder.set_string(index("FeedName"), &report.feed);
        builder.set_string(index("FeedFormat"), &report.format);
        builder.set_string(index("Url"), &report.url);
        builder.set_string(index("Result"), report.result.name());
        builder.set_string(index("Error"), report.error.as_deref().unwrap_or_default());
        builder.set_string(index("Note"), report.note.as_deref().unwrap_or_default());
        builder.set_long(index("EventsListed"), report.events_listed as i64);
        builder.set_long(index("EventsFetched"), report.events_fetched as i64);
        builder.set_long(index("IndicatorsAdded"), report.added as i64);
        builder.set_long(index("IndicatorsUpdated"), report.updated as i64);
        builder.set_long(index("IndicatorsDeactivated"), report.deactivated as i64);
        builder.set_long(index("ValuesRejected"), report.rejected as i64);
        builder.set_long(index("DurationMs"), report.duration_ms as i64);
        builder.set_string(index("Type"), table.name);
        // `set_time_generated` was called above, so the row cannot fail.
        let _ = builder.finish_row();
    }
    builder.finish()
}
