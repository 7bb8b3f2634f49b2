//! Scalar expressions: names, literals, operators.

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use std::ops::Not as _;

use datafusion::logical_expr::{Expr, Operator, binary_expr, cast, lit, when};
use kql::ast::{self, BinaryOp, ExprKind, InList, Literal, StringOpKind};
use kql::{Diagnostic, KqlType, Span};

use super::{Binding, Planner, Relation, Typed, column_expr, physical_type, unknown_name};
use crate::error::EngineError;
use crate::functions::{self as f, strings::TermArg};
use crate::time;

impl Planner<'_> {
    /// Plans a scalar expression against the columns of `input`.
    pub(crate) fn plan_expr(
        &mut self,
        expr: &ast::Expr,
        input: &Relation,
    ) -> Result<Typed, EngineError> {
        match &expr.kind {
            ExprKind::Literal(literal) => self.plan_literal(literal, expr.span),
            ExprKind::Name(ident) => self.plan_name(ident, input),
            ExprKind::Paren(inner) => self.plan_expr(inner, input),
            ExprKind::Call(call) => self.plan_call(call, input),
            ExprKind::Unary { op, operand } => {
                let operand = self.plan_expr(operand, input)?;
                match op {
                    ast::UnaryOp::Plus => Ok(operand),
                    ast::UnaryOp::Negate => {
                        require_numeric_like(&operand, expr.span, "`-`")?;
                        Ok(Typed::new(
                            Expr::Negative(Box::new(operand.expr)),
                            operand.ty,
                        ))
                    }
                }
            }
            ExprKind::Binary { op, left, right } => {
                self.plan_binary(*op, left, right, input, expr.span)
            }
            ExprKind::In {
                target,
                list,
                negated,
                case_sensitive,
            } => self.plan_in(target, list, *negated, *case_sensitive, input),
            ExprKind::Between {
                target,
                low,
                high,
                negated,
            } => {
                let target = self.plan_expr(target, input)?;
                let low = self.plan_expr(low, input)?;
                let mut high = self.plan_expr(high, input)?;
                if target.ty == KqlType::Datetime && high.ty == KqlType::Timespan {
                    high = Typed::new(low.expr.clone() + high.expr, KqlType::Datetime);
                }
                let inside = target
                    .expr
                    .clone()
                    .gt_eq(low.expr)
                    .and(target.expr.lt_eq(high.expr));
                Ok(Typed::new(
                    if *negated { inside.not() } else { inside },
                    KqlType::Bool,
                ))
            }
            ExprKind::HasAny { target, list, all } => {
                self.plan_has_any(target, list, *all, input, expr.span)
            }
            ExprKind::Member { target, member } => {
                let target = self.plan_expr(target, input)?;
                let json = f::to_dynamic(target);
                Ok(Typed::new(
                    f::dynamic_get(json, lit(member.name.clone())),
                    KqlType::Dynamic,
                ))
            }
            ExprKind::Index { target, index } => {
                let target = self.plan_expr(target, input)?;
                let index = self.plan_expr(index, input)?;
                let key = f::to_string(index);
                Ok(Typed::new(
                    f::dynamic_get(f::to_dynamic(target), key),
                    KqlType::Dynamic,
                ))
            }
            ExprKind::Star => Err(EngineError::semantic(Diagnostic::new(
                "`*` is only allowed as an argument of functions such as `count(*)` or `arg_max(x, *)`",
                expr.span,
            ))),
            ExprKind::Tabular(_) => Err(EngineError::not_supported(Diagnostic::new(
                "a tabular expression in a scalar position is not supported yet; use `toscalar()` when it is",
                expr.span,
            ))),
        }
    }

    fn plan_name(&mut self, ident: &ast::Ident, input: &Relation) -> Result<Typed, EngineError> {
        if let Some(column) = input.column(&ident.name) {
            return Ok(Typed::new(column_expr(&column.name), column.ty));
        }
        match self.lookup(&ident.name) {
            Some(Binding::Scalar(bound)) => {
                self.enter_expansion(ident.span)?;
                let result = self.plan_expr(&bound, input);
                self.leave_expansion();
                result
            }
            Some(Binding::Argument { expr, scope_depth }) => {
                // The argument's names mean what they meant at the call,
                // so the function's own scopes are hidden while planning it.
                self.enter_expansion(ident.span)?;
                let hidden = self.scopes.split_off(scope_depth);
                let result = self.plan_expr(&expr, input);
                self.scopes.extend(hidden);
                self.leave_expansion();
                result
            }
            Some(Binding::Tabular(_) | Binding::Relation(_)) => {
                Err(EngineError::semantic(Diagnostic::new(
                    format!(
                        "`{}` is a tabular value and cannot be used as a scalar here",
                        ident.name
                    ),
                    ident.span,
                )))
            }
            Some(Binding::Function(_)) => Err(EngineError::semantic(Diagnostic::new(
                format!("`{}` is a function; call it with parentheses", ident.name),
                ident.span,
            ))),
            None => {
                let names: Vec<&str> = input.columns.iter().map(|c| c.name.as_str()).collect();
                Err(unknown_name("column", ident, &names))
            }
        }
    }

    pub(crate) fn plan_literal(&self, literal: &Literal, span: Span) -> Result<Typed, EngineError> {
        let typed = match literal {
            Literal::Null(None) => Typed::new(lit(ScalarValue::Utf8(None)), KqlType::Dynamic),
            Literal::Null(Some(type_name)) => {
                let ty =
                    KqlType::from_name(&type_name.name).ok_or_else(|| unknown_type(type_name))?;
                let null =
                    ScalarValue::try_from(physical_type(ty)).map_err(EngineError::internal)?;
                Typed::new(lit(null), ty)
            }
            Literal::Bool(value) => Typed::new(lit(*value), KqlType::Bool),
            Literal::Int(value) => Typed::new(lit(*value), KqlType::Int),
            Literal::Long(value) => Typed::new(lit(*value), KqlType::Long),
            Literal::Real(value) => Typed::new(lit(*value), KqlType::Real),
            Literal::Decimal(text) => {
                let value: f64 = text.trim().parse().map_err(|_| {
                    EngineError::semantic(Diagnostic::new(
                        format!("invalid decimal literal `{text}`"),
                        span,
                    ))
                })?;
                Typed::new(lit(value), KqlType::Decimal)
            }
            Literal::String(value) => Typed::new(lit(value.clone()), KqlType::String),
            Literal::Datetime(text) => {
                let ticks = if text.trim().is_empty() {
                    self.now_ticks
                } else {
                    time::parse_datetime(text)
                        .or_else(|| time::parse_datetime_parts(text))
                        .ok_or_else(|| {
                        EngineError::semantic(
                            Diagnostic::new(format!("invalid datetime literal `{text}`"), span)
                                .with_help("write it as ISO 8601, for example datetime(2024-05-01 13:45:00)"),
                        )
                    })?
                };
                Typed::new(lit(ticks), KqlType::Datetime)
            }
            Literal::Timespan(ticks) => Typed::new(lit(*ticks), KqlType::Timespan),
            Literal::Guid(text) => Typed::new(lit(text.trim().to_lowercase()), KqlType::Guid),
            Literal::Dynamic(text) => {
                let value: serde_json::Value = serde_json::from_str(text).map_err(|err| {
                    EngineError::semantic(Diagnostic::new(
                        format!("invalid dynamic literal: {err}"),
                        span,
                    ))
                })?;
                if value.is_null() {
                    Typed::new(lit(ScalarValue::Utf8(None)), KqlType::Dynamic)
                } else {
                    Typed::new(lit(value.to_string()), KqlType::Dynamic)
                }
            }
        };
        Ok(typed)
    }

    fn plan_binary(
        &mut self,
        op: BinaryOp,
        left: &ast::Expr,
        right: &ast::Expr,
        input: &Relation,
        span: Span,
    ) -> Result<Typed, EngineError> {
        let left = self.plan_expr(left, input)?;
        let right = self.plan_expr(right, input)?;
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let l = to_bool(left);
                let r = to_bool(right);
                let expr = if op == BinaryOp::And {
                    l.and(r)
                } else {
                    l.or(r)
                };
                Ok(Typed::new(expr, KqlType::Bool))
            }
            BinaryOp::Add
            | BinaryOp::Subtract
            | BinaryOp::Multiply
            | BinaryOp::Divide
            | BinaryOp::Modulo => arithmetic(op, left, right, span),
            BinaryOp::Equal
            | BinaryOp::NotEqual
            | BinaryOp::Less
            | BinaryOp::LessOrEqual
            | BinaryOp::Greater
            | BinaryOp::GreaterOrEqual => comparison(op, left, right),
            BinaryOp::EqualCi | BinaryOp::NotEqualCi => {
                let l = f::lower(f::to_string(left));
                let r = f::lower(f::to_string(right));
                let expr = if op == BinaryOp::EqualCi {
                    l.eq(r)
                } else {
                    l.not_eq(r)
                };
                Ok(Typed::new(expr, KqlType::Bool))
            }
            BinaryOp::String(string_op) => {
                let haystack = f::to_string(left);
                let needle = f::to_string(right);
                let expr = match string_op.kind {
                    StringOpKind::MatchesRegex => f::matches_regex(haystack, needle),
                    kind => f::string_operator(kind, string_op.case_sensitive, haystack, needle),
                };
                Ok(Typed::new(
                    if string_op.negated { expr.not() } else { expr },
                    KqlType::Bool,
                ))
            }
        }
    }

    fn plan_in(
        &mut self,
        target: &ast::Expr,
        list: &InList,
        negated: bool,
        case_sensitive: bool,
        input: &Relation,
    ) -> Result<Typed, EngineError> {
        let target = self.plan_expr(target, input)?;
        if let Some(tabular) = self.tabular_list(list)? {
            let column = self.first_column(tabular)?;
            let (target_expr, column_expr_) = if case_sensitive {
                let ty = target.ty;
                (coerce_to(target, ty), coerce_to(column, ty))
            } else {
                (
                    f::lower(f::to_string(target)),
                    f::lower(f::to_string(column)),
                )
            };
            return self.in_subquery(target_expr, column_expr_, negated);
        }
        let items = self.plan_list(list, input)?;
        let (target_expr, values) = if case_sensitive {
            let values = items
                .into_iter()
                .map(|item| coerce_to(item, target.ty))
                .collect::<Vec<_>>();
            (coerce_to(target.clone(), target.ty), values)
        } else {
            let values = items
                .into_iter()
                .map(|item| f::lower(f::to_string(item)))
                .collect();
            (f::lower(f::to_string(target)), values)
        };
        if values.is_empty() {
            return Ok(Typed::new(lit(negated), KqlType::Bool));
        }
        Ok(Typed::new(
            target_expr.in_list(values, negated),
            KqlType::Bool,
        ))
    }

    /// Returns the relation of an `in` list that is tabular: a pipeline in
    /// parentheses, or a single name bound to a table or tabular `let`.
    fn tabular_list(&mut self, list: &InList) -> Result<Option<Relation>, EngineError> {
        match list {
            InList::Tabular(tabular) => Ok(Some(self.plan_tabular(tabular)?)),
            InList::Values(values) => match values.as_slice() {
                // `in ((T))`: parentheses around a tabular name change nothing.
                [single] => match &super::summarize::strip_parens(single).kind {
                    ExprKind::Name(ident) if self.is_tabular_name(&ident.name) => {
                        let tabular = ast::TabularExpr {
                            source: ast::Source::Table(ident.clone()),
                            operators: Vec::new(),
                            span: ident.span,
                        };
                        Ok(Some(self.plan_tabular(&tabular)?))
                    }
                    ExprKind::Tabular(tabular) => Ok(Some(self.plan_tabular(tabular)?)),
                    _ => Ok(None),
                },
                _ => Ok(None),
            },
        }
    }

    /// Returns the first column of a relation as a typed expression over
    /// that relation, keeping the relation for [`Self::in_subquery`].
    fn first_column(&mut self, relation: Relation) -> Result<Typed, EngineError> {
        let Some(first) = relation.columns.first().cloned() else {
            return Err(EngineError::semantic(Diagnostic::new(
                "the tabular expression on the right of `in` has no columns",
                Span::default(),
            )));
        };
        self.pending_subquery = Some(relation);
        Ok(Typed::new(column_expr(&first.name), first.ty))
    }

    /// Builds `target in (subquery)` from the relation stored by
    /// [`Self::first_column`], projected to `value`.
    fn in_subquery(
        &mut self,
        target: Expr,
        value: Expr,
        negated: bool,
    ) -> Result<Typed, EngineError> {
        let relation = self.pending_subquery.take().ok_or_else(|| {
            EngineError::Internal("no subquery relation was prepared for `in`".to_string())
        })?;
        let plan = datafusion::logical_expr::LogicalPlanBuilder::from(relation.plan)
            .project(vec![value.alias("__in_value")])
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        let expr = if negated {
            datafusion::logical_expr::expr_fn::not_in_subquery(target, std::sync::Arc::new(plan))
        } else {
            datafusion::logical_expr::expr_fn::in_subquery(target, std::sync::Arc::new(plan))
        };
        Ok(Typed::new(expr, KqlType::Bool))
    }

    /// Plans `toscalar(T | ...)`: the first column of the first row.
    pub(crate) fn plan_toscalar(&mut self, arg: &ast::Expr) -> Result<Typed, EngineError> {
        let list = InList::Values(vec![arg.clone()]);
        let Some(relation) = self.tabular_list(&list)? else {
            return Err(EngineError::semantic(Diagnostic::new(
                "`toscalar` expects a tabular expression such as (T | summarize count())",
                arg.span,
            )));
        };
        let Some(first) = relation.columns.first().cloned() else {
            return Err(EngineError::semantic(Diagnostic::new(
                "the tabular expression has no columns",
                arg.span,
            )));
        };
        let plan = datafusion::logical_expr::LogicalPlanBuilder::from(relation.plan)
            .project(vec![column_expr(&first.name)])
            .and_then(|b| b.limit(0, Some(1)))
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        let expr = datafusion::logical_expr::expr_fn::scalar_subquery(std::sync::Arc::new(plan));
        Ok(Typed::new(expr, first.ty))
    }

    /// Plans the items of an `in` / `has_any` list. A `dynamic([...])` item
    /// or a `let` name bound to one is expanded into its elements.
    fn plan_list(&mut self, list: &InList, input: &Relation) -> Result<Vec<Typed>, EngineError> {
        let InList::Values(values) = list else {
            return Err(EngineError::not_supported(Diagnostic::new(
                "a tabular expression as the right side of `in` or `has_any` is not supported yet",
                list_span(list),
            )));
        };
        let mut items = Vec::new();
        for value in values {
            let typed = self.plan_expr(value, input)?;
            if typed.ty == KqlType::Dynamic
                && let Some(elements) = constant_json_array(&typed.expr)
            {
                items.extend(elements);
                continue;
            }
            items.push(typed);
        }
        Ok(items)
    }

    fn plan_has_any(
        &mut self,
        target: &ast::Expr,
        list: &InList,
        all: bool,
        input: &Relation,
        span: Span,
    ) -> Result<Typed, EngineError> {
        let target = self.plan_expr(target, input)?;
        let items = match self.tabular_list(list)? {
            Some(relation) => vec![self.column_as_set(relation, span)?],
            None => self.plan_list(list, input)?,
        };
        if items.is_empty() {
            return Err(EngineError::semantic(Diagnostic::new(
                "`has_any` and `has_all` need at least one term",
                span,
            )));
        }
        let haystack = f::to_string(target);
        let kinds = items
            .iter()
            .map(|item| match item.ty {
                KqlType::Dynamic => TermArg::Dynamic,
                _ => TermArg::Text,
            })
            .collect();
        let terms: Vec<Expr> = items
            .into_iter()
            .map(|item| match item.ty {
                KqlType::Dynamic => item.expr,
                _ => f::to_string(item),
            })
            .collect();
        Ok(Typed::new(
            f::has_any(haystack, terms, kinds, all),
            KqlType::Bool,
        ))
    }

    /// Plans the distinct values of a relation's first column as one
    /// dynamic array: a scalar subquery, as `toscalar(T | summarize
    /// make_set(Column))` would give.
    fn column_as_set(&mut self, relation: Relation, span: Span) -> Result<Typed, EngineError> {
        let Some(first) = relation.columns.first().cloned() else {
            return Err(EngineError::semantic(Diagnostic::new(
                "the tabular expression on the right of `has_any` has no columns",
                span,
            )));
        };
        let set = super::summarize::make_set_json(column_expr(&first.name), first.ty);
        let plan = datafusion::logical_expr::LogicalPlanBuilder::from(relation.plan)
            .aggregate(Vec::<Expr>::new(), vec![set.alias("__terms")])
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        let expr = datafusion::logical_expr::expr_fn::scalar_subquery(std::sync::Arc::new(plan));
        Ok(Typed::new(expr, KqlType::Dynamic))
    }
}

