//! DataFusion's optimizer rules, with one rule bounded.
//!
//! `eliminate_outer_join` turns an outer join into an inner one when a
//! filter above it rejects the rows the outer join adds. To find out, it
//! copies the expression of every column the filter reads from each
//! projection between the filter and the join, down to the filter's
//! input. It does so even when no join follows, and volatile expressions
//! are copied too. Over a chain of `extend` steps that read earlier
//! computed columns several times, the copy grows exponentially: ten such
//! steps and a `where` on the last column took over two minutes to plan.
//!
//! [`BoundedOuterJoinElimination`] runs the rule only when the filter's
//! path to a join passes projections without volatile expressions, which
//! [`crate::plan::computed_once`] adds to every computed column. Other
//! filters keep their outer joins, which is correct and only slower.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::Transformed;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::eliminate_outer_join::EliminateOuterJoin;
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{Optimizer, OptimizerConfig, OptimizerRule};

/// `eliminate_outer_join`, run only where it stays cheap; see the module
/// documentation.
#[derive(Debug, Default)]
struct BoundedOuterJoinElimination {
    inner: EliminateOuterJoin,
}

/// Returns true when `filter_input` is a join, or reaches one through
/// projections that compute nothing volatile.
fn join_through_plain_projections(filter_input: &LogicalPlan) -> bool {
    let mut current = filter_input;
    loop {
        match current {
            LogicalPlan::Join(_) => return true,
            LogicalPlan::Projection(projection) => {
                if projection.expr.iter().any(|expr| expr.is_volatile()) {
                    return false;
                }
                current = projection.input.as_ref();
            }
            _ => return false,
        }
    }
}

impl OptimizerRule for BoundedOuterJoinElimination {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.inner.apply_order()
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        match &plan {
            LogicalPlan::Filter(filter) if join_through_plain_projections(&filter.input) => {
                self.inner.rewrite(plan, config)
            }
            _ => Ok(Transformed::no(plan)),
        }
    }
}

/// Returns DataFusion's default optimizer rules, in their order, with
/// `eliminate_outer_join` bounded as the module documentation describes.
pub fn rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    Optimizer::new()
        .rules
        .into_iter()
        .map(|rule| -> Arc<dyn OptimizerRule + Send + Sync> {
            if rule.name() == "eliminate_outer_join" {
                Arc::new(BoundedOuterJoinElimination::default())
            } else {
                rule
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_rule_in_place() {
        let default: Vec<String> = Optimizer::new()
            .rules
            .iter()
            .map(|rule| rule.name().to_string())
            .collect();
        let bounded: Vec<String> = rules().iter().map(|rule| rule.name().to_string()).collect();
        assert_eq!(bounded, default);
        assert!(default.iter().any(|name| name == "eliminate_outer_join"));
    }
}
