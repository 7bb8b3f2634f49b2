//! How a Sentinel table's KQL columns are laid out in its Delta table.
//!
//! Each KQL column is stored under its own name with the Arrow type of
//! [`storage_type`]. Four hidden columns follow; their names start with
//! `_hs` so that they never clash with a Sentinel column, and the engine
//! hides them from KQL:
//!
//! - `_hsTimeTicks` (`Int64`): `TimeGenerated` in 100 ns ticks since the Unix
//!   epoch. Delta timestamps hold microseconds, while Windows event times and
//!   KQL datetimes have 100 ns resolution, so the engine reads `TimeGenerated`
//!   from this column and other Delta readers see the rounded timestamp.
//! - `_hsDate` (`Utf8`, `YYYY-MM-DD`): the UTC day of `TimeGenerated`, the
//!   partition column.
//! - `_hsImportId` (`Utf8`): the SHA-256 of the imported file, or the id of
//!   the ingest batch, that the row came from.
//! - `_hsIngestTicks` (`Int64`): when homesoc stored the row, in ticks.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use kql::KqlType;

pub const TIME_TICKS_COLUMN: &str = "_hsTimeTicks";
pub const DATE_COLUMN: &str = "_hsDate";
pub const IMPORT_ID_COLUMN: &str = "_hsImportId";
pub const INGEST_TICKS_COLUMN: &str = "_hsIngestTicks";

/// The column that every table is partitioned and time-pruned by.
pub const TIME_COLUMN: &str = "TimeGenerated";

/// A column of a Sentinel table, as the Azure Monitor reference lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: &'static str,
    pub ty: KqlType,
}

/// A Sentinel-shaped table: its name and its columns in reference order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDef {
    pub name: &'static str,
    pub columns: &'static [ColumnDef],
}

impl TableDef {
    /// Returns the index of a column by exact name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// Returns the Arrow type a KQL column is stored as in Delta. An empty
/// `string` value is stored as null.
///
/// `dynamic` is stored as JSON text and `guid` as its 8-4-4-4-12 text, since
/// Delta has no such types. `decimal` is stored as text too, which keeps
/// every digit until the engine supports decimals natively.
pub fn storage_type(ty: KqlType) -> DataType {
    match ty {
        KqlType::Bool => DataType::Boolean,
        KqlType::Int => DataType::Int32,
        KqlType::Long => DataType::Int64,
        KqlType::Real => DataType::Float64,
        KqlType::Datetime => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        KqlType::Timespan => DataType::Int64,
        KqlType::String | KqlType::Guid | KqlType::Dynamic | KqlType::Decimal => DataType::Utf8,
    }
}

/// Returns the Arrow schema of a table's Delta files: the KQL columns in
/// order, then the hidden columns described in the module docs.
pub fn storage_schema(table: &TableDef) -> SchemaRef {
    let mut fields: Vec<Field> = table
        .columns
        .iter()
        .map(|c| Field::new(c.name, storage_type(c.ty), true))
        .collect();
    fields.push(Field::new(TIME_TICKS_COLUMN, DataType::Int64, false));
    fields.push(Field::new(DATE_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(IMPORT_ID_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(INGEST_TICKS_COLUMN, DataType::Int64, false));
    Arc::new(Schema::new(fields))
}
