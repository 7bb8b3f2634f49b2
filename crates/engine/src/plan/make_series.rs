//! `make-series`: aggregations per group laid out as arrays along an axis.
//!
//! Planned in three steps over ordinary operators:
//!
//! 1. Each row gets the index of its bin on the axis, counted in steps
//!    from `from` (or from zero when `from` is not given), and rows outside
//!    `from`..`to` are dropped.
//! 2. `summarize` computes each aggregation per group and bin, then
//!    collects `[bin index, value]` pairs per group.
//! 3. A function per aggregation lays the pairs out as an array with the
//!    default value in empty bins, and another builds the axis array.
//!
//! Without `from`, a series starts at its first bin with data; without
//! `to`, it ends after its last bin with data, as in Kusto.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, lit, when};
use kql::ast::{self, ExprKind};
use kql::{Diagnostic, KqlType, Span};
use serde_json::Value;

use super::expr::coerce_to;
use super::syntax::{call_expr, name_expr, named};
use super::tabular::simplify;
use super::{Column, Planner, Relation, column_expr, project};
use crate::error::EngineError;
use crate::functions::utf8;
use crate::time;
use crate::udf;

/// The hidden bin index column.
const BIN_INDEX: &str = "__hs_series_bin";
/// The hidden row count per group.
const ROWS: &str = "__hs_series_rows";
/// The maximum number of values in one series: 2^20, the limit of Kusto's
/// make-series documentation.
const MAX_SERIES_LENGTH: i64 = 1 << 20;

/// Axis positions: integer ticks for datetime, timespan and integer axes,
/// reals for real axes.
#[derive(Clone, Copy)]
enum Axis {
    Integer { origin: i64, step: i64, ty: KqlType },
    Real { origin: f64, step: f64 },
}

impl Axis {
    /// Returns the axis value of bin `index` as a dynamic array element.
    fn value(self, index: i64) -> Value {
        match self {
            Axis::Integer { origin, step, ty } => {
                let v = origin.saturating_add(index.saturating_mul(step));
                match ty {
                    KqlType::Datetime => Value::String(time::format_datetime_iso(v)),
                    KqlType::Timespan => Value::String(time::format_timespan(v)),
                    _ => Value::from(v),
                }
            }
            Axis::Real { origin, step } => {
                serde_json::Number::from_f64(origin + index as f64 * step)
                    .map_or(Value::Null, Value::Number)
            }
        }
    }
}

