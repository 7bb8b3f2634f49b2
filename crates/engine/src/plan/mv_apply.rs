//! `mv-apply`: a subquery applied to each input row's expanded arrays.
//!
//! Kusto expands each row into a subtable (as `mv-expand` does), runs the
//! subquery on every subtable, and appends the row's other columns to the
//! subquery's rows. homesoc plans this as one pipeline instead of one
//! subquery per row:
//!
//! 1. Each input row gets a number in a hidden key column.
//! 2. `mv-expand` turns the rows into the subtables' rows, which keep the
//!    key and every column that was not expanded (the carried columns).
//! 3. The subquery's operators run with the key as an implicit partition:
//!    `summarize`, `count` and `distinct` group by it, `take` and `top`
//!    keep their rows per key, `sort` orders within it, and projections
//!    keep the key and the carried columns.
//!
//! The output has the carried columns first, in input order, then the
//! subquery's own columns. Operators that combine rows from outside the
//! subtable (`join`, `union`, `lookup`) are refused inside the subquery.

use std::collections::HashSet;

use arrow::datatypes::DataType;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{ExprFunctionExt, LogicalPlanBuilder, cast, lit};
use kql::ast::{self, ExprKind, OperatorKind};
use kql::{Diagnostic, KqlType, Span};

use super::mv_expand::expanded_name;
use super::serialize::with_windows;
use super::syntax::{call_expr, name_expr, named};
use super::{Column, Planner, Relation, column_expr, project, select};
use crate::error::EngineError;

/// The hidden column that numbers the input rows.
const ROW_KEY: &str = "__hs_mv_apply_row";

/// The columns that the subquery's operators must keep: the row key and
/// the carried columns.
struct Partition {
    key: String,
    carried: Vec<String>,
}

impl Partition {
    fn kept(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.key).chain(&self.carried)
    }
}

