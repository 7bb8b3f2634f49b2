//! `evaluate` plugins: `bag_unpack`, `pivot`, `rows_near` and
//! `schema_merge`; the IP
//! lookups are in [`super::ip_lookup`] and `rolling_percentile` in
//! [`super::rolling`].
//!
//! `bag_unpack` and `pivot` make columns whose names come from the data.
//! Their columns are found by running their input first (see
//! [`super::discovery`]); a declared output schema (`evaluate
//! bag_unpack(d) : (*, Name: string)`) makes that run unnecessary for
//! `bag_unpack`.

use std::collections::HashSet;

use datafusion::logical_expr::{Expr, LogicalPlanBuilder, lit};
use kql::ast::{self, BinaryOp, ExprKind, Literal};
use kql::{Diagnostic, KqlType, Span};

use super::discovery::{ColumnRequest, Discovered, RequestKind, operator_key};
use super::functions::constant_string;
use super::ip_lookup::Family;
use super::syntax::{call_expr, named};
use super::{Column, Planner, Relation, column_expr, project};
use crate::error::EngineError;
use crate::functions::{self as f, expand};

/// The action of `bag_unpack` when a property has the name of an input column.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Conflict {
    Error,
    ReplaceSource,
    KeepSource,
}

/// The conditional form of each aggregation that `pivot` accepts, and
/// the position of its value argument.
const PIVOT_AGGREGATES: &[(&str, &str)] = &[
    ("count", "countif"),
    ("any", "take_anyif"),
    ("take_any", "take_anyif"),
    ("sum", "sumif"),
    ("avg", "avgif"),
    ("min", "minif"),
    ("max", "maxif"),
    ("dcount", "dcountif"),
    ("make_list", "make_list_if"),
    ("make_set", "make_set_if"),
    ("stdev", "stdevif"),
    ("variance", "varianceif"),
];

