//! Exposes the workspace's Delta tables to the KQL engine.
//!
//! Each table is scanned through delta-rs's DataFusion table provider and
//! projected to the engine's column types: `TimeGenerated` is read from the
//! 100 ns tick column, other datetimes from their microsecond timestamps,
//! and text columns are cast to `Utf8`. Hidden `_hs*` columns stay hidden,
//! except the ingestion time, which every plan carries as
//! [`INGESTION_TIME_COLUMN`] for `ingestion_time()`.
//! A table with no data yet is an empty relation with the right columns, so
//! queries over it return no rows instead of failing. The same is true of the
//! Sentinel reference tables that homesoc does not fill yet
//! ([`crate::reference_tables`]): as in Sentinel, they exist and are empty
//! until data arrives. `WindowsEvent` is read as a view over `SecurityEvent`
//! and `Event` ([`crate::windows_event`]).
//!
//! While `homesoc up` runs, rows acknowledged by live ingestion and not
//! yet flushed ([`crate::live::Memtable`]) are read as a union with the
//! Delta scan, through the same projection.
//!
//! A [`TimeWindow`] restricts every table to rows whose `TimeGenerated` is in
//! the window, as Sentinel restricts a scheduled rule's query to its query
//! period. The filter sits below the projection, on the tick column and on
//! the date partition column, so Delta prunes whole days and Parquet row
//! groups by their statistics.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::DFSchema;
use datafusion::datasource::{MemTable, TableProvider, provider_as_source};
use datafusion::functions::core::expr_fn::coalesce;
use datafusion::logical_expr::{EmptyRelation, Expr, LogicalPlan, LogicalPlanBuilder, cast, lit};
use engine::plan::{INGESTION_TIME_COLUMN, physical_type};
use engine::{Catalog, Column, Relation, StaticCatalog};
use kql::KqlType;

use crate::error::StoreError;
use crate::reference_tables::REFERENCE_TABLES;
use crate::schema::{
    DATE_COLUMN, IMPORT_ID_COLUMN, INGEST_TICKS_COLUMN, TIME_COLUMN, TIME_TICKS_COLUMN,
    storage_schema,
};
use crate::tables::{ALL_TABLES, EVENT, SECURITY_EVENT, WINDOWS_EVENT};
use crate::{TableDef, Workspace};

/// A half-open range of `TimeGenerated` values, `[start, end)`, in 100 ns
/// ticks since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub start_ticks: i64,
    pub end_ticks: i64,
}

/// A catalog that remembers whether a query read any table, so that the
/// command line can warn about an empty workspace only when it matters.
pub struct TrackingCatalog {
    inner: StaticCatalog,
    used: AtomicBool,
}

impl TrackingCatalog {
    pub fn any_table_read(&self) -> bool {
        self.used.load(Ordering::Relaxed)
    }
}

impl Catalog for TrackingCatalog {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    fn table(&self, name: &str) -> Option<Relation> {
        let relation = self.inner.table(name);
        if relation.is_some() {
            self.used.store(true, Ordering::Relaxed);
        }
        relation
    }
}

fn column(name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::new_unqualified(name))
}

/// Builds a catalog with every known table of the workspace, each restricted
/// to `window` when one is given.
pub async fn load(
    workspace: &Workspace,
    engine: &engine::Engine,
    window: Option<TimeWindow>,
) -> Result<TrackingCatalog, StoreError> {
    TableSnapshot::open(workspace, engine)
        .await?
        .catalog(window)
}