impl Planner<'_> {
    pub(crate) fn plan_mv_apply(
        &mut self,
        input: Relation,
        spec: &ast::MvApply,
        span: Span,
    ) -> Result<Relation, EngineError> {
        // A nested mv-apply numbers its rows in a column of its own.
        let mut key = ROW_KEY.to_string();
        while input.column(&key).is_some() {
            key.push('_');
        }

        // Step 1: number the rows.
        let numbered = row_number();
        let (plan, mut exprs) = with_windows(
            input.plan,
            vec![cast(numbered, DataType::Int64).alias(&key)],
        )?;
        let mut all: Vec<_> = input
            .columns
            .iter()
            .map(|c| column_expr(&c.name).alias(&c.name))
            .collect();
        all.push(exprs.remove(0));
        let mut columns = input.columns.clone();
        columns.push(Column {
            name: key.clone(),
            ty: KqlType::Long,
        });
        let numbered = project(plan, all, columns)?;

        // Step 2: the subtables' rows.
        let expanded: HashSet<String> = spec
            .expand
            .columns
            .iter()
            .enumerate()
            .map(|(position, item)| expanded_name(&item.expr, position))
            .chain(spec.expand.with_item_index.iter().map(|i| i.name.clone()))
            .collect();
        let carried: Vec<String> = input
            .columns
            .iter()
            .map(|c| c.name.clone())
            .filter(|name| !expanded.contains(name))
            .collect();
        let partition = Partition { key, carried };
        let mut relation = self.plan_mv_expand(numbered, &spec.expand)?;

        // Step 3: the subquery, per key.
        for operator in &spec.subquery {
            relation = self.plan_partitioned(relation, operator, &partition)?;
            for name in partition.kept() {
                if relation.column(name).is_none() {
                    return Err(EngineError::not_supported(Diagnostic::new(
                        format!(
                            "inside `mv-apply`, this operator must keep the column `{name}` of the input row"
                        ),
                        operator.span,
                    )));
                }
            }
        }

        // The carried columns first, then the subquery's own columns.
        let mut out: Vec<Column> = Vec::new();
        for name in &partition.carried {
            if let Some(column) = relation.column(name) {
                out.push(column.clone());
            }
        }
        for column in &relation.columns {
            if column.name != partition.key && !partition.carried.contains(&column.name) {
                out.push(column.clone());
            }
        }
        if out.is_empty() {
            return Err(EngineError::semantic(Diagnostic::new(
                "the `mv-apply` subquery returns no columns",
                span,
            )));
        }
        select(relation, out)
    }

    /// Plans one subquery operator so that it works within each key.
    fn plan_partitioned(
        &mut self,
        input: Relation,
        operator: &ast::Operator,
        partition: &Partition,
    ) -> Result<Relation, EngineError> {
        let key_expr = || name_expr(&partition.key, operator.span);
        match &operator.kind {
            OperatorKind::Where(_)
            | OperatorKind::Extend(_)
            | OperatorKind::MvExpand(_)
            | OperatorKind::MvApply(_)
            | OperatorKind::Parse(_)
            | OperatorKind::ParseWhere(_)
            | OperatorKind::ParseKv(_)
            | OperatorKind::ProjectRename(_)
            | OperatorKind::ProjectReorder(_)
            | OperatorKind::Render(_)
            | OperatorKind::As(_) => self.plan_operator(input, operator),
            OperatorKind::Project(items) => {
                let probe = self.project_named(input.clone(), items, "Column", true)?;
                let mut items = items.clone();
                for name in partition.kept() {
                    if probe.column(name).is_none() {
                        items.push(named(name_expr(name, operator.span), None));
                    }
                }
                self.project_named(input, &items, "Column", true)
            }
            OperatorKind::ProjectAway(names) | OperatorKind::ProjectKeep(names) => {
                let matched = self.match_names(&input, names)?;
                let away = matches!(operator.kind, OperatorKind::ProjectAway(_));
                let kept: Vec<Column> = input
                    .columns
                    .iter()
                    .filter(|c| {
                        partition.kept().any(|k| *k == c.name) || matched.contains(&c.name) != away
                    })
                    .cloned()
                    .collect();
                select(input, kept)
            }
            OperatorKind::Summarize(summarize) => {
                let summarize = with_partition_groups(summarize, partition, operator.span);
                self.plan_summarize(input, &summarize)
            }
            OperatorKind::Count(name) => {
                let name = name.as_ref().map_or("Count", |n| n.name.as_str());
                let call = call_expr("count", Vec::new(), operator.span);
                let summarize = ast::Summarize {
                    aggregates: vec![named(call, Some(name))],
                    by: Vec::new(),
                };
                let summarize = with_partition_groups(&summarize, partition, operator.span);
                self.plan_summarize(input, &summarize)
            }
            OperatorKind::Distinct(exprs) => {
                if exprs.len() == 1 && matches!(exprs[0].kind, ExprKind::Star) {
                    return self.plan_operator(input, operator);
                }
                let mut exprs = exprs.clone();
                for name in partition.kept() {
                    let already = exprs
                        .iter()
                        .any(|e| matches!(&e.kind, ExprKind::Name(i) if i.name == *name));
                    if !already {
                        exprs.push(name_expr(name, operator.span));
                    }
                }
                let distinct = ast::Operator {
                    kind: OperatorKind::Distinct(exprs),
                    span: operator.span,
                };
                self.plan_operator(input, &distinct)
            }
            OperatorKind::Sort(keys) => {
                let mut keys = keys.clone();
                keys.insert(0, ascending(key_expr()));
                self.sort(input, &keys, None)
            }
            OperatorKind::Take(count) => {
                let count = self.constant_count(count, &input)?;
                self.first_rows_per_key(input, &[], count, partition)
            }
            OperatorKind::Top { count, by } => {
                let count = self.constant_count(count, &input)?;
                let kept = self.first_rows_per_key(input, by, count, partition)?;
                let mut keys = by.clone();
                keys.insert(0, ascending(key_expr()));
                self.sort(kept, &keys, None)
            }
            _ => Err(EngineError::not_supported(Diagnostic::new(
                "this operator is not supported inside an `mv-apply` subquery; supported are where, extend, project and its variants, summarize, count, distinct, sort, take, top, mv-expand, mv-apply and parse",
                operator.span,
            ))),
        }
    }

    /// Keeps the first `count` rows of each key, in the order of `by`.
    fn first_rows_per_key(
        &mut self,
        input: Relation,
        by: &[ast::SortKey],
        count: usize,
        partition: &Partition,
    ) -> Result<Relation, EngineError> {
        let mut order = Vec::new();
        for key in by {
            let typed = self.plan_expr(&key.expr, &input)?;
            let ascending = key.ascending.unwrap_or(false);
            let nulls_first = key.nulls_first.unwrap_or(ascending);
            order.push(typed.expr.sort(ascending, nulls_first));
        }
        let numbered = row_number().partition_by(vec![column_expr(&partition.key)]);
        // DataFusion rejects an empty ORDER BY list.
        let numbered = if order.is_empty() {
            numbered
        } else {
            numbered.order_by(order)
        };
        let numbered = numbered.build().map_err(EngineError::plan)?;
        let (plan, mut exprs) = with_windows(input.plan, vec![numbered])?;
        let plan = LogicalPlanBuilder::from(plan)
            .filter(exprs.remove(0).lt_eq(lit(count as u64)))
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        let columns = input.columns;
        select(
            Relation {
                plan,
                columns: columns.clone(),
            },
            columns,
        )
    }
}

/// Adds the key to a `summarize`'s groups, and carries every carried
/// column that the `summarize` does not name with `take_any`: it has one
/// value per key.
fn with_partition_groups(
    summarize: &ast::Summarize,
    partition: &Partition,
    span: Span,
) -> ast::Summarize {
    let mut summarize = summarize.clone();
    let mut named_outputs: HashSet<String> = HashSet::new();
    for item in summarize.aggregates.iter().chain(&summarize.by) {
        named_outputs.extend(item.names.iter().map(|n| n.name.clone()));
        if let ExprKind::Name(ident) = &item.expr.kind
            && item.names.is_empty()
        {
            named_outputs.insert(ident.name.clone());
        }
    }
    summarize
        .by
        .insert(0, named(name_expr(&partition.key, span), None));
    for name in &partition.carried {
        if !named_outputs.contains(name) {
            let call = call_expr("take_any", vec![name_expr(name, span)], span);
            summarize.aggregates.push(named(call, Some(name)));
        }
    }
    summarize
}

fn ascending(expr: ast::Expr) -> ast::SortKey {
    let span = expr.span;
    ast::SortKey {
        expr,
        ascending: Some(true),
        nulls_first: Some(true),
        span,
    }
}