impl Planner<'_> {
    pub(crate) fn plan_evaluate(
        &mut self,
        input: Relation,
        evaluate: &ast::Evaluate,
        span: Span,
    ) -> Result<Relation, EngineError> {
        let name = evaluate.call.name.name.as_str();
        if evaluate.output.is_some() && name != "bag_unpack" {
            return Err(EngineError::not_supported(Diagnostic::new(
                format!("an output schema after `evaluate {name}(...)` is not supported"),
                span,
            )));
        }
        match name {
            "bag_unpack" => self.plan_bag_unpack(input, evaluate, span),
            "pivot" => self.plan_pivot(input, &evaluate.call, span),
            "rows_near" => self.plan_rows_near(input, &evaluate.call),
            "rolling_percentile" => self.plan_rolling_percentile(input, &evaluate.call),
            "schema_merge" => self.plan_schema_merge(input, &evaluate.call),
            "activity_counts_metrics" => self.plan_activity_counts(input, &evaluate.call),
            "ipv4_lookup" => self.plan_ip_lookup(input, &evaluate.call, Family::V4),
            "ipv6_lookup" => self.plan_ip_lookup(input, &evaluate.call, Family::V6),
            _ => Err(EngineError::not_supported(
                Diagnostic::new(
                    format!("the `evaluate` plugin `{name}` is not supported yet"),
                    evaluate.call.name.span,
                )
                .with_help(
                    "homesoc supports the plugins bag_unpack, pivot, rows_near, rolling_percentile, ipv4_lookup, ipv6_lookup, schema_merge and activity_counts_metrics",
                ),
            )),
        }
    }

    /// Plans `activity_counts_metrics(IdColumn, TimelineColumn, Start, End,
    /// Window [, Dimension, ...])`: per window from `Start` to `End` (and
    /// dimension values), the rows, the distinct ids, the ids not seen in an
    /// earlier window, and the distinct ids since `Start`. Windows without
    /// rows get no output row.
    fn plan_activity_counts(
        &mut self,
        input: Relation,
        call: &ast::Call,
    ) -> Result<Relation, EngineError> {
        self.arity(call, 5, usize::MAX)?;
        let mut columns = Vec::new();
        for (position, arg) in call.args.iter().enumerate() {
            if (2..5).contains(&position) {
                continue;
            }
            let ExprKind::Name(ident) = &arg.value.kind else {
                return Err(EngineError::semantic(Diagnostic::new(
                    "`activity_counts_metrics` expects a column name here",
                    arg.value.span,
                )));
            };
            if input.column(&ident.name).is_none() {
                let names: Vec<&str> = input.columns.iter().map(|c| c.name.as_str()).collect();
                return Err(super::unknown_name("column", ident, &names));
            }
            if ident.name.contains(['\'', '\\']) {
                return Err(EngineError::not_supported(Diagnostic::new(
                    "`activity_counts_metrics` does not accept column names with quotes or backslashes",
                    ident.span,
                )));
            }
            columns.push(format!("['{}']", ident.name));
        }
        let (id, time, dimensions) = (&columns[0], &columns[1], &columns[2..]);
        let by = |prefix: &str| -> String {
            dimensions
                .iter()
                .map(|d| format!("{prefix}{d}"))
                .collect::<String>()
        };
        let restart = if dimensions.is_empty() {
            "false".to_string()
        } else {
            dimensions
                .iter()
                .map(|d| format!("{d} != prev({d})"))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let dims_project = by(", ");
        let template = format!(
            "let __acm_rows = __acm_input
                | project __acm_id = tostring({id}), __acm_bin = bin_at({time}, __acm_window, __acm_start){dims_project}
                | where __acm_bin >= __acm_start and __acm_bin <= __acm_end;
            let __acm_new = __acm_rows
                | summarize __acm_first = min(__acm_bin) by __acm_id{dims_project}
                | summarize new_dcount = count() by __acm_bin = __acm_first{dims_project};
            __acm_rows
            | summarize ['count'] = count(), dcount = dcount(__acm_id) by __acm_bin{dims_project}
            | lookup kind=leftouter __acm_new on __acm_bin{dims_project}
            | extend new_dcount = coalesce(new_dcount, 0)
            | sort by {sort}__acm_bin asc
            | extend aggregated_dcount = row_cumsum(new_dcount, {restart})
            | project {time} = __acm_bin{dims_project}, ['count'], dcount, new_dcount, aggregated_dcount",
            sort = dimensions
                .iter()
                .map(|d| format!("{d} asc, "))
                .collect::<String>(),
        );
        let arguments = [
            ("__acm_start", &call.args[2].value),
            ("__acm_end", &call.args[3].value),
            ("__acm_window", &call.args[4].value),
        ];
        self.plan_template(&template, "__acm_input", input, &arguments, call.span)
    }

    /// Plans `schema_merge([PreserveOrder = true])` over the output of
    /// `getschema` for one or more tables (see
    /// [`crate::functions::schema`]).
    fn plan_schema_merge(
        &mut self,
        input: Relation,
        call: &ast::Call,
    ) -> Result<Relation, EngineError> {
        self.arity(call, 0, 1)?;
        let span = call.span;
        let preserve = match call.args.first() {
            Some(arg) => {
                if let Some(name) = &arg.name
                    && name.name != "PreserveOrder"
                {
                    return Err(EngineError::semantic(
                        Diagnostic::new(
                            format!("unknown argument `{}` of `schema_merge`", name.name),
                            name.span,
                        )
                        .with_help("schema_merge takes PreserveOrder = true or false"),
                    ));
                }
                arg.value.clone()
            }
            None => super::syntax::literal(Literal::Bool(true), span),
        };
        for (name, ty) in [
            ("ColumnName", KqlType::String),
            ("ColumnOrdinal", KqlType::Int),
            ("DataType", KqlType::String),
            ("ColumnType", KqlType::String),
        ] {
            if input.column(name).map(|c| c.ty) != Some(ty) {
                return Err(EngineError::semantic(
                    Diagnostic::new(
                        format!("`schema_merge` needs a `{name}` column of type {ty}"),
                        call.name.span,
                    )
                    .with_help("give it the output of `getschema`, as in union (T1 | getschema), (T2 | getschema) | evaluate schema_merge()"),
                ));
            }
        }
        let row = call_expr(
            "pack_array",
            ["ColumnName", "ColumnOrdinal", "DataType", "ColumnType"]
                .iter()
                .map(|name| super::syntax::name_expr(name, span))
                .collect(),
            span,
        );
        let steps = super::syntax::whole_input_steps(
            row,
            super::reduce::MAX_VALUES,
            "__schema_merge",
            vec![preserve],
            &[
                ("ColumnName", "tostring"),
                ("ColumnOrdinal", "toint"),
                ("DataType", "tostring"),
                ("ColumnType", "tostring"),
            ],
            span,
        );
        self.plan_steps(input, steps, span)
    }

    /// Plans `rows_near(condition, rows [, rows_after])`: the rows within
    /// `rows` rows before and `rows_after` (default `rows`) rows after a
    /// row where the condition holds, in serialized order. A row is kept
    /// when the maximum of the condition over the window frame from
    /// `rows_after` rows before it to `rows` rows after it is true.
    fn plan_rows_near(
        &mut self,
        input: Relation,
        call: &ast::Call,
    ) -> Result<Relation, EngineError> {
        use datafusion::common::ScalarValue;
        use datafusion::logical_expr::expr::{WindowFunction, WindowFunctionDefinition};
        use datafusion::logical_expr::{
            ExprFunctionExt as _, WindowFrame, WindowFrameBound, WindowFrameUnits, when,
        };

        self.arity(call, 2, 3)?;
        let condition = self.plan_expr(&call.args[0].value, &input)?;
        let condition = super::expr::to_bool(condition);
        let before = self.constant_long(&call.args[1].value, &input, "the number of rows")?;
        let after = match call.args.get(2) {
            Some(arg) => self.constant_long(&arg.value, &input, "the number of rows after")?,
            None => before,
        };
        let (Ok(before), Ok(after)) = (u64::try_from(before), u64::try_from(after)) else {
            return Err(EngineError::semantic(Diagnostic::new(
                "`rows_near` needs row counts of 0 or more",
                call.span,
            )));
        };
        let flag = when(condition, lit(1i64))
            .otherwise(lit(0i64))
            .map_err(EngineError::plan)?;
        let frame = WindowFrame::new_bounds(
            WindowFrameUnits::Rows,
            WindowFrameBound::Preceding(ScalarValue::UInt64(Some(after))),
            WindowFrameBound::Following(ScalarValue::UInt64(Some(before))),
        );
        let near = Expr::from(WindowFunction::new(
            WindowFunctionDefinition::AggregateUDF(
                datafusion::functions_aggregate::min_max::max_udaf(),
            ),
            vec![flag],
        ))
        .order_by(super::serialize::serial_order(&input.plan))
        .window_frame(frame)
        .build()
        .map_err(EngineError::plan)?;
        let (plan, exprs) = super::serialize::with_windows(input.plan, vec![near])?;
        let near = exprs.into_iter().next().unwrap_or_else(|| lit(0i64));
        let plan = LogicalPlanBuilder::from(plan)
            .filter(near.gt(lit(0i64)))
            .and_then(LogicalPlanBuilder::build)
            .map_err(EngineError::plan)?;
        let exprs = input
            .columns
            .iter()
            .map(|column| column_expr(&column.name).alias(&column.name))
            .collect();
        project(plan, exprs, input.columns)
    }

    /// Plans `bag_unpack(Column [, Prefix] [, columnsConflict] [,
    /// ignoredProperties])`: one column per property of the bags, in name
    /// order, after the input columns without `Column`.
    fn plan_bag_unpack(
        &mut self,
        input: Relation,
        evaluate: &ast::Evaluate,
        span: Span,
    ) -> Result<Relation, EngineError> {
        let call = &evaluate.call;
        let mut bag_arg = None;
        let mut prefix = String::new();
        let mut conflict = Conflict::Error;
        let mut ignored: HashSet<String> = HashSet::new();
        for (position, arg) in call.args.iter().enumerate() {
            let role = match &arg.name {
                Some(name) => name.name.as_str(),
                None => match position {
                    0 => "column",
                    1 => "OutputColumnPrefix",
                    2 => "columnsConflict",
                    3 => "ignoredProperties",
                    _ => "",
                },
            };
            match role {
                "column" => bag_arg = Some(&arg.value),
                "OutputColumnPrefix" => prefix = string_argument(&arg.value, "the column prefix")?,
                "columnsConflict" => {
                    conflict = match string_argument(&arg.value, "columnsConflict")?.as_str() {
                        "error" => Conflict::Error,
                        "replace_source" => Conflict::ReplaceSource,
                        "keep_source" => Conflict::KeepSource,
                        other => {
                            return Err(EngineError::semantic(
                                Diagnostic::new(
                                    format!("unknown columnsConflict `{other}`"),
                                    arg.value.span,
                                )
                                .with_help("use 'error', 'replace_source' or 'keep_source'"),
                            ));
                        }
                    }
                }
                "ignoredProperties" => ignored = string_list(&arg.value)?,
                _ => {
                    return Err(EngineError::semantic(
                        Diagnostic::new(
                            "unexpected argument of `bag_unpack`",
                            arg.value.span,
                        )
                        .with_help(
                            "bag_unpack takes a dynamic column, an optional prefix, columnsConflict= and ignoredProperties=",
                        ),
                    ));
                }
            }
        }
        let Some(bag_arg) = bag_arg else {
            return Err(EngineError::semantic(Diagnostic::new(
                "`bag_unpack` needs the dynamic column to unpack, as in bag_unpack(Properties)",
                call.span,
            )));
        };
        let bag = self.plan_expr(bag_arg, &input)?;
        let bag = f::to_dynamic(bag);
        let bag_column = match &bag_arg.kind {
            ExprKind::Name(ident) if input.column(&ident.name).is_some() => {
                Some(ident.name.clone())
            }
            _ => None,
        };

        // The properties to unpack, from the declared schema or the data.
        let properties: Vec<(String, KqlType)> = match &evaluate.output {
            Some(schema) => {
                let mut listed = Vec::new();
                for column in &schema.columns {
                    let ty = KqlType::from_name(&column.ty.name).ok_or_else(|| {
                        EngineError::semantic(Diagnostic::new(
                            format!("unknown type `{}`", column.ty.name),
                            column.ty.span,
                        ))
                    })?;
                    let name = &column.name.name;
                    let is_input =
                        input.column(name).is_some() && Some(name) != bag_column.as_ref();
                    if !(schema.keep_input && is_input) {
                        let property = name.strip_prefix(prefix.as_str()).unwrap_or(name);
                        listed.push((property.to_string(), ty));
                    }
                }
                listed
            }
            None => {
                let values = LogicalPlanBuilder::from(input.plan.clone())
                    .project(vec![bag.clone().alias("bag")])
                    .and_then(|b| b.build())
                    .map_err(EngineError::plan)?;
                match self.discovered(
                    span,
                    &input,
                    "bag_unpack",
                    values,
                    RequestKind::BagProperties,
                ) {
                    Some(Discovered::Properties(found)) => found,
                    _ => Vec::new(),
                }
            }
        };

        let mut columns: Vec<Column> = input
            .columns
            .iter()
            .filter(|c| Some(&c.name) != bag_column.as_ref())
            .cloned()
            .collect();
        let mut exprs: Vec<Expr> = columns.iter().map(|c| column_expr(&c.name)).collect();
        for (property, ty) in properties {
            if ignored.contains(&property) {
                continue;
            }
            let name = format!("{prefix}{property}");
            let value = f::dynamic_get(bag.clone(), lit(property.clone()));
            let value = match ty {
                KqlType::Dynamic => value,
                ty => expand::cast_dynamic(value, ty),
            };
            match columns.iter().position(|c| c.name == name) {
                None => {
                    exprs.push(value);
                    columns.push(Column { name, ty });
                }
                Some(index) => match conflict {
                    Conflict::KeepSource => {}
                    Conflict::ReplaceSource => {
                        exprs[index] = value;
                        columns[index].ty = ty;
                    }
                    Conflict::Error => {
                        return Err(EngineError::semantic(
                            Diagnostic::new(
                                format!(
                                    "`bag_unpack` would make the column `{name}`, which the input already has"
                                ),
                                span,
                            )
                            .with_help(
                                "pass columnsConflict='replace_source' or 'keep_source', or a column prefix",
                            ),
                        ));
                    }
                },
            }
        }
        let exprs = exprs
            .into_iter()
            .zip(&columns)
            .map(|(e, c)| e.alias(&c.name))
            .collect();
        project(input.plan, exprs, columns)
    }

    /// Plans `pivot(Column [, Aggregation] [, GroupColumn, ...])`: one
    /// column per distinct non-empty value of `Column`, in text order, that
    /// contains the aggregation over the rows with that value (`count()` when
    /// no aggregation is given), after the group columns.
    fn plan_pivot(
        &mut self,
        input: Relation,
        call: &ast::Call,
        span: Span,
    ) -> Result<Relation, EngineError> {
        let Some(pivot_arg) = call.args.first() else {
            return Err(EngineError::semantic(Diagnostic::new(
                "`pivot` needs the column whose values become columns, as in pivot(EventID)",
                call.span,
            )));
        };
        let pivot = self.plan_expr(&pivot_arg.value, &input)?;
        let text = f::to_string(pivot);
        let aggregate = match call.args.get(1) {
            Some(arg) => conditional_aggregate(&arg.value)?,
            None => ("countif".to_string(), Vec::new()),
        };
        let groups: Vec<ast::NamedExpr> = call
            .args
            .iter()
            .skip(2)
            .map(|arg| named(arg.value.clone(), None))
            .collect();

        let values_plan = LogicalPlanBuilder::from(input.plan.clone())
            .project(vec![text.alias("value")])
            .and_then(|b| b.distinct())
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        let values = match self.discovered(
            span,
            &input,
            "pivot",
            values_plan,
            RequestKind::DistinctValues,
        ) {
            Some(Discovered::Values(values)) => values,
            _ => Vec::new(),
        };

        let key_text = call_expr(
            "tostring",
            vec![pivot_arg.value.clone()],
            pivot_arg.value.span,
        );
        let (function, value_args) = aggregate;
        let aggregates = values
            .iter()
            .map(|value| {
                let condition = ast::Expr {
                    kind: ExprKind::Binary {
                        op: BinaryOp::Equal,
                        left: Box::new(key_text.clone()),
                        right: Box::new(ast::Expr {
                            kind: ExprKind::Literal(Literal::String(value.clone())),
                            span,
                        }),
                    },
                    span,
                };
                let mut args = value_args.clone();
                args.push(condition);
                named(call_expr(&function, args, span), Some(value))
            })
            .collect();
        if groups.is_empty() && values.is_empty() {
            // Without groups and values, there is no column to return.
            return Ok(Relation {
                plan: LogicalPlanBuilder::empty(false)
                    .build()
                    .map_err(EngineError::plan)?,
                columns: Vec::new(),
            });
        }
        let summarize = ast::Summarize {
            aggregates,
            by: groups,
        };
        self.plan_summarize(input, &summarize)
    }

    /// Returns what earlier rounds found for the operator at `span` over
    /// `input`, or records a request to run `plan` and returns `None`.
    fn discovered(
        &mut self,
        span: Span,
        input: &Relation,
        operator: &'static str,
        plan: datafusion::logical_expr::LogicalPlan,
        kind: RequestKind,
    ) -> Option<Discovered> {
        let key = operator_key(span, &input.plan);
        if let Some(found) = self.discoveries.get(&key) {
            return Some(found.clone());
        }
        self.requests.push(ColumnRequest {
            key,
            operator,
            plan,
            kind,
        });
        None
    }
}

