//! The stored tables that a query's result rows can come from.
//!
//! A backtest skips the windows in which a rule's query cannot return a
//! row. A query over tables without rows in the window can still return
//! rows when it builds them itself (`print`, `datatable`, or `summarize`
//! without `by`, which returns one row over no input). It also returns no
//! row from an inner join with an empty side even when the other side has
//! rows. [`RowSources`] describes this as a condition on the tables, read
//! from the query's logical plan.
//!
//! Filters on `TimeGenerated` narrow the condition further. For example, a
//! rule may read 14 days but keep only the last day's rows on the side of
//! an anti join that returns rows (`where TimeGenerated > ago(1d)`). It then
//! needs rows in that last day. A plan contains such bounds as instants, so
//! [`RowSources::relative_to_now`] compares the conditions of two plans
//! made at different instants to tell bounds that move with `now()` from
//! fixed ones.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Distinct, Expr, JoinType, LogicalPlan, Operator};

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
    /// Rows when one of these stored tables has rows with a
    /// `TimeGenerated` within `range`.
    Tables(BTreeSet<&'static str>, TimeRange),
    /// Rows when one of the conditions is true.
    Any(Vec<RowSources>),
    /// Rows only when every condition is true.
    All(Vec<RowSources>),
}

/// A bound on the `TimeGenerated` of the rows a scan contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A fixed instant, in ticks.
    At(i64),
    /// An offset from the run's `now()`, in ticks.
    FromNow(i64),
}

impl Bound {
    fn ticks(self, now_ticks: i64) -> i64 {
        match self {
            Bound::At(ticks) => ticks,
            Bound::FromNow(offset) => now_ticks.saturating_add(offset),
        }
    }
}

/// The `TimeGenerated` range that filters leave of a scan's rows: from
/// `lower` through `upper`, both inclusive; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub lower: Option<Bound>,
    pub upper: Option<Bound>,
}

impl TimeRange {
    /// Returns the range that both ranges allow, for bounds that are
    /// instants (as read from one plan).
    fn intersect(self, other: TimeRange) -> TimeRange {
        let pick = |a: Option<Bound>, b: Option<Bound>, keep_larger: bool| match (a, b) {
            (Some(Bound::At(x)), Some(Bound::At(y))) => {
                Some(Bound::At(if keep_larger { x.max(y) } else { x.min(y) }))
            }
            (Some(bound), None) | (None, Some(bound)) => Some(bound),
            (a, _) => a,
        };
        TimeRange {
            lower: pick(self.lower, other.lower, true),
            upper: pick(self.upper, other.upper, false),
        }
    }
}

/// The name of the column that bounds are read for.
const TIME_COLUMN: &str = "TimeGenerated";

impl RowSources {
    /// Reads the condition from a logical plan. `scans` maps the table name
    /// of each `TableScan` to the stored tables it reads. Scans of other
    /// names, and plan nodes this function does not know, may return rows
    /// at any time. Bounds are instants; see
    /// [`RowSources::relative_to_now`].
    pub fn of_plan(plan: &LogicalPlan, scans: &BTreeMap<String, BTreeSet<&'static str>>) -> Self {
        RowSources::bounded(plan, scans, TimeRange::default())
    }

