//! Data collection rule transforms: a batch of JSON records becomes the
//! KQL table `source`, the stream's `transformKql` runs over it, and the
//! result becomes rows of the stream's output table.
//!
//! A record that cannot become a row (not an object, too many fields, a
//! value that does not fit its declared column, a result value that does
//! not fit the output column) is refused with a per-record error; the
//! others go on. Result columns that the output table does not have are
//! dropped and counted, as Azure drops them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::logical_expr::LogicalPlanBuilder;
use engine::plan::{INGESTION_TIME_COLUMN, physical_type};
use engine::{Column, Engine, QueryOptions, Relation, StaticCatalog};
use kql::KqlType;
use serde_json::Value;
use store::TableDef;
use store::builder::TableBatchBuilder;

use crate::config::StreamConfig;

/// Parses a KQL type name as a column declaration uses it.
pub fn parse_kql_type(name: &str) -> Option<KqlType> {
    KqlType::from_name(name.trim())
}

/// One refused record: its position in the request and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordError {
    pub index: usize,
    /// A short machine-readable reason, also the metric label.
    pub reason: &'static str,
    pub message: String,
}

/// What a transform produced.
#[derive(Debug)]
pub struct Transformed {
    /// The rows for the output table, in its storage schema.
    pub batch: RecordBatch,
    pub errors: Vec<RecordError>,
    /// Result columns the output table does not have.
    pub dropped_columns: Vec<String>,
}

/// A cell of the `source` table.
enum Cell {
    Null,
    Text(String),
    Int(i32),
    Long(i64),
    Real(f64),
    Bool(bool),
}

