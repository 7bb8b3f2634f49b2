//! Scalar function calls: name lookup, argument checks, and the mapping of
//! each KQL function to DataFusion expressions.

use std::sync::Arc;

use arrow::array::{Array as _, ArrayRef, AsArray as _, StringArray};
use arrow::datatypes::DataType;
use datafusion::functions::expr_fn as df;
use datafusion::logical_expr::{Expr, cast, lit, when};
use kql::ast::{self, ExprKind};
use kql::{Diagnostic, KqlType};
use std::ops::Not as _;

use super::expr::{coerce_to, to_bool};
use super::summarize::is_aggregate;
use super::{Binding, Planner, Relation, Typed, physical_type, suggest};
use crate::error::EngineError;
use crate::functions::{self as f, datetime as dt, utf8};
use crate::time::TICKS_PER_DAY;
use crate::udf;

/// Names of the scalar functions this engine implements, for suggestions.
pub(crate) const SCALAR_FUNCTIONS: &[&str] = &[
    "ago",
    "now",
    "bin",
    "floor",
    "strcat",
    "strcat_delim",
    "tostring",
    "toint",
    "tolong",
    "toreal",
    "todouble",
    "tobool",
    "toboolean",
    "todatetime",
    "totimespan",
    "todecimal",
    "tolower",
    "toupper",
    "strlen",
    "substring",
    "split",
    "iff",
    "iif",
    "case",
    "isempty",
    "isnotempty",
    "isnull",
    "isnotnull",
    "coalesce",
    "extract",
    "format_datetime",
    "startofday",
    "startofweek",
    "startofmonth",
    "startofyear",
    "endofday",
    "datetime_diff",
    "datetime_add",
    "not",
    "parse_json",
    "todynamic",
    "trim",
    "trim_start",
    "trim_end",
    "indexof",
    "replace_string",
    "replace_regex",
    "replace",
    "hash_md5",
    "abs",
    "round",
    "sqrt",
    "pow",
    "log",
    "log10",
    "exp",
    "ceiling",
    "degrees",
    "radians",
    "getyear",
    "hourofday",
    "dayofmonth",
    "monthofyear",
    "datetime_part",
    "dayofweek",
    "countof",
    "reverse",
    "gettype",
    "array_length",
    "strrep",
    "tohex",
    "column_names_of",
    "pack_all",
    "estimate_data_size",
    "bag_pack_columns",
    "toscalar",
    "ingestion_time",
    "prev",
    "next",
    "row_number",
    "row_cumsum",
    "row_rank_dense",
    "row_rank_min",
    "row_window_session",
    "week_of_year",
    "column_ifexists",
];