impl Planner<'_> {
    pub(crate) fn plan_make_series(
        &mut self,
        input: Relation,
        spec: &ast::MakeSeries,
        span: Span,
    ) -> Result<Relation, EngineError> {
        let nonempty = match &spec.kind {
            None => false,
            Some(kind) if kind.name.eq_ignore_ascii_case("nonempty") => true,
            Some(kind) => {
                return Err(EngineError::semantic(
                    Diagnostic::new(
                        format!("unknown make-series kind `{}`", kind.name),
                        kind.span,
                    )
                    .with_help("the only kind is `kind=nonempty`"),
                ));
            }
        };
        let axis = self.plan_expr(&spec.axis, &input)?;
        let axis_ty = axis.ty;
        let integer_axis = matches!(
            axis_ty,
            KqlType::Datetime | KqlType::Timespan | KqlType::Long | KqlType::Int
        );
        if !integer_axis && axis_ty != KqlType::Real {
            return Err(EngineError::semantic(Diagnostic::new(
                format!(
                    "the `make-series` axis must be a datetime, timespan or number, but it is of type {axis_ty}"
                ),
                spec.axis.span,
            )));
        }
        let step_ty = if axis_ty == KqlType::Datetime {
            KqlType::Timespan
        } else {
            axis_ty
        };
        let step = self.axis_constant(&spec.step, &input, step_ty, "step")?;
        let from = match &spec.from {
            Some(e) => Some(self.axis_constant(e, &input, axis_ty, "from")?),
            None => None,
        };
        let to = match &spec.to {
            Some(e) => Some(self.axis_constant(e, &input, axis_ty, "to")?),
            None => None,
        };
        let step_error = || {
            EngineError::semantic(Diagnostic::new(
                "the `make-series` step must be greater than zero",
                spec.step.span,
            ))
        };

        // Step 1: the bin index of each row, and the rows in range.
        let axis_expr = if integer_axis {
            cast(axis.expr, DataType::Int64)
        } else {
            cast(axis.expr, DataType::Float64)
        };
        let (layout, index, to_index) = if integer_axis {
            let step = step.as_i64();
            if step <= 0 {
                return Err(step_error());
            }
            let origin = from.map_or(0, |f| f.as_i64());
            let diff = axis_expr.clone() - lit(origin);
            let index = when(diff.clone().gt_eq(lit(0i64)), diff.clone() / lit(step))
                .otherwise((diff - lit(step) + lit(1i64)) / lit(step))
                .map_err(EngineError::plan)?;
            let to_index = to.map(|t| {
                let span = t.as_i64().saturating_sub(origin);
                span.div_euclid(step) + i64::from(span.rem_euclid(step) != 0)
            });
            (
                Axis::Integer {
                    origin,
                    step,
                    ty: axis_ty,
                },
                index,
                to_index,
            )
        } else {
            let step = step.as_f64();
            if step.is_nan() || step <= 0.0 {
                return Err(step_error());
            }
            let origin = from.map_or(0.0, |f| f.as_f64());
            let index = cast(
                datafusion::functions::math::expr_fn::floor(
                    (axis_expr.clone() - lit(origin)) / lit(step),
                ),
                DataType::Int64,
            );
            let to_index = to.map(|t| ((t.as_f64() - origin) / step).ceil() as i64);
            (Axis::Real { origin, step }, index, to_index)
        };
        let from_index = from.map(|_| 0i64);
        if let (Some(start), Some(end)) = (from_index, to_index)
            && end - start > MAX_SERIES_LENGTH
        {
            return Err(EngineError::semantic(Diagnostic::new(
                format!(
                    "`make-series` would make series of {} values, more than the limit of {MAX_SERIES_LENGTH}; use a larger step or a shorter range",
                    end - start
                ),
                span,
            )));
        }
        let mut condition: Option<Expr> = None;
        if from.is_some() {
            condition = Some(index.clone().gt_eq(lit(0i64)));
        }
        if let Some(end) = to_index {
            let below = index.clone().lt(lit(end));
            condition = Some(match condition {
                Some(c) => c.and(below),
                None => below,
            });
        }
        let mut exprs: Vec<Expr> = input
            .columns
            .iter()
            .map(|c| column_expr(&c.name).alias(&c.name))
            .collect();
        exprs.push(index.alias(BIN_INDEX));
        let mut columns = input.columns.clone();
        columns.push(Column {
            name: BIN_INDEX.to_string(),
            ty: KqlType::Long,
        });
        let mut binned = project(input.plan, exprs, columns)?;
        if let Some(condition) = condition {
            binned.plan = LogicalPlanBuilder::from(binned.plan)
                .filter(condition)
                .and_then(|b| b.build())
                .map_err(EngineError::plan)?;
        }

        // Step 2: aggregate per group and bin, then collect the pairs.
        let mut by = spec.by.clone();
        by.push(named(name_expr(BIN_INDEX, span), None));
        let first = ast::Summarize {
            aggregates: spec.aggregates.iter().map(|a| a.expr.clone()).collect(),
            by,
        };
        let per_bin = self.plan_summarize(binned, &first)?;
        let key_count = spec.by.len();
        let keys: Vec<Column> = per_bin.columns[..key_count].to_vec();
        let aggregates: Vec<Column> = per_bin.columns[key_count + 1..].to_vec();
        if aggregates.len() != spec.aggregates.len() {
            return Err(EngineError::not_supported(Diagnostic::new(
                "`make-series` takes aggregations with one result each, such as count(), sum(x) or avg(x)",
                span,
            )));
        }
        let mut collect: Vec<ast::NamedExpr> = aggregates
            .iter()
            .map(|column| {
                let pair = call_expr(
                    "pack_array",
                    vec![name_expr(BIN_INDEX, span), name_expr(&column.name, span)],
                    span,
                );
                named(call_expr("make_list", vec![pair], span), Some(&column.name))
            })
            .collect();
        collect.push(named(call_expr("count", Vec::new(), span), Some(ROWS)));
        let second = ast::Summarize {
            aggregates: collect,
            by: keys
                .iter()
                .map(|k| named(name_expr(&k.name, span), None))
                .collect(),
        };
        let mut pairs = self.plan_summarize(per_bin, &second)?;
        if !(nonempty && keys.is_empty()) {
            pairs.plan = LogicalPlanBuilder::from(pairs.plan)
                .filter(column_expr(ROWS).gt(lit(0i64)))
                .and_then(|b| b.build())
                .map_err(EngineError::plan)?;
        }

        // Step 3: lay out the arrays.
        let mut exprs: Vec<Expr> = keys.iter().map(|k| column_expr(&k.name)).collect();
        let mut columns = keys.clone();
        for (column, aggregate) in aggregates.iter().zip(&spec.aggregates) {
            let default = match &aggregate.default {
                Some(e) => self.default_value(e, &pairs)?,
                None => Value::from(0),
            };
            exprs.push(series_array(
                column_expr(&column.name),
                from_index,
                to_index,
                default,
            ));
            columns.push(Column {
                name: column.name.clone(),
                ty: KqlType::Dynamic,
            });
        }
        let first_list = column_expr(&aggregates[0].name);
        exprs.push(axis_array(first_list, from_index, to_index, layout));
        columns.push(Column {
            name: axis_name(&spec.axis),
            ty: KqlType::Dynamic,
        });
        let exprs = exprs
            .into_iter()
            .zip(&columns)
            .map(|(e, c)| e.alias(&c.name))
            .collect();
        project(pairs.plan, exprs, columns)
    }

    /// Evaluates `from`, `to` or `step` to a constant of the axis.
    fn axis_constant(
        &mut self,
        expr: &ast::Expr,
        input: &Relation,
        ty: KqlType,
        what: &str,
    ) -> Result<AxisValue, EngineError> {
        let typed = self.plan_expr(expr, input)?;
        let error = || {
            EngineError::semantic(Diagnostic::new(
                format!("the `make-series` {what} must be a constant {ty}"),
                expr.span,
            ))
        };
        let physical = if ty == KqlType::Real {
            DataType::Float64
        } else {
            DataType::Int64
        };
        match simplify(cast(coerce_to(typed, ty), physical))? {
            Expr::Literal(ScalarValue::Int64(Some(v)), _) => Ok(AxisValue::Integer(v)),
            Expr::Literal(ScalarValue::Float64(Some(v)), _) => Ok(AxisValue::Real(v)),
            _ => Err(error()),
        }
    }

    /// Evaluates a `default = value` to its JSON value.
    fn default_value(&mut self, expr: &ast::Expr, input: &Relation) -> Result<Value, EngineError> {
        let typed = self.plan_expr(expr, input)?;
        let ty = typed.ty;
        match simplify(typed.expr)? {
            Expr::Literal(value, _) => Ok(match value {
                ScalarValue::Int64(Some(v)) if ty == KqlType::Datetime => {
                    Value::String(time::format_datetime_iso(v))
                }
                ScalarValue::Int64(Some(v)) if ty == KqlType::Timespan => {
                    Value::String(time::format_timespan(v))
                }
                ScalarValue::Int64(Some(v)) => Value::from(v),
                ScalarValue::Int32(Some(v)) => Value::from(v),
                ScalarValue::Float64(Some(v)) => {
                    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
                }
                ScalarValue::Boolean(Some(v)) => Value::from(v),
                ScalarValue::Utf8(Some(v)) => Value::String(v),
                _ => Value::Null,
            }),
            _ => Err(EngineError::semantic(Diagnostic::new(
                "the `make-series` default must be a constant",
                expr.span,
            ))),
        }
    }
}

