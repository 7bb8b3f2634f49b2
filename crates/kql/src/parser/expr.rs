//! Scalar expressions, calls and named expressions.
//!
//! Precedence from lowest to highest:
//! 1. `or`
//! 2. `and`
//! 3. comparisons and string operators (`==`, `has`, `in`, `between`, ...),
//!    which associate to the left
//! 4. `+` and `-`
//! 5. `*`, `/` and `%`
//! 6. unary `-` and `+`
//! 7. postfix `.name` and `[index]`

use super::tabular::ExprOrTabular;
use super::{PResult, Parser};
use crate::ast::{
    Arg, BinaryOp, Call, Expr, ExprKind, Ident, InList, Literal, NamedExpr, StringOp, StringOpKind,
    UnaryOp,
};
use crate::diagnostic::Diagnostic;
use crate::lexer::{Token, TokenKind};
use crate::span::Span;

const PREC_OR: u8 = 1;
const PREC_AND: u8 = 2;
const PREC_COMPARE: u8 = 3;
const PREC_ADD: u8 = 4;
const PREC_MULTIPLY: u8 = 5;

/// An infix operator recognised after an operand.
enum Infix {
    Binary(BinaryOp),
    In { negated: bool, case_sensitive: bool },
    HasAny { all: bool },
    Between { negated: bool },
}