/// The stored tables of a workspace opened once: each table's Delta
/// provider at the version current when the snapshot was opened.
///
/// Opening reads every table's transaction log, which costs tens of
/// milliseconds per table; building a catalog from a snapshot does no I/O.
/// A caller that runs many queries over different windows (a backtest, a
/// scheduler tick) opens one snapshot and builds a catalog per window.
/// Rows committed after the snapshot was opened are not seen through it.
/// Live rows (acknowledged by `homesoc up` and not flushed yet) are
/// copied into the snapshot when it is opened.
pub struct TableSnapshot {
    providers: Vec<(&'static TableDef, Vec<Arc<dyn TableProvider>>)>,
    /// Imports not committed to all their tables, whose rows catalogs
    /// leave out (see [`crate::pending`]).
    hidden_imports: BTreeSet<String>,
}

impl TableSnapshot {
    /// Opens every table of [`ALL_TABLES`] and copies its live rows; a
    /// table without data yet reads as empty.
    pub async fn open(
        workspace: &Workspace,
        engine: &engine::Engine,
    ) -> Result<TableSnapshot, StoreError> {
        // Hold off a flush between reading a table's Delta log and its live
        // rows, so that each row is read from exactly one of them.
        let _visibility = match workspace.memtable() {
            Some(memtable) => Some(memtable.visibility.read().await),
            None => None,
        };
        // Markers are read before and after the tables, so that an import
        // whose commits run meanwhile is hidden when either read finds its marker.
        let mut hidden_imports = crate::pending::pending_imports(workspace.root())?;
        let mut providers = Vec::with_capacity(ALL_TABLES.len());
        for table in ALL_TABLES {
            let mut sources = Vec::new();
            if let Some(provider) = table_provider(workspace, engine, table).await? {
                sources.push(provider);
            }
            let live_rows = workspace
                .memtable()
                .map(|memtable| memtable.snapshot(table.name))
                .unwrap_or_default();
            if !live_rows.is_empty() {
                let provider = MemTable::try_new(storage_schema(table), vec![live_rows])
                    .map_err(|source| plan_error(table.name, source))?;
                sources.push(Arc::new(provider));
            }
            providers.push((table, sources));
        }
        hidden_imports.extend(crate::pending::pending_imports(workspace.root())?);
        Ok(TableSnapshot {
            providers,
            hidden_imports,
        })
    }

    /// Builds a catalog of the snapshot's tables, each restricted to
    /// `window` when one is given, plus the views and reference tables.
    pub fn catalog(&self, window: Option<TimeWindow>) -> Result<TrackingCatalog, StoreError> {
        self.filtered_catalog(window.map(window_filter))
    }

    /// Builds a catalog of the snapshot's tables, each restricted to the
    /// rows whose ingestion time is in `window`, as near-real-time rules
    /// read them.
    pub fn catalog_by_ingestion(&self, window: TimeWindow) -> Result<TrackingCatalog, StoreError> {
        self.filtered_catalog(Some(ingestion_filter(window)))
    }

    fn filtered_catalog(&self, filter: Option<Expr>) -> Result<TrackingCatalog, StoreError> {
        let filter = match (filter, self.hidden_filter()) {
            (Some(filter), Some(hidden)) => Some(filter.and(hidden)),
            (filter, hidden) => filter.or(hidden),
        };
        let mut catalog = StaticCatalog::new();
        for (table, sources) in &self.providers {
            let relation = table_relation(table, sources, filter.as_ref())?;
            catalog.insert(table.name, relation);
        }
        add_views(&mut catalog)?;
        Ok(TrackingCatalog {
            inner: catalog,
            used: AtomicBool::new(false),
        })
    }
}

impl TableSnapshot {
    /// Returns the filter that leaves out the rows of hidden imports, if
    /// there are any.
    fn hidden_filter(&self) -> Option<Expr> {
        if self.hidden_imports.is_empty() {
            return None;
        }
        let ids = self
            .hidden_imports
            .iter()
            .map(|id| lit(id.as_str()))
            .collect();
        Some(column(IMPORT_ID_COLUMN).in_list(ids, true))
    }
}

/// Builds a catalog of every known table with no rows, for planning
/// queries against the table schemas alone.
pub fn schema_catalog() -> Result<StaticCatalog, StoreError> {
    let mut catalog = StaticCatalog::new();
    for table in ALL_TABLES {
        catalog.insert(table.name, empty_relation(table)?);
    }
    add_views(&mut catalog)?;
    Ok(catalog)
}

/// Adds `WindowsEvent` as a view and the empty reference tables to a
/// catalog of the stored tables.
fn add_views(catalog: &mut StaticCatalog) -> Result<(), StoreError> {
    let windows_event = windows_event_relation(catalog)?;
    catalog.insert(WINDOWS_EVENT.name, windows_event);
    for table in REFERENCE_TABLES {
        catalog.insert(table.name, empty_relation(table)?);
    }
    Ok(())
}

/// Returns the stored tables whose rows the catalog table `name` reads:
/// the table itself, `SecurityEvent`, `Event` and `WindowsEvent` for the
/// `WindowsEvent` view, and none for a reference table, which is always
/// empty. Returns `None` for a name that is not in the catalog.
pub fn stored_sources(name: &str) -> Option<Vec<&'static str>> {
    if name == WINDOWS_EVENT.name {
        return Some(vec![SECURITY_EVENT.name, EVENT.name, WINDOWS_EVENT.name]);
    }
    if let Some(table) = ALL_TABLES.iter().find(|table| table.name == name) {
        return Some(vec![table.name]);
    }
    if REFERENCE_TABLES.iter().any(|table| table.name == name) {
        return Some(Vec::new());
    }
    None
}