/// A constant `from`, `to` or `step`.
#[derive(Clone, Copy)]
enum AxisValue {
    Integer(i64),
    Real(f64),
}

impl AxisValue {
    fn as_i64(self) -> i64 {
        match self {
            AxisValue::Integer(v) => v,
            AxisValue::Real(v) => v as i64,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            AxisValue::Integer(v) => v as f64,
            AxisValue::Real(v) => v,
        }
    }
}

/// Parses the `[bin index, value]` pairs of one row's list.
fn pairs(text: &str) -> Vec<(i64, Value)> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|pair| match pair {
            Value::Array(mut pair) if pair.len() == 2 => {
                let value = pair.pop()?;
                Some((pair[0].as_i64()?, value))
            }
            _ => None,
        })
        .collect()
}

/// Returns the bins of a row: from `start` (or its first bin) up to `end`
/// (or after its last bin).
fn bin_range(found: &[(i64, Value)], start: Option<i64>, end: Option<i64>) -> (i64, i64) {
    let first = found.iter().map(|(i, _)| *i).min().unwrap_or(0);
    let last = found.iter().map(|(i, _)| *i + 1).max().unwrap_or(first);
    let start = start.unwrap_or(first);
    let end = end
        .unwrap_or(last)
        .min(start.saturating_add(MAX_SERIES_LENGTH));
    (start, end.max(start))
}