impl Parser<'_> {
    pub(super) fn parse_expr(&mut self) -> PResult<Expr> {
        self.parse_binary(PREC_OR)
    }

    /// Precedence climbing: parses operands joined by infix operators whose
    /// precedence is at least `min_prec`.
    fn parse_binary(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut left = self.parse_unary()?;
        let mut folds = 0usize;
        let result = loop {
            let Some((prec, infix, end)) = self.peek_infix()? else {
                break Ok(left);
            };
            if prec < min_prec {
                break Ok(left);
            }
            if self.height >= super::MAX_HEIGHT {
                let token = self.peek()?;
                break Err(Diagnostic::new(
                    format!(
                        "expression is too long: more than {} chained operators",
                        super::MAX_HEIGHT
                    ),
                    token.span,
                ));
            }
            self.advance_to(end);
            let start = left.span.start;
            let target = Box::new(left);
            let kind = match infix {
                Infix::Binary(op) => {
                    let right = self.parse_binary(prec + 1)?;
                    ExprKind::Binary {
                        op,
                        left: target,
                        right: Box::new(right),
                    }
                }
                Infix::In {
                    negated,
                    case_sensitive,
                } => ExprKind::In {
                    target,
                    list: self.parse_in_list()?,
                    negated,
                    case_sensitive,
                },
                Infix::HasAny { all } => ExprKind::HasAny {
                    target,
                    list: self.parse_in_list()?,
                    all,
                },
                Infix::Between { negated } => {
                    let (low, high) = self.parse_between_range()?;
                    ExprKind::Between {
                        target,
                        low: Box::new(low),
                        high: Box::new(high),
                        negated,
                    }
                }
            };
            left = Expr {
                kind,
                span: self.span_from(start),
            };
            folds += 1;
            self.height += 1;
        };
        self.height -= folds;
        result
    }

    /// Returns the infix operator at the current position, its precedence
    /// and the offset where it ends, without consuming it.
    fn peek_infix(&mut self) -> PResult<Option<(u8, Infix, usize)>> {
        let token = self.peek()?;
        let end = token.span.end;
        let binary = |prec: u8, op: BinaryOp| Some((prec, Infix::Binary(op), end));
        let found = match &token.kind {
            TokenKind::EqEq => binary(PREC_COMPARE, BinaryOp::Equal),
            TokenKind::NotEq => binary(PREC_COMPARE, BinaryOp::NotEqual),
            TokenKind::Lt => binary(PREC_COMPARE, BinaryOp::Less),
            TokenKind::Le => binary(PREC_COMPARE, BinaryOp::LessOrEqual),
            TokenKind::Gt => binary(PREC_COMPARE, BinaryOp::Greater),
            TokenKind::Ge => binary(PREC_COMPARE, BinaryOp::GreaterOrEqual),
            TokenKind::EqTilde => binary(PREC_COMPARE, BinaryOp::EqualCi),
            TokenKind::BangTilde => binary(PREC_COMPARE, BinaryOp::NotEqualCi),
            TokenKind::Plus => binary(PREC_ADD, BinaryOp::Add),
            TokenKind::Minus => binary(PREC_ADD, BinaryOp::Subtract),
            TokenKind::Star => binary(PREC_MULTIPLY, BinaryOp::Multiply),
            TokenKind::Slash => binary(PREC_MULTIPLY, BinaryOp::Divide),
            TokenKind::Percent => binary(PREC_MULTIPLY, BinaryOp::Modulo),
            TokenKind::Ident => self.word_infix(&token, false)?,
            TokenKind::BangWord => self.word_infix(&token, true)?,
            _ => None,
        };
        Ok(found)
    }

    /// Maps a word operator (`and`, `has`, `!in~`, `matches regex`, ...) to
    /// its infix form.
    fn word_infix(&mut self, token: &Token, negated: bool) -> PResult<Option<(u8, Infix, usize)>> {
        let text = self.text(token);
        let word = if negated { &text[1..] } else { text };
        let end = token.span.end;
        if !negated {
            match word {
                "or" => return Ok(Some((PREC_OR, Infix::Binary(BinaryOp::Or), end))),
                "and" => return Ok(Some((PREC_AND, Infix::Binary(BinaryOp::And), end))),
                _ => {}
            }
        }
        let lower = word.to_ascii_lowercase();
        let infix = match lower.as_str() {
            "in" => {
                let next = crate::lexer::next_token(self.src, end)?;
                let tilde = next.kind == TokenKind::Tilde && next.span.start == end;
                let end = if tilde { next.span.end } else { end };
                return Ok(Some((
                    PREC_COMPARE,
                    Infix::In {
                        negated,
                        case_sensitive: !tilde,
                    },
                    end,
                )));
            }
            "between" => Infix::Between { negated },
            "has_any" if !negated => Infix::HasAny { all: false },
            "has_all" if !negated => Infix::HasAny { all: true },
            "matches" if !negated => {
                let next = crate::lexer::next_token(self.src, end)?;
                if next.kind != TokenKind::Ident || self.text(&next) != "regex" {
                    return Ok(None);
                }
                let op = StringOp {
                    kind: StringOpKind::MatchesRegex,
                    case_sensitive: true,
                    negated: false,
                };
                return Ok(Some((
                    PREC_COMPARE,
                    Infix::Binary(BinaryOp::String(op)),
                    next.span.end,
                )));
            }
            other => match string_op(other, negated) {
                Some(op) => Infix::Binary(BinaryOp::String(op)),
                None => return Ok(None),
            },
        };
        Ok(Some((PREC_COMPARE, infix, end)))
    }

    /// Parses `(a, b, ...)` or `(tabular expression)` after `in`, `has_any`
    /// or `has_all`.
    fn parse_in_list(&mut self) -> PResult<InList> {
        self.expect(&TokenKind::LParen, "to start the value list")?;
        let mut values = Vec::new();
        if self.eat(&TokenKind::RParen)? {
            return Ok(InList::Values(values));
        }
        match self.nested(|p| p.parse_expr_or_tabular())? {
            ExprOrTabular::Tabular(tabular) => {
                self.expect(&TokenKind::RParen, "to close the sub-query")?;
                return Ok(InList::Tabular(tabular));
            }
            ExprOrTabular::Expr(expr) => values.push(expr),
        }
        while self.eat(&TokenKind::Comma)? {
            values.push(self.nested(|p| p.parse_expr())?);
        }
        self.expect(&TokenKind::RParen, "or `,` in the value list")?;
        Ok(InList::Values(values))
    }

    /// Parses `(low .. high)` after `between`.
    fn parse_between_range(&mut self) -> PResult<(Expr, Expr)> {
        self.expect(&TokenKind::LParen, "after `between`")?;
        let (low, high) = self.nested(|p| {
            let low = p.parse_expr()?;
            p.expect(&TokenKind::DotDot, "between the `between` bounds")?;
            let high = p.parse_expr()?;
            Ok((low, high))
        })?;
        self.expect(&TokenKind::RParen, "to close the `between` range")?;
        Ok((low, high))
    }

    pub(super) fn parse_unary(&mut self) -> PResult<Expr> {
        let token = self.peek()?;
        let op = match token.kind {
            TokenKind::Minus => UnaryOp::Negate,
            TokenKind::Plus => UnaryOp::Plus,
            _ => return self.parse_postfix(),
        };
        self.bump()?;
        if let Some(literal) = self.parse_signed_number(op == UnaryOp::Negate)? {
            return Ok(Expr {
                kind: ExprKind::Literal(literal),
                span: self.span_from(token.span.start),
            });
        }
        let operand = self.nested(|p| p.parse_unary())?;
        Ok(Expr {
            span: token.span.to(operand.span),
            kind: ExprKind::Unary {
                op,
                operand: Box::new(operand),
            },
        })
    }

    /// After a sign, consumes a number or timespan literal that follows and
    /// returns it with the sign applied, so that `-9223372036854775808` and
    /// negative `datatable` cells are plain literals.
    fn parse_signed_number(&mut self, negative: bool) -> PResult<Option<Literal>> {
        let token = self.peek()?;
        let literal = match token.kind {
            TokenKind::Integer { value, hex } => {
                Literal::Long(self.signed_long(value, hex, negative, &token)?)
            }
            TokenKind::Real(value) => Literal::Real(if negative { -value } else { value }),
            TokenKind::Timespan(ticks) => Literal::Timespan(if negative { -ticks } else { ticks }),
            _ => return Ok(None),
        };
        self.bump()?;
        if self.at(&TokenKind::Dot)? || self.at(&TokenKind::LBracket)? {
            let token = self.peek()?;
            return Err(self.unexpected(&token, "an operator after the number"));
        }
        Ok(Some(literal))
    }

    /// Converts an unsigned integer token to a `long`. Hexadecimal literals
    /// above `i64::MAX` wrap to negative values (two's complement).
    pub(super) fn signed_long(
        &self,
        value: u64,
        hex: bool,
        negative: bool,
        token: &Token,
    ) -> PResult<i64> {
        let signed = if negative {
            0i64.checked_sub_unsigned(value)
        } else if hex {
            Some(value as i64)
        } else {
            i64::try_from(value).ok()
        };
        signed.ok_or_else(|| {
            Diagnostic::new(
                format!(
                    "integer literal `{}` does not fit in a long",
                    self.text(token)
                ),
                token.span,
            )
        })
    }

    fn parse_postfix(&mut self) -> PResult<Expr> {
        let expr = self.parse_primary()?;
        let saved_height = self.height;
        let result = self.parse_postfix_chain(expr);
        self.height = saved_height;
        result
    }

    /// Applies `.member` and `[index]` suffixes to `expr`. Each suffix adds a
    /// level to the tree, counted against [`super::MAX_HEIGHT`]; the caller
    /// restores the height afterwards.
    fn parse_postfix_chain(&mut self, mut expr: Expr) -> PResult<Expr> {
        loop {
            let token = self.peek()?;
            if matches!(token.kind, TokenKind::Dot | TokenKind::LBracket) {
                if self.height >= super::MAX_HEIGHT {
                    return Err(Diagnostic::new(
                        format!(
                            "expression is too long: more than {} chained operators",
                            super::MAX_HEIGHT
                        ),
                        token.span,
                    ));
                }
                self.height += 1;
            }
            let start = expr.span.start;
            match token.kind {
                TokenKind::Dot => {
                    let second = self.peek_second()?;
                    if second.kind == TokenKind::Ident {
                        self.bump()?;
                        let member = self.parse_ident("after `.`")?;
                        expr = Expr {
                            span: self.span_from(start),
                            kind: ExprKind::Member {
                                target: Box::new(expr),
                                member,
                            },
                        };
                    } else if second.kind == TokenKind::LBracket {
                        self.bump()?;
                        expr = self.parse_bracket_access(expr, true)?;
                    } else {
                        return Err(self.unexpected(&second, "a property name after `.`"));
                    }
                }
                TokenKind::LBracket => expr = self.parse_bracket_access(expr, false)?,
                _ => return Ok(expr),
            }
        }
    }

    /// Parses `[index]` after `target`. After a dot, a string literal index
    /// (`.['name']`) is a member access.
    fn parse_bracket_access(&mut self, target: Expr, after_dot: bool) -> PResult<Expr> {
        let start = target.span.start;
        let bracket = self.bump()?.span;
        let index = self.nested(|p| p.parse_expr())?;
        self.expect(&TokenKind::RBracket, "to close the index")?;
        let span = self.span_from(start);
        if after_dot && let ExprKind::Literal(Literal::String(name)) = index.kind {
            let member = Ident {
                name,
                span: Span::new(bracket.start, span.end),
            };
            return Ok(Expr {
                span,
                kind: ExprKind::Member {
                    target: Box::new(target),
                    member,
                },
            });
        }
        Ok(Expr {
            span,
            kind: ExprKind::Index {
                target: Box::new(target),
                index: Box::new(index),
            },
        })
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let token = self.peek()?;
        let start = token.span.start;
        let literal = |literal: Literal| Expr {
            kind: ExprKind::Literal(literal),
            span: token.span,
        };
        match &token.kind {
            TokenKind::Integer { value, hex } => {
                let value = self.signed_long(*value, *hex, false, &token)?;
                self.bump()?;
                Ok(literal(Literal::Long(value)))
            }
            TokenKind::Real(value) => {
                self.bump()?;
                Ok(literal(Literal::Real(*value)))
            }
            TokenKind::Timespan(ticks) => {
                self.bump()?;
                Ok(literal(Literal::Timespan(*ticks)))
            }
            TokenKind::String(_) => {
                let value = self.parse_string_value()?;
                Ok(Expr {
                    kind: ExprKind::Literal(Literal::String(value)),
                    span: self.span_from(start),
                })
            }
            TokenKind::Star => {
                self.bump()?;
                Ok(Expr {
                    kind: ExprKind::Star,
                    span: token.span,
                })
            }
            TokenKind::LParen => {
                self.bump()?;
                let inner = self.nested(|p| p.parse_expr_or_tabular())?;
                self.expect(&TokenKind::RParen, "to close the parenthesis")?;
                let kind = match inner {
                    ExprOrTabular::Expr(expr) => ExprKind::Paren(Box::new(expr)),
                    ExprOrTabular::Tabular(tabular) => ExprKind::Tabular(tabular),
                };
                Ok(Expr {
                    kind,
                    span: self.span_from(start),
                })
            }
            TokenKind::LBracket if self.at_ident()? => {
                let ident = self.parse_ident("in brackets")?;
                Ok(Expr {
                    span: ident.span,
                    kind: ExprKind::Name(ident),
                })
            }
            TokenKind::Ident => {
                let text = self.text(&token);
                let constant = match text.to_ascii_lowercase().as_str() {
                    "true" => Some(Literal::Bool(true)),
                    "false" => Some(Literal::Bool(false)),
                    "null" => Some(Literal::Null(None)),
                    _ => None,
                };
                if let Some(constant) = constant {
                    self.bump()?;
                    return Ok(literal(constant));
                }
                if self.peek_second()?.kind == TokenKind::LParen {
                    if let Some(typed) = self.parse_typed_literal()? {
                        return Ok(typed);
                    }
                    let call = self.parse_call()?;
                    return Ok(Expr {
                        span: call.span,
                        kind: ExprKind::Call(call),
                    });
                }
                let ident = self.parse_ident("")?;
                Ok(Expr {
                    span: ident.span,
                    kind: ExprKind::Name(ident),
                })
            }
            _ => Err(self.unexpected(&token, "an expression")),
        }
    }

    /// Parses `name(args)`.
    pub(super) fn parse_call(&mut self) -> PResult<Call> {
        let name = self.parse_ident("for the function")?;
        let args = self.parse_call_args()?;
        Ok(Call {
            span: self.span_from(name.span.start),
            name,
            args,
        })
    }

    /// Parses `(arg, name = arg, ...)`. An argument may be a tabular
    /// expression (`toscalar(T | count)`), stored as [`ExprKind::Tabular`].
    pub(super) fn parse_call_args(&mut self) -> PResult<Vec<Arg>> {
        self.expect(&TokenKind::LParen, "to start the argument list")?;
        let mut args = Vec::new();
        if self.eat(&TokenKind::RParen)? {
            return Ok(args);
        }
        self.nested(|p| {
            loop {
                let name = if p.peek()?.kind == TokenKind::Ident
                    && p.peek_second()?.kind == TokenKind::Assign
                {
                    let name = p.parse_ident("")?;
                    p.bump()?;
                    Some(name)
                } else {
                    None
                };
                let value = match p.parse_expr_or_tabular()? {
                    ExprOrTabular::Expr(expr) => expr,
                    ExprOrTabular::Tabular(tabular) => Expr {
                        span: tabular.span,
                        kind: ExprKind::Tabular(tabular),
                    },
                };
                args.push(Arg { name, value });
                if !p.eat(&TokenKind::Comma)? {
                    return Ok(());
                }
            }
        })?;
        self.expect(&TokenKind::RParen, "or `,` in the argument list")?;
        Ok(args)
    }

    /// Parses `Name = expr`, `(A, B) = expr` or a bare `expr`.
    pub(super) fn parse_named_expr(&mut self) -> PResult<NamedExpr> {
        let start = self.next_start()?;
        let names = self.parse_assigned_names()?;
        let expr = self.parse_expr()?;
        Ok(NamedExpr {
            names,
            expr,
            span: self.span_from(start),
        })
    }

    /// Parses a comma-separated list of [`NamedExpr`].
    pub(super) fn parse_named_expr_list(&mut self) -> PResult<Vec<NamedExpr>> {
        let mut items = vec![self.parse_named_expr()?];
        while self.eat(&TokenKind::Comma)? {
            items.push(self.parse_named_expr()?);
        }
        Ok(items)
    }

    /// Consumes `Name =` or `(A, B, ...) =` if it comes next and returns the
    /// names; returns an empty list and consumes nothing otherwise.
    pub(super) fn parse_assigned_names(&mut self) -> PResult<Vec<Ident>> {
        let saved = self.save();
        let mut names = Vec::new();
        let parenthesized = self.eat(&TokenKind::LParen)?;
        loop {
            if !self.at_ident()? {
                self.restore(saved);
                return Ok(Vec::new());
            }
            names.push(self.parse_ident("")?);
            if !parenthesized || !self.eat(&TokenKind::Comma)? {
                break;
            }
        }
        if parenthesized && !self.eat(&TokenKind::RParen)? {
            self.restore(saved);
            return Ok(Vec::new());
        }
        if !self.eat(&TokenKind::Assign)? {
            self.restore(saved);
            return Ok(Vec::new());
        }
        Ok(names)
    }
}

