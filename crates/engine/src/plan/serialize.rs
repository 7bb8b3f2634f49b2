//! `serialize` and the functions that need a serialized row order:
//! `prev`, `next`, `row_number`, `row_cumsum`, `row_rank_dense`,
//! `row_rank_min` and `row_window_session`.
//!
//! Each call becomes a DataFusion window function ordered by the keys of
//! the nearest `sort` below it in the plan, so rows keep the order that
//! `sort` gave them. Without such a `sort` the order is the order rows
//! arrive in. [`with_windows`] moves the window functions of a projection
//! into a `Window` node below it, as DataFusion requires.

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::functions_window::expr_fn::{lag, lead, row_number};
use datafusion::logical_expr::utils::find_window_exprs;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, SortExpr, WindowFrame,
};
use kql::ast;
use kql::{Diagnostic, KqlType};

use super::{Planner, Relation, Typed, column_expr};
use crate::error::EngineError;
use crate::functions::rows::{RowScanKind, row_scan};
use arrow::datatypes::DataType;

/// Returns the sort keys of the nearest `sort` below `plan`, looking
/// through nodes that keep row order, when every key's columns still exist
/// in `plan`'s output.
pub(super) fn serial_order(plan: &LogicalPlan) -> Vec<SortExpr> {
    let mut node = plan;
    loop {
        match node {
            LogicalPlan::Sort(sort) => {
                let columns_exist = sort.expr.iter().all(|key| {
                    key.expr
                        .column_refs()
                        .iter()
                        .all(|column| plan.schema().has_column_with_unqualified_name(&column.name))
                });
                return if columns_exist {
                    sort.expr.clone()
                } else {
                    Vec::new()
                };
            }
            LogicalPlan::Projection(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Limit(_) => match node.inputs().first() {
                Some(input) => node = input,
                None => return Vec::new(),
            },
            _ => return Vec::new(),
        }
    }
}

impl Planner<'_> {
    /// Plans `prev(column [, offset [, default]])`,
    /// `next(column [, offset [, default]])` and `row_number([start])`.
    pub(crate) fn plan_serial_call(
        &mut self,
        call: &ast::Call,
        input: &Relation,
    ) -> Result<Typed, EngineError> {
        let name = call.name.name.as_str();
        let order = serial_order(&input.plan);
        let args: Vec<&ast::Expr> = call.args.iter().map(|a| &a.value).collect();

        if name == "row_number" {
            let start = match args.first() {
                Some(arg) => self.constant_long(arg, input, "the start of `row_number`")?,
                None => 1,
            };
            let numbered = row_number()
                .order_by(order)
                .build()
                .map_err(EngineError::plan)?;
            let expr = datafusion::logical_expr::cast(numbered, arrow::datatypes::DataType::Int64)
                + datafusion::logical_expr::lit(start - 1);
            return Ok(Typed::new(expr, KqlType::Long));
        }

        let scan = match name {
            "row_cumsum" => Some((RowScanKind::CumulativeSum, 1, 2)),
            "row_rank_dense" => Some((RowScanKind::DenseRank, 1, 2)),
            "row_rank_min" => Some((RowScanKind::MinRank, 1, 2)),
            "row_window_session" => Some((RowScanKind::WindowSession, 3, 4)),
            _ => None,
        };
        if let Some((kind, min, max)) = scan {
            self.arity(call, min, max)?;
            let mut planned = Vec::with_capacity(args.len());
            for arg in &args {
                planned.push(self.plan_expr(arg, input)?);
            }
            let (return_type, ty) = match kind {
                RowScanKind::CumulativeSum => match planned[0].ty {
                    KqlType::Int | KqlType::Long => (DataType::Int64, KqlType::Long),
                    KqlType::Real | KqlType::Decimal => (DataType::Float64, KqlType::Real),
                    other => {
                        return Err(EngineError::semantic(Diagnostic::new(
                            format!("`row_cumsum` sums numbers, not {other}"),
                            args[0].span,
                        )));
                    }
                },
                RowScanKind::WindowSession => (DataType::Int64, planned[0].ty),
                _ => (DataType::Int64, KqlType::Long),
            };
            let exprs = planned.into_iter().map(|arg| arg.expr).collect();
            // Without an order, DataFusion needs a frame that does not
            // depend on one; the scan reads the whole input either way.
            let frame = WindowFrame::new(if order.is_empty() { None } else { Some(false) });
            let expr = row_scan(kind, return_type, exprs)
                .order_by(order)
                .window_frame(frame)
                .build()
                .map_err(EngineError::plan)?;
            return Ok(Typed::new(expr, ty));
        }

        let Some(first) = args.first() else {
            return Err(EngineError::semantic(Diagnostic::new(
                format!("`{name}` needs a column, as in {name}(TimeGenerated)"),
                call.span,
            )));
        };
        let value = self.plan_expr(first, input)?;
        let offset = match args.get(1) {
            Some(arg) => self.constant_long(arg, input, "the offset")?,
            None => 1,
        };
        let default = match args.get(2) {
            Some(arg) => Some(self.constant_scalar(arg, input, value.ty)?),
            None => None,
        };
        let shifted = if name == "prev" {
            lag(value.expr, Some(offset), default)
        } else {
            lead(value.expr, Some(offset), default)
        };
        let expr = shifted.order_by(order).build().map_err(EngineError::plan)?;
        Ok(Typed::new(expr, value.ty))
    }

    pub(super) fn constant_long(
        &mut self,
        arg: &ast::Expr,
        input: &Relation,
        description: &str,
    ) -> Result<i64, EngineError> {
        let typed = self.plan_expr(arg, input)?;
        match super::tabular::simplify(typed.expr)? {
            Expr::Literal(ScalarValue::Int64(Some(n)), _) => Ok(n),
            Expr::Literal(ScalarValue::Int32(Some(n)), _) => Ok(i64::from(n)),
            _ => Err(EngineError::semantic(Diagnostic::new(
                format!("{description} must be a constant integer"),
                arg.span,
            ))),
        }
    }

    fn constant_scalar(
        &mut self,
        arg: &ast::Expr,
        input: &Relation,
        ty: KqlType,
    ) -> Result<ScalarValue, EngineError> {
        let typed = self.plan_expr(arg, input)?;
        let expr = super::expr::coerce_to(typed, ty);
        let expr = datafusion::logical_expr::cast(expr, super::physical_type(ty));
        match super::tabular::simplify(expr)? {
            Expr::Literal(value, _) => Ok(value),
            _ => Err(EngineError::semantic(Diagnostic::new(
                "the default value must be a constant",
                arg.span,
            ))),
        }
    }
}