fn list_span(list: &InList) -> Span {
    match list {
        InList::Values(values) => values.first().map(|v| v.span).unwrap_or_default(),
        InList::Tabular(tabular) => tabular.span,
    }
}

fn unknown_type(type_name: &ast::TypeName) -> EngineError {
    EngineError::semantic(
        Diagnostic::new(format!("unknown type `{}`", type_name.name), type_name.span)
            .with_help("KQL types are bool, int, long, real, decimal, string, datetime, timespan, guid and dynamic"),
    )
}

/// Expands a constant JSON array literal into typed element literals.
fn constant_json_array(expr: &Expr) -> Option<Vec<Typed>> {
    let Expr::Literal(ScalarValue::Utf8(Some(text)), _) = expr else {
        return None;
    };
    let serde_json::Value::Array(elements) = serde_json::from_str(text).ok()? else {
        return None;
    };
    Some(
        elements
            .into_iter()
            .map(|element| match element {
                serde_json::Value::String(s) => Typed::new(lit(s), KqlType::String),
                serde_json::Value::Bool(b) => Typed::new(lit(b), KqlType::Bool),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => Typed::new(lit(i), KqlType::Long),
                    None => Typed::new(lit(n.as_f64().unwrap_or(f64::NAN)), KqlType::Real),
                },
                other => Typed::new(lit(other.to_string()), KqlType::Dynamic),
            })
            .collect(),
    )
}

