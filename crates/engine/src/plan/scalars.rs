//! Numeric, bitwise and datetime scalar functions that map onto DataFusion
//! expressions or the engine's tick functions: `log2`, `exp2`, `exp10`,
//! `atan2`, `sign`, `pi`, `isnan`, `isinf`, `isfinite`, `max_of`,
//! `min_of`, `binary_*`, `bin_at`, `endofweek`, `endofmonth`,
//! `endofyear` and `unixtime_*_todatetime`.

use std::ops::Not as _;

use arrow::datatypes::DataType;
use datafusion::functions::expr_fn as df;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, cast, lit, when};
use kql::{Diagnostic, KqlType, ast};

use super::expr::coerce_to;
use super::{Planner, Typed, physical_type};
use crate::error::EngineError;
use crate::functions::datetime as dt;

/// Names of the functions this module plans, for lookups and suggestions.
pub(crate) const NAMES: &[&str] = &[
    "log2",
    "exp2",
    "exp10",
    "atan2",
    "sign",
    "pi",
    "isnan",
    "isinf",
    "isfinite",
    "max_of",
    "min_of",
    "binary_and",
    "binary_or",
    "binary_xor",
    "binary_not",
    "binary_shift_left",
    "binary_shift_right",
    "bin_at",
    "endofweek",
    "endofmonth",
    "endofyear",
    "unixtime_seconds_todatetime",
    "unixtime_milliseconds_todatetime",
    "unixtime_microseconds_todatetime",
    "unixtime_nanoseconds_todatetime",
];

/// Returns `(min, max)` argument counts of a function of [`NAMES`].
fn argument_counts(name: &str) -> (usize, usize) {
    match name {
        "pi" => (0, 0),
        "atan2" | "binary_and" | "binary_or" | "binary_xor" | "binary_shift_left"
        | "binary_shift_right" => (2, 2),
        "max_of" | "min_of" => (1, 64),
        "bin_at" => (3, 3),
        "endofweek" | "endofmonth" | "endofyear" => (1, 2),
        _ => (1, 1),
    }
}

impl Planner<'_> {
    /// Plans a call of one of [`NAMES`] over planned arguments.
    pub(crate) fn plan_numeric_call(
        &self,
        call: &ast::Call,
        name: &str,
        mut args: Vec<Typed>,
    ) -> Result<Typed, EngineError> {
        let (min, max) = argument_counts(name);
        self.arity(call, min, max)?;
        let real = |typed: Typed| cast(typed.expr, DataType::Float64);
        let typed = match name {
            "pi" => Typed::new(lit(std::f64::consts::PI), KqlType::Real),
            "log2" => Typed::new(df::log2(real(args.remove(0))), KqlType::Real),
            "exp2" | "exp10" => {
                let base = if name == "exp2" { 2.0 } else { 10.0 };
                Typed::new(df::power(lit(base), real(args.remove(0))), KqlType::Real)
            }
            "atan2" => {
                let y = real(args.remove(0));
                let x = real(args.remove(0));
                Typed::new(df::atan2(y, x), KqlType::Real)
            }
            "sign" => {
                let value = args.remove(0);
                let ty = match value.ty {
                    KqlType::Int | KqlType::Long => KqlType::Long,
                    _ => KqlType::Real,
                };
                let expr = cast(df::signum(real(value)), physical_type(ty));
                Typed::new(expr, ty)
            }
            "isnan" => Typed::new(df::isnan(real(args.remove(0))), KqlType::Bool),
            "isinf" | "isfinite" => {
                let value = real(args.remove(0));
                let infinite = value
                    .clone()
                    .eq(lit(f64::INFINITY))
                    .or(value.clone().eq(lit(f64::NEG_INFINITY)));
                let expr = if name == "isinf" {
                    infinite
                } else {
                    infinite.not().and(df::isnan(value).not())
                };
                Typed::new(expr, KqlType::Bool)
            }
            "max_of" | "min_of" => extreme_of(name == "max_of", args),
            "binary_not" => {
                let value = coerce_to(args.remove(0), KqlType::Long);
                // Two's complement: !x == -x - 1.
                Typed::new(lit(-1i64) - value, KqlType::Long)
            }
            "binary_and" | "binary_or" | "binary_xor" | "binary_shift_left"
            | "binary_shift_right" => {
                let op = match name {
                    "binary_and" => Operator::BitwiseAnd,
                    "binary_or" => Operator::BitwiseOr,
                    "binary_xor" => Operator::BitwiseXor,
                    "binary_shift_left" => Operator::BitwiseShiftLeft,
                    _ => Operator::BitwiseShiftRight,
                };
                let left = coerce_to(args.remove(0), KqlType::Long);
                let right = coerce_to(args.remove(0), KqlType::Long);
                let expr = Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right)));
                Typed::new(expr, KqlType::Long)
            }
            "bin_at" => {
                let value = args.remove(0);
                let size = args.remove(0);
                let fixed = args.remove(0);
                bin_at(value, size, fixed, call.span)?
            }
            "endofweek" | "endofmonth" | "endofyear" => {
                let body = match name {
                    "endofweek" => end_of_week,
                    "endofmonth" => end_of_month,
                    _ => end_of_year,
                };
                let exprs = args
                    .into_iter()
                    .map(|arg| coerce_to(arg, KqlType::Long))
                    .collect();
                Typed::new(dt::ticks_function(name, exprs, body), KqlType::Datetime)
            }
            _ => {
                // The unixtime_*_todatetime functions.
                // Ticks are 100 ns: a whole number of seconds, milliseconds
                // or microseconds is a whole number of ticks, nanoseconds are
                // divided by 100.
                let (ticks_per_unit, units_per_tick) = match name {
                    "unixtime_seconds_todatetime" => (10_000_000i64, 1i64),
                    "unixtime_milliseconds_todatetime" => (10_000, 1),
                    "unixtime_microseconds_todatetime" => (10, 1),
                    _ => (1, 100),
                };
                let value = args.remove(0);
                let expr = if matches!(value.ty, KqlType::Int | KqlType::Long) {
                    cast(value.expr, DataType::Int64) * lit(ticks_per_unit) / lit(units_per_tick)
                } else {
                    let factor = ticks_per_unit as f64 / units_per_tick as f64;
                    cast(real(value) * lit(factor), DataType::Int64)
                };
                Typed::new(expr, KqlType::Datetime)
            }
        };
        Ok(typed)
    }
}

