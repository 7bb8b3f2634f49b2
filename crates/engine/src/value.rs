//! Reading single values out of engine arrays as KQL renders them.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use kql::KqlType;
use serde_json::Value;

use crate::time;

/// Renders the value at `row` as `tostring()` would: null is "", datetimes
/// are ISO 8601 with seven fraction digits, a dynamic string is its text
/// without quotes, other dynamic values are compact JSON.
pub fn to_kql_string(array: &ArrayRef, row: usize, ty: KqlType) -> String {
    if array.is_null(row) {
        return String::new();
    }
    match to_json(array, row, ty) {
        Value::Null => String::new(),
        Value::String(text) => text,
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format_number(&n, ty),
        other => other.to_string(),
    }
}

fn format_number(n: &serde_json::Number, ty: KqlType) -> String {
    if let Some(f) = n
        .as_f64()
        .filter(|_| matches!(ty, KqlType::Real | KqlType::Decimal))
    {
        return format_real(f);
    }
    n.to_string()
}

/// Formats a real the way Kusto prints it: integers without a fraction,
/// others with the shortest round-trip digits.
pub fn format_real(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else if value.fract() == 0.0 && value.abs() < 1e16 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// Converts the value at `row` to JSON for output and for `dynamic`
/// conversion. Non-finite reals become the strings "NaN", "Infinity" and
/// "-Infinity"; datetimes and timespans become their KQL text.
pub fn to_json(array: &ArrayRef, row: usize, ty: KqlType) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match ty {
        KqlType::Datetime => Value::String(time::format_datetime_iso(long(array, row))),
        KqlType::Timespan => Value::String(time::format_timespan(long(array, row))),
        KqlType::Dynamic => {
            let text = string(array, row);
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        KqlType::String | KqlType::Guid => Value::String(string(array, row)),
        KqlType::Bool => match array.data_type() {
            DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
            _ => Value::Null,
        },
        KqlType::Int | KqlType::Long => match array.data_type() {
            DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(row)),
            DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(row)),
            DataType::Float64 => Value::from(array.as_primitive::<Float64Type>().value(row) as i64),
            _ => Value::String(string(array, row)),
        },
        KqlType::Real | KqlType::Decimal => {
            let value = match array.data_type() {
                DataType::Float64 => array.as_primitive::<Float64Type>().value(row),
                DataType::Int64 => array.as_primitive::<Int64Type>().value(row) as f64,
                DataType::Int32 => f64::from(array.as_primitive::<Int32Type>().value(row)),
                _ => return Value::String(string(array, row)),
            };
            real_json(value)
        }
    }
}

/// A real as JSON: a number when finite, else its KQL text.
pub fn real_json(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(format_real(value)))
}

fn long(array: &ArrayRef, row: usize) -> i64 {
    match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row),
        DataType::Int32 => i64::from(array.as_primitive::<Int32Type>().value(row)),
        _ => 0,
    }
}

fn string(array: &ArrayRef, row: usize) -> String {
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).to_string(),
        DataType::Utf8View => array.as_string_view().value(row).to_string(),
        _ => arrow::util::display::array_value_to_string(array, row).unwrap_or_default(),
    }
}
