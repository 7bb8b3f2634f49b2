//! Output columns that depend on the data.
//!
//! `evaluate bag_unpack` makes one column per property name found in the
//! bags, and `evaluate pivot` one column per distinct value of the pivot
//! column, so their output schema is known only after their input ran.
//! The planner records such an operator as a [`ColumnRequest`], with a
//! plan that reads what decides the columns, and plans on as if the
//! operator added no columns. [`crate::Engine`] runs the first request's
//! plan, stores the result as [`Discovered`] under the operator's key and
//! plans the query again, until no request is left. The first request
//! never depends on another unresolved one, because operators are planned
//! after their input.
//!
//! Planning without data ([`crate::Engine::plan`]) stops at the first
//! round: the query plans with the columns known without data, which is
//! what published rules expect when they read unpacked columns through
//! `column_ifexists`.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use kql::{KqlType, Span};
use serde_json::Value;

use crate::error::EngineError;

/// Columns that one data-dependent operator may add at most.
pub const MAX_DISCOVERED_COLUMNS: usize = 1024;

/// Data-dependent operators that one query may hold at most.
pub const MAX_DISCOVERIES: usize = 64;

/// What decides an operator's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// The property names of the dynamic values in the plan's only column,
    /// with a type per name.
    BagProperties,
    /// The distinct text values of the plan's only column.
    DistinctValues,
}

/// A data-dependent operator whose columns are not known yet.
#[derive(Debug, Clone)]
pub struct ColumnRequest {
    pub key: String,
    /// The operator's name, for messages (`bag_unpack`, `pivot`).
    pub operator: &'static str,
    pub plan: LogicalPlan,
    pub kind: RequestKind,
}

/// The columns that running the plan of a [`ColumnRequest`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Discovered {
    /// Property names in name order, each with the type of its values.
    Properties(Vec<(String, KqlType)>),
    /// Distinct non-empty values in text order.
    Values(Vec<String>),
}

/// Discoveries by operator key.
pub type Discoveries = HashMap<String, Discovered>;

/// The key of a data-dependent operator: where it is in the query and
/// what its input is, so that one `let` function called with two inputs
/// gets two keys.
pub fn operator_key(span: Span, input: &LogicalPlan) -> String {
    format!("{}:{}:{}", span.start, span.end, input.display_indent())
}

impl ColumnRequest {
    /// Reads the columns from the result of [`ColumnRequest::plan`].
    pub fn discover(&self, batches: &[RecordBatch]) -> Result<Discovered, EngineError> {
        let too_many = |count: usize| {
            EngineError::Execution(format!(
                "`{}` would make more than {MAX_DISCOVERED_COLUMNS} columns ({count} or more); filter the rows or project fewer properties before it",
                self.operator
            ))
        };
        match self.kind {
            RequestKind::BagProperties => {
                let mut types: BTreeMap<String, Option<KqlType>> = BTreeMap::new();
                for text in texts(batches) {
                    let Ok(Value::Object(bag)) = serde_json::from_str::<Value>(text) else {
                        continue;
                    };
                    for (name, value) in bag {
                        let ty = value_type(&value);
                        let merged = match types.get(&name) {
                            None => ty,
                            Some(seen) => merge(*seen, ty),
                        };
                        types.insert(name, merged);
                        if types.len() > MAX_DISCOVERED_COLUMNS {
                            return Err(too_many(types.len()));
                        }
                    }
                }
                Ok(Discovered::Properties(
                    types
                        .into_iter()
                        .map(|(name, ty)| (name, ty.unwrap_or(KqlType::Dynamic)))
                        .collect(),
                ))
            }
            RequestKind::DistinctValues => {
                let mut values: Vec<String> = texts(batches)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect();
                values.sort();
                values.dedup();
                if values.len() > MAX_DISCOVERED_COLUMNS {
                    return Err(too_many(values.len()));
                }
                Ok(Discovered::Values(values))
            }
        }
    }
}

/// Returns the non-null text values of the first column of `batches`.
fn texts(batches: &[RecordBatch]) -> impl Iterator<Item = &str> {
    batches.iter().flat_map(|batch| {
        let column = batch.column(0).as_string::<i32>();
        (0..column.len())
            .filter(move |&row| !column.is_null(row))
            .map(move |row| column.value(row))
    })
}

/// Returns the KQL type of one property value, or `None` for null, which
/// fits any type.
fn value_type(value: &Value) -> Option<KqlType> {
    match value {
        Value::Null => None,
        Value::Bool(_) => Some(KqlType::Bool),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(KqlType::Long),
        Value::Number(_) => Some(KqlType::Real),
        Value::String(_) => Some(KqlType::String),
        Value::Array(_) | Value::Object(_) => Some(KqlType::Dynamic),
    }
}

/// Returns the type that can contain values of both types: `long` and `real` give
/// `real`, any other mix `dynamic`.
fn merge(a: Option<KqlType>, b: Option<KqlType>) -> Option<KqlType> {
    match (a, b) {
        (None, t) | (t, None) => t,
        (Some(a), Some(b)) if a == b => Some(a),
        (Some(KqlType::Long), Some(KqlType::Real)) | (Some(KqlType::Real), Some(KqlType::Long)) => {
            Some(KqlType::Real)
        }
        _ => Some(KqlType::Dynamic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::logical_expr::LogicalPlanBuilder;
    use std::sync::Arc;

    fn batch(values: &[Option<&str>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Utf8, true)]));
        let array = StringArray::from(values.to_vec());
        RecordBatch::try_new(schema, vec![Arc::new(array)]).unwrap()
    }

    fn request(kind: RequestKind) -> ColumnRequest {
        ColumnRequest {
            key: "k".into(),
            operator: "bag_unpack",
            plan: LogicalPlanBuilder::empty(false).build().unwrap(),
            kind,
        }
    }

    #[test]
    fn bag_properties_are_sorted_with_merged_types() {
        let found = request(RequestKind::BagProperties)
            .discover(&[batch(&[
                Some(r#"{"Name": "a", "Age": 20}"#),
                Some(r#"{"Age": 1.5, "Height": null, "Tags": "x"}"#),
                Some(r#"{"Tags": 3}"#),
                Some("[1, 2]"),
                None,
            ])])
            .unwrap();
        assert_eq!(
            found,
            Discovered::Properties(vec![
                ("Age".into(), KqlType::Real),
                ("Height".into(), KqlType::Dynamic),
                ("Name".into(), KqlType::String),
                ("Tags".into(), KqlType::Dynamic),
            ])
        );
    }

    #[test]
    fn distinct_values_skip_empty_text() {
        let found = request(RequestKind::DistinctValues)
            .discover(&[batch(&[Some("b"), Some(""), None, Some("a"), Some("b")])])
            .unwrap();
        assert_eq!(found, Discovered::Values(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn too_many_properties_is_an_error() {
        let bag: serde_json::Map<String, Value> = (0..=MAX_DISCOVERED_COLUMNS)
            .map(|i| (format!("p{i}"), Value::from(i)))
            .collect();
        let text = Value::Object(bag).to_string();
        let error = request(RequestKind::BagProperties)
            .discover(&[batch(&[Some(&text)])])
            .unwrap_err();
        assert!(
            error.to_string().contains("more than 1024 columns"),
            "{error}"
        );
    }
}