impl Planner<'_> {
    pub(crate) fn plan_call(
        &mut self,
        call: &ast::Call,
        input: &Relation,
    ) -> Result<Typed, EngineError> {
        let name = call.name.name.as_str();
        if is_aggregate(name) {
            return Err(EngineError::semantic(Diagnostic::new(
                format!("aggregate function `{name}` can only be used in `summarize`"),
                call.name.span,
            )));
        }
        if let Some(error) = super::multi_output::nested_multi_output_error(call) {
            return Err(error);
        }
        if let Some(Binding::Function(function)) = self.lookup(name) {
            let ast::LetBody::Scalar(body) = &function.body else {
                return Err(EngineError::semantic(Diagnostic::new(
                    format!("`{name}` returns a table and cannot be used as a scalar"),
                    call.name.span,
                )));
            };
            self.enter_function(&call.name, &function, &call.args, None)?;
            let result = self.plan_expr(body, input);
            self.leave_function();
            return result;
        }
        let args: Vec<&ast::Expr> = call.args.iter().map(|a| &a.value).collect();

        match name {
            "toscalar" => {
                self.arity(call, 1, 1)?;
                return self.plan_toscalar(args[0]);
            }
            "now" => {
                let mut typed = Typed::new(lit(self.now_ticks()), KqlType::Datetime);
                if let Some(offset) = args.first() {
                    let offset = self.plan_expr(offset, input)?;
                    typed = Typed::new(typed.expr + offset.expr, KqlType::Datetime);
                }
                return Ok(typed);
            }
            "ago" => {
                let span = self.arity(call, 1, 1)?;
                let offset = self.plan_expr(args[0], input)?;
                if offset.ty != KqlType::Timespan {
                    return Err(type_error(
                        call,
                        1,
                        "a timespan such as 1h or 7d",
                        offset.ty,
                        span,
                    ));
                }
                return Ok(Typed::new(
                    lit(self.now_ticks()) - offset.expr,
                    KqlType::Datetime,
                ));
            }
            "iff" | "iif" => {
                self.arity(call, 3, 3)?;
                let condition = self.plan_expr(args[0], input)?;
                let then = self.plan_expr(args[1], input)?;
                let otherwise = self.plan_expr(args[2], input)?;
                return case_expr(vec![(to_bool(condition), then)], otherwise);
            }
            "case" => {
                if args.len() < 3 || args.len().is_multiple_of(2) {
                    return Err(EngineError::semantic(Diagnostic::new(
                        "`case` needs predicate/value pairs and a final default value",
                        call.span,
                    )));
                }
                let mut branches = Vec::new();
                for pair in args[..args.len() - 1].chunks(2) {
                    let condition = self.plan_expr(pair[0], input)?;
                    let value = self.plan_expr(pair[1], input)?;
                    branches.push((to_bool(condition), value));
                }
                let otherwise = self.plan_expr(args[args.len() - 1], input)?;
                return case_expr(branches, otherwise);
            }
            "column_names_of" => {
                self.arity(call, 1, 1)?;
                let relation = match &args[0].kind {
                    ExprKind::Name(table) => self.plan_table_name(table)?,
                    ExprKind::Call(tabular_call) => {
                        let source = ast::TabularExpr {
                            source: ast::Source::Call(tabular_call.clone()),
                            operators: Vec::new(),
                            span: args[0].span,
                        };
                        self.plan_tabular(&source)?
                    }
                    ExprKind::Tabular(tabular) => self.plan_tabular(tabular)?,
                    _ => {
                        return Err(EngineError::semantic(Diagnostic::new(
                            "`column_names_of` takes a table, a tabular parameter or a tabular function call",
                            args[0].span,
                        )));
                    }
                };
                let names: Vec<serde_json::Value> = relation
                    .columns
                    .iter()
                    .map(|c| serde_json::Value::String(c.name.clone()))
                    .collect();
                return Ok(Typed::new(
                    lit(serde_json::Value::Array(names).to_string()),
                    KqlType::Dynamic,
                ));
            }
            "prev" | "next" | "row_number" | "row_cumsum" | "row_rank_dense" | "row_rank_min"
            | "row_window_session" => return self.plan_serial_call(call, input),
            "ingestion_time" => {
                self.arity(call, 0, 0)?;
                // NOTE: only the rows of a table, before any operator that
                // projects, carry their ingestion time; elsewhere it is null.
                let carried = input
                    .plan
                    .schema()
                    .fields()
                    .iter()
                    .any(|field| field.name() == super::INGESTION_TIME_COLUMN);
                let expr = if carried {
                    super::column_expr(super::INGESTION_TIME_COLUMN)
                } else {
                    lit(datafusion::common::ScalarValue::Int64(None))
                };
                return Ok(Typed::new(expr, KqlType::Datetime));
            }
            "column_ifexists" => {
                self.arity(call, 2, 2)?;
                let Some(column_name) = constant_string(args[0]) else {
                    return Err(EngineError::semantic(Diagnostic::new(
                        "the first argument of `column_ifexists` must be a column name as a string literal",
                        args[0].span,
                    )));
                };
                if let Some(column) = input.columns.iter().find(|c| c.name == column_name) {
                    return Ok(Typed::new(super::column_expr(&column.name), column.ty));
                }
                return self.plan_expr(args[1], input);
            }
            "estimate_data_size" => {
                self.arity(call, 1, usize::MAX)?;
                let mut values = Vec::new();
                for arg in &args {
                    if matches!(arg.kind, ExprKind::Star) {
                        values.extend(
                            input.columns.iter().map(|column| {
                                Typed::new(super::column_expr(&column.name), column.ty)
                            }),
                        );
                    } else {
                        values.push(self.plan_expr(arg, input)?);
                    }
                }
                return Ok(estimate_data_size(values));
            }
            "pack_all" => {
                self.arity(call, 0, 1)?;
                let skip_empty = match args.first() {
                    Some(arg) => to_bool(self.plan_expr(arg, input)?),
                    None => lit(false),
                };
                let width = self
                    .extend_input_width
                    .unwrap_or(input.columns.len())
                    .min(input.columns.len());
                return Ok(pack_all(&input.columns[..width], skip_empty));
            }
            "bag_pack_columns" => {
                let mut pairs = Vec::with_capacity(args.len() * 2);
                for arg in &args {
                    let ExprKind::Name(ident) = &arg.kind else {
                        return Err(EngineError::semantic(Diagnostic::new(
                            "`bag_pack_columns` takes column names",
                            arg.span,
                        )));
                    };
                    let value = self.plan_expr(arg, input)?;
                    pairs.push(lit(
                        serde_json::Value::String(ident.name.clone()).to_string()
                    ));
                    pairs.push(f::to_dynamic(value));
                }
                let bag_pack = f::json_function("bag_pack").expect("bag_pack is a JSON function");
                return Ok(Typed::new(
                    f::dynamic::json_call("bag_pack", KqlType::Dynamic, bag_pack.body, pairs),
                    KqlType::Dynamic,
                ));
            }
            _ => {}
        }

        let mut typed_args = Vec::with_capacity(args.len());
        for arg in &args {
            // `typeof(T)` names a type, not a value: functions that take one
            // read it from the call (see `typeof_argument`).
            if let ExprKind::Call(inner) = &arg.kind
                && inner.name.name == "typeof"
            {
                typed_args.push(Typed::new(lit(""), KqlType::String));
                continue;
            }
            typed_args.push(self.plan_expr(arg, input)?);
        }
        self.plan_scalar_function(call, typed_args)
    }

    pub(super) fn arity(
        &self,
        call: &ast::Call,
        min: usize,
        max: usize,
    ) -> Result<kql::Span, EngineError> {
        let count = call.args.len();
        if count < min || count > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(EngineError::semantic(Diagnostic::new(
                format!(
                    "`{}` takes {expected} arguments, but {count} were given",
                    call.name.name
                ),
                call.span,
            )));
        }
        Ok(call.span)
    }

    fn plan_scalar_function(
        &mut self,
        call: &ast::Call,
        mut args: Vec<Typed>,
    ) -> Result<Typed, EngineError> {
        let name = call.name.name.as_str();
        let span = call.span;
        let typed = match name {
            "tostring" => {
                self.arity(call, 1, 1)?;
                Typed::new(f::to_string(args.remove(0)), KqlType::String)
            }
            "toint" | "tolong" | "toreal" | "todouble" | "todecimal" => {
                self.arity(call, 1, 1)?;
                let target = match name {
                    "toint" => KqlType::Int,
                    "tolong" => KqlType::Long,
                    "todecimal" => KqlType::Decimal,
                    _ => KqlType::Real,
                };
                Typed::new(f::to_number(args.remove(0), target), target)
            }
            "tobool" | "toboolean" => {
                self.arity(call, 1, 1)?;
                Typed::new(f::to_bool(args.remove(0)), KqlType::Bool)
            }
            "todatetime" => {
                self.arity(call, 1, 1)?;
                Typed::new(f::to_datetime(args.remove(0)), KqlType::Datetime)
            }
            "totimespan" => {
                self.arity(call, 1, 1)?;
                Typed::new(f::to_timespan(args.remove(0)), KqlType::Timespan)
            }
            "parse_json" | "todynamic" => {
                self.arity(call, 1, 1)?;
                let arg = args.remove(0);
                match arg.ty {
                    KqlType::Dynamic => arg,
                    KqlType::String => {
                        Typed::new(f::convert::parse_json(arg.expr), KqlType::Dynamic)
                    }
                    _ => Typed::new(f::to_dynamic(arg), KqlType::Dynamic),
                }
            }
            "tolower" | "toupper" => {
                self.arity(call, 1, 1)?;
                let text = f::to_string(args.remove(0));
                let expr = if name == "tolower" {
                    df::lower(text)
                } else {
                    df::upper(text)
                };
                Typed::new(expr, KqlType::String)
            }
            "strlen" => {
                self.arity(call, 1, 1)?;
                Typed::new(
                    cast(
                        df::character_length(f::to_string(args.remove(0))),
                        DataType::Int64,
                    ),
                    KqlType::Long,
                )
            }
            "strcat" => {
                if args.is_empty() {
                    return Err(EngineError::semantic(Diagnostic::new(
                        "`strcat` needs at least one argument",
                        span,
                    )));
                }
                let parts = args.into_iter().map(f::to_string).collect();
                Typed::new(df::concat(parts), KqlType::String)
            }
            "strcat_delim" => {
                self.arity(call, 2, 64)?;
                let mut parts: Vec<Expr> = args.into_iter().map(f::to_string).collect();
                let delimiter = parts.remove(0);
                let mut combined = vec![delimiter];
                combined.extend(parts);
                Typed::new(df::concat_ws(combined.remove(0), combined), KqlType::String)
            }
            "substring" => {
                self.arity(call, 2, 3)?;
                let text = f::to_string(args.remove(0));
                let start = cast(args.remove(0).expr, DataType::Int64);
                let start = when(start.clone().lt(lit(0i64)), lit(0i64))
                    .otherwise(start)
                    .map_err(EngineError::internal)?
                    + lit(1i64);
                let expr = match args.pop() {
                    Some(length) => {
                        let length = cast(length.expr, DataType::Int64);
                        let length = when(length.clone().lt(lit(0i64)), lit(0i64))
                            .otherwise(length)
                            .map_err(EngineError::internal)?;
                        df::substring(text, start, length)
                    }
                    None => df::substr(text, start),
                };
                Typed::new(expr, KqlType::String)
            }
            "trim" | "trim_start" | "trim_end" => {
                self.arity(call, 2, 2)?;
                let pattern = f::to_string(args.remove(0));
                let text = f::to_string(args.remove(0));
                Typed::new(trim_regex(name, pattern, text), KqlType::String)
            }
            "indexof" if call.args.len() > 2 => {
                let function = f::json_function("indexof").expect("indexof is a JSON function");
                self.arity(call, function.min_args, function.max_args)?;
                let json_args = args.into_iter().map(f::to_dynamic).collect();
                Typed::new(
                    f::dynamic::json_call(name, function.returns, function.body, json_args),
                    function.returns,
                )
            }
            "indexof" => {
                self.arity(call, 2, 5)?;
                let text = f::to_string(args.remove(0));
                let lookup = f::to_string(args.remove(0));
                Typed::new(
                    cast(df::strpos(text, lookup), DataType::Int64) - lit(1i64),
                    KqlType::Long,
                )
            }
            "replace_string" => {
                self.arity(call, 3, 3)?;
                let text = f::to_string(args.remove(0));
                let lookup = f::to_string(args.remove(0));
                let replacement = f::to_string(args.remove(0));
                Typed::new(df::replace(text, lookup, replacement), KqlType::String)
            }
            "replace_regex" | "replace" => {
                self.arity(call, 3, 3)?;
                // The older `replace(regex, rewrite, text)` takes the text last.
                if name == "replace" {
                    args.rotate_right(1);
                }
                let text = f::to_string(args.remove(0));
                let pattern = f::to_string(args.remove(0));
                let replacement = f::to_string(args.remove(0));
                // DataFusion turns `\1` into the group reference `${1}`;
                // a `$` of the rewrite must stay literal text.
                let replacement =
                    df::regexp_replace(replacement, lit(r"\$"), lit("$$$$"), Some(lit("g")));
                Typed::new(
                    df::regexp_replace(text, pattern, replacement, Some(lit("g"))),
                    KqlType::String,
                )
            }
            "split" => {
                self.arity(call, 2, 3)?;
                let text = f::to_string(args.remove(0));
                let delimiter = f::to_string(args.remove(0));
                let mut expr = split(text, delimiter);
                if let Some(index) = args.pop() {
                    let key = f::to_string(index);
                    let element = f::dynamic_get(expr, key);
                    expr = wrap_array(element);
                }
                Typed::new(expr, KqlType::Dynamic)
            }
            "extract" => {
                self.arity(call, 3, 4)?;
                let pattern = f::to_string(args.remove(0));
                let group = cast(args.remove(0).expr, DataType::Int64);
                let text = f::to_string(args.remove(0));
                let extracted = extract(pattern, group, text);
                match args.pop() {
                    Some(_) => {
                        let ty = typeof_argument(call)?;
                        Typed::new(coerce_to(Typed::new(extracted, KqlType::String), ty), ty)
                    }
                    None => Typed::new(extracted, KqlType::String),
                }
            }
            "extract_json" | "extractjson" | "percentile_tdigest" if args.len() == 3 => {
                let function = f::json_function(name).expect("a function over JSON values");
                let ty = typeof_argument(call)?;
                args.pop();
                let json_args = args.into_iter().map(f::to_dynamic).collect();
                let result =
                    f::dynamic::json_call(name, function.returns, function.body, json_args);
                Typed::new(coerce_to(Typed::new(result, function.returns), ty), ty)
            }
            "isempty" | "isnotempty" => {
                self.arity(call, 1, 1)?;
                let arg = args.remove(0);
                let empty = match arg.ty {
                    KqlType::String | KqlType::Guid => {
                        arg.expr.clone().is_null().or(arg.expr.eq(lit("")))
                    }
                    KqlType::Dynamic => arg.expr.clone().is_null().or(arg.expr.eq(lit("\"\""))),
                    _ => arg.expr.is_null(),
                };
                Typed::new(
                    if name == "isempty" {
                        empty
                    } else {
                        empty.not()
                    },
                    KqlType::Bool,
                )
            }
            "isnull" | "isnotnull" => {
                self.arity(call, 1, 1)?;
                let arg = args.remove(0);
                let null = match arg.ty {
                    KqlType::String | KqlType::Guid => lit(false),
                    _ => arg.expr.is_null(),
                };
                Typed::new(
                    if name == "isnull" { null } else { null.not() },
                    KqlType::Bool,
                )
            }
            "not" => {
                self.arity(call, 1, 1)?;
                Typed::new(to_bool(args.remove(0)).not(), KqlType::Bool)
            }
            "coalesce" => {
                self.arity(call, 1, 64)?;
                let ty = args[0].ty;
                let values: Vec<Expr> = args
                    .into_iter()
                    .map(|a| {
                        let expr = coerce_to(a, ty);
                        if matches!(ty, KqlType::String | KqlType::Guid) {
                            df::nullif(expr, lit(""))
                        } else {
                            expr
                        }
                    })
                    .collect();
                let mut expr = df::coalesce(values);
                if matches!(ty, KqlType::String | KqlType::Guid) {
                    expr = df::coalesce(vec![expr, lit("")]);
                }
                Typed::new(expr, ty)
            }
            "bin" | "floor" => {
                self.arity(call, 2, 2)?;
                let value = args.remove(0);
                let size = args.remove(0);
                bin(value, size, span)?
            }
            "format_datetime" => {
                self.arity(call, 2, 2)?;
                let value = coerce_to(args.remove(0), KqlType::Datetime);
                let format = f::to_string(args.remove(0));
                Typed::new(dt::format_datetime(value, format), KqlType::String)
            }
            "startofday" | "startofweek" | "startofmonth" | "startofyear" | "endofday" => {
                self.arity(call, 1, 2)?;
                let body = match name {
                    "startofday" => dt::start_of_day,
                    "startofweek" => dt::start_of_week,
                    "startofmonth" => dt::start_of_month,
                    "startofyear" => dt::start_of_year,
                    _ => dt::end_of_day,
                };
                let exprs = args
                    .into_iter()
                    .map(|a| coerce_to(a, KqlType::Long))
                    .collect();
                Typed::new(dt::ticks_function(name, exprs, body), KqlType::Datetime)
            }
            "datetime_diff" => {
                self.arity(call, 3, 3)?;
                let part = f::to_string(args.remove(0));
                let left = args.remove(0).expr;
                let right = args.remove(0).expr;
                Typed::new(dt::datetime_diff(part, left, right), KqlType::Long)
            }
            "datetime_add" => {
                self.arity(call, 3, 3)?;
                let part = f::to_string(args.remove(0));
                let amount = cast(args.remove(0).expr, DataType::Int64);
                let value = args.remove(0).expr;
                Typed::new(dt::datetime_add(part, amount, value), KqlType::Datetime)
            }
            "getyear" | "hourofday" | "dayofmonth" | "monthofyear" | "week_of_year"
            | "datetime_part" => {
                let (part, value) = if name == "datetime_part" {
                    self.arity(call, 2, 2)?;
                    let part = constant_string(&call.args[0].value).ok_or_else(|| {
                        EngineError::semantic(Diagnostic::new(
                            "the first argument of `datetime_part` must be a constant string",
                            span,
                        ))
                    })?;
                    (part.to_lowercase(), args.remove(1))
                } else {
                    self.arity(call, 1, 1)?;
                    let part = match name {
                        "getyear" => "year",
                        "hourofday" => "hour",
                        "dayofmonth" => "day",
                        "week_of_year" => "week_of_year",
                        _ => "month",
                    };
                    (part.to_string(), args.remove(0))
                };
                let body: fn(&[Option<i64>]) -> Option<i64> = match part.as_str() {
                    "year" => |v| dt::datetime_part("year", v),
                    "quarter" => |v| dt::datetime_part("quarter", v),
                    "month" => |v| dt::datetime_part("month", v),
                    "week_of_year" => |v| dt::datetime_part("week_of_year", v),
                    "day" => |v| dt::datetime_part("day", v),
                    "dayofyear" => |v| dt::datetime_part("dayofyear", v),
                    "hour" => |v| dt::datetime_part("hour", v),
                    "minute" => |v| dt::datetime_part("minute", v),
                    "second" => |v| dt::datetime_part("second", v),
                    "millisecond" => |v| dt::datetime_part("millisecond", v),
                    "microsecond" => |v| dt::datetime_part("microsecond", v),
                    "nanosecond" => |v| dt::datetime_part("nanosecond", v),
                    other => {
                        return Err(EngineError::semantic(Diagnostic::new(
                            format!("unknown datetime part `{other}`"),
                            span,
                        )));
                    }
                };
                let ty = KqlType::Int;
                let expr = dt::ticks_function(&format!("part_{part}"), vec![value.expr], body);
                Typed::new(cast(expr, physical_type(ty)), ty)
            }
            "dayofweek" => {
                self.arity(call, 1, 1)?;
                let value = args.remove(0).expr;
                let day = dt::ticks_function("startofweek", vec![value.clone()], dt::start_of_week);
                let days = (dt::ticks_function("startofday", vec![value], dt::start_of_day) - day)
                    / lit(TICKS_PER_DAY);
                Typed::new(days * lit(TICKS_PER_DAY), KqlType::Timespan)
            }
            "abs" | "sqrt" | "log" | "log10" | "exp" | "ceiling" | "round" | "pow" | "degrees"
            | "radians" => {
                self.arity(call, 1, 2)?;
                let first = args.remove(0);
                let ty = first.ty;
                let value = cast(first.expr, DataType::Float64);
                let expr = match name {
                    "abs" => {
                        return Ok(Typed::new(
                            df::abs(coerce_to(Typed::new(value, KqlType::Real), ty)),
                            ty,
                        ));
                    }
                    "sqrt" => df::sqrt(value),
                    "log" => df::ln(value),
                    "log10" => df::log10(value),
                    "exp" => df::exp(value),
                    "ceiling" => df::ceil(value),
                    "degrees" => df::degrees(value),
                    "radians" => df::radians(value),
                    "pow" => {
                        let exponent = args
                            .pop()
                            .map(|a| cast(a.expr, DataType::Float64))
                            .unwrap_or(lit(1.0));
                        df::power(value, exponent)
                    }
                    _ => {
                        let digits = args
                            .pop()
                            .map(|a| cast(a.expr, DataType::Int64))
                            .unwrap_or(lit(0i64));
                        df::round(vec![value, digits])
                    }
                };
                Typed::new(expr, KqlType::Real)
            }
            "tohex" => {
                self.arity(call, 1, 2)?;
                let value = coerce_to(args.remove(0), KqlType::Long);
                let width = match args.pop() {
                    Some(width) => coerce_to(width, KqlType::Long),
                    None => lit(0i64),
                };
                Typed::new(to_hex(value, width), KqlType::String)
            }
            "reverse" => {
                self.arity(call, 1, 1)?;
                Typed::new(df::reverse(f::to_string(args.remove(0))), KqlType::String)
            }
            "strrep" => {
                self.arity(call, 2, 3)?;
                let text = f::to_string(args.remove(0));
                let count = cast(args.remove(0).expr, DataType::Int64);
                let expr = match args.pop() {
                    Some(delimiter) => {
                        let delimiter = f::to_string(delimiter);
                        let repeated =
                            df::repeat(df::concat(vec![text.clone(), delimiter.clone()]), count);
                        df::left(
                            repeated.clone(),
                            cast(df::character_length(repeated), DataType::Int64)
                                - cast(df::character_length(delimiter), DataType::Int64),
                        )
                    }
                    None => df::repeat(text, count),
                };
                Typed::new(expr, KqlType::String)
            }
            "hash" | "hash_xxhash64"
                if matches!(
                    args.first().map(|arg| arg.ty),
                    Some(KqlType::Datetime | KqlType::Timespan)
                ) =>
            {
                // Kusto hashes a datetime or timespan by its 8 tick bytes.
                self.arity(call, 1, 2)?;
                let offset = if args[0].ty == KqlType::Datetime {
                    crate::time::DOTNET_EPOCH_TICKS
                } else {
                    0
                };
                let exprs = args
                    .into_iter()
                    .map(|arg| coerce_to(arg, KqlType::Long))
                    .collect();
                Typed::new(f::text::hash_ticks(exprs, offset), KqlType::Long)
            }
            "around" => {
                self.arity(call, 3, 3)?;
                let ty = match args[0].ty {
                    KqlType::Datetime | KqlType::Timespan => KqlType::Long,
                    _ => KqlType::Real,
                };
                let value = coerce_to(args.remove(0), ty);
                let center = coerce_to(args.remove(0), ty);
                let delta = coerce_to(args.remove(0), ty);
                let low = center.clone() - delta.clone();
                let high = center + delta;
                Typed::new(
                    value.clone().gt_eq(low).and(value.lt_eq(high)),
                    KqlType::Bool,
                )
            }
            "assert" => {
                self.arity(call, 2, 2)?;
                let condition = to_bool(args.remove(0));
                let message = f::to_string(args.remove(0));
                Typed::new(assert(condition, message), KqlType::Bool)
            }
            _ if f::math::real_function(name).is_some() => {
                let function = f::math::real_function(name).expect("checked by the guard");
                self.arity(call, function.min_args, function.max_args)?;
                let exprs = args
                    .into_iter()
                    .map(|arg| coerce_to(arg, KqlType::Real))
                    .collect();
                Typed::new(f::math::real_call(function, exprs), KqlType::Real)
            }
            "hash_md5" => {
                self.arity(call, 1, 1)?;
                let text = f::to_string(args.remove(0));
                Typed::new(
                    datafusion::functions::crypto::expr_fn::md5(text),
                    KqlType::String,
                )
            }
            "gettype" => {
                self.arity(call, 1, 1)?;
                let arg = args.remove(0);
                if arg.ty == KqlType::Dynamic {
                    Typed::new(dynamic_type_name(arg.expr), KqlType::String)
                } else {
                    Typed::new(lit(arg.ty.name()), KqlType::String)
                }
            }
            _ if super::scalars::NAMES.contains(&name) => {
                return self.plan_numeric_call(call, name, args);
            }
            _ if f::json_function(name).is_some() => {
                let function = f::json_function(name).expect("checked by the guard");
                self.arity(call, function.min_args, function.max_args)?;
                for (index, arg) in call.args.iter().enumerate() {
                    if let ExprKind::Literal(ast::Literal::String(text)) = &arg.value.kind {
                        f::decompose::check_text_argument(name, index, text).map_err(
                            |message| {
                                EngineError::semantic(Diagnostic::new(message, arg.value.span))
                            },
                        )?;
                    }
                }
                let json_args = args.into_iter().map(f::to_dynamic).collect();
                Typed::new(
                    f::dynamic::json_call(name, function.returns, function.body, json_args),
                    function.returns,
                )
            }
            _ => {
                let known: Vec<&str> = SCALAR_FUNCTIONS
                    .iter()
                    .copied()
                    .chain(super::scalars::NAMES.iter().copied())
                    .chain(f::json_functions().map(|function| function.name))
                    .chain(f::math::REAL_FUNCTIONS.iter().map(|function| function.name))
                    .filter(|known| !known.starts_with("__"))
                    .collect();
                let mut diagnostic =
                    Diagnostic::new(format!("unknown function `{name}`"), call.name.span);
                if let Some(s) = suggest(name, known) {
                    diagnostic = diagnostic.with_help(format!("did you mean `{s}`?"));
                }
                return Err(EngineError::semantic(diagnostic));
            }
        };
        Ok(typed)
    }
}

