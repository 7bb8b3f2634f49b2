//! Keeps computed columns computed once.
//!
//! DataFusion pushes a filter below a projection by replacing each column
//! the filter reads with the expression that computes it. Published
//! Sentinel rules chain `extend` steps whose columns read earlier computed
//! columns several times (`parse`, `iff` and `substring` over one decoded
//! command line). Each push then copies every earlier expression into the
//! filter, so the filter grows exponentially with the chain. One such rule
//! took 11 s to plan and parsed the XML of `EventData` dozens of times per
//! row.
//!
//! DataFusion's filter push-down does not inline volatile expressions. [`computed_once`] wraps
//! an expression in a volatile identity function, so that filters on the
//! column it computes stay above the projection and read the computed
//! column. Filters on other columns still move down to the scan.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The identity function that [`computed_once`] wraps expressions in.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ComputedOnce {
    signature: Signature,
}

impl ScalarUDFImpl for ComputedOnce {
    fn name(&self) -> &str {
        "kql_computed_once"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(args.args.swap_remove(0))
    }
}

static COMPUTED_ONCE: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
    Arc::new(ScalarUDF::new_from_impl(ComputedOnce {
        signature: Signature::any(1, Volatility::Volatile),
    }))
});

/// Returns true for expressions that are as cheap to copy as to read:
/// columns, literals and casts of them.
fn is_trivial(expr: &Expr) -> bool {
    match expr {
        Expr::Column(_) | Expr::Literal(..) => true,
        Expr::Alias(alias) => is_trivial(&alias.expr),
        Expr::Cast(cast) => is_trivial(&cast.expr),
        Expr::TryCast(cast) => is_trivial(&cast.expr),
        _ => false,
    }
}

/// Wraps a projection expression so that the optimizer computes it once, in
/// its projection, instead of copying it into the filters above it.
/// Trivial expressions come back unchanged. An alias stays outermost.
pub fn computed_once(expr: Expr) -> Expr {
    if is_trivial(&expr) {
        return expr;
    }
    match expr {
        Expr::Alias(alias) => {
            computed_once(*alias.expr).alias_qualified(alias.relation, alias.name)
        }
        expr => COMPUTED_ONCE.call(vec![expr]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn trivial_expressions_stay_unchanged() {
        let column = col("a").alias("b");
        assert_eq!(computed_once(column.clone()), column);
        assert_eq!(computed_once(lit(1)), lit(1));
    }

    #[test]
    fn computed_expression_wrapped_under_alias() {
        let wrapped = computed_once((col("a") + lit(1)).alias("b"));
        let Expr::Alias(alias) = wrapped else {
            panic!("the alias stays outermost: {wrapped}");
        };
        assert_eq!(alias.name, "b");
        assert!(alias.expr.is_volatile());
    }
}
