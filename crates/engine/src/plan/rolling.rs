//! `evaluate rolling_percentile(Value, Percentile, Index, BinSize,
//! BinsToLookback [, Dimension, ...])`: for each bin of the index column
//! (and each combination of the dimensions), the percentile of the values
//! in that bin and the `BinsToLookback - 1` bins before it.
//!
//! Every row is copied to the bins whose window it falls in (a cross join
//! with the offsets 0 to `BinsToLookback - 1`), then grouped by the
//! target bin. Only bins that hold rows of their own are kept.

use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, lit, when};
use kql::{Diagnostic, KqlType, ast};

use super::{Column, Planner, Relation, Typed, column_expr, physical_type, project};
use crate::error::EngineError;
use crate::functions::percentile;

const BIN: &str = "__rolling_bin";
const OFFSET: &str = "__rolling_offset";
const OWN: &str = "__rolling_own";

impl Planner<'_> {
    pub(crate) fn plan_rolling_percentile(
        &mut self,
        input: Relation,
        call: &ast::Call,
    ) -> Result<Relation, EngineError> {
        self.arity(call, 5, usize::MAX)?;
        let arg = |index: usize| &call.args[index].value;
        let column_arg = |index: usize| -> Result<&Column, EngineError> {
            let ast::ExprKind::Name(name) = &arg(index).kind else {
                return Err(EngineError::semantic(Diagnostic::new(
                    "`rolling_percentile` expects a column name here, such as Timestamp",
                    arg(index).span,
                )));
            };
            input.column(&name.name).ok_or_else(|| {
                EngineError::semantic(Diagnostic::new(
                    format!("unknown column `{}`", name.name),
                    name.span,
                ))
            })
        };
        let value = column_arg(0)?.clone();
        let index = column_arg(2)?.clone();
        let mut dimensions = Vec::new();
        for position in 5..call.args.len() {
            dimensions.push(column_arg(position)?.clone());
        }
        let percent = self.constant_long(arg(1), &input, "the percentile")?;
        let lookback = self.constant_long(arg(4), &input, "the number of bins to look back")?;
        if !(1..=1024).contains(&lookback) {
            return Err(EngineError::semantic(Diagnostic::new(
                format!("`rolling_percentile` looks back 1 to 1024 bins, not {lookback}"),
                arg(4).span,
            )));
        }
        let size = self.plan_expr(arg(3), &input)?;
        let index_typed = Typed::new(column_expr(&index.name), index.ty);
        let binned = super::functions::bin(index_typed, size.clone(), arg(3).span)?;
        let step_type = physical_type(binned.ty);

        // Each row with its bin, copied once per offset.
        let mut exprs: Vec<Expr> = input
            .columns
            .iter()
            .map(|c| column_expr(&c.name).alias(&c.name))
            .collect();
        exprs.push(binned.expr.alias(BIN));
        let offsets =
            LogicalPlanBuilder::values((0..lookback).map(|k| vec![lit(k)]).collect::<Vec<_>>())
                .and_then(|b| b.project(vec![column_expr("column1").alias(OFFSET)]))
                .and_then(LogicalPlanBuilder::build)
                .map_err(EngineError::plan)?;
        let expanded = LogicalPlanBuilder::from(input.plan)
            .project(exprs)
            .and_then(|b| b.cross_join(offsets))
            .and_then(LogicalPlanBuilder::build)
            .map_err(EngineError::plan)?;

        let target = cast(column_expr(BIN), step_type.clone())
            + cast(column_expr(OFFSET), step_type.clone()) * cast(size.expr, step_type);
        let own = when(column_expr(OFFSET).eq(lit(0i64)), lit(1i64))
            .otherwise(lit(0i64))
            .map_err(EngineError::plan)?;
        let mut groups = vec![target.alias(&index.name)];
        groups.extend(
            dimensions
                .iter()
                .map(|d| column_expr(&d.name).alias(&d.name)),
        );
        let output = format!("rolling_{lookback}_percentile_{}_{percent}", value.name);
        let list = agg::array_agg(column_expr(&value.name));
        let result =
            percentile::percentile_of_list(list, percent as f64, false, physical_type(value.ty));
        let plan = LogicalPlanBuilder::from(expanded)
            .aggregate(
                groups,
                vec![result.alias(&output), agg::max(own).alias(OWN)],
            )
            .and_then(|b| b.filter(column_expr(OWN).gt(lit(0i64))))
            .and_then(LogicalPlanBuilder::build)
            .map_err(EngineError::plan)?;

        let mut columns = vec![Column {
            name: index.name.clone(),
            ty: binned.ty,
        }];
        columns.extend(dimensions);
        columns.push(Column {
            name: output,
            ty: if matches!(value.ty, KqlType::Int) {
                KqlType::Int
            } else {
                value.ty
            },
        });
        let exprs = columns
            .iter()
            .map(|c| column_expr(&c.name).alias(&c.name))
            .collect();
        project(plan, exprs, columns)
    }
}