/// Plans `max_of` or `min_of`: the largest or smallest argument, ignoring
/// nulls, of the arguments' common type (real when numeric types mix).
fn extreme_of(largest: bool, args: Vec<Typed>) -> Typed {
    let first = args[0].ty;
    let ty = if args.iter().all(|arg| arg.ty == first) {
        first
    } else if args
        .iter()
        .all(|arg| matches!(arg.ty, KqlType::Int | KqlType::Long))
    {
        KqlType::Long
    } else {
        KqlType::Real
    };
    let exprs: Vec<Expr> = args.into_iter().map(|arg| coerce_to(arg, ty)).collect();
    let expr = if exprs.len() == 1 {
        exprs.into_iter().next().unwrap_or(lit(0i64))
    } else if largest {
        df::greatest(exprs)
    } else {
        df::least(exprs)
    };
    Typed::new(expr, ty)
}

/// Plans `bin_at(value, size, fixed)`: `value` rounded down to a multiple
/// of `size` counted from `fixed`.
fn bin_at(value: Typed, size: Typed, fixed: Typed, span: kql::Span) -> Result<Typed, EngineError> {
    match value.ty {
        KqlType::Datetime | KqlType::Timespan | KqlType::Int | KqlType::Long
            if size.ty != KqlType::Real =>
        {
            let ty = if value.ty == KqlType::Int {
                KqlType::Long
            } else {
                value.ty
            };
            let value = cast(value.expr, DataType::Int64);
            let size = cast(size.expr, DataType::Int64);
            let fixed = cast(fixed.expr, DataType::Int64);
            let offset = value - fixed.clone();
            // Floor division that also rounds values before `fixed` down.
            let remainder = ((offset.clone() % size.clone()) + size.clone()) % size.clone();
            let expr = when(size.gt(lit(0i64)), fixed + offset - remainder)
                .end()
                .map_err(EngineError::internal)?;
            Ok(Typed::new(expr, ty))
        }
        KqlType::Int | KqlType::Long | KqlType::Real | KqlType::Decimal => {
            let value = cast(value.expr, DataType::Float64);
            let size = cast(size.expr, DataType::Float64);
            let fixed = cast(fixed.expr, DataType::Float64);
            let steps = df::floor((value - fixed.clone()) / size.clone());
            let expr = when(size.clone().gt(lit(0.0)), fixed + steps * size)
                .end()
                .map_err(EngineError::internal)?;
            Ok(Typed::new(expr, KqlType::Real))
        }
        other => Err(EngineError::semantic(Diagnostic::new(
            format!("`bin_at` takes a number, datetime or timespan, not {other}"),
            span,
        ))),
    }
}

/// `endofweek(dt [, offset weeks])`: the last tick of the week (Sunday to
/// Saturday).
fn end_of_week(values: &[Option<i64>]) -> Option<i64> {
    let next = [
        values[0],
        Some(values.get(1).copied().flatten().unwrap_or(0) + 1),
    ];
    dt::start_of_week(&next).map(|start| start - 1)
}

/// `endofmonth(dt [, offset months])`: the last tick of the month.
fn end_of_month(values: &[Option<i64>]) -> Option<i64> {
    let next = [
        values[0],
        Some(values.get(1).copied().flatten().unwrap_or(0) + 1),
    ];
    dt::start_of_month(&next).map(|start| start - 1)
}

/// `endofyear(dt [, offset years])`: the last tick of the year.
fn end_of_year(values: &[Option<i64>]) -> Option<i64> {
    let next = [
        values[0],
        Some(values.get(1).copied().flatten().unwrap_or(0) + 1),
    ];
    dt::start_of_year(&next).map(|start| start - 1)
}
