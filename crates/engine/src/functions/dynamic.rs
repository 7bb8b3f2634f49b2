//! Access into dynamic (JSON) values, and the adapter that runs a Rust
//! function over the JSON values of its arguments.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray,
};
use arrow::datatypes::DataType;
use datafusion::logical_expr::Expr;
use kql::KqlType;
use serde_json::Value;

use super::utf8;
use crate::plan::physical_type;
use crate::udf;

/// Builds `value[key]` / `value.key`: a property of a bag or, for a numeric
/// key, an element of an array (negative indexes count from the end).
/// A missing key or a non-container value gives null.
pub fn dynamic_get(json: Expr, key: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|args: &[ArrayRef]| {
        let values = utf8(&args[0])?;
        let keys = utf8(&args[1])?;
        let values = values.as_string::<i32>();
        let keys = keys.as_string::<i32>();
        let out: StringArray = (0..values.len())
            .map(|row| {
                if values.is_null(row) || keys.is_null(row) {
                    return None;
                }
                let value: Value = serde_json::from_str(values.value(row)).ok()?;
                let found = lookup(&value, keys.value(row))?;
                (!found.is_null()).then(|| found.to_string())
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call("dynamic_get", DataType::Utf8, false, body, vec![json, key])
}

fn lookup<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => {
            let index: i64 = key.parse().ok()?;
            let len = items.len() as i64;
            let index = if index < 0 { len + index } else { index };
            usize::try_from(index).ok().and_then(|i| items.get(i))
        }
        _ => None,
    }
}

/// The body of a function over JSON values: one value per argument (null
/// for a null argument), returning the result as JSON.
pub type JsonFn = fn(&[Value]) -> Value;

/// Calls `body` on every row. Each argument must be dynamic JSON text (the
/// planner converts arguments with [`super::to_dynamic`] first). The JSON
/// result becomes a value of type `returns`: JSON null is null, a dynamic
/// result is JSON text, a string result is the text of a JSON string or
/// the JSON text of anything else, and numbers and bools are read as such
/// (a value of another JSON type becomes null).
pub fn json_call(name: &str, returns: KqlType, body: JsonFn, args: Vec<Expr>) -> Expr {
    // A call without arguments still receives one placeholder array from
    // `udf::call`, which only gives the row count.
    let arg_count = args.len();
    let udf_body: udf::ArrayFn = Arc::new(move |arrays: &[ArrayRef]| {
        let rows = arrays.first().map_or(0, |a| a.len());
        let arrays = arrays[..arg_count]
            .iter()
            .map(utf8)
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        let mut values = Vec::with_capacity(arrays.len());
        let mut results = Vec::with_capacity(rows);
        for row in 0..rows {
            values.clear();
            values.extend(arrays.iter().map(|array| json_at(array, row)));
            results.push(body(&values));
        }
        Ok(json_array(&results, returns))
    });
    udf::call(
        &format!("json_{name}_{returns}"),
        physical_type(returns),
        false,
        udf_body,
        args,
    )
}

/// Parses the dynamic value at `row` of a `Utf8` array; null is JSON null.
pub(crate) fn json_at(array: &ArrayRef, row: usize) -> Value {
    let strings = array.as_string::<i32>();
    if strings.is_null(row) {
        return Value::Null;
    }
    let text = strings.value(row);
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Builds an array of the engine type of `ty` from JSON values.
pub(crate) fn json_array(values: &[Value], ty: KqlType) -> ArrayRef {
    match ty {
        KqlType::Bool => Arc::new(values.iter().map(json_bool).collect::<BooleanArray>()),
        KqlType::Int => Arc::new(
            values
                .iter()
                .map(|v| json_i64(v).and_then(|n| i32::try_from(n).ok()))
                .collect::<Int32Array>(),
        ),
        KqlType::Long | KqlType::Datetime | KqlType::Timespan => {
            Arc::new(values.iter().map(json_i64).collect::<Int64Array>())
        }
        KqlType::Real | KqlType::Decimal => {
            Arc::new(values.iter().map(Value::as_f64).collect::<Float64Array>())
        }
        KqlType::String | KqlType::Guid => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Value::Null => None,
                    Value::String(text) => Some(text.clone()),
                    other => Some(other.to_string()),
                })
                .collect::<StringArray>(),
        ),
        KqlType::Dynamic => Arc::new(
            values
                .iter()
                .map(|v| (!v.is_null()).then(|| v.to_string()))
                .collect::<StringArray>(),
        ),
    }
}

fn json_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

fn json_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

/// Reads an integer argument such as an index or a count: a JSON number,
/// truncated toward zero, or the number in a JSON string.
pub(crate) fn integer_arg(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Compares two JSON values for equality the way KQL compares dynamic
/// values: numbers by value (so `1` equals `1.0`), everything else by
/// structure.
pub(crate) fn json_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_equal(x, y))
        }
        _ => left == right,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_array_converts_to_long() {
        let array = json_array(
            &[json!(3), json!(2.7), json!("x"), Value::Null],
            KqlType::Long,
        );
        let longs = array.as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(longs.value(0), 3);
        assert_eq!(longs.value(1), 2);
        assert!(longs.is_null(2));
        assert!(longs.is_null(3));
    }

    #[test]
    fn json_array_keeps_string_text() {
        let array = json_array(&[json!("a"), json!([1]), Value::Null], KqlType::String);
        let strings = array.as_string::<i32>();
        assert_eq!(strings.value(0), "a");
        assert_eq!(strings.value(1), "[1]");
        assert!(strings.is_null(2));
    }

    #[test]
    fn numbers_equal_by_value() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(!json_equal(&json!(1), &json!("1")));
        assert!(json_equal(&json!([1, "a"]), &json!([1.0, "a"])));
    }
}