/// Builds a function that reads each row's `[bin index, value]` list and
/// returns `layout(pairs, first bin, end bin)` as dynamic text. `name`
/// must contain every parameter, because calls with one name count as one
/// function.
fn per_row_series(
    name: &str,
    list: Expr,
    start: Option<i64>,
    end: Option<i64>,
    layout: impl Fn(Vec<(i64, Value)>, i64, i64) -> Value + Send + Sync + 'static,
) -> Expr {
    let body: udf::ArrayFn = Arc::new(move |args: &[ArrayRef]| {
        let lists = utf8(&args[0])?;
        let lists = lists.as_string::<i32>();
        let out: StringArray = (0..lists.len())
            .map(|row| {
                let found = if lists.is_null(row) {
                    Vec::new()
                } else {
                    pairs(lists.value(row))
                };
                let (first, last) = bin_range(&found, start, end);
                Some(layout(found, first, last).to_string())
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call(name, DataType::Utf8, false, body, vec![list])
}

/// Builds the array of one aggregation: its value per bin, `default` in
/// bins without one.
fn series_array(list: Expr, start: Option<i64>, end: Option<i64>, default: Value) -> Expr {
    let name = format!("make_series_values_{start:?}_{end:?}_{default}");
    per_row_series(&name, list, start, end, move |found, first, last| {
        let mut values = vec![default.clone(); (last - first) as usize];
        for (index, value) in found {
            if index >= first && index < last && !value.is_null() {
                values[(index - first) as usize] = value;
            }
        }
        Value::Array(values)
    })
}

/// Builds the axis array: the axis value at the start of each bin.
fn axis_array(list: Expr, start: Option<i64>, end: Option<i64>, axis: Axis) -> Expr {
    let layout = match axis {
        Axis::Integer { origin, step, ty } => format!("{origin}_{step}_{ty}"),
        Axis::Real { origin, step } => format!("{origin}_{step}_real"),
    };
    let name = format!("make_series_axis_{start:?}_{end:?}_{layout}");
    per_row_series(&name, list, start, end, move |_, first, last| {
        Value::Array((first..last).map(|i| axis.value(i)).collect())
    })
}

/// Returns the axis column's name: the column it reads, else `Column1`.
fn axis_name(axis: &ast::Expr) -> String {
    match &super::summarize::strip_parens(axis).kind {
        ExprKind::Name(ident) => ident.name.clone(),
        _ => "Column1".to_string(),
    }
}