/// Returns the window function calls in `exprs` whose arguments hold no
/// other window function call.
fn innermost_windows(exprs: &[Expr]) -> Vec<Expr> {
    let mut found: Vec<Expr> = Vec::new();
    for expr in exprs {
        let _ = expr.apply(|node| {
            if matches!(node, Expr::WindowFunction(_)) {
                let mut nested = false;
                let _ = node.apply_children(|child| {
                    nested |= !find_window_exprs(std::slice::from_ref(child)).is_empty();
                    Ok(TreeNodeRecursion::Continue)
                });
                if !nested && !found.contains(node) {
                    found.push(node.clone());
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
    }
    found
}

/// Builds `plan` with `Window` nodes for the window functions in `exprs`,
/// and returns the expressions rewritten to read the window results. A
/// window function whose arguments use another one (`row_cumsum(x, a !=
/// prev(a))`) gets a `Window` node above the one its arguments need.
pub(crate) fn with_windows(
    mut plan: LogicalPlan,
    mut exprs: Vec<Expr>,
) -> Result<(LogicalPlan, Vec<Expr>), EngineError> {
    loop {
        let windows = innermost_windows(&exprs);
        if windows.is_empty() {
            return Ok((plan, exprs));
        }
        (plan, exprs) = with_window_layer(plan, exprs, windows)?;
    }
}

/// Adds one `Window` node computing `windows` and rewrites `exprs` to read
/// their results.
fn with_window_layer(
    plan: LogicalPlan,
    exprs: Vec<Expr>,
    windows: Vec<Expr>,
) -> Result<(LogicalPlan, Vec<Expr>), EngineError> {
    let plan = LogicalPlanBuilder::window_plan(plan, windows.clone()).map_err(EngineError::plan)?;
    // A projection of every column between two window layers: DataFusion's
    // common subexpression pass merges adjacent `Window` nodes and then
    // loses the columns one computes for the other.
    let columns: Vec<Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let plan = LogicalPlanBuilder::from(plan)
        .project(columns)
        .and_then(LogicalPlanBuilder::build)
        .map_err(EngineError::plan)?;
    let rewritten = exprs
        .into_iter()
        .map(|expr| {
            expr.transform(|node| {
                if windows.contains(&node) {
                    let name = node.schema_name().to_string();
                    Ok(Transformed::yes(column_expr(&name)))
                } else {
                    Ok(Transformed::no(node))
                }
            })
            .map(|transformed| transformed.data)
            .map_err(EngineError::plan)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((plan, rewritten))
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::lit;

    use super::*;

    fn sorted_values() -> LogicalPlan {
        LogicalPlanBuilder::values(vec![vec![lit(2i64)], vec![lit(1i64)]])
            .and_then(|b| b.sort(vec![column_expr("column1").sort(true, false)]))
            .and_then(|b| b.build())
            .unwrap()
    }

    #[test]
    fn serial_order_finds_sort_keys() {
        let plan = sorted_values();
        let filtered = LogicalPlanBuilder::from(plan)
            .filter(column_expr("column1").gt(lit(0i64)))
            .and_then(|b| b.build())
            .unwrap();
        assert_eq!(serial_order(&filtered).len(), 1);
    }

    #[test]
    fn serial_order_empty_without_sort() {
        let plan = LogicalPlanBuilder::values(vec![vec![lit(1i64)]])
            .and_then(|b| b.build())
            .unwrap();
        assert!(serial_order(&plan).is_empty());
    }

    #[test]
    fn with_windows_adds_window_node() {
        let shifted = lag(column_expr("column1"), Some(1), None)
            .order_by(serial_order(&sorted_values()))
            .build()
            .unwrap();
        let (plan, exprs) = with_windows(sorted_values(), vec![shifted.alias("p")]).unwrap();
        assert!(matches!(plan.inputs()[0], LogicalPlan::Window(_)));
        assert!(find_window_exprs(&exprs).is_empty());
    }
}
