//! `WindowsEvent` as a view over the stored `SecurityEvent` and `Event`
//! rows.
//!
//! Sentinel's `WindowsEvent` table contains events of every channel with
//! `EventData` as a dynamic bag, while `SecurityEvent` (the Security
//! channel) and `Event` (every other channel) keep `EventData` as XML.
//! homesoc stores each record once, in `SecurityEvent` or `Event`, and
//! reads `WindowsEvent` as the union of both, so rules written for either
//! shape find the same events. Columns the stored tables do not carry
//! (such as `Keywords` or `SystemProcessId`) are empty.

use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, lit, try_cast, when};
use engine::plan::{INGESTION_TIME_COLUMN, physical_type};
use engine::{Column, Relation};
use kql::KqlType;

use crate::error::StoreError;
use crate::tables::{EVENT, SECURITY_EVENT, WINDOWS_EVENT, event_level_name};
use crate::{ColumnDef, TableDef};

fn column(name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::new_unqualified(name))
}

/// Returns the `WindowsEvent` column that a stored table's column fills,
/// when the names differ.
fn source_column(source: &TableDef, target: &str) -> Option<&'static str> {
    let renamed = match (source.name, target) {
        ("SecurityEvent", "Provider") => "EventSourceName",
        ("Event", "Channel") => "EventLog",
        ("Event", "Provider") => "Source",
        ("Event", "Task") => "EventCategory",
        _ => target,
    };
    source
        .columns
        .iter()
        .find(|c| c.name == renamed)
        .map(|c| c.name)
}

/// Builds the expression for one `WindowsEvent` column over rows of
/// `source`, already cast to the column's engine type.
fn view_column(source: &TableDef, target: &ColumnDef) -> Expr {
    let ty = physical_type(target.ty);
    let expr = match target.name {
        // Parsing the XML is the costly part of the view: computed once.
        "EventData" => engine::plan::computed_once(engine::functions::xml::event_data_bag_expr(
            column("EventData"),
        )),
        "Type" => lit(WINDOWS_EVENT.name),
        // SecurityEvent keeps the level as text and has no level name.
        "EventLevel" if source.name == SECURITY_EVENT.name => try_cast(column("Level"), ty.clone()),
        "EventLevelName" if source.name == SECURITY_EVENT.name => {
            level_name(try_cast(column("Level"), physical_type(KqlType::Long)))
        }
        name => match source_column(source, name) {
            Some(stored) => column(stored),
            // KQL strings are never null: a missing string column is "".
            None if target.ty == KqlType::String => lit(""),
            None => lit(datafusion::common::ScalarValue::try_from(&ty).expect("typed null")),
        },
    };
    cast(expr, ty).alias(target.name)
}

/// Maps an event level to its name as the `Event` table writes it.
fn level_name(level: Expr) -> Expr {
    let mut names =
        (0i64..=5).filter_map(|value| event_level_name(value).map(|name| (value, name)));
    let (first_value, first_name) = names.next().expect("level 0 has a name");
    let mut case = when(level.clone().eq(lit(first_value)), lit(first_name));
    for (value, name) in names {
        case = case.when(level.clone().eq(lit(value)), lit(name));
    }
    case.otherwise(lit(""))
        .expect("a CASE with branches builds")
}

fn project(source: &TableDef, relation: &Relation) -> Result<LogicalPlanBuilder, StoreError> {
    let projection: Vec<Expr> = WINDOWS_EVENT
        .columns
        .iter()
        .map(|target| view_column(source, target))
        .chain([column(INGESTION_TIME_COLUMN)])
        .collect();
    LogicalPlanBuilder::from(relation.plan.clone())
        .project(projection)
        .map_err(|source| crate::catalog::plan_error(WINDOWS_EVENT.name, source))
}

/// Builds `WindowsEvent` from the `SecurityEvent` and `Event` relations of
/// the catalog.
pub fn view(security_event: &Relation, event: &Relation) -> Result<Relation, StoreError> {
    let plan_error = |source| crate::catalog::plan_error(WINDOWS_EVENT.name, source);
    let security_rows = project(&SECURITY_EVENT, security_event)?
        .build()
        .map_err(plan_error)?;
    let plan = project(&EVENT, event)?
        .union(security_rows)
        .and_then(|builder| builder.build())
        .map_err(plan_error)?;
    let columns = WINDOWS_EVENT
        .columns
        .iter()
        .map(|c| Column {
            name: c.name.to_string(),
            ty: c.ty,
        })
        .collect();
    Ok(Relation { plan, columns })
}