/// Maps a string operator word (without `!`) to its [`StringOp`].
fn string_op(word: &str, negated: bool) -> Option<StringOp> {
    let (kind, case_sensitive, negated) = match word {
        "has" => (StringOpKind::Has, false, negated),
        "has_cs" => (StringOpKind::Has, true, negated),
        "hasprefix" => (StringOpKind::HasPrefix, false, negated),
        "hasprefix_cs" => (StringOpKind::HasPrefix, true, negated),
        "hassuffix" => (StringOpKind::HasSuffix, false, negated),
        "hassuffix_cs" => (StringOpKind::HasSuffix, true, negated),
        "contains" => (StringOpKind::Contains, false, negated),
        "contains_cs" | "containscs" => (StringOpKind::Contains, true, negated),
        "notcontains" if !negated => (StringOpKind::Contains, false, true),
        "notcontainscs" if !negated => (StringOpKind::Contains, true, true),
        "startswith" => (StringOpKind::StartsWith, false, negated),
        "startswith_cs" => (StringOpKind::StartsWith, true, negated),
        "endswith" => (StringOpKind::EndsWith, false, negated),
        "endswith_cs" => (StringOpKind::EndsWith, true, negated),
        _ => return None,
    };
    Some(StringOp {
        kind,
        case_sensitive,
        negated,
    })
}
