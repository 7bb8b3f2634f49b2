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
//! ([`store::reference_tables`]): as in Sentinel, they exist and are empty
//! until data arrives.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::DFSchema;
use datafusion::datasource::provider_as_source;
use datafusion::functions::core::expr_fn::coalesce;
use datafusion::logical_expr::{EmptyRelation, Expr, LogicalPlan, LogicalPlanBuilder, cast, lit};
use engine::plan::{INGESTION_TIME_COLUMN, physical_type};
use engine::{Catalog, Column, Relation, StaticCatalog};
use kql::KqlType;
use store::reference_tables::REFERENCE_TABLES;
use store::schema::{INGEST_TICKS_COLUMN, TIME_COLUMN, TIME_TICKS_COLUMN};
use store::tables::{ALL_TABLES, EVENT, SECURITY_EVENT, WINDOWS_EVENT};
use store::{TableDef, Workspace};

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

/// Builds a catalog with every known table of the workspace.
pub async fn load(
    workspace: &Workspace,
    engine: &engine::Engine,
) -> anyhow::Result<TrackingCatalog> {
    let mut catalog = StaticCatalog::new();
    for table in ALL_TABLES {
        let relation = table_relation(workspace, engine, table)
            .await
            .with_context(|| format!("cannot open table {}", table.name))?;
        catalog.insert(table.name, relation);
    }
    let windows_event = windows_event_relation(&catalog)?;
    catalog.insert(WINDOWS_EVENT.name, windows_event);
    for table in REFERENCE_TABLES {
        catalog.insert(table.name, empty_relation(table)?);
    }
    Ok(TrackingCatalog {
        inner: catalog,
        used: AtomicBool::new(false),
    })
}

/// Reads `WindowsEvent` as the view over `SecurityEvent` and `Event`, plus
/// any rows stored in a `WindowsEvent` table of its own.
fn windows_event_relation(catalog: &StaticCatalog) -> anyhow::Result<Relation> {
    let relation = |name: &str| {
        catalog
            .table(name)
            .with_context(|| format!("table {name} is missing from the catalog"))
    };
    let view = crate::windows_event::view(&relation(SECURITY_EVENT.name)?, &relation(EVENT.name)?)?;
    let stored = relation(WINDOWS_EVENT.name)?;
    let plan = LogicalPlanBuilder::from(view.plan)
        .union(stored.plan)?
        .build()?;
    Ok(Relation {
        plan,
        columns: view.columns,
    })
}

async fn table_relation(
    workspace: &Workspace,
    engine: &engine::Engine,
    table: &TableDef,
) -> anyhow::Result<Relation> {
    let columns = kql_columns(table);

    let Some(delta) = workspace.open_table(table.name).await? else {
        return empty_relation(table);
    };
    delta.update_datafusion_session(&engine.session().state())?;
    let provider = delta.table_provider().await?;
    let scan = LogicalPlanBuilder::scan(table.name, provider_as_source(provider), None)?.build()?;

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
        .project(projection)?
        .build()?;
    Ok(Relation { plan, columns })
}

/// Builds a relation with the table's columns and no rows.
fn empty_relation(table: &TableDef) -> anyhow::Result<Relation> {
    let columns = kql_columns(table);
    Ok(Relation {
        plan: empty_plan(&columns)?,
        columns,
    })
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

fn empty_plan(columns: &[Column]) -> anyhow::Result<LogicalPlan> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, physical_type(c.ty), true))
        .chain([Field::new(INGESTION_TIME_COLUMN, DataType::Int64, true)])
        .collect();
    let schema = DFSchema::try_from(Schema::new(fields))?;
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(schema),
    }))
}
