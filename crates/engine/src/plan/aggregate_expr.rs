//! Expressions over aggregates in `summarize`, such as
//! `toupper(tohex(binary_all_or(x)))` or `100 * countif(Failed) / count()`:
//! each aggregate call becomes a hidden column of the aggregation, and the
//! expression is planned over those columns afterwards.

use std::collections::HashSet;

use kql::ast::{self, ExprKind};

use super::summarize::{is_aggregate, strip_parens};

/// Prefix of the hidden columns that contain the aggregates inside a computed
/// `summarize` expression.
const HIDDEN_AGGREGATE_PREFIX: &str = "__aggregate_";

pub(crate) fn is_aggregate_call(expr: &ast::Expr) -> bool {
    matches!(&strip_parens(expr).kind, ExprKind::Call(call) if is_aggregate(&call.name.name))
}

pub(crate) fn is_hidden_aggregate(part: &ast::NamedExpr) -> bool {
    part.names
        .first()
        .is_some_and(|n| n.name.starts_with(HIDDEN_AGGREGATE_PREFIX))
}

/// Returns the first free `Column{n}` name.
pub(crate) fn next_column_name(next: &mut usize, used: &HashSet<String>) -> String {
    loop {
        let name = format!("Column{next}");
        *next += 1;
        if !used.contains(&name) {
            return name;
        }
    }
}

/// Replaces every aggregate call in `expr` with a reference to a hidden
/// column, and appends the calls, named after those columns, to `found`.
pub(crate) fn replace_aggregates(expr: &ast::Expr, found: &mut Vec<ast::NamedExpr>) -> ast::Expr {
    let boxed = |inner: &ast::Expr, found: &mut Vec<ast::NamedExpr>| {
        Box::new(replace_aggregates(inner, found))
    };
    let list = |list: &ast::InList, found: &mut Vec<ast::NamedExpr>| match list {
        ast::InList::Values(values) => ast::InList::Values(
            values
                .iter()
                .map(|v| replace_aggregates(v, found))
                .collect(),
        ),
        tabular => tabular.clone(),
    };
    let kind = match &expr.kind {
        ExprKind::Call(call) if is_aggregate(&call.name.name) => {
            let hidden = ast::Ident {
                name: format!("{HIDDEN_AGGREGATE_PREFIX}{}", found.len()),
                span: call.name.span,
            };
            found.push(ast::NamedExpr {
                names: vec![hidden.clone()],
                expr: expr.clone(),
                span: expr.span,
            });
            ExprKind::Name(hidden)
        }
        ExprKind::Call(call) => ExprKind::Call(ast::Call {
            name: call.name.clone(),
            args: call
                .args
                .iter()
                .map(|arg| ast::Arg {
                    name: arg.name.clone(),
                    value: replace_aggregates(&arg.value, found),
                })
                .collect(),
            span: call.span,
        }),
        ExprKind::Member { target, member } => ExprKind::Member {
            target: boxed(target, found),
            member: member.clone(),
        },
        ExprKind::Index { target, index } => ExprKind::Index {
            target: boxed(target, found),
            index: boxed(index, found),
        },
        ExprKind::Unary { op, operand } => ExprKind::Unary {
            op: *op,
            operand: boxed(operand, found),
        },
        ExprKind::Binary { op, left, right } => ExprKind::Binary {
            op: *op,
            left: boxed(left, found),
            right: boxed(right, found),
        },
        ExprKind::In {
            target,
            list: items,
            negated,
            case_sensitive,
        } => ExprKind::In {
            target: boxed(target, found),
            list: list(items, found),
            negated: *negated,
            case_sensitive: *case_sensitive,
        },
        ExprKind::Between {
            target,
            low,
            high,
            negated,
        } => ExprKind::Between {
            target: boxed(target, found),
            low: boxed(low, found),
            high: boxed(high, found),
            negated: *negated,
        },
        ExprKind::HasAny {
            target,
            list: items,
            all,
        } => ExprKind::HasAny {
            target: boxed(target, found),
            list: list(items, found),
            all: *all,
        },
        ExprKind::Paren(inner) => ExprKind::Paren(boxed(inner, found)),
        ExprKind::Literal(_) | ExprKind::Name(_) | ExprKind::Star | ExprKind::Tabular(_) => {
            expr.kind.clone()
        }
    };
    ast::Expr {
        kind,
        span: expr.span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_inside_expressions_are_replaced() {
        let query = kql::parse("T | summarize toupper(tohex(binary_all_or(x))) + count()")
            .expect("valid query");
        let body = query.body.expect("query has a body");
        let ast::OperatorKind::Summarize(summarize) = &body.operators[0].kind else {
            panic!("expected summarize");
        };
        let mut found = Vec::new();
        let rewritten = replace_aggregates(&summarize.aggregates[0].expr, &mut found);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].names[0].name, "__aggregate_0");
        assert!(is_hidden_aggregate(&found[1]));
        let mut again = Vec::new();
        replace_aggregates(&rewritten, &mut again);
        assert!(again.is_empty());
    }
}
