//! `reduce by Expr [with threshold=T, characters=C]`: groups text values
//! into patterns, with columns Pattern, Count and Representative.
//!
//! The planner rewrites it into operators it already has: a `summarize`
//! that lists the values, the pattern function of
//! [`crate::functions::patterns`] over that list, and an `mv-expand` with
//! one row per pattern.

use kql::ast::{self, ExprKind, Literal, Operator, OperatorKind, Summarize};
use kql::{Diagnostic, Span};

use super::syntax::{call_expr, name_expr, named};
use super::{Planner, Relation};
use crate::error::EngineError;

/// The maximum number of values `reduce` reads, the default `make_list`
/// limit. NOTE: rows beyond it take no part in the patterns.
const MAX_VALUES: i64 = 1_048_576;

const VALUES: &str = "__reduce_values";
const PATTERNS: &str = "__reduce_patterns";
const PATTERN: &str = "__reduce_pattern";

fn literal(value: Literal, span: Span) -> ast::Expr {
    ast::Expr {
        kind: ExprKind::Literal(value),
        span,
    }
}

fn operator(kind: OperatorKind, span: Span) -> Operator {
    Operator { kind, span }
}

/// Reads `pattern[index]` of the current pattern row.
fn pattern_part(index: i64, span: Span) -> ast::Expr {
    ast::Expr {
        kind: ExprKind::Index {
            target: Box::new(name_expr(PATTERN, span)),
            index: Box::new(literal(Literal::Long(index), span)),
        },
        span,
    }
}

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
        let list = call_expr(
            "make_list",
            vec![text, literal(Literal::Long(MAX_VALUES), span)],
            span,
        );
        let patterns = call_expr(
            "__reduce_patterns",
            vec![name_expr(VALUES, span), threshold, characters],
            span,
        );
        let steps = [
            OperatorKind::Summarize(Summarize {
                aggregates: vec![named(list, Some(VALUES))],
                by: Vec::new(),
            }),
            OperatorKind::Extend(vec![named(patterns, Some(PATTERNS))]),
            OperatorKind::MvExpand(ast::MvExpand {
                bag_expansion: None,
                with_item_index: None,
                columns: vec![ast::MvExpandColumn {
                    expr: named(name_expr(PATTERNS, span), Some(PATTERN)),
                    to_type: None,
                }],
                limit: None,
            }),
            OperatorKind::Project(vec![
                named(
                    call_expr("tostring", vec![pattern_part(0, span)], span),
                    Some("Pattern"),
                ),
                named(
                    call_expr("tolong", vec![pattern_part(1, span)], span),
                    Some("Count"),
                ),
                named(
                    call_expr("tostring", vec![pattern_part(2, span)], span),
                    Some("Representative"),
                ),
            ]),
        ];
        let mut relation = input;
        for kind in steps {
            relation = self.plan_operator(relation, &operator(kind, span))?;
        }
        Ok(relation)
    }
}
