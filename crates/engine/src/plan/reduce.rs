//! `reduce by Expr [with threshold=T, characters=C]`: groups text values
//! into patterns, with columns Pattern, Count and Representative.
//!
//! The planner rewrites it into operators it already has: a `summarize`
//! that lists the values, the pattern function of
//! [`crate::functions::patterns`] over that list, and an `mv-expand` with
//! one row per pattern.

use kql::ast::{self, Literal};
use kql::{Diagnostic, Span};

use super::syntax::{call_expr, literal, whole_input_steps};
use super::{Planner, Relation};
use crate::error::EngineError;

/// The maximum number of values `reduce` reads, the default `make_list`
/// limit. NOTE: rows beyond it take no part in the patterns.
pub(super) const MAX_VALUES: i64 = 1_048_576;

impl Planner<'_> {
    pub(crate) fn plan_reduce(
        &mut self,
        input: Relation,
        reduce: &ast::Reduce,
        span: Span,
    ) -> Result<Relation, EngineError> {
        if let Some(kind) = &reduce.kind
            && kind.name != "source"
        {
            return Err(EngineError::semantic(
                Diagnostic::new(format!("unknown `reduce` kind `{}`", kind.name), kind.span)
                    .with_help("`reduce` accepts kind=source or no kind"),
            ));
        }
        if let Some(kind) = &reduce.kind {
            return Err(EngineError::not_supported(Diagnostic::new(
                "`reduce kind=source` is not supported yet; use `reduce by` for the pattern table",
                kind.span,
            )));
        }
        let threshold = match &reduce.threshold {
            Some(expr) => {
                let typed = self.plan_expr(expr, &input)?;
                let value =
                    super::tabular::simplify(super::expr::coerce_to(typed, kql::KqlType::Real))?;
                match value {
                    datafusion::logical_expr::Expr::Literal(
                        datafusion::common::ScalarValue::Float64(Some(value)),
                        _,
                    ) if (0.0..=1.0).contains(&value) => literal(Literal::Real(value), expr.span),
                    _ => {
                        return Err(EngineError::semantic(Diagnostic::new(
                            "`reduce` needs a constant threshold between 0 and 1, such as threshold=0.1",
                            expr.span,
                        )));
                    }
                }
            }
            None => literal(Literal::Real(0.1), span),
        };
        let characters = match &reduce.characters {
            Some(expr) => expr.clone(),
            None => literal(Literal::String(String::new()), span),
        };

        let text = call_expr("tostring", vec![reduce.by.clone()], reduce.by.span);
        let steps = whole_input_steps(
            text,
            MAX_VALUES,
            "__reduce_patterns",
            vec![threshold, characters],
            &[
                ("Pattern", "tostring"),
                ("Count", "tolong"),
                ("Representative", "tostring"),
            ],
            span,
        );
        self.plan_steps(input, steps, span)
    }
}