fn type_error(
    call: &ast::Call,
    position: usize,
    expected: &str,
    found: KqlType,
    span: kql::Span,
) -> EngineError {
    EngineError::semantic(Diagnostic::new(
        format!(
            "argument {position} of `{}` must be {expected}, but it is of type {found}",
            call.name.name
        ),
        span,
    ))
}

/// Returns the text of a string literal argument.
pub(crate) fn constant_string(expr: &ast::Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Literal(ast::Literal::String(s)) => Some(s.clone()),
        ExprKind::Paren(inner) => constant_string(inner),
        _ => None,
    }
}

/// Reads the type from `typeof(long)` passed as the last `extract` argument.
fn typeof_argument(call: &ast::Call) -> Result<KqlType, EngineError> {
    let last = &call.args[call.args.len() - 1].value;
    if let ExprKind::Call(inner) = &last.kind
        && inner.name.name == "typeof"
        && let Some(ast::Arg { value, .. }) = inner.args.first()
        && let ExprKind::Name(ident) = &value.kind
        && let Some(ty) = KqlType::from_name(&ident.name)
    {
        return Ok(ty);
    }
    Err(EngineError::semantic(Diagnostic::new(
        "expected `typeof(<type>)`",
        last.span,
    )))
}

/// Builds a CASE over branches, converting every value to the first
/// non-null value's type.
fn case_expr(branches: Vec<(Expr, Typed)>, otherwise: Typed) -> Result<Typed, EngineError> {
    let ty = branches
        .iter()
        .map(|(_, v)| v.ty)
        .chain(std::iter::once(otherwise.ty))
        .find(|ty| *ty != KqlType::Dynamic)
        .unwrap_or(KqlType::Dynamic);
    let mut branches = branches.into_iter();
    let (first_condition, first_value) = branches.next().expect("case has at least one branch");
    let mut builder = when(first_condition, coerce_to(first_value, ty));
    for (condition, value) in branches {
        builder = builder.when(condition, coerce_to(value, ty));
    }
    let expr = builder
        .otherwise(coerce_to(otherwise, ty))
        .map_err(EngineError::internal)?;
    Ok(Typed::new(expr, ty))
}

