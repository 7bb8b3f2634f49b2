//! `percentile`, `percentiles`, `percentiles_array` and their weighted
//! forms in `summarize`.

use std::collections::HashSet;

use arrow::datatypes::DataType;
use datafusion::functions::core::expr_fn::named_struct;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{cast, lit};
use kql::{Diagnostic, KqlType, ast};

use super::summarize::{PlannedAggregate, plain_name, unique_name};
use super::tabular::simplify;
use super::{Column, Planner, Relation, Typed, physical_type};
use crate::error::EngineError;
use crate::functions::percentile;

impl Planner<'_> {
    /// Plans `percentile(x, p)`, `percentiles(x, p1, p2, ...)`,
    /// `percentiles_array(x, p1, ...)` or `percentiles_array(x,
    /// dynamic([...]))`, and the weighted `...w` forms whose second argument
    /// is the weight. One column per percentile is named
    /// `percentile_x_99_9`, and the `_array` forms give one dynamic column
    /// `percentile_x`.
    pub(crate) fn plan_percentiles(
        &mut self,
        call: &ast::Call,
        args: &[&ast::Expr],
        named: &ast::NamedExpr,
        input: &Relation,
        used_names: &mut HashSet<String>,
    ) -> Result<PlannedAggregate, EngineError> {
        let name = call.name.name.as_str();
        let weighted = name.starts_with("percentilew") || name.starts_with("percentilesw");
        let as_array = name.ends_with("_array");
        let first_percent = if weighted { 2 } else { 1 };

        let value = self.arg(call, args, 0, input)?;
        let mut percents = Vec::new();
        for arg in args.iter().skip(first_percent) {
            let typed = self.plan_expr(arg, input)?;
            percents.extend(constant_numbers(typed, arg.span)?);
        }
        if percents.is_empty() {
            return Err(EngineError::semantic(Diagnostic::new(
                format!("`{name}` needs at least one percentile, such as {name}(x, 50)"),
                call.span,
            )));
        }

        let list = if weighted {
            let weight = self.arg(call, args, 1, input)?;
            agg::array_agg(named_struct(vec![
                lit("value"),
                value.expr.clone(),
                lit("weight"),
                cast(weight.expr, DataType::Int64),
            ]))
        } else {
            agg::array_agg(value.expr.clone())
        };
        let column_base = format!("percentile_{}", plain_name(args[0]).unwrap_or_default());

        if as_array {
            let out = named
                .names
                .first()
                .map(|n| n.name.clone())
                .unwrap_or_else(|| column_base.clone());
            let out = unique_name(&out, used_names);
            let expr = percentile::percentiles_array_of_list(list, percents, weighted, value.ty);
            return Ok(PlannedAggregate {
                exprs: vec![(
                    expr.alias(&out),
                    Column {
                        name: out,
                        ty: KqlType::Dynamic,
                    },
                )],
            });
        }

        let mut exprs = Vec::with_capacity(percents.len());
        for (position, percent) in percents.into_iter().enumerate() {
            let out = named
                .names
                .get(position)
                .map(|n| n.name.clone())
                .unwrap_or_else(|| format!("{column_base}_{}", percent_label(percent)));
            let out = unique_name(&out, used_names);
            let expr = percentile::percentile_of_list(
                list.clone(),
                percent,
                weighted,
                physical_type(value.ty),
            );
            exprs.push((
                expr.alias(&out),
                Column {
                    name: out,
                    ty: value.ty,
                },
            ));
        }
        Ok(PlannedAggregate { exprs })
    }
}

/// Reads a constant percentile argument: a number, or a dynamic array of
/// numbers.
fn constant_numbers(typed: Typed, span: kql::Span) -> Result<Vec<f64>, EngineError> {
    let invalid = || {
        EngineError::semantic(Diagnostic::new(
            "a percentile must be a constant number such as 95, or a dynamic array of them",
            span,
        ))
    };
    let simplified = simplify(typed.expr)?;
    let datafusion::logical_expr::Expr::Literal(value, _) = simplified else {
        return Err(invalid());
    };
    if typed.ty == KqlType::Dynamic {
        let text = value.to_string();
        let parsed: serde_json::Value = serde_json::from_str(&text).map_err(|_| invalid())?;
        return match parsed {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|item| item.as_f64().ok_or_else(invalid))
                .collect(),
            other => other.as_f64().map(|n| vec![n]).ok_or_else(invalid),
        };
    }
    let number = value.cast_to(&DataType::Float64).map_err(|_| invalid())?;
    match number {
        datafusion::common::ScalarValue::Float64(Some(n)) => Ok(vec![n]),
        _ => Err(invalid()),
    }
}

/// Formats a percentile for a column name: `50`, `99_9`.
fn percent_label(percent: f64) -> String {
    crate::value::format_real(percent).replace('.', "_")
}
