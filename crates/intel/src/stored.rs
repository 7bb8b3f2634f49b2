//! Reading indicators back from `ThreatIntelligenceIndicator`: the latest
//! version of each, for lookups and matching.

use std::collections::BTreeMap;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use store::Workspace;
use store::schema::TIME_TICKS_COLUMN;
use store::tables::THREAT_INTELLIGENCE_INDICATOR;

use crate::error::IntelError;

/// Text columns that hold an observable.
pub const OBSERVABLE_TEXT_COLUMNS: &[&str] = &[
    "NetworkIP",
    "NetworkSourceIP",
    "NetworkDestinationIP",
    "NetworkCidrBlock",
    "NetworkSourceCidrBlock",
    "NetworkDestinationCidrBlock",
    "EmailSourceIpAddress",
    "DomainName",
    "Url",
    "FileHashValue",
    "FileName",
    "FileMutexName",
    "EmailSenderAddress",
    "EmailRecipient",
    "EmailSubject",
    "UserAgent",
];

/// The latest version of one indicator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredIndicator {
    pub indicator_id: String,
    pub external_id: String,
    pub source_system: String,
    pub threat_type: String,
    pub active: bool,
    pub confidence: f64,
    /// `TimeGenerated` of this version, 100 ns ticks since the Unix epoch.
    pub time_ticks: i64,
    /// `ExpirationDateTime`, 100 ns ticks since the Unix epoch.
    pub expires_ticks: Option<i64>,
    pub tlp: String,
    pub description: String,
    /// Non-empty observable text columns by name.
    pub observables: BTreeMap<String, String>,
}

impl StoredIndicator {
    /// Whether the indicator is active and not expired at `now_ticks`.
    pub fn is_current(&self, now_ticks: i64) -> bool {
        self.active && self.expires_ticks.is_none_or(|expires| expires > now_ticks)
    }
}

/// Reads the given columns of a table as record batches, or `None` when the
/// table has no data yet.
pub async fn read_columns(
    workspace: &Workspace,
    table: &'static str,
    columns: &[&str],
) -> Result<Option<Vec<RecordBatch>>, IntelError> {
    let Some(delta) = workspace.open_table(table).await? else {
        return Ok(None);
    };
    let error = |source: DataFusionError| IntelError::Query { table, source };
    let context = SessionContext::new();
    delta
        .update_datafusion_session(&context.state())
        .map_err(|err| error(DataFusionError::External(Box::new(err))))?;
    let provider = delta
        .table_provider()
        .await
        .map_err(|err| error(DataFusionError::External(Box::new(err))))?;
    let frame = context
        .read_table(provider)
        .and_then(|frame| frame.select_columns(columns))
        .map_err(error)?;
    let batches = frame.collect().await.map_err(error)?;
    Ok(Some(batches))
}

/// Returns a column as `Utf8`, casting from whatever string layout the
/// reader produced.
pub fn text_column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, IntelError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| IntelError::Internal(format!("column {name} missing from the scan")))?;
    cast(column, &DataType::Utf8)
        .map_err(|err| IntelError::Internal(format!("column {name}: {err}")))
}

fn typed_column(batch: &RecordBatch, name: &str, ty: &DataType) -> Result<ArrayRef, IntelError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| IntelError::Internal(format!("column {name} missing from the scan")))?;
    cast(column, ty).map_err(|err| IntelError::Internal(format!("column {name}: {err}")))
}

fn text_at(array: &ArrayRef, row: usize) -> String {
    if array.is_null(row) {
        return String::new();
    }
    array.as_string::<i32>().value(row).to_string()
}

/// Reads the latest version of every indicator, by `TimeGenerated` per
/// `IndicatorId`, whether active or not.
pub async fn latest_indicators(workspace: &Workspace) -> Result<Vec<StoredIndicator>, IntelError> {
    let mut columns = vec![
        TIME_TICKS_COLUMN,
        "IndicatorId",
        "ExternalIndicatorId",
        "SourceSystem",
        "ThreatType",
        "Active",
        "ConfidenceScore",
        "ExpirationDateTime",
        "TrafficLightProtocolLevel",
        "Description",
    ];
    columns.extend_from_slice(OBSERVABLE_TEXT_COLUMNS);
    let Some(batches) =
        read_columns(workspace, THREAT_INTELLIGENCE_INDICATOR.name, &columns).await?
    else {
        return Ok(Vec::new());
    };

    let mut latest: BTreeMap<String, StoredIndicator> = BTreeMap::new();
    for batch in &batches {
        let ticks = typed_column(batch, TIME_TICKS_COLUMN, &DataType::Int64)?;
        let ticks = ticks.as_primitive::<Int64Type>();
        let expires = typed_column(batch, "ExpirationDateTime", &DataType::Int64)?;
        let expires = expires.as_primitive::<Int64Type>();
        let confidence = typed_column(batch, "ConfidenceScore", &DataType::Float64)?;
        let confidence = confidence.as_primitive::<Float64Type>();
        let active = typed_column(batch, "Active", &DataType::Boolean)?;
        let active = active.as_boolean();
        let text: BTreeMap<&str, ArrayRef> = columns[1..]
            .iter()
            .filter(|name| !matches!(**name, "Active" | "ConfidenceScore" | "ExpirationDateTime"))
            .map(|name| Ok((*name, text_column(batch, name)?)))
            .collect::<Result<_, IntelError>>()?;

        for row in 0..batch.num_rows() {
            let indicator_id = text_at(&text["IndicatorId"], row);
            let time_ticks = ticks.value(row);
            if latest
                .get(&indicator_id)
                .is_some_and(|known| known.time_ticks > time_ticks)
            {
                continue;
            }
            let observables = OBSERVABLE_TEXT_COLUMNS
                .iter()
                .map(|name| (name.to_string(), text_at(&text[name], row)))
                .filter(|(_, value)| !value.is_empty())
                .collect();
            let stored = StoredIndicator {
                indicator_id: indicator_id.clone(),
                external_id: text_at(&text["ExternalIndicatorId"], row),
                source_system: text_at(&text["SourceSystem"], row),
                threat_type: text_at(&text["ThreatType"], row),
                active: !active.is_null(row) && active.value(row),
                confidence: if confidence.is_null(row) {
                    0.0
                } else {
                    confidence.value(row)
                },
                time_ticks,
                // Delta stores microseconds; ticks are 100 ns.
                expires_ticks: (!expires.is_null(row)).then(|| expires.value(row) * 10),
                tlp: text_at(&text["TrafficLightProtocolLevel"], row),
                description: text_at(&text["Description"], row),
                observables,
            };
            latest.insert(indicator_id, stored);
        }
    }
    Ok(latest.into_values().collect())
}