/// `bin(value, size)`: rounds down to a multiple of `size`. Works on
/// numbers, timespans and datetimes; a zero or negative size gives null.
pub(super) fn bin(value: Typed, size: Typed, span: kql::Span) -> Result<Typed, EngineError> {
    match value.ty {
        KqlType::Datetime | KqlType::Timespan | KqlType::Long | KqlType::Int => {
            let size_ticks = cast(size.expr, DataType::Int64);
            if size.ty == KqlType::Real {
                let value_real = cast(value.expr, DataType::Float64);
                let size_real = cast(size_ticks, DataType::Float64);
                let expr = df::floor(value_real / size_real.clone()) * size_real;
                return Ok(Typed::new(expr, KqlType::Real));
            }
            let positive = size_ticks.clone().gt(lit(0i64));
            let value_long = cast(value.expr, DataType::Int64);
            // Floor division that also rounds negative values down.
            let remainder = ((value_long.clone() % size_ticks.clone()) + size_ticks.clone())
                % size_ticks.clone();
            let expr = when(positive, value_long - remainder)
                .end()
                .map_err(EngineError::internal)?;
            let ty = if value.ty == KqlType::Int {
                KqlType::Long
            } else {
                value.ty
            };
            Ok(Typed::new(expr, ty))
        }
        KqlType::Real | KqlType::Decimal | KqlType::Dynamic => {
            let value_real = cast(value.expr, DataType::Float64);
            let size_real = cast(size.expr, DataType::Float64);
            let positive = size_real.clone().gt(lit(0.0));
            let expr = when(
                positive,
                df::floor(value_real / size_real.clone()) * size_real,
            )
            .end()
            .map_err(EngineError::internal)?;
            Ok(Typed::new(expr, KqlType::Real))
        }
        other => Err(EngineError::semantic(Diagnostic::new(
            format!(
                "`bin` cannot round a value of type {other}; it takes a number, a timespan or a datetime"
            ),
            span,
        ))),
    }
}

