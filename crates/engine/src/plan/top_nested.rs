//! `top-nested`: aggregation in levels, keeping the top values of each.
//!
//! The first level groups the input rows by its `of` value and aggregates
//! each group with its `by` aggregation. It keeps the `N` groups with the
//! largest aggregate, the smallest with `asc`, or all groups without `N`.
//! Each further level does the same within every group the level above
//! kept, over the rows of that group only. The result has two columns per
//! level, the value and its aggregate, and one row per path through the
//! kept values.
//!
//! `with others = V` adds, under each kept parent that had groups left
//! out, one row whose value is `V` and whose aggregate covers the rows of
//! those groups. Deeper levels have no value in that row: null, or an
//! empty string for string columns.
//!
//! Each level is a `summarize` over the rows that reached it, a
//! `row_number` window per parent to rank the groups, and a join that
//! passes the rows of the kept groups to the next level. Join keys match
//! null to null, so a null value is a group like any other.

use datafusion::common::NullEquality;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{Expr, ExprFunctionExt, JoinType, LogicalPlanBuilder, lit};
use kql::ast::{self, Summarize, TopNestedLevel};
use kql::{Diagnostic, KqlType, Span};
use std::collections::HashSet;

use super::expr::coerce_to;
use super::serialize::with_windows;
use super::summarize::{default_key_name, unique_name};
use super::syntax::{name_expr, named};
use super::{Column, Planner, Relation, column_expr, column_exprs, empty_value, project};
use crate::error::EngineError;

/// Returns the hidden column that contains the `of` value of `level`.
fn value_column(level: usize) -> String {
    format!("__top_nested_value_{level}")
}

/// Returns the hidden column that contains the aggregate of `level`.
fn aggregate_column(level: usize) -> String {
    format!("__top_nested_aggregate_{level}")
}

/// A level's settings after planning its count and its output names.
struct Level<'a> {
    clause: &'a TopNestedLevel,
    count: Option<usize>,
    value_name: String,
    aggregate_name: String,
}

impl Planner<'_> {
    /// Plans `top-nested` over `input`.
    pub(crate) fn plan_top_nested(
        &mut self,
        input: Relation,
        clauses: &[TopNestedLevel],
    ) -> Result<Relation, EngineError> {
        let mut used = HashSet::new();
        let mut levels = Vec::with_capacity(clauses.len());
        for (position, clause) in clauses.iter().enumerate() {
            let count = match &clause.count {
                Some(count) => Some(self.constant_count(count, &input)?),
                None => None,
            };
            let value_name = match clause.of.names.first() {
                Some(name) => name.name.clone(),
                None => default_key_name(&clause.of.expr, position),
            };
            let value_name = unique_name(&value_name, &mut used);
            let aggregate_name = match clause.by.names.first() {
                Some(name) => name.name.clone(),
                None => format!("aggregated_{value_name}"),
            };
            let aggregate_name = unique_name(&aggregate_name, &mut used);
            levels.push(Level {
                clause,
                count,
                value_name,
                aggregate_name,
            });
        }

        // The input with every level's value in a hidden column.
        let mut exprs = column_exprs(&input.columns);
        let mut columns = input.columns.clone();
        for (position, level) in levels.iter().enumerate() {
            let typed = self.plan_expr(&level.clause.of.expr, &input)?;
            exprs.push(typed.expr.alias(value_column(position)));
            columns.push(Column {
                name: value_column(position),
                ty: typed.ty,
            });
        }
        let mut current = project(input.plan.clone(), exprs, columns)?;

        let mut others: Vec<Relation> = Vec::new();
        let mut kept = None;
        for (position, level) in levels.iter().enumerate() {
            let span = level.clause.span;
            let parents: Vec<String> = (0..position).map(value_column).collect();
            let groups = self.plan_summarize(
                current.clone(),
                &level_summarize(position, position + 1, &level.clause.by.expr, span),
            )?;
            let ranked = keep_top(groups, &parents, position, level)?;

            if let Some(value) = &level.clause.others {
                let left_out =
                    join_on_values(current.clone(), &ranked, position, JoinType::LeftAnti)?;
                let summed = self.plan_summarize(
                    left_out,
                    &level_summarize(position, position, &level.clause.by.expr, span),
                )?;
                let value_type = current
                    .column(&value_column(position))
                    .map(|c| c.ty)
                    .unwrap_or(KqlType::String);
                let typed = self.plan_expr(value, &input)?;
                if typed.ty != value_type && !(typed.ty.is_numeric() && value_type.is_numeric()) {
                    return Err(EngineError::semantic(Diagnostic::new(
                        format!(
                            "the `with others` value is of type {} but the `of` values of this level are of type {}; give a value of type {}",
                            typed.ty, value_type, value_type
                        ),
                        value.span,
                    )));
                }
                let mut exprs = column_exprs(&summed.columns);
                let mut columns = summed.columns.clone();
                exprs.push(coerce_to(typed, value_type).alias(value_column(position)));
                columns.push(Column {
                    name: value_column(position),
                    ty: value_type,
                });
                others.push(project(summed.plan, exprs, columns)?);
            }

            if position + 1 == levels.len() {
                kept = Some(ranked);
            } else {
                current = join_on_values(current, &ranked, position, JoinType::Inner)?;
            }
        }

        let kept = kept.expect("top-nested has at least one level");
        let output = |relation: Relation| output_columns(relation, &kept, &levels);
        let mut result = output(kept.clone())?;
        for relation in others {
            let relation = output(relation)?;
            let plan = LogicalPlanBuilder::from(result.plan)
                .union(relation.plan)
                .and_then(LogicalPlanBuilder::build)
                .map_err(EngineError::plan)?;
            result = Relation {
                plan,
                columns: result.columns,
            };
        }
        Ok(result)
    }
}