/// Reads `WindowsEvent` as the view over `SecurityEvent` and `Event`, plus
/// any rows stored in a `WindowsEvent` table of its own.
fn windows_event_relation(catalog: &StaticCatalog) -> Result<Relation, StoreError> {
    let relation = |name: &str| {
        catalog.table(name).ok_or_else(|| StoreError::Scan {
            table: name.to_string(),
            reason: "the table is missing from the catalog".to_string(),
        })
    };
    let view = crate::windows_event::view(&relation(SECURITY_EVENT.name)?, &relation(EVENT.name)?)?;
    let stored = relation(WINDOWS_EVENT.name)?;
    let plan = LogicalPlanBuilder::from(view.plan)
        .union(stored.plan)
        .and_then(|builder| builder.build())
        .map_err(|source| plan_error(WINDOWS_EVENT.name, source))?;
    Ok(Relation {
        plan,
        columns: view.columns,
    })
}

/// Builds a relation with the table's columns and no rows.
fn empty_relation(table: &TableDef) -> Result<Relation, StoreError> {
    let columns = kql_columns(table);
    let plan = empty_plan(table.name, &columns)?;
    Ok(Relation { plan, columns })
}

fn kql_columns(table: &TableDef) -> Vec<Column> {
    table
        .columns
        .iter()
        .map(|c| Column {
            name: c.name.to_string(),
            ty: c.ty,
        })
        .collect()
}

pub(crate) fn plan_error(table: &str, source: datafusion::error::DataFusionError) -> StoreError {
    StoreError::Scan {
        table: table.to_string(),
        reason: source.to_string(),
    }
}

/// Returns the filter that keeps a stored row when its time is in `window`.
fn window_filter(window: TimeWindow) -> Expr {
    let first_day = day_text(window.start_ticks);
    let last_day = day_text(window.end_ticks);
    column(TIME_TICKS_COLUMN)
        .gt_eq(lit(window.start_ticks))
        .and(column(TIME_TICKS_COLUMN).lt(lit(window.end_ticks)))
        .and(column(DATE_COLUMN).gt_eq(lit(first_day)))
        .and(column(DATE_COLUMN).lt_eq(lit(last_day)))
}

/// Returns the filter that keeps a stored row when its ingestion time is in
/// `window`.
fn ingestion_filter(window: TimeWindow) -> Expr {
    column(INGEST_TICKS_COLUMN)
        .gt_eq(lit(window.start_ticks))
        .and(column(INGEST_TICKS_COLUMN).lt(lit(window.end_ticks)))
}

/// Returns the `YYYY-MM-DD` UTC day of a tick count, as `_hsDate` stores it.
fn day_text(ticks: i64) -> String {
    let seconds = ticks.div_euclid(10_000_000);
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|time| time.format("%Y-%m-%d").to_string())
        // Out of chrono's range: no stored row can be on such a day anyway.
        .unwrap_or_else(|| {
            if ticks < 0 {
                "0000-01-01".into()
            } else {
                "9999-12-31".into()
            }
        })
}