    /// Reads the condition of `plan` whose output rows must have their
    /// `TimeGenerated` within `range`.
    fn bounded(
        plan: &LogicalPlan,
        scans: &BTreeMap<String, BTreeSet<&'static str>>,
        range: TimeRange,
    ) -> Self {
        let input_within = |index: usize, range: TimeRange| {
            plan.inputs()
                .get(index)
                .map_or(RowSources::Always, |input| {
                    RowSources::bounded(input, scans, range)
                })
        };
        let input = |index: usize| input_within(index, TimeRange::default());
        match plan {
            LogicalPlan::TableScan(scan) => match scans.get(scan.table_name.table()) {
                Some(tables) => RowSources::Tables(tables.clone(), range),
                None => RowSources::Always,
            },
            LogicalPlan::EmptyRelation(empty) if !empty.produce_one_row => RowSources::Never,
            // A union's columns are its inputs' columns by position, so an
            // input keeps the bounds when its column at the position of
            // `TimeGenerated` has that name too.
            LogicalPlan::Union(union) => {
                let time_index = union.schema.index_of_column_by_name(None, TIME_COLUMN);
                RowSources::Any(
                    union
                        .inputs
                        .iter()
                        .map(|input| {
                            let aligned = time_index.is_some_and(|index| {
                                input
                                    .schema()
                                    .fields()
                                    .get(index)
                                    .is_some_and(|field| field.name() == TIME_COLUMN)
                            });
                            let input_range = if aligned { range } else { TimeRange::default() };
                            RowSources::bounded(input, scans, input_range)
                        })
                        .collect(),
                )
            }
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
            // A filter's rows are rows of its input that pass it.
            LogicalPlan::Filter(filter) => {
                input_within(0, range.intersect(time_range(&filter.predicate)))
            }
            // Rows pass unchanged, with the same `TimeGenerated` column.
            LogicalPlan::Sort(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Repartition(_) => input_within(0, range),
            LogicalPlan::Projection(projection) => {
                let passes_time = projection.expr.iter().any(|expr| {
                    let (name, inner) = match expr {
                        Expr::Alias(alias) => (alias.name.as_str(), alias.expr.as_ref()),
                        other => (TIME_COLUMN, other),
                    };
                    name == TIME_COLUMN
                        && matches!(inner, Expr::Column(column) if column.name == TIME_COLUMN)
                });
                let computes_time = projection.expr.iter().any(|expr| {
                    expr.schema_name().to_string() == TIME_COLUMN
                        || matches!(expr, Expr::Alias(alias) if alias.name == TIME_COLUMN)
                });
                if passes_time || !computes_time {
                    input_within(0, range)
                } else {
                    input(0)
                }
            }
            // Rows of the input, repeated once per element of the expanded
            // columns, which leaves the other columns as they are.
            LogicalPlan::Unnest(unnest)
                if unnest
                    .exec_columns
                    .iter()
                    .all(|column| column.name != TIME_COLUMN) =>
            {
                input_within(0, range)
            }
            // Rows of the input with the same values, or with columns added.
            LogicalPlan::Distinct(Distinct::All(_)) | LogicalPlan::Window(_) => {
                input_within(0, range)
            }
            // These return at most the rows of their one input, but may
            // change the values a `TimeGenerated` column holds.
            LogicalPlan::Aggregate(_) | LogicalPlan::Distinct(_) | LogicalPlan::Unnest(_) => {
                input(0)
            }
            _ => RowSources::Always,
        }
    }

    /// Combines the conditions of one query planned at two instants,
    /// `self` at `now_ticks` and `later` at `now_ticks + delta`: a bound
    /// equal in both is fixed, one that moved by `delta` is an offset from
    /// `now()`, and any other is dropped. When the two differ in shape,
    /// every bound is dropped.
    pub fn relative_to_now(&self, later: &RowSources, now_ticks: i64, delta: i64) -> RowSources {
        let bound = |a: Option<Bound>, b: Option<Bound>| match (a, b) {
            (Some(Bound::At(x)), Some(Bound::At(y))) if x == y => Some(Bound::At(x)),
            (Some(Bound::At(x)), Some(Bound::At(y))) if y.checked_sub(x) == Some(delta) => {
                x.checked_sub(now_ticks).map(Bound::FromNow)
            }
            _ => None,
        };
        match (self, later) {
            (RowSources::Tables(tables, a), RowSources::Tables(other, b)) if tables == other => {
                RowSources::Tables(
                    tables.clone(),
                    TimeRange {
                        lower: bound(a.lower, b.lower),
                        upper: bound(a.upper, b.upper),
                    },
                )
            }
            (RowSources::Any(a), RowSources::Any(b)) if a.len() == b.len() => RowSources::Any(
                a.iter()
                    .zip(b)
                    .map(|(a, b)| a.relative_to_now(b, now_ticks, delta))
                    .collect(),
            ),
            (RowSources::All(a), RowSources::All(b)) if a.len() == b.len() => RowSources::All(
                a.iter()
                    .zip(b)
                    .map(|(a, b)| a.relative_to_now(b, now_ticks, delta))
                    .collect(),
            ),
            (RowSources::Always, RowSources::Always) => RowSources::Always,
            (RowSources::Never, RowSources::Never) => RowSources::Never,
            _ => self.unbounded(),
        }
    }

    /// Returns the condition without time bounds.
    fn unbounded(&self) -> RowSources {
        match self {
            RowSources::Tables(tables, _) => {
                RowSources::Tables(tables.clone(), TimeRange::default())
            }
            RowSources::Any(conditions) => {
                RowSources::Any(conditions.iter().map(RowSources::unbounded).collect())
            }
            RowSources::All(conditions) => {
                RowSources::All(conditions.iter().map(RowSources::unbounded).collect())
            }
            other => other.clone(),
        }
    }

    /// Returns true when the query, run at `end` over the window
    /// `[start, end)`, can return rows over the rows of `data_times`.
    pub fn possible(&self, data_times: &DataTimes, start: i64, end: i64) -> bool {
        match self {
            RowSources::Always => true,
            RowSources::Never => false,
            RowSources::Tables(tables, range) => {
                let from = range
                    .lower
                    .map_or(start, |bound| start.max(bound.ticks(end)));
                let to = range
                    .upper
                    .map_or(end, |bound| end.min(bound.ticks(end).saturating_add(1)));
                data_times.overlaps(Some(tables), from, to)
            }
            RowSources::Any(conditions) => conditions
                .iter()
                .any(|condition| condition.possible(data_times, start, end)),
            RowSources::All(conditions) => conditions
                .iter()
                .all(|condition| condition.possible(data_times, start, end)),
        }
    }
}

/// Returns the `TimeGenerated` range that `predicate` keeps: the bounds of
/// its top-level conjuncts that compare the column with a constant.
fn time_range(predicate: &Expr) -> TimeRange {
    let mut range = TimeRange::default();
    for conjunct in conjuncts(predicate) {
        let bounds = match conjunct {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                match (is_time_column(left), is_time_column(right)) {
                    (true, false) => comparison_range(*op, constant_ticks(right)),
                    (false, true) => op.swap().map_or(TimeRange::default(), |op| {
                        comparison_range(op, constant_ticks(left))
                    }),
                    _ => TimeRange::default(),
                }
            }
            Expr::Between(between) if !between.negated && is_time_column(&between.expr) => {
                TimeRange {
                    lower: constant_ticks(&between.low).map(Bound::At),
                    upper: constant_ticks(&between.high).map(Bound::At),
                }
            }
            _ => TimeRange::default(),
        };
        range = range.intersect(bounds);
    }
    range
}

