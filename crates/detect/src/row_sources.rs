//! The stored tables that a query's result rows can come from.
//!
//! A backtest skips the windows in which a rule's query cannot return a
//! row. A query over tables without rows in the window can still return
//! rows when it builds them itself (`print`, `datatable`, or `summarize`
//! without `by`, which returns one row over no input). It also returns no
//! row from an inner join with an empty side even when the other side has
//! rows. [`RowSources`] describes this as a condition on the tables, read
//! from the query's logical plan.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::logical_expr::{Expr, JoinType, LogicalPlan};

use crate::backtest::DataTimes;

/// A condition on the rows of stored tables under which a query can
/// return rows. Queries whose condition is false in a window return no
/// rows over that window.
#[derive(Debug, Clone, PartialEq)]
pub enum RowSources {
    /// Rows whatever the tables contain.
    Always,
    /// No rows at any time.
    Never,
    /// Rows when one of these stored tables has rows.
    Tables(BTreeSet<&'static str>),
    /// Rows when one of the conditions is true.
    Any(Vec<RowSources>),
    /// Rows only when every condition is true.
    All(Vec<RowSources>),
}

impl RowSources {
    /// Reads the condition from a logical plan. `scans` maps the table name
    /// of each `TableScan` to the stored tables it reads. Scans of other
    /// names, and plan nodes this function does not know, may return rows
    /// at any time.
    pub fn of_plan(plan: &LogicalPlan, scans: &BTreeMap<String, BTreeSet<&'static str>>) -> Self {
        let input = |index: usize| {
            plan.inputs()
                .get(index)
                .map_or(RowSources::Always, |input| {
                    RowSources::of_plan(input, scans)
                })
        };
        match plan {
            LogicalPlan::TableScan(scan) => match scans.get(scan.table_name.table()) {
                Some(tables) => RowSources::Tables(tables.clone()),
                None => RowSources::Always,
            },
            LogicalPlan::EmptyRelation(empty) if !empty.produce_one_row => RowSources::Never,
            LogicalPlan::Union(union) => RowSources::Any(
                union
                    .inputs
                    .iter()
                    .map(|input| RowSources::of_plan(input, scans))
                    .collect(),
            ),
            LogicalPlan::Join(join) => match join.join_type {
                JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi => {
                    RowSources::All(vec![input(0), input(1)])
                }
                JoinType::Left | JoinType::LeftAnti | JoinType::LeftMark => input(0),
                JoinType::Right | JoinType::RightAnti | JoinType::RightMark => input(1),
                JoinType::Full => RowSources::Any(vec![input(0), input(1)]),
            },
            // Without groups an aggregation returns one row over no input.
            LogicalPlan::Aggregate(aggregate)
                if aggregate.group_expr.is_empty()
                    || aggregate
                        .group_expr
                        .iter()
                        .any(|expr| matches!(expr, Expr::GroupingSet(_))) =>
            {
                RowSources::Always
            }
            // These return at most the rows of their one input.
            LogicalPlan::Aggregate(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::Projection(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Distinct(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Repartition(_)
            | LogicalPlan::Unnest(_) => input(0),
            _ => RowSources::Always,
        }
    }

    /// Returns true when the query can return rows over the window
    /// `[start, end)` of `data_times`.
    pub fn possible(&self, data_times: &DataTimes, start: i64, end: i64) -> bool {
        match self {
            RowSources::Always => true,
            RowSources::Never => false,
            RowSources::Tables(tables) => data_times.overlaps(Some(tables), start, end),
            RowSources::Any(conditions) => conditions
                .iter()
                .any(|condition| condition.possible(data_times, start, end)),
            RowSources::All(conditions) => conditions
                .iter()
                .all(|condition| condition.possible(data_times, start, end)),
        }
    }
}
