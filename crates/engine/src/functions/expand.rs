//! Row expansion helpers for `mv-expand`: the elements of a dynamic value
//! as an Arrow list, and the cast-only conversion of `to typeof(T)`.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, ListBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::logical_expr::Expr;
use kql::KqlType;
use serde_json::{Map, Value};

use super::dynamic::{json_array, json_at};
use super::utf8;
use crate::plan::physical_type;
use crate::time;
use crate::udf;

/// How `mv-expand` expands a property bag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BagExpansion {
    /// Each property becomes a one-property bag (`bagexpansion=bag`, the
    /// default).
    Bag,
    /// Each property becomes a `[key, value]` array (`bagexpansion=array`).
    Array,
}

/// Returns the values one dynamic value expands into: the elements of an
/// array, the properties of a bag, one null for null, and the value itself
/// for any other scalar. An empty array or bag expands into nothing.
pub fn expanded_elements(value: Value, bags: BagExpansion) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Object(properties) => properties
            .into_iter()
            .map(|(key, value)| match bags {
                BagExpansion::Bag => {
                    let mut single = Map::new();
                    single.insert(key, value);
                    Value::Object(single)
                }
                BagExpansion::Array => Value::Array(vec![Value::String(key), value]),
            })
            .collect(),
        scalar => vec![scalar],
    }
}

fn list_type(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

/// Builds the list of elements of a dynamic expression, each element as
/// dynamic JSON text, with at most `limit` elements per row.
pub fn element_list(value: Expr, bags: BagExpansion, limit: usize) -> Expr {
    let body: udf::ArrayFn = Arc::new(move |arrays: &[ArrayRef]| {
        let values = utf8(&arrays[0])?;
        let mut builder = ListBuilder::new(StringBuilder::new());
        for row in 0..values.len() {
            for element in expanded_elements(json_at(&values, row), bags)
                .into_iter()
                .take(limit)
            {
                if element.is_null() {
                    builder.values().append_null();
                } else {
                    builder.values().append_value(element.to_string());
                }
            }
            builder.append(true);
        }
        Ok(Arc::new(builder.finish()) as ArrayRef)
    });
    let name = format!("mv_expand_elements_{bags:?}_{limit}");
    udf::call(&name, list_type(DataType::Utf8), false, body, vec![value])
}

/// Builds the list `0, 1, ..., n-1` per row, where `n` is the number of
/// rows `mv-expand` makes from the row: the most elements any of `values`
/// expands into, at most `limit`.
pub fn index_list(values: Vec<Expr>, limit: usize) -> Expr {
    let body: udf::ArrayFn = Arc::new(move |arrays: &[ArrayRef]| {
        let arrays = arrays
            .iter()
            .map(utf8)
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        let rows = arrays.first().map_or(0, |a| a.len());
        let mut builder = ListBuilder::new(Int64Builder::new());
        for row in 0..rows {
            let count = arrays
                .iter()
                .map(|array| expanded_elements(json_at(array, row), BagExpansion::Bag).len())
                .max()
                .unwrap_or(0)
                .min(limit);
            for index in 0..count {
                builder.values().append_value(index as i64);
            }
            builder.append(true);
        }
        Ok(Arc::new(builder.finish()) as ArrayRef)
    });
    let name = format!("mv_expand_indexes_{limit}");
    udf::call(&name, list_type(DataType::Int64), false, body, values)
}

/// Converts dynamic elements to `ty` without parsing or conversion, as
/// `to typeof(T)` does: an element that is not already a `ty` value
/// becomes null. Datetimes, timespans and guids, which dynamic values hold
/// as text, are read from that text.
pub fn cast_dynamic(value: Expr, ty: KqlType) -> Expr {
    let body: udf::ArrayFn = Arc::new(move |arrays: &[ArrayRef]| {
        let values = utf8(&arrays[0])?;
        let cast: Vec<Value> = (0..values.len())
            .map(|row| conforming(json_at(&values, row), ty))
            .collect();
        Ok(json_array(&cast, ty))
    });
    udf::call(
        &format!("cast_dynamic_{ty}"),
        physical_type(ty),
        false,
        body,
        vec![value],
    )
}

/// Returns the value when it conforms to `ty`, else null. Datetimes and
/// timespans come back as tick numbers.
fn conforming(value: Value, ty: KqlType) -> Value {
    let conforms = match (&value, ty) {
        (_, KqlType::Dynamic) => true,
        (Value::Bool(_), KqlType::Bool) => true,
        (Value::Number(n), KqlType::Int) => n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
        (Value::Number(n), KqlType::Long) => n.as_i64().is_some(),
        (Value::Number(_), KqlType::Real | KqlType::Decimal) => true,
        (Value::String(_), KqlType::String | KqlType::Guid) => true,
        (Value::String(text), KqlType::Datetime) => {
            return time::parse_datetime(text).map_or(Value::Null, Value::from);
        }
        (Value::String(text), KqlType::Timespan) => {
            return time::parse_timespan(text).map_or(Value::Null, Value::from);
        }
        _ => false,
    };
    if conforms { value } else { Value::Null }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elements_of_arrays_bags_and_scalars() {
        assert_eq!(
            expanded_elements(json!([1, "a"]), BagExpansion::Bag),
            vec![json!(1), json!("a")]
        );
        assert_eq!(
            expanded_elements(json!({"p1": "a", "p2": "b"}), BagExpansion::Bag),
            vec![json!({"p1": "a"}), json!({"p2": "b"})]
        );
        assert_eq!(
            expanded_elements(json!({"p1": "a"}), BagExpansion::Array),
            vec![json!(["p1", "a"])]
        );
        assert_eq!(
            expanded_elements(Value::Null, BagExpansion::Bag),
            vec![Value::Null]
        );
        assert!(expanded_elements(json!([]), BagExpansion::Bag).is_empty());
        assert_eq!(
            expanded_elements(json!(4), BagExpansion::Bag),
            vec![json!(4)]
        );
    }

    #[test]
    fn cast_only_nulls_other_types() {
        assert_eq!(conforming(json!(5), KqlType::Int), json!(5));
        assert_eq!(conforming(json!("5"), KqlType::Int), Value::Null);
        assert_eq!(conforming(json!(1.5), KqlType::Long), Value::Null);
        assert_eq!(conforming(json!("x"), KqlType::String), json!("x"));
        assert_eq!(conforming(json!(1), KqlType::String), Value::Null);
    }
}