/// Builds the `summarize` of a level: the aggregation, grouped by the
/// values and aggregates of the levels above and the values of the levels
/// before `values_end`.
fn level_summarize(
    level: usize,
    values_end: usize,
    aggregation: &ast::Expr,
    span: Span,
) -> Summarize {
    let mut by = Vec::new();
    for above in 0..values_end {
        by.push(named(name_expr(&value_column(above), span), None));
        if above < level {
            by.push(named(name_expr(&aggregate_column(above), span), None));
        }
    }
    if by.is_empty() {
        // A constant key: without keys, `summarize` gives a row even when
        // no row was left out.
        let constant = ast::Expr {
            kind: ast::ExprKind::Literal(ast::Literal::Bool(true)),
            span,
        };
        by.push(named(constant, Some("__top_nested_all")));
    }
    Summarize {
        aggregates: vec![named(aggregation.clone(), Some(&aggregate_column(level)))],
        by,
    }
}

/// Keeps the groups of `groups` whose aggregate ranks within the level's
/// count under their parent values.
fn keep_top(
    groups: Relation,
    parents: &[String],
    position: usize,
    level: &Level<'_>,
) -> Result<Relation, EngineError> {
    let Some(count) = level.count else {
        return Ok(groups);
    };
    let ascending = level.clause.ascending;
    let mut rank = row_number().order_by(vec![
        column_expr(&aggregate_column(position)).sort(ascending, false),
    ]);
    if !parents.is_empty() {
        rank = rank.partition_by(parents.iter().map(|name| column_expr(name)).collect());
    }
    let rank = rank.build().map_err(EngineError::plan)?;
    let (plan, mut exprs) = with_windows(groups.plan, vec![rank])?;
    let plan = LogicalPlanBuilder::from(plan)
        .filter(exprs.remove(0).lt_eq(lit(count as u64)))
        .and_then(LogicalPlanBuilder::build)
        .map_err(EngineError::plan)?;
    project(plan, column_exprs(&groups.columns), groups.columns)
}

/// Joins the rows of `rows` with the groups of `kept` on the values of
/// levels `0..=position`. An inner join adds the level's aggregate to each
/// row; a left anti join keeps the rows of the groups not kept.
fn join_on_values(
    rows: Relation,
    kept: &Relation,
    position: usize,
    join_type: JoinType,
) -> Result<Relation, EngineError> {
    let keys: Vec<String> = (0..=position).map(value_column).collect();
    let right_key = |name: &str| format!("{name}_kept");
    let mut right_exprs: Vec<Expr> = keys
        .iter()
        .map(|name| column_expr(name).alias(right_key(name)))
        .collect();
    let aggregate = aggregate_column(position);
    right_exprs.push(column_expr(&aggregate).alias(&aggregate));
    let right = super::project_unqualified(kept.plan.clone(), right_exprs)
        .and_then(LogicalPlanBuilder::build)
        .map_err(EngineError::plan)?;
    let right_keys: Vec<String> = keys.iter().map(|name| right_key(name)).collect();
    let plan = LogicalPlanBuilder::from(rows.plan)
        .join_detailed(
            right,
            join_type,
            (keys.clone(), right_keys),
            None,
            NullEquality::NullEqualsNull,
        )
        .and_then(LogicalPlanBuilder::build)
        .map_err(EngineError::plan)?;
    let mut columns = rows.columns;
    if join_type == JoinType::Inner {
        let ty = kept
            .column(&aggregate)
            .map(|c| c.ty)
            .unwrap_or(KqlType::Dynamic);
        columns.push(Column {
            name: aggregate,
            ty,
        });
    }
    project(plan, column_exprs(&columns), columns)
}

/// Projects a relation of hidden level columns to the output columns, with
/// an empty value for the levels it does not have. `full` has every level
/// and gives the types.
fn output_columns(
    relation: Relation,
    full: &Relation,
    levels: &[Level<'_>],
) -> Result<Relation, EngineError> {
    let mut exprs = Vec::new();
    let mut columns = Vec::new();
    for (position, level) in levels.iter().enumerate() {
        for (hidden, name) in [
            (value_column(position), &level.value_name),
            (aggregate_column(position), &level.aggregate_name),
        ] {
            let ty = full
                .column(&hidden)
                .map(|c| c.ty)
                .unwrap_or(KqlType::Dynamic);
            let expr = if relation.column(&hidden).is_some() {
                column_expr(&hidden)
            } else {
                empty_value(ty)?
            };
            exprs.push(expr.alias(name));
            columns.push(Column {
                name: name.clone(),
                ty,
            });
        }
    }
    project(relation.plan, exprs, columns)
}