/// Treats a value as a predicate: bool as is, dynamic converted.
pub(crate) fn to_bool(typed: Typed) -> Expr {
    match typed.ty {
        KqlType::Bool => typed.expr,
        _ => f::to_bool(typed),
    }
}

fn require_numeric_like(typed: &Typed, span: Span, what: &str) -> Result<(), EngineError> {
    if typed.ty.is_numeric() || matches!(typed.ty, KqlType::Timespan | KqlType::Dynamic) {
        return Ok(());
    }
    Err(EngineError::semantic(Diagnostic::new(
        format!(
            "{what} expects a number or a timespan, but the value is of type {}",
            typed.ty
        ),
        span,
    )))
}

/// The common numeric type of two operands: real if either is real, else long.
fn numeric_result(left: KqlType, right: KqlType) -> KqlType {
    if matches!(left, KqlType::Real | KqlType::Decimal)
        || matches!(right, KqlType::Real | KqlType::Decimal)
    {
        KqlType::Real
    } else if left == KqlType::Int && right == KqlType::Int {
        KqlType::Int
    } else {
        KqlType::Long
    }
}

/// Converts a value to the engine type of `ty`, for comparisons and lists.
pub fn coerce_to(typed: Typed, ty: KqlType) -> Expr {
    if typed.ty == ty {
        return typed.expr;
    }
    match ty {
        KqlType::String | KqlType::Guid => f::to_string(typed),
        KqlType::Bool => f::to_bool(typed),
        KqlType::Int | KqlType::Long | KqlType::Real | KqlType::Decimal => {
            if typed.ty == KqlType::Dynamic || typed.ty == KqlType::String {
                f::to_number(typed, ty)
            } else {
                cast(typed.expr, physical_type(ty))
            }
        }
        KqlType::Datetime => match typed.ty {
            KqlType::String | KqlType::Dynamic => f::to_datetime(typed),
            _ => typed.expr,
        },
        KqlType::Timespan => match typed.ty {
            KqlType::String | KqlType::Dynamic => f::to_timespan(typed),
            _ => typed.expr,
        },
        KqlType::Dynamic => f::to_dynamic(typed),
    }
}

