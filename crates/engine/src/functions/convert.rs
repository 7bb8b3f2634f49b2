//! Conversions between KQL types: `tostring`, `tolong`, `tobool`, ...
//!
//! KQL conversions never fail: a value that cannot be converted becomes
//! null, and `tostring` of null is the empty string.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray,
};
use arrow::datatypes::DataType;
use datafusion::common::DataFusionError;
use datafusion::logical_expr::{Expr, cast, lit};
use kql::KqlType;

use super::utf8;
use crate::plan::{Typed, physical_type};
use crate::time;
use crate::udf;
use crate::value;

/// Converts any value to its KQL string form (`tostring`).
pub fn to_string(typed: Typed) -> Expr {
    match typed.ty {
        KqlType::String | KqlType::Guid => {
            datafusion::functions::core::expr_fn::coalesce(vec![typed.expr, lit("")])
        }
        ty => {
            let body: udf::ArrayFn = Arc::new(move |args: &[ArrayRef]| {
                let array = &args[0];
                let out: StringArray = (0..array.len())
                    .map(|row| Some(value::to_kql_string(array, row, ty)))
                    .collect();
                Ok(Arc::new(out) as ArrayRef)
            });
            udf::call(
                &format!("tostring_{ty}"),
                DataType::Utf8,
                false,
                body,
                vec![typed.expr],
            )
        }
    }
}

/// Converts a value to bool (`tobool`): `true`/`false` text in any case,
/// numbers (non-zero is true); anything else is null.
pub fn to_bool(typed: Typed) -> Expr {
    let ty = typed.ty;
    if ty == KqlType::Bool {
        return typed.expr;
    }
    if ty.is_numeric() {
        return cast(typed.expr, DataType::Float64).not_eq(lit(0.0));
    }
    let body: udf::ArrayFn = Arc::new(move |args: &[ArrayRef]| {
        let array = &args[0];
        let out: BooleanArray = (0..array.len())
            .map(|row| {
                if array.is_null(row) {
                    return None;
                }
                let text = value::to_kql_string(array, row, ty);
                let text = text.trim().trim_matches('"');
                match text.to_ascii_lowercase().as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    other => other.parse::<f64>().ok().map(|n| n != 0.0),
                }
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call(
        &format!("tobool_{ty}"),
        DataType::Boolean,
        false,
        body,
        vec![typed.expr],
    )
}

/// Converts a value to `int`, `long`, `real` or `decimal` (`toint`,
/// `tolong`, `toreal`). Text is parsed as a number (decimal, or hex with
/// `0x`); reals are truncated toward zero for integer targets.
pub fn to_number(typed: Typed, target: KqlType) -> Expr {
    let source = typed.ty;
    if source.is_numeric()
        || matches!(
            source,
            KqlType::Bool | KqlType::Datetime | KqlType::Timespan
        )
    {
        let physical = physical_type(target);
        if matches!(target, KqlType::Int | KqlType::Long)
            && matches!(source, KqlType::Real | KqlType::Decimal)
        {
            let truncated = datafusion::functions::math::expr_fn::trunc(vec![typed.expr]);
            return cast(truncated, physical);
        }
        return cast(typed.expr, physical);
    }
    let body: udf::ArrayFn = Arc::new(move |args: &[ArrayRef]| {
        let array = &args[0];
        let parsed: Vec<Option<f64>> = (0..array.len())
            .map(|row| {
                if array.is_null(row) {
                    return None;
                }
                parse_number(&value::to_kql_string(array, row, source))
            })
            .collect();
        let out: ArrayRef = match target {
            KqlType::Int => Arc::new(
                parsed
                    .iter()
                    .map(|v| v.map(|n| n.trunc() as i32))
                    .collect::<Int32Array>(),
            ),
            KqlType::Long => Arc::new(
                parsed
                    .iter()
                    .map(|v| v.map(|n| n.trunc() as i64))
                    .collect::<Int64Array>(),
            ),
            _ => Arc::new(parsed.into_iter().collect::<Float64Array>()),
        };
        Ok(out)
    });
    udf::call(
        &format!("to{target}_{source}"),
        physical_type(target),
        false,
        body,
        vec![typed.expr],
    )
}

/// Parses KQL number text; exact for integers up to 2^53.
fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim().trim_matches('"');
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok().map(|n| n as f64);
    }
    match text.to_ascii_lowercase().as_str() {
        "nan" => return Some(f64::NAN),
        "inf" | "+inf" | "infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    text.parse::<f64>().ok()
}

/// Converts text or dynamic to a datetime (`todatetime`); unparseable text
/// becomes null.
pub fn to_datetime(typed: Typed) -> Expr {
    let source = typed.ty;
    match source {
        KqlType::Datetime => typed.expr,
        KqlType::Long | KqlType::Int | KqlType::Real => cast(typed.expr, DataType::Int64),
        _ => parse_ticks("todatetime", typed, time::parse_datetime, KqlType::Datetime),
    }
}

/// Converts text or dynamic to a timespan (`totimespan`).
pub fn to_timespan(typed: Typed) -> Expr {
    let source = typed.ty;
    match source {
        KqlType::Timespan => typed.expr,
        KqlType::Long | KqlType::Int | KqlType::Real => cast(typed.expr, DataType::Int64),
        _ => parse_ticks("totimespan", typed, time::parse_timespan, KqlType::Timespan),
    }
}

fn parse_ticks(name: &str, typed: Typed, parse: fn(&str) -> Option<i64>, _target: KqlType) -> Expr {
    let source = typed.ty;
    let body: udf::ArrayFn = Arc::new(move |args: &[ArrayRef]| {
        let array = &args[0];
        let out: Int64Array = (0..array.len())
            .map(|row| {
                if array.is_null(row) {
                    return None;
                }
                parse(&value::to_kql_string(array, row, source))
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call(
        &format!("{name}_{source}"),
        DataType::Int64,
        false,
        body,
        vec![typed.expr],
    )
}

/// Converts any value to dynamic: JSON text, null stays null.
pub fn to_dynamic(typed: Typed) -> Expr {
    let source = typed.ty;
    if source == KqlType::Dynamic {
        return typed.expr;
    }
    let body: udf::ArrayFn = Arc::new(move |args: &[ArrayRef]| {
        let array = &args[0];
        let out: StringArray = (0..array.len())
            .map(|row| {
                let json = value::to_json(array, row, source);
                (!json.is_null()).then(|| json.to_string())
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call(
        &format!("todynamic_{source}"),
        DataType::Utf8,
        false,
        body,
        vec![typed.expr],
    )
}

/// Parses a string as JSON (`parse_json` / `todynamic` on text): text that
/// is not JSON becomes a dynamic string, and empty text becomes null.
pub fn parse_json(expr: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|args: &[ArrayRef]| {
        let array = utf8(&args[0])?;
        let strings = array.as_string::<i32>();
        let out: StringArray = strings
            .iter()
            .map(|text| {
                // Empty text is null, as in Kusto (`gettype(parse_json(''))`
                // is "null").
                let text = text.filter(|text| !text.trim().is_empty())?;
                Some(match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(value) => value.to_string(),
                    Err(_) => serde_json::Value::String(text.to_string()).to_string(),
                })
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call("parse_json", DataType::Utf8, false, body, vec![expr])
}

pub(crate) fn execution_error(message: String) -> DataFusionError {
    DataFusionError::Execution(message)
}