/// Turns `pivot`'s aggregation into the name of its conditional form and
/// its value arguments: `any(Value)` becomes `take_anyif` with `Value`.
fn conditional_aggregate(expr: &ast::Expr) -> Result<(String, Vec<ast::Expr>), EngineError> {
    let ExprKind::Call(call) = &expr.kind else {
        return Err(pivot_aggregate_error(expr.span));
    };
    let name = call.name.name.to_ascii_lowercase();
    let Some((_, conditional)) = PIVOT_AGGREGATES.iter().find(|(n, _)| *n == name) else {
        return Err(pivot_aggregate_error(call.name.span));
    };
    let args = call
        .args
        .iter()
        .filter(|a| !matches!(a.value.kind, ExprKind::Star))
        .map(|a| a.value.clone())
        .collect();
    Ok((conditional.to_string(), args))
}

fn pivot_aggregate_error(span: Span) -> EngineError {
    let names: Vec<&str> = PIVOT_AGGREGATES.iter().map(|(n, _)| *n).collect();
    EngineError::not_supported(
        Diagnostic::new("this aggregation is not supported by `pivot`", span)
            .with_help(format!("use one of {}", names.join(", "))),
    )
}

fn string_argument(expr: &ast::Expr, what: &str) -> Result<String, EngineError> {
    constant_string(expr).ok_or_else(|| {
        EngineError::semantic(Diagnostic::new(
            format!("{what} must be a string literal"),
            expr.span,
        ))
    })
}

/// Reads `dynamic(['a', 'b'])` or a single string literal as a set of names.
fn string_list(expr: &ast::Expr) -> Result<HashSet<String>, EngineError> {
    if let Some(text) = constant_string(expr) {
        return Ok(HashSet::from([text]));
    }
    let error = || {
        EngineError::semantic(Diagnostic::new(
            "ignoredProperties must be a list of names, as in dynamic(['Address', 'Age'])",
            expr.span,
        ))
    };
    let ExprKind::Literal(Literal::Dynamic(json)) = &expr.kind else {
        return Err(error());
    };
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str(json) else {
        return Err(error());
    };
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(error()),
        })
        .collect()
}
