//! KQL parser and planner: any text, planned against two small tables that
//! have a column of every KQL type. Planning binds names and types and
//! builds the DataFusion logical plan but runs nothing, so each input
//! takes a few milliseconds. Errors are expected, but panics are bugs.
#![no_main]

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{Field, Schema};
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::logical_expr::LogicalPlanBuilder;
use engine::plan::{INGESTION_TIME_COLUMN, physical_type};
use engine::{Column, Engine, QueryOptions, Relation, StaticCatalog};
use kql::KqlType;
use libfuzzer_sys::fuzz_target;

/// A SecurityEvent-like table: one or more columns of each KQL type.
const SECURITY_EVENT: &[(&str, KqlType)] = &[
    ("TimeGenerated", KqlType::Datetime),
    ("Computer", KqlType::String),
    ("Account", KqlType::String),
    ("CommandLine", KqlType::String),
    ("IpAddress", KqlType::String),
    ("EventID", KqlType::Int),
    ("LogonType", KqlType::Int),
    ("ProcessId", KqlType::Long),
    ("Score", KqlType::Real),
    ("Amount", KqlType::Decimal),
    ("ElevatedToken", KqlType::Bool),
    ("SessionDuration", KqlType::Timespan),
    ("ActivityId", KqlType::Guid),
    ("EventData", KqlType::Dynamic),
];

/// A second, smaller table for `join`, `union` and `lookup`.
const HEARTBEAT: &[(&str, KqlType)] = &[
    ("TimeGenerated", KqlType::Datetime),
    ("Computer", KqlType::String),
    ("ComputerIP", KqlType::String),
    ("OSType", KqlType::String),
    ("Tags", KqlType::Dynamic),
];

/// 2026-12-05T00:00:00Z in 100 ns ticks since the Unix epoch.
const NOW_TICKS: i64 = 17_964_288_000_000_000;

/// Builds an empty in-memory table with the given KQL columns and the
/// hidden ingestion-time column that the store's tables carry.
fn empty_table(name: &str, columns: &[(&str, KqlType)]) -> Relation {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|(column, ty)| Field::new(*column, physical_type(*ty), true))
        .collect();
    fields.push(Field::new(
        INGESTION_TIME_COLUMN,
        arrow::datatypes::DataType::Int64,
        true,
    ));
    let schema = Arc::new(Schema::new(fields));
    let provider = MemTable::try_new(schema, vec![vec![]]).expect("an empty table builds");
    let plan = LogicalPlanBuilder::scan(name, provider_as_source(Arc::new(provider)), None)
        .and_then(|builder| builder.build())
        .expect("a scan of an in-memory table builds");
    Relation {
        plan,
        columns: columns
            .iter()
            .map(|(column, ty)| Column {
                name: (*column).to_string(),
                ty: *ty,
            })
            .collect(),
    }
}

struct Fixture {
    engine: Engine,
    catalog: StaticCatalog,
    options: QueryOptions,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut catalog = StaticCatalog::new();
        catalog.insert(
            "SecurityEvent",
            empty_table("SecurityEvent", SECURITY_EVENT),
        );
        catalog.insert("Heartbeat", empty_table("Heartbeat", HEARTBEAT));
        Fixture {
            engine: Engine::new(),
            catalog,
            options: QueryOptions {
                now_ticks: NOW_TICKS,
                ..QueryOptions::default()
            },
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fixture = fixture();
    match fixture
        .engine
        .plan(text, &fixture.catalog, &fixture.options)
    {
        Ok(relation) => {
            // Every output column must be a column of the plan.
            let schema = relation.plan.schema();
            for column in &relation.columns {
                assert!(
                    schema.fields().iter().any(|f| f.name() == &column.name),
                    "output column {} is missing from the plan",
                    column.name
                );
            }
        }
        Err(error) => {
            let rendered = error.render(text);
            assert!(!rendered.is_empty());
        }
    }
});