/// Returns the range of `TimeGenerated OP value`.
fn comparison_range(op: Operator, value: Option<i64>) -> TimeRange {
    let Some(value) = value else {
        return TimeRange::default();
    };
    match op {
        Operator::Gt | Operator::GtEq => TimeRange {
            lower: Some(Bound::At(value)),
            upper: None,
        },
        Operator::Lt | Operator::LtEq => TimeRange {
            lower: None,
            upper: Some(Bound::At(value)),
        },
        Operator::Eq => TimeRange {
            lower: Some(Bound::At(value)),
            upper: Some(Bound::At(value)),
        },
        _ => TimeRange::default(),
    }
}

/// Splits a predicate at its top-level `AND`s.
fn conjuncts(predicate: &Expr) -> Vec<&Expr> {
    match predicate {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            let mut parts = conjuncts(left);
            parts.extend(conjuncts(right));
            parts
        }
        other => vec![other],
    }
}

/// Returns true for a reference to the `TimeGenerated` column, also
/// through a cast.
fn is_time_column(expr: &Expr) -> bool {
    match expr {
        Expr::Column(column) => column.name == TIME_COLUMN,
        Expr::Cast(cast) => is_time_column(&cast.expr),
        _ => false,
    }
}

/// Returns the value of an integer expression made of literals, `+` and
/// `-` (how the planner writes datetimes such as `ago(1h)`: ticks of `now`
/// minus ticks of the timespan), or `None`.
fn constant_ticks(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Literal(ScalarValue::Int64(Some(value)), _) => Some(*value),
        Expr::Literal(ScalarValue::Int32(Some(value)), _) => Some(i64::from(*value)),
        Expr::Alias(alias) => constant_ticks(&alias.expr),
        Expr::Cast(cast) => constant_ticks(&cast.expr),
        Expr::ScalarFunction(function)
            if function.name() == "kql_computed_once" && function.args.len() == 1 =>
        {
            constant_ticks(&function.args[0])
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (left, right) = (constant_ticks(left)?, constant_ticks(right)?);
            match op {
                Operator::Plus => left.checked_add(right),
                Operator::Minus => left.checked_sub(right),
                _ => None,
            }
        }
        _ => None,
    }
}