/// Opens the Delta provider of `table`, or returns `None` when the table
/// has no data yet.
async fn table_provider(
    workspace: &Workspace,
    engine: &engine::Engine,
    table: &TableDef,
) -> Result<Option<Arc<dyn TableProvider>>, StoreError> {
    let Some(delta) = workspace.open_table(table.name).await? else {
        return Ok(None);
    };
    delta
        .update_datafusion_session(&engine.session().state())
        .map_err(|source| StoreError::delta(table.name, source))?;
    let provider = delta
        .table_provider()
        .await
        .map_err(|source| plan_error(table.name, source))?;
    Ok(Some(provider))
}

/// Reads `table` from its sources (the Delta scan and the live rows), each
/// restricted by `filter` and projected to the engine's column types, as
/// one union; no source gives an empty relation.
fn table_relation(
    table: &TableDef,
    sources: &[Arc<dyn TableProvider>],
    filter: Option<&Expr>,
) -> Result<Relation, StoreError> {
    let mut plans = sources
        .iter()
        .map(|provider| projected_scan(table, Arc::clone(provider), filter.cloned()));
    let Some(first) = plans.next().transpose()? else {
        return empty_relation(table);
    };
    let mut plan = first;
    for next in plans {
        plan = LogicalPlanBuilder::from(plan)
            .union(next?)
            .and_then(|builder| builder.build())
            .map_err(|source| plan_error(table.name, source))?;
    }
    Ok(Relation {
        plan,
        columns: kql_columns(table),
    })
}

/// Scans a table's rows in the storage schema, keeps those that pass
/// `filter`, and projects them to the engine's column types.
fn projected_scan(
    table: &TableDef,
    provider: Arc<dyn TableProvider>,
    filter: Option<Expr>,
) -> Result<LogicalPlan, StoreError> {
    let mut scan = LogicalPlanBuilder::scan(table.name, provider_as_source(provider), None)
        .map_err(|source| plan_error(table.name, source))?;
    if let Some(filter) = filter {
        scan = scan
            .filter(filter)
            .map_err(|source| plan_error(table.name, source))?;
    }
    let scan = scan
        .build()
        .map_err(|source| plan_error(table.name, source))?;

    let projection: Vec<Expr> = table
        .columns
        .iter()
        .map(|c| {
            let expr = if c.name == TIME_COLUMN {
                column(TIME_TICKS_COLUMN)
            } else {
                match c.ty {
                    KqlType::Datetime => cast(column(c.name), DataType::Int64) * lit(10i64),
                    // Empty strings are stored as null; KQL strings are never null.
                    KqlType::String => {
                        coalesce(vec![cast(column(c.name), DataType::Utf8), lit("")])
                    }
                    ty => cast(column(c.name), physical_type(ty)),
                }
            };
            expr.alias(c.name)
        })
        .chain([column(INGEST_TICKS_COLUMN).alias(INGESTION_TIME_COLUMN)])
        .collect();
    LogicalPlanBuilder::from(scan)
        .project(projection)
        .and_then(|builder| builder.build())
        .map_err(|source| plan_error(table.name, source))
}

fn empty_plan(table: &str, columns: &[Column]) -> Result<LogicalPlan, StoreError> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, physical_type(c.ty), true))
        .chain([Field::new(INGESTION_TIME_COLUMN, DataType::Int64, true)])
        .collect();
    let schema =
        DFSchema::try_from(Schema::new(fields)).map_err(|source| plan_error(table, source))?;
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(schema),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_sources_of_views_and_tables() {
        assert_eq!(
            stored_sources("WindowsEvent"),
            Some(vec!["SecurityEvent", "Event", "WindowsEvent"])
        );
        assert_eq!(stored_sources("SecurityEvent"), Some(vec!["SecurityEvent"]));
        assert_eq!(stored_sources("Heartbeat"), Some(Vec::new()));
        assert_eq!(stored_sources("NoSuchTable"), None);
    }
}