fn trim_regex(name: &str, pattern: Expr, text: Expr) -> Expr {
    let anchored = match name {
        "trim" => df::concat(vec![
            lit("^(?:"),
            pattern.clone(),
            lit(")+|(?:"),
            pattern,
            lit(")+$"),
        ]),
        "trim_start" => df::concat(vec![lit("^(?:"), pattern, lit(")+")]),
        _ => df::concat(vec![lit("(?:"), pattern, lit(")+$")]),
    };
    df::regexp_replace(text, anchored, lit(""), Some(lit("g")))
}

/// `split(text, delimiter)` as a dynamic JSON array of strings.
fn split(text: Expr, delimiter: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|arrays: &[ArrayRef]| {
        let texts = utf8(&arrays[0])?;
        let delimiters = utf8(&arrays[1])?;
        let out: StringArray = (0..texts.len())
            .map(|row| {
                let text = f::str_at(&texts, row);
                let delimiter = f::str_at(&delimiters, row);
                let parts: Vec<&str> = if delimiter.is_empty() {
                    vec![text]
                } else {
                    text.split(delimiter).collect()
                };
                Some(serde_json::to_string(&parts).unwrap_or_default())
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call("split", DataType::Utf8, false, body, vec![text, delimiter])
}

/// Wraps a dynamic value in a one-element array (null stays an empty array),
/// as `split(text, delimiter, index)` returns.
fn wrap_array(element: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|arrays: &[ArrayRef]| {
        let values = utf8(&arrays[0])?;
        let values = arrow::array::AsArray::as_string::<i32>(values.as_ref());
        let out: StringArray = values
            .iter()
            .map(|v| Some(v.map_or_else(|| "[]".to_string(), |v| format!("[{v}]"))))
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call("wrap_array", DataType::Utf8, false, body, vec![element])
}

/// `gettype()` of a dynamic value: the type of what it holds.
fn dynamic_type_name(value: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|arrays: &[ArrayRef]| {
        let values = utf8(&arrays[0])?;
        let values = arrow::array::AsArray::as_string::<i32>(values.as_ref());
        let out: StringArray = values
            .iter()
            .map(|text| {
                let parsed = text.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
                let name = match parsed {
                    None | Some(serde_json::Value::Null) => "null",
                    Some(serde_json::Value::Bool(_)) => "bool",
                    Some(serde_json::Value::Number(n)) if n.is_i64() || n.is_u64() => {
                        if n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()) {
                            "int"
                        } else {
                            "long"
                        }
                    }
                    Some(serde_json::Value::Number(_)) => "real",
                    Some(serde_json::Value::String(_)) => "string",
                    Some(serde_json::Value::Array(_)) => "array",
                    Some(serde_json::Value::Object(_)) => "dictionary",
                };
                Some(name)
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call("gettype_dynamic", DataType::Utf8, false, body, vec![value])
}

/// `extract(regex, group, text)`: the text of a capture group of the first
/// match, or "" when nothing matches.
fn extract(pattern: Expr, group: Expr, text: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|arrays: &[ArrayRef]| {
        let patterns = utf8(&arrays[0])?;
        let groups = f::int64(&arrays[1])?;
        let texts = utf8(&arrays[2])?;
        let mut compiled: Option<(String, regex::Regex)> = None;
        let mut out = Vec::with_capacity(texts.len());
        for row in 0..texts.len() {
            let pattern = f::str_at(&patterns, row);
            if compiled.as_ref().is_none_or(|(p, _)| p != pattern) {
                let regex = regex::Regex::new(pattern).map_err(|err| {
                    f::convert::execution_error(format!(
                        "invalid regular expression `{pattern}`: {err}"
                    ))
                })?;
                compiled = Some((pattern.to_string(), regex));
            }
            let (_, regex) = compiled.as_ref().expect("compiled above");
            let group = f::long_at(&groups, row).unwrap_or(0).max(0) as usize;
            let value = regex
                .captures(f::str_at(&texts, row))
                .and_then(|c| c.get(group))
                .map_or("", |m| m.as_str());
            out.push(Some(value.to_string()));
        }
        Ok(Arc::new(StringArray::from(out)) as ArrayRef)
    });
    udf::call(
        "extract",
        DataType::Utf8,
        false,
        body,
        vec![pattern, group, text],
    )
}

/// `pack_all([ignore_null_empty])`: a bag of every column of the input.
/// When `skip_empty` is true, null values and empty strings are left out.
fn pack_all(columns: &[super::Column], skip_empty: Expr) -> Typed {
    let mut args = vec![skip_empty];
    for column in columns {
        args.push(lit(
            serde_json::Value::String(column.name.clone()).to_string()
        ));
        args.push(f::to_dynamic(Typed::new(
            super::column_expr(&column.name),
            column.ty,
        )));
    }
    Typed::new(
        f::dynamic::json_call("pack_all", KqlType::Dynamic, pack_all_body, args),
        KqlType::Dynamic,
    )
}

fn pack_all_body(args: &[serde_json::Value]) -> serde_json::Value {
    let skip_empty = args[0] == serde_json::Value::Bool(true);
    let mut bag = serde_json::Map::new();
    for pair in args[1..].chunks_exact(2) {
        let value = &pair[1];
        let empty = value.is_null() || value.as_str() == Some("");
        if skip_empty && empty {
            continue;
        }
        if let serde_json::Value::String(key) = &pair[0] {
            bag.insert(key.clone(), value.clone());
        }
    }
    serde_json::Value::Object(bag)
}

/// `assert(condition, message)`: true when the condition holds; a false or
/// null condition stops the query with an error that shows the message.
fn assert(condition: Expr, message: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|arrays: &[ArrayRef]| {
        let conditions = arrow::compute::cast(&arrays[0], &DataType::Boolean)?;
        let conditions = conditions.as_boolean();
        let messages = utf8(&arrays[1])?;
        let messages = messages.as_string::<i32>();
        for row in 0..conditions.len() {
            if conditions.is_null(row) || !conditions.value(row) {
                let message = if messages.is_null(row) {
                    ""
                } else {
                    messages.value(row)
                };
                return Err(datafusion::common::DataFusionError::Execution(format!(
                    "assertion failed: {message}"
                )));
            }
        }
        Ok(Arc::new(arrow::array::BooleanArray::from(vec![
            true;
            conditions.len()
        ])) as ArrayRef)
    });
    udf::call(
        "assert",
        DataType::Boolean,
        false,
        body,
        vec![condition, message],
    )
}

/// `estimate_data_size(values)`: the sum of the values' sizes in bytes.
/// A bool counts 1, an int 4, a long, real, datetime or timespan 8, a
/// decimal or guid 16, and strings and dynamic values their UTF-8 length
/// (of the JSON text for dynamic). Null values count 0.
fn estimate_data_size(values: Vec<Typed>) -> Typed {
    let sizes = values.into_iter().map(|value| {
        let size = match value.ty {
            KqlType::Bool => lit(1i64),
            KqlType::Int => lit(4i64),
            KqlType::Long | KqlType::Real | KqlType::Datetime | KqlType::Timespan => lit(8i64),
            KqlType::Decimal | KqlType::Guid => lit(16i64),
            KqlType::String | KqlType::Dynamic => {
                cast(df::octet_length(value.expr.clone()), DataType::Int64)
            }
        };
        df::coalesce(vec![
            when(value.expr.is_not_null(), size)
                .end()
                .unwrap_or_else(|_| lit(0i64)),
            lit(0i64),
        ])
    });
    let total = sizes.reduce(|a, b| a + b).unwrap_or_else(|| lit(0i64));
    Typed::new(total, KqlType::Long)
}

/// `tohex(value [, min_length])`: lowercase hex digits of a long, negative
/// values in 64-bit two's complement, left-padded with zeros to
/// `min_length`.
fn to_hex(value: Expr, width: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|arrays: &[ArrayRef]| {
        let values = f::int64(&arrays[0])?;
        let widths = f::int64(&arrays[1])?;
        let out: StringArray = (0..values.len())
            .map(|row| {
                let value = f::long_at(&values, row)?;
                let width = f::long_at(&widths, row).unwrap_or(0).clamp(0, 64) as usize;
                Some(format_hex(value, width))
            })
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    });
    udf::call("tohex", DataType::Utf8, false, body, vec![value, width])
}

fn format_hex(value: i64, width: usize) -> String {
    format!("{:0width$x}", value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_pads_and_wraps_negatives() {
        assert_eq!(format_hex(256, 0), "100");
        assert_eq!(format_hex(256, 4), "0100");
        assert_eq!(format_hex(-1, 0), "ffffffffffffffff");
    }
}