fn comparison(op: BinaryOp, left: Typed, right: Typed) -> Result<Typed, EngineError> {
    let operator = match op {
        BinaryOp::Equal => Operator::Eq,
        BinaryOp::NotEqual => Operator::NotEq,
        BinaryOp::Less => Operator::Lt,
        BinaryOp::LessOrEqual => Operator::LtEq,
        BinaryOp::Greater => Operator::Gt,
        _ => Operator::GtEq,
    };
    // A dynamic side takes the type of the other side; numbers meet as
    // numbers, anything else compared with a string compares as text.
    let target = match (left.ty, right.ty) {
        (a, b) if a == b => a,
        (KqlType::Dynamic, other) | (other, KqlType::Dynamic) => other,
        (a, b) if a.is_numeric() && b.is_numeric() => numeric_result(a, b),
        (KqlType::String, _) | (_, KqlType::String) | (KqlType::Guid, _) | (_, KqlType::Guid) => {
            KqlType::String
        }
        (a, _) => a,
    };
    let target = if target == KqlType::Int {
        KqlType::Long
    } else {
        target
    };
    let l = coerce_to(left, target);
    let r = coerce_to(right, target);
    let compared = binary_expr(l.clone(), operator, r.clone());
    // KQL: `==` with exactly one null side is false and `!=` is true; with
    // two null sides both stay null.
    let expr = match operator {
        Operator::Eq if is_null_literal(&l) || is_null_literal(&r) => {
            let other = if is_null_literal(&l) { r } else { l };
            when(other.is_null(), lit(ScalarValue::Boolean(None)))
                .otherwise(lit(false))
                .map_err(EngineError::internal)?
        }
        Operator::NotEq => {
            let both_null = l.is_null().and(r.is_null());
            let fallback = when(both_null, lit(ScalarValue::Boolean(None)))
                .otherwise(lit(true))
                .map_err(EngineError::internal)?;
            datafusion::functions::core::expr_fn::coalesce(vec![compared, fallback])
        }
        _ => compared,
    };
    Ok(Typed::new(expr, KqlType::Bool))
}

