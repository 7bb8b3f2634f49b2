//! The homesoc workspace on disk: one Delta Lake table per Sentinel table.
//!
//! A workspace is a folder. Each table lives in `tables/<Name>/` as a Delta
//! table partitioned by the UTC day of `TimeGenerated`, so any Delta reader
//! (Spark, DuckDB, Polars, delta-rs) can read it. [`schema`] says how KQL
//! columns are laid out in the Parquet files.

pub mod builder;
pub mod catalog;
mod durable;
pub mod error;
pub mod files;
pub mod live;
pub mod pending;
pub mod reference_tables;
pub mod schema;
pub mod tables;
pub mod windows_event;
pub mod workspace;

pub use catalog::{TableSnapshot, TimeWindow, TrackingCatalog};
pub use error::StoreError;
pub use schema::{ColumnDef, TableDef};
pub use workspace::{Import, ImportState, TableInfo, Workspace, WriteLock};
