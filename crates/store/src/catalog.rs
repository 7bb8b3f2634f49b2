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
//! A [`TimeWindow`] restricts every table to rows whose `TimeGenerated` is in
//! the window, as Sentinel restricts a scheduled rule's query to its query
//! period. The filter sits below the projection, on the tick column and on
//! the date partition column, so Delta prunes whole days and Parquet row
//! groups by their statistics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::DFSchema;
use datafusion::datasource::provider_as_source;
use datafusion::functions::core::expr_fn::coalesce;
use datafusion::logical_expr::{EmptyRelation, Expr, LogicalPlan, LogicalPlanBuilder, cast, lit};
use engine::plan::{INGESTION_TIME_COLUMN, physical_type};
use engine::{Catalog, Column, Relation, StaticCatalog};
use kql::KqlType;

use crate::error::StoreError;
use crate::reference_tables::REFERENCE_TABLES;
use crate::schema::{DATE_COLUMN, INGEST_TICKS_COLUMN, TIME_COLUMN, TIME_TICKS_COLUMN};
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
    let mut catalog = StaticCatalog::new();
    for table in ALL_TABLES {
        let relation = table_relation(workspace, engine, table, window).await?;
        catalog.insert(table.name, relation);
    }
    add_views(&mut catalog)?;
    Ok(TrackingCatalog {
        inner: catalog,
        used: AtomicBool::new(false),
    })
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

async fn table_relation(
    workspace: &Workspace,
    engine: &engine::Engine,
    table: &TableDef,
    window: Option<TimeWindow>,
) -> Result<Relation, StoreError> {
    let columns = kql_columns(table);

    let Some(delta) = workspace.open_table(table.name).await? else {
        return empty_relation(table);
    };
    delta
        .update_datafusion_session(&engine.session().state())
        .map_err(|source| StoreError::delta(table.name, source))?;
    let provider = delta
        .table_provider()
        .await
        .map_err(|source| plan_error(table.name, source))?;
    let mut scan = LogicalPlanBuilder::scan(table.name, provider_as_source(provider), None)
        .map_err(|source| plan_error(table.name, source))?;
    if let Some(window) = window {
        scan = scan
            .filter(window_filter(window))
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
    let plan = LogicalPlanBuilder::from(scan)
        .project(projection)
        .and_then(|builder| builder.build())
        .map_err(|source| plan_error(table.name, source))?;
    Ok(Relation { plan, columns })
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
