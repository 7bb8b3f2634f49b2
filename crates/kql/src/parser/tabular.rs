//! Statements, `let` bindings, function definitions and pipeline sources.

use super::{PResult, Parser};
use crate::ast::{
    Call, Datatable, Expr, ExprKind, FunctionDef, FunctionParam, LetBody, LetStatement, LetValue,
    ParamKind, Query, RangeSpec, Source, Statement, TabularExpr, UnionSpec,
};
use crate::diagnostic::Diagnostic;
use crate::lexer::TokenKind;

/// A parse result that may be scalar or tabular, for positions where both
/// are allowed (`let` values, parentheses, call arguments).
pub(super) enum ExprOrTabular {
    Expr(Expr),
    Tabular(Box<TabularExpr>),
}

impl Parser<'_> {
    pub(super) fn parse_query(&mut self) -> PResult<Query> {
        let mut statements = Vec::new();
        let mut body: Option<TabularExpr> = None;
        loop {
            while self.eat(&TokenKind::Semi)? {}
            let token = self.peek()?;
            if token.kind == TokenKind::Eof {
                break;
            }
            if let Some(body) = &body {
                return Err(Diagnostic::new(
                    format!(
                        "expected end of query after the query body, found {}",
                        self.describe(&token)
                    ),
                    token.span,
                )
                .with_help(format!(
                    "a query has one tabular expression, which ends at offset {}",
                    body.span.end
                )));
            }
            if self.at_let()? {
                statements.push(Statement::Let(self.parse_let()?));
                self.expect_statement_end()?;
                continue;
            }
            self.reject_unsupported_statement()?;
            let tabular = self.parse_tabular_expr()?;
            let next = self.peek()?;
            if !matches!(next.kind, TokenKind::Semi | TokenKind::Eof) {
                return Err(self.unexpected(&next, "`|`, `;` or end of query"));
            }
            body = Some(tabular);
        }
        Ok(Query {
            statements,
            body,
            span: crate::span::Span::new(0, self.src.len()),
        })
    }

    fn at_let(&mut self) -> PResult<bool> {
        Ok(self.at_word("let")? && self.peek_second()?.kind != TokenKind::Assign)
    }

    fn expect_statement_end(&mut self) -> PResult<()> {
        let token = self.peek()?;
        match token.kind {
            TokenKind::Semi => {
                self.bump()?;
                Ok(())
            }
            TokenKind::Eof => Ok(()),
            _ => Err(self.unexpected(&token, "`;` after the `let` statement")),
        }
    }

    /// Rejects query-level statements this parser does not model, such as
    /// `set` and `declare`, with a message naming them.
    fn reject_unsupported_statement(&mut self) -> PResult<()> {
        let token = self.peek()?;
        let word = self.text(&token);
        let is_statement = matches!(word, "set" | "declare" | "alias" | "pattern" | "restrict")
            && self.peek_second()?.kind == TokenKind::Ident;
        if token.kind == TokenKind::Ident && is_statement {
            return Err(Diagnostic::new(
                format!("`{word}` statements are not supported"),
                token.span,
            ));
        }
        Ok(())
    }

    /// Parses `let Name = value` without the closing `;`.
    fn parse_let(&mut self) -> PResult<LetStatement> {
        let start = self.expect_word("let", "to start a statement")?.span.start;
        let name = self.parse_ident("after `let`")?;
        self.expect(&TokenKind::Assign, "after the `let` name")?;

        let at_view = self.at_word("view")? && self.peek_second()?.kind == TokenKind::LParen;
        if at_view {
            self.bump()?;
        }
        let value = if at_view || (self.at(&TokenKind::LParen)? && self.at_function_def()?) {
            LetValue::Function(self.parse_function_def()?)
        } else {
            match self.parse_expr_or_tabular()? {
                ExprOrTabular::Tabular(tabular) => LetValue::Tabular(*tabular),
                ExprOrTabular::Expr(expr) => match expr.kind {
                    ExprKind::Call(call) if call.name.name == "materialize" => {
                        LetValue::Tabular(TabularExpr {
                            span: call.span,
                            source: Source::Call(call),
                            operators: Vec::new(),
                        })
                    }
                    kind => LetValue::Expr(Expr {
                        kind,
                        span: expr.span,
                    }),
                },
            }
        };
        Ok(LetStatement {
            name,
            value,
            span: self.span_from(start),
        })
    }

    /// True when the `(` at the current position opens a parameter list:
    /// its matching `)` is followed by `{`.
    fn at_function_def(&mut self) -> PResult<bool> {
        let saved = self.save();
        let mut depth = 0usize;
        let result = loop {
            let Ok(token) = self.bump() else { break false };
            match token.kind {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        break matches!(self.peek().map(|t| t.kind), Ok(TokenKind::LBrace));
                    }
                }
                TokenKind::Eof => break false,
                _ => {}
            }
        };
        self.restore(saved);
        Ok(result)
    }

    /// Parses `(params) { [let ...;]* body [;] }`.
    fn parse_function_def(&mut self) -> PResult<FunctionDef> {
        let start = self
            .expect(&TokenKind::LParen, "to start the parameter list")?
            .span
            .start;
        let mut params = Vec::new();
        if !self.eat(&TokenKind::RParen)? {
            loop {
                params.push(self.parse_function_param()?);
                if !self.eat(&TokenKind::Comma)? {
                    break;
                }
            }
            self.expect(&TokenKind::RParen, "to close the parameter list")?;
        }

        self.expect(&TokenKind::LBrace, "to start the function body")?;
        let (statements, body) = self.nested(|p| {
            let mut statements = Vec::new();
            loop {
                while p.eat(&TokenKind::Semi)? {}
                if !p.at_let()? {
                    break;
                }
                statements.push(Statement::Let(p.parse_let()?));
                p.expect(&TokenKind::Semi, "after the `let` statement")?;
            }
            let body = match p.parse_expr_or_tabular()? {
                ExprOrTabular::Expr(expr) => LetBody::Scalar(expr),
                ExprOrTabular::Tabular(tabular) => LetBody::Tabular(*tabular),
            };
            while p.eat(&TokenKind::Semi)? {}
            Ok((statements, body))
        })?;
        self.expect(&TokenKind::RBrace, "to close the function body")?;
        Ok(FunctionDef {
            params,
            statements,
            body,
            span: self.span_from(start),
        })
    }

    /// Parses `name: type [= default]` or `T: (*)` / `T: (col: type, ...)`.
    fn parse_function_param(&mut self) -> PResult<FunctionParam> {
        let name = self.parse_ident("for the parameter")?;
        self.expect(&TokenKind::Colon, "between the parameter name and its type")?;
        let kind = if self.at(&TokenKind::LParen)? {
            ParamKind::Tabular(self.parse_column_schema()?)
        } else {
            ParamKind::Scalar(self.parse_type_name()?)
        };
        let default = if self.eat(&TokenKind::Assign)? {
            Some(self.parse_expr()?)
        } else {
            None
        };
        Ok(FunctionParam {
            span: self.span_from(name.span.start),
            name,
            kind,
            default,
        })
    }

    /// Parses a table schema `(*)`, `(col: type, ...)` or
    /// `(*, col: type, ...)`; the `*` is not kept.
    pub(super) fn parse_column_schema(&mut self) -> PResult<Vec<crate::ast::ColumnDecl>> {
        self.expect(&TokenKind::LParen, "to start the table schema")?;
        let mut columns = Vec::new();
        if self.eat(&TokenKind::Star)? && !self.eat(&TokenKind::Comma)? {
            self.expect(&TokenKind::RParen, "after `(*`")?;
            return Ok(columns);
        }
        loop {
            columns.push(self.parse_column_decl()?);
            if !self.eat(&TokenKind::Comma)? {
                break;
            }
        }
        self.expect(&TokenKind::RParen, "to close the table schema")?;
        Ok(columns)
    }

    /// Parses an expression in a position that also accepts a tabular
    /// expression: a tabular keyword, or any expression followed by `|`,
    /// makes the result tabular.
    pub(super) fn parse_expr_or_tabular(&mut self) -> PResult<ExprOrTabular> {
        if self.at_tabular_keyword()? {
            return Ok(ExprOrTabular::Tabular(Box::new(self.parse_tabular_expr()?)));
        }
        let expr = self.parse_expr()?;
        if !self.at(&TokenKind::Pipe)? {
            return Ok(match expr.kind {
                ExprKind::Tabular(tabular) => ExprOrTabular::Tabular(tabular),
                kind => ExprOrTabular::Expr(Expr {
                    kind,
                    span: expr.span,
                }),
            });
        }
        let span = expr.span;
        let Some(source) = expr_to_source(expr) else {
            return Err(Diagnostic::new(
                "expected a table or tabular expression before `|`, found a scalar expression",
                span,
            ));
        };
        let operators = self.nested(|p| p.parse_pipe_operators())?;
        Ok(ExprOrTabular::Tabular(Box::new(TabularExpr {
            source,
            operators,
            span: self.span_from(span.start),
        })))
    }

    /// True when the next token starts a tabular-only source:
    /// `datatable(`, `print`, `union`, `range x`, `externaldata(`, `find`,
    /// `search`.
    fn at_tabular_keyword(&mut self) -> PResult<bool> {
        let token = self.peek()?;
        if token.kind != TokenKind::Ident {
            return Ok(false);
        }
        let second = self.peek_second()?.kind;
        Ok(match self.text(&token) {
            "datatable" | "externaldata" => second == TokenKind::LParen,
            "range" | "find" | "search" => second == TokenKind::Ident,
            "print" | "union" => !matches!(
                second,
                TokenKind::Pipe
                    | TokenKind::Comma
                    | TokenKind::RParen
                    | TokenKind::Assign
                    | TokenKind::Semi
                    | TokenKind::Eof
            ),
            _ => false,
        })
    }

    /// Parses a source followed by any `| operator` steps.
    pub(super) fn parse_tabular_expr(&mut self) -> PResult<TabularExpr> {
        self.nested(|p| {
            let start = p.next_start()?;
            let source = p.parse_source()?;
            let operators = p.parse_pipe_operators()?;
            Ok(TabularExpr {
                source,
                operators,
                span: p.span_from(start),
            })
        })
    }

    /// Parses the source of a pipeline.
    pub(super) fn parse_source(&mut self) -> PResult<Source> {
        let token = self.peek()?;
        if token.kind == TokenKind::LParen {
            self.bump()?;
            let inner = self.nested(|p| p.parse_expr_or_tabular())?;
            self.expect(&TokenKind::RParen, "to close the parenthesized query")?;
            let tabular = match inner {
                ExprOrTabular::Tabular(tabular) => *tabular,
                ExprOrTabular::Expr(expr) => {
                    let expr_span = expr.span;
                    let source = expr_to_source(expr).ok_or_else(|| {
                        Diagnostic::new(
                            "expected a tabular expression inside the parentheses",
                            expr_span,
                        )
                    })?;
                    TabularExpr {
                        source,
                        operators: Vec::new(),
                        span: expr_span,
                    }
                }
            };
            return Ok(Source::Nested(Box::new(tabular)));
        }
        if token.kind == TokenKind::LBracket {
            return Ok(Source::Table(self.parse_ident("for the table")?));
        }
        if token.kind != TokenKind::Ident {
            return Err(self.unexpected(&token, "a table name or tabular expression"));
        }

        let second = self.peek_second()?.kind;
        match self.text(&token) {
            "datatable" if second == TokenKind::LParen => return self.parse_datatable(),
            "externaldata" if second == TokenKind::LParen => return self.parse_externaldata(),
            "print" if second != TokenKind::Pipe => return self.parse_print(),
            "range" if second == TokenKind::Ident => return self.parse_range(),
            "union" if second != TokenKind::Comma && second != TokenKind::Pipe => {
                self.bump()?;
                return Ok(Source::Union(self.parse_union_spec(token.span.start)?));
            }
            word @ ("find" | "search") => {
                return Err(Diagnostic::new(
                    format!("the `{word}` operator is not supported"),
                    token.span,
                )
                .with_help("query a table by name and filter it with `where`"));
            }
            _ => {}
        }
        if second == TokenKind::LParen {
            return Ok(Source::Call(self.parse_call()?));
        }
        Ok(Source::Table(self.parse_ident("for the table")?))
    }

    /// Parses `datatable(col: type, ...) [v1, v2, ...]`.
    fn parse_datatable(&mut self) -> PResult<Source> {
        let start = self.bump()?.span.start;
        let columns = self.parse_column_decls("after `datatable`")?;
        self.expect(&TokenKind::LBracket, "to start the `datatable` values")?;
        let mut values = Vec::new();
        while !self.at(&TokenKind::RBracket)? {
            values.push(self.parse_expr()?);
            if !self.eat(&TokenKind::Comma)? {
                break;
            }
        }
        self.expect(&TokenKind::RBracket, "to close the `datatable` values")?;
        Ok(Source::Datatable(Datatable {
            columns,
            values,
            span: self.span_from(start),
        }))
    }

    /// Parses `externaldata(col: type, ...) [urls] [with (props)]` into a
    /// [`Source::Call`] named `externaldata`: each column is a named argument
    /// whose value is the type name, then the URLs as string arguments, then
    /// the `with` properties as named arguments. The engine reports it as
    /// unsupported; the parser keeps it so the rest of the query still parses.
    fn parse_externaldata(&mut self) -> PResult<Source> {
        let name_token = self.bump()?;
        let name = crate::ast::Ident {
            name: self.text(&name_token).to_string(),
            span: name_token.span,
        };
        let mut args = Vec::new();
        for column in self.parse_column_decls("after `externaldata`")? {
            args.push(crate::ast::Arg {
                name: Some(column.name),
                value: Expr {
                    span: column.ty.span,
                    kind: ExprKind::Name(crate::ast::Ident {
                        name: column.ty.name,
                        span: column.ty.span,
                    }),
                },
            });
        }
        self.expect(&TokenKind::LBracket, "to start the `externaldata` URL list")?;
        while !self.at(&TokenKind::RBracket)? {
            args.push(crate::ast::Arg {
                name: None,
                value: self.parse_expr()?,
            });
            if !self.eat(&TokenKind::Comma)? {
                break;
            }
        }
        self.expect(&TokenKind::RBracket, "to close the `externaldata` URL list")?;
        if self.eat_word("with")? {
            args.extend(self.parse_call_args()?);
        }
        Ok(Source::Call(Call {
            name,
            args,
            span: self.span_from(name_token.span.start),
        }))
    }

    fn parse_print(&mut self) -> PResult<Source> {
        self.bump()?;
        Ok(Source::Print(self.parse_named_expr_list()?))
    }

    /// Parses `range x from a to b step c`.
    fn parse_range(&mut self) -> PResult<Source> {
        let start = self.bump()?.span.start;
        let column = self.parse_ident("for the `range` column")?;
        self.expect_word("from", "after the `range` column")?;
        let from = self.parse_expr()?;
        self.expect_word("to", "after the `range` start value")?;
        let to = self.parse_expr()?;
        self.expect_word("step", "after the `range` end value")?;
        let step = self.parse_expr()?;
        Ok(Source::Range(RangeSpec {
            column,
            from,
            to,
            step,
            span: self.span_from(start),
        }))
    }

    /// Parses the part of `union` after the keyword: options, then one or
    /// more legs separated by commas.
    pub(super) fn parse_union_spec(&mut self, start: usize) -> PResult<UnionSpec> {
        let mut spec = UnionSpec {
            with_source: None,
            is_fuzzy: false,
            kind: None,
            tables: Vec::new(),
            span: crate::span::Span::new(start, start),
        };
        while let Some((name, _)) = self.parse_option_name()? {
            match name.name.as_str() {
                "kind" => spec.kind = Some(self.parse_ident("after `kind=`")?),
                "withsource" => spec.with_source = Some(self.parse_ident("after `withsource=`")?),
                "isfuzzy" => {
                    let value = self.parse_ident("after `isfuzzy=`")?;
                    spec.is_fuzzy = value.name.eq_ignore_ascii_case("true");
                }
                _ => {
                    self.parse_unary()?;
                }
            }
        }
        loop {
            spec.tables.push(self.parse_union_leg()?);
            if !self.eat(&TokenKind::Comma)? {
                break;
            }
        }
        spec.span = self.span_from(start);
        Ok(spec)
    }

    fn parse_union_leg(&mut self) -> PResult<TabularExpr> {
        let start = self.next_start()?;
        if self.at(&TokenKind::LParen)? {
            let source = self.parse_source()?;
            return Ok(match source {
                Source::Nested(inner) => *inner,
                source => TabularExpr {
                    source,
                    operators: Vec::new(),
                    span: self.span_from(start),
                },
            });
        }
        let token = self.peek()?;
        let source =
            if token.kind == TokenKind::Ident && self.peek_second()?.kind == TokenKind::LParen {
                Source::Call(self.parse_call()?)
            } else {
                Source::Table(self.parse_wildcard_ident("for the `union` table")?)
            };
        Ok(TabularExpr {
            source,
            operators: Vec::new(),
            span: self.span_from(start),
        })
    }

    /// Parses `name=` or `hint.name=` if it comes next and returns the name;
    /// the caller then parses the value. Returns `None`, consuming nothing,
    /// when no option follows.
    pub(super) fn parse_option_name(&mut self) -> PResult<Option<(crate::ast::Ident, usize)>> {
        let token = self.peek()?;
        if token.kind != TokenKind::Ident {
            return Ok(None);
        }
        let saved = self.save();
        self.bump()?;
        let mut name = self.text(&token).to_string();
        while self.at(&TokenKind::Dot)? {
            self.bump()?;
            let part = self.peek()?;
            if part.kind != TokenKind::Ident {
                self.restore(saved);
                return Ok(None);
            }
            self.bump()?;
            name.push('.');
            name.push_str(self.text(&part));
        }
        if !self.eat(&TokenKind::Assign)? {
            self.restore(saved);
            return Ok(None);
        }
        let span = crate::span::Span::new(token.span.start, self.prev_end);
        Ok(Some((crate::ast::Ident { name, span }, token.span.start)))
    }
}

/// Converts an expression that names a table into a pipeline source: a
/// name, a call, a parenthesized tabular expression, or parentheses around
/// one of those.
pub(super) fn expr_to_source(expr: Expr) -> Option<Source> {
    match expr.kind {
        ExprKind::Name(ident) => Some(Source::Table(ident)),
        ExprKind::Call(call) => Some(Source::Call(call)),
        ExprKind::Tabular(tabular) => Some(Source::Nested(tabular)),
        ExprKind::Paren(inner) => {
            let span = inner.span;
            let source = expr_to_source(*inner)?;
            Some(Source::Nested(Box::new(TabularExpr {
                source,
                operators: Vec::new(),
                span,
            })))
        }
        _ => None,
    }
}
