//! Builders of KQL syntax nodes, for operators that the planner rewrites
//! into other operators (`mv-apply`, `make-series`, `evaluate pivot`,
//! `reduce`, `evaluate schema_merge`).

use kql::Span;
use kql::ast::{self, ExprKind, Literal, OperatorKind, Summarize};

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

/// Builds a literal.
pub(crate) fn literal(value: Literal, span: Span) -> ast::Expr {
    ast::Expr {
        kind: ExprKind::Literal(value),
        span,
    }
}

/// The hidden columns of [`whole_input_steps`].
const LIST: &str = "__whole_input_list";
const RESULTS: &str = "__whole_input_results";
const RESULT: &str = "__whole_input_result";

/// Builds the operators that compute a table from the whole input: a
/// `summarize` that lists `value` over every row (at most `max_values`),
/// `function(list, extra_args...)`, which returns an array of arrays, and
/// an `mv-expand` with one row per inner array. Output column `i` reads
/// element `i` of that array through `converter` (`tostring`, `tolong`).
pub(crate) fn whole_input_steps(
    value: ast::Expr,
    max_values: i64,
    function: &str,
    extra_args: Vec<ast::Expr>,
    outputs: &[(&str, &str)],
    span: Span,
) -> Vec<OperatorKind> {
    let list = call_expr(
        "make_list",
        vec![value, literal(Literal::Long(max_values), span)],
        span,
    );
    let mut args = vec![name_expr(LIST, span)];
    args.extend(extra_args);
    let results = call_expr(function, args, span);
    let items = outputs
        .iter()
        .enumerate()
        .map(|(index, (name, converter))| {
            let element = ast::Expr {
                kind: ExprKind::Index {
                    target: Box::new(name_expr(RESULT, span)),
                    index: Box::new(literal(Literal::Long(index as i64), span)),
                },
                span,
            };
            named(call_expr(converter, vec![element], span), Some(name))
        })
        .collect();
    vec![
        OperatorKind::Summarize(Summarize {
            aggregates: vec![named(list, Some(LIST))],
            by: Vec::new(),
        }),
        OperatorKind::Extend(vec![named(results, Some(RESULTS))]),
        OperatorKind::MvExpand(ast::MvExpand {
            bag_expansion: None,
            with_item_index: None,
            columns: vec![ast::MvExpandColumn {
                expr: named(name_expr(RESULTS, span), Some(RESULT)),
                to_type: None,
            }],
            limit: None,
        }),
        OperatorKind::Project(items),
    ]
}