/// Runs `stream`'s transform over `records` and maps the result to
/// `table` rows. `Err` is a failure of the whole batch (the transform does
/// not run), with the message for the sender.
pub async fn transform(
    engine: &Engine,
    stream: &StreamConfig,
    table: &'static TableDef,
    records: Vec<Value>,
    max_fields: usize,
    batch_id: &str,
    now_ticks: i64,
) -> Result<Transformed, String> {
    let mut errors = Vec::new();
    let columns = source_columns(stream, &records);
    let mut kept: Vec<(usize, Vec<Cell>)> = Vec::with_capacity(records.len());
    for (index, record) in records.into_iter().enumerate() {
        match source_row(&columns, record, max_fields) {
            Ok(cells) => kept.push((index, cells)),
            Err((reason, message)) => errors.push(RecordError {
                index,
                reason,
                message,
            }),
        }
    }
    let origin: Vec<usize> = kept.iter().map(|(index, _)| *index).collect();
    let source = source_relation(&columns, kept, now_ticks)?;
    let mut catalog = StaticCatalog::new();
    catalog.insert("source", source);
    let options = QueryOptions {
        now_ticks,
        ..QueryOptions::default()
    };

    // Rows of the result carry no link to their input record once the
    // transform filters or reorders them, so result errors name the
    // result row; `origin` maps them back when the row count is unchanged.
    let result = engine
        .run(&stream.transform_kql, &catalog, &options)
        .await
        .map_err(|err| {
            format!(
                "the transformKql of stream {} failed: {}",
                stream.name,
                err.render(&stream.transform_kql)
            )
        })?;
    let values = engine::output::rows_json(&result);
    let keep_origin = values.len() == origin.len();

    let mut targets = Vec::new();
    let mut dropped_columns = Vec::new();
    for (position, column) in result.columns.iter().enumerate() {
        match table.column_index(&column.name) {
            Some(target) => targets.push((position, target)),
            None => dropped_columns.push(column.name.clone()),
        }
    }
    let time_position = result
        .columns
        .iter()
        .position(|c| c.name == store::schema::TIME_COLUMN);

    let mut builder = TableBatchBuilder::new(table, batch_id, now_ticks, values.len());
    for (row_number, row) in values.iter().enumerate() {
        let index = if keep_origin {
            origin[row_number]
        } else {
            row_number
        };
        let ticks = match time_position.map(|p| &row[p]) {
            None | Some(Value::Null) => now_ticks,
            Some(value) => match value.as_str().and_then(engine::time::parse_datetime) {
                Some(ticks) => ticks,
                None => {
                    errors.push(RecordError {
                        index,
                        reason: "bad_time",
                        message: format!("TimeGenerated {value} is not a datetime"),
                    });
                    continue;
                }
            },
        };
        builder.reset_row();
        builder.set_time_generated(ticks);
        let mut failed = None;
        for &(position, target) in &targets {
            if Some(position) == time_position {
                continue;
            }
            let text = match &row[position] {
                Value::Null => continue,
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            if !builder.set_text(target, &text) {
                failed = Some(format!(
                    "value {text:?} does not fit column {} of type {}",
                    table.columns[target].name, table.columns[target].ty
                ));
                break;
            }
        }
        if let Some(message) = failed {
            builder.reset_row();
            errors.push(RecordError {
                index,
                reason: "bad_value",
                message,
            });
            continue;
        }
        if let Err(err) = builder.finish_row() {
            errors.push(RecordError {
                index,
                reason: "bad_time",
                message: err.to_string(),
            });
        }
    }
    errors.sort_by_key(|e| e.index);
    Ok(Transformed {
        batch: builder.finish(),
        errors,
        dropped_columns,
    })
}

/// The columns of `source`: the declared ones, then every other field in
/// the order first seen, typed by its first non-null value.
fn source_columns(stream: &StreamConfig, records: &[Value]) -> Vec<Column> {
    let mut columns: Vec<Column> = stream
        .columns
        .iter()
        .filter_map(|(name, ty)| {
            parse_kql_type(ty).map(|ty| Column {
                name: name.clone(),
                ty,
            })
        })
        .collect();
    let mut seen: BTreeMap<String, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    for record in records {
        let Some(object) = record.as_object() else {
            continue;
        };
        for (name, value) in object {
            if seen.contains_key(name) || value.is_null() {
                continue;
            }
            let ty = match value {
                Value::Bool(_) => KqlType::Bool,
                Value::Number(n) if n.is_i64() => KqlType::Long,
                Value::Number(_) => KqlType::Real,
                Value::String(_) if name == store::schema::TIME_COLUMN => KqlType::Datetime,
                Value::String(_) => KqlType::String,
                _ => KqlType::Dynamic,
            };
            seen.insert(name.clone(), columns.len());
            columns.push(Column {
                name: name.clone(),
                ty,
            });
        }
    }
    columns
}

type Refusal = (&'static str, String);

/// Converts one record to the cells of `columns`.
fn source_row(columns: &[Column], record: Value, max_fields: usize) -> Result<Vec<Cell>, Refusal> {
    let Value::Object(mut object) = record else {
        return Err(("not_object", "the record is not a JSON object".to_string()));
    };
    if object.len() > max_fields {
        return Err((
            "too_many_fields",
            format!(
                "the record has {} fields, more than the limit of {max_fields}",
                object.len()
            ),
        ));
    }
    columns
        .iter()
        .map(|column| {
            let value = object.remove(&column.name).unwrap_or(Value::Null);
            cell(column, value)
        })
        .collect()
}

fn cell(column: &Column, value: Value) -> Result<Cell, Refusal> {
    let mismatch = |value: &Value| {
        (
            "bad_value",
            format!(
                "value {value} of field {} is not a {}",
                column.name, column.ty
            ),
        )
    };
    if value.is_null() {
        return Ok(Cell::Null);
    }
    Ok(match column.ty {
        KqlType::String | KqlType::Guid => match value {
            Value::String(text) => Cell::Text(text),
            other => Cell::Text(other.to_string()),
        },
        KqlType::Dynamic => Cell::Text(value.to_string()),
        KqlType::Bool => match &value {
            Value::Bool(b) => Cell::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Cell::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Cell::Bool(false),
            other => return Err(mismatch(other)),
        },
        KqlType::Int => match number_or_text(&value).and_then(|n| i32::try_from(n).ok()) {
            Some(n) => Cell::Int(n),
            None => return Err(mismatch(&value)),
        },
        KqlType::Long | KqlType::Timespan => match number_or_text(&value) {
            Some(n) => Cell::Long(n),
            None => return Err(mismatch(&value)),
        },
        KqlType::Real | KqlType::Decimal => match &value {
            Value::Number(n) => Cell::Real(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => match s.trim().parse() {
                Ok(v) => Cell::Real(v),
                Err(_) => return Err(mismatch(&value)),
            },
            other => return Err(mismatch(other)),
        },
        KqlType::Datetime => match value.as_str().and_then(engine::time::parse_datetime) {
            Some(ticks) => Cell::Long(ticks),
            None => return Err(mismatch(&value)),
        },
    })
}

fn number_or_text(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Builds the `source` table from the kept records.
fn source_relation(
    columns: &[Column],
    rows: Vec<(usize, Vec<Cell>)>,
    now_ticks: i64,
) -> Result<Relation, String> {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, physical_type(c.ty), true))
        .collect();
    fields.push(Field::new(INGESTION_TIME_COLUMN, DataType::Int64, true));
    let schema = Arc::new(Schema::new(fields));
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len() + 1);
    for (position, column) in columns.iter().enumerate() {
        let cells = rows.iter().map(|(_, cells)| &cells[position]);
        let array: ArrayRef = match physical_type(column.ty) {
            DataType::Boolean => Arc::new(
                cells
                    .map(|c| match c {
                        Cell::Bool(b) => Some(*b),
                        _ => None,
                    })
                    .collect::<BooleanArray>(),
            ),
            DataType::Int32 => Arc::new(
                cells
                    .map(|c| match c {
                        Cell::Int(v) => Some(*v),
                        _ => None,
                    })
                    .collect::<Int32Array>(),
            ),
            DataType::Int64 => Arc::new(
                cells
                    .map(|c| match c {
                        Cell::Long(v) => Some(*v),
                        _ => None,
                    })
                    .collect::<Int64Array>(),
            ),
            DataType::Float64 => Arc::new(
                cells
                    .map(|c| match c {
                        Cell::Real(v) => Some(*v),
                        _ => None,
                    })
                    .collect::<Float64Array>(),
            ),
            _ => Arc::new(
                cells
                    .map(|c| match c {
                        Cell::Text(v) => Some(v.as_str()),
                        // KQL strings are never null.
                        Cell::Null if column.ty == KqlType::String => Some(""),
                        _ => None,
                    })
                    .collect::<StringArray>(),
            ),
        };
        arrays.push(array);
    }
    arrays.push(Arc::new(Int64Array::from(vec![now_ticks; rows.len()])));
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|err| format!("cannot build the source table: {err}"))?;
    let provider = MemTable::try_new(schema, vec![vec![batch]])
        .map_err(|err| format!("cannot build the source table: {err}"))?;
    let plan = LogicalPlanBuilder::scan("source", provider_as_source(Arc::new(provider)), None)
        .and_then(|builder| builder.build())
        .map_err(|err| format!("cannot build the source table: {err}"))?;
    Ok(Relation {
        plan,
        columns: columns.to_vec(),
    })
}
