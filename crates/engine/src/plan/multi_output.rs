//! Functions whose result is several columns (`series_stats`,
//! `series_fit_line`, `series_decompose`, `series_decompose_anomalies`).
//!
//! Such a call must be a whole item of `extend`, `project` or `print`:
//! `extend (a, b) = series_fit_line(y)` or `project series_stats(x)`.
//! The planner replaces the item with one item per output column, each
//! reading one key of the bag that the function's `*_dynamic` form
//! returns. Unnamed columns are named `{function}_{argument}_{key}`
//! (`series_stats_x_min`) when the first argument is a column, and
//! `{function}_{key}` otherwise.
//!
//! `array_sort_asc` and `array_sort_desc` of two or more arrays also give
//! one column per array, named `{argument}_sorted`.

use std::borrow::Cow;

use kql::ast::{self, ExprKind, Literal};
use kql::{Diagnostic, KqlType};

use super::summarize::strip_parens;
use super::syntax::call_expr;
use crate::error::EngineError;
use crate::functions::decompose::{MultiOutputFunction, multi_output_function};

/// The multi-column function that `expr` calls at its top, if any.
fn multi_output_call(expr: &ast::Expr) -> Option<(&ast::Call, &'static MultiOutputFunction)> {
    let ExprKind::Call(call) = &strip_parens(expr).kind else {
        return None;
    };
    Some((call, multi_output_function(&call.name.name)?))
}

/// Returns the arrays of an `array_sort_asc` or `array_sort_desc` call
/// that sorts two or more arrays (a trailing `true` or `false` is
/// `nulls_last`).
fn sorted_arrays(expr: &ast::Expr) -> Option<&[ast::Arg]> {
    let ExprKind::Call(call) = &strip_parens(expr).kind else {
        return None;
    };
    if !matches!(
        call.name.name.as_str(),
        "array_sort_asc" | "array_sort_desc"
    ) {
        return None;
    }
    let arrays = match call.args.last().map(|arg| &arg.value.kind) {
        Some(ExprKind::Literal(Literal::Bool(_))) => &call.args[..call.args.len() - 1],
        _ => &call.args[..],
    };
    (arrays.len() >= 2).then_some(arrays)
}

/// Expands `array_sort_asc(a, b)` into one column per array, named
/// `a_sorted`, `b_sorted` (`array2_sorted` for an argument that is not a
/// name), each reading its array of the function's array of results.
fn expand_sorted_arrays(item: &ast::NamedExpr, arrays: &[ast::Arg], out: &mut Vec<ast::NamedExpr>) {
    let span = item.expr.span;
    for (position, arg) in arrays.iter().enumerate() {
        let index = ast::Expr {
            kind: ExprKind::Literal(Literal::Long(position as i64)),
            span,
        };
        let expr = ast::Expr {
            kind: ExprKind::Index {
                target: Box::new(item.expr.clone()),
                index: Box::new(index),
            },
            span,
        };
        let name = match (item.names.get(position), &arg.value.kind) {
            (Some(name), _) => name.clone(),
            (None, ExprKind::Name(ident)) => ast::Ident {
                name: format!("{}_sorted", ident.name),
                span,
            },
            (None, _) => ast::Ident {
                name: format!("array{}_sorted", position + 1),
                span,
            },
        };
        out.push(ast::NamedExpr {
            names: vec![name],
            expr,
            span: item.span,
        });
    }
}

/// Returns `items` with every call of a multi-column function replaced by
/// one item per column (see the module documentation).
pub(super) fn expand_multi_output(
    items: &[ast::NamedExpr],
) -> Result<Cow<'_, [ast::NamedExpr]>, EngineError> {
    if !items
        .iter()
        .any(|item| multi_output_call(&item.expr).is_some() || sorted_arrays(&item.expr).is_some())
    {
        return Ok(Cow::Borrowed(items));
    }
    let mut expanded = Vec::new();
    for item in items {
        if let Some(arrays) = sorted_arrays(&item.expr) {
            expand_sorted_arrays(item, arrays, &mut expanded);
            continue;
        }
        let Some((call, function)) = multi_output_call(&item.expr) else {
            expanded.push(item.clone());
            continue;
        };
        if item.names.len() > function.outputs.len() {
            return Err(EngineError::semantic(Diagnostic::new(
                format!(
                    "`{}` gives {} columns, but {} names are given",
                    function.name,
                    function.outputs.len(),
                    item.names.len()
                ),
                item.span,
            )));
        }
        let prefix = match call.args.first().map(|arg| &arg.value.kind) {
            Some(ExprKind::Name(ident)) => format!("{}_{}_", function.name, ident.name),
            _ => format!("{}_", function.name),
        };
        let args: Vec<ast::Expr> = call.args.iter().map(|arg| arg.value.clone()).collect();
        for (position, (key, ty)) in function.outputs.iter().enumerate() {
            let span = item.expr.span;
            let bag = call_expr(function.bag_function, args.clone(), call.span);
            let index = ast::Expr {
                kind: ExprKind::Literal(Literal::String((*key).to_string())),
                span,
            };
            let value = ast::Expr {
                kind: ExprKind::Index {
                    target: Box::new(bag),
                    index: Box::new(index),
                },
                span,
            };
            let expr = match ty {
                KqlType::Real => call_expr("toreal", vec![value], span),
                KqlType::Long => call_expr("tolong", vec![value], span),
                _ => value,
            };
            let name = match item.names.get(position) {
                Some(name) => name.clone(),
                None => ast::Ident {
                    name: format!("{prefix}{key}"),
                    span,
                },
            };
            expanded.push(ast::NamedExpr {
                names: vec![name],
                expr,
                span: item.span,
            });
        }
    }
    Ok(Cow::Owned(expanded))
}

/// The error for a multi-column function inside a larger expression.
pub(super) fn nested_multi_output_error(call: &ast::Call) -> Option<EngineError> {
    let function = multi_output_function(&call.name.name)?;
    Some(EngineError::semantic(
        Diagnostic::new(
            format!(
                "`{}` gives {} columns and must be a whole item of `extend` or `project`",
                function.name,
                function.outputs.len()
            ),
            call.span,
        )
        .with_help(format!(
            "write `extend ({}) = {}(...)`, or use `{}(...)`, which returns one dynamic bag",
            function
                .outputs
                .iter()
                .map(|(key, _)| *key)
                .collect::<Vec<_>>()
                .join(", "),
            function.name,
            function.bag_function
        )),
    ))
}
