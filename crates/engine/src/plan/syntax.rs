//! Builders of KQL syntax nodes, for operators that the planner rewrites
//! into other operators (`mv-apply`, `make-series`, `evaluate pivot`).

use kql::Span;
use kql::ast::{self, ExprKind};

/// Builds a column or `let` name reference.
pub(crate) fn name_expr(name: &str, span: Span) -> ast::Expr {
    ast::Expr {
        kind: ExprKind::Name(ast::Ident {
            name: name.to_string(),
            span,
        }),
        span,
    }
}

/// Builds a call of `function` with positional arguments.
pub(crate) fn call_expr(function: &str, args: Vec<ast::Expr>, span: Span) -> ast::Expr {
    ast::Expr {
        kind: ExprKind::Call(ast::Call {
            name: ast::Ident {
                name: function.to_string(),
                span,
            },
            args: args
                .into_iter()
                .map(|value| ast::Arg { name: None, value })
                .collect(),
            span,
        }),
        span,
    }
}

/// Builds a `name = expr` item, or an unnamed one, at the expression's span.
pub(crate) fn named(expr: ast::Expr, name: Option<&str>) -> ast::NamedExpr {
    let span = expr.span;
    let names = name
        .map(|name| {
            vec![ast::Ident {
                name: name.to_string(),
                span,
            }]
        })
        .unwrap_or_default();
    ast::NamedExpr { names, expr, span }
}
