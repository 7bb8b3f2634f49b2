//! Access into dynamic (JSON) values.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::logical_expr::Expr;
use serde_json::Value;

use super::utf8;
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