fn is_null_literal(expr: &Expr) -> bool {
    match expr {
        Expr::Literal(value, _) => value.is_null(),
        Expr::Cast(cast) => is_null_literal(&cast.expr),
        _ => false,
    }
}

fn arithmetic(op: BinaryOp, left: Typed, right: Typed, span: Span) -> Result<Typed, EngineError> {
    use KqlType::*;
    let (l, r) = (left.ty, right.ty);
    let result_type = match (op, l, r) {
        (BinaryOp::Subtract, Datetime, Datetime) => Timespan,
        (BinaryOp::Add | BinaryOp::Subtract, Datetime, Timespan) => Datetime,
        (BinaryOp::Add, Timespan, Datetime) => Datetime,
        (BinaryOp::Add | BinaryOp::Subtract | BinaryOp::Modulo, Timespan, Timespan) => Timespan,
        (BinaryOp::Divide, Timespan, Timespan) => Real,
        (BinaryOp::Multiply | BinaryOp::Divide, Timespan, n) if n.is_numeric() => Timespan,
        (BinaryOp::Multiply, n, Timespan) if n.is_numeric() => Timespan,
        (_, a, b) if a.is_numeric() && b.is_numeric() => numeric_result(a, b),
        (_, Dynamic, b) if b.is_numeric() => numeric_result(Real, b),
        (_, a, Dynamic) if a.is_numeric() => numeric_result(a, Real),
        (_, Dynamic, Dynamic) => Real,
        _ => {
            return Err(EngineError::semantic(Diagnostic::new(
                format!("operator cannot be applied to values of type {l} and {r}"),
                span,
            )));
        }
    };

    let operator = match op {
        BinaryOp::Add => Operator::Plus,
        BinaryOp::Subtract => Operator::Minus,
        BinaryOp::Multiply => Operator::Multiply,
        BinaryOp::Divide => Operator::Divide,
        _ => Operator::Modulo,
    };

    // Timespan scaled by a real number: compute in reals, round to ticks.
    if result_type == Timespan && matches!(op, BinaryOp::Multiply | BinaryOp::Divide) {
        let l = cast(left.expr, DataType::Float64);
        let r = cast(right.expr, DataType::Float64);
        let value = binary_expr(l, operator, r);
        return Ok(Typed::new(
            cast(
                datafusion::functions::math::expr_fn::round(vec![value]),
                DataType::Int64,
            ),
            Timespan,
        ));
    }
    if result_type == Real && l == Timespan && r == Timespan {
        let value = binary_expr(
            cast(left.expr, DataType::Float64),
            operator,
            cast(right.expr, DataType::Float64),
        );
        return Ok(Typed::new(value, Real));
    }

    let operand_type = match result_type {
        Datetime | Timespan => Long,
        other => other,
    };
    let l = coerce_to(left, if l == Dynamic { operand_type } else { l });
    let r = coerce_to(right, if r == Dynamic { operand_type } else { r });
    let physical = physical_type(operand_type);
    let l = cast(l, physical.clone());
    let r = cast(r, physical);

    let value = match (op, operand_type) {
        // Integer division or modulo by zero yields null instead of an error.
        (BinaryOp::Divide | BinaryOp::Modulo, Int | Long) => {
            let safe_right = when(
                r.clone().eq(lit_zero(operand_type)),
                lit(ScalarValue::try_from(physical_type(operand_type))
                    .map_err(EngineError::internal)?),
            )
            .otherwise(r)
            .map_err(EngineError::internal)?;
            if op == BinaryOp::Modulo {
                // KQL's `%` result is never negative: ((a % b) + |b|) % |b|.
                let abs_right = datafusion::functions::math::expr_fn::abs(safe_right.clone());
                binary_expr(
                    binary_expr(
                        binary_expr(l, Operator::Modulo, safe_right),
                        Operator::Plus,
                        abs_right.clone(),
                    ),
                    Operator::Modulo,
                    abs_right,
                )
            } else {
                binary_expr(l, Operator::Divide, safe_right)
            }
        }
        _ => binary_expr(l, operator, r),
    };
    Ok(Typed::new(value, result_type))
}

fn lit_zero(ty: KqlType) -> Expr {
    match ty {
        KqlType::Int => lit(0i32),
        _ => lit(0i64),
    }
}
