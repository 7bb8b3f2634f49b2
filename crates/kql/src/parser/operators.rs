//! Pipe operators: everything after a `|`.

use super::{PResult, Parser};
use crate::ast::{
    Evaluate, Expr, ExprKind, Ident, Join, JoinCondition, Literal, MakeSeries, MvApply, MvExpand,
    MvExpandColumn, Operator, OperatorKind, OutputSchema, Parse, ParseKv, ParsePart,
    ProjectReorderItem, Reduce, SeriesAggregate, SortKey, Source, Summarize, TabularExpr,
    TopNestedLevel,
};
use crate::diagnostic::Diagnostic;
use crate::lexer::{self, TokenKind};
use crate::span::Span;

/// Operators the parser recognises but does not model. They parse to
/// [`OperatorKind::Unsupported`] with their raw text.
const UNMODELED_OPERATORS: &[&str] = &[
    "top-hitters",
    "scan",
    "project-smart",
    "partition",
    "facet",
    "fork",
    "find",
    "search",
    "sample-distinct",
    "consume",
    "execute-and-cache",
    "macro-expand",
    "make-graph",
    "graph-match",
    "graph-merge",
    "graph-to-table",
    "assert-schema",
];

impl Parser<'_> {
    /// Parses zero or more `| operator` steps.
    pub(super) fn parse_pipe_operators(&mut self) -> PResult<Vec<Operator>> {
        let mut operators = Vec::new();
        loop {
            let pipe = self.peek()?.span;
            if !self.eat(&TokenKind::Pipe)? {
                break;
            }
            self.operators += 1;
            if self.operators > super::MAX_OPERATORS {
                return Err(Diagnostic::new(
                    format!(
                        "query has too many operators: more than {} `|` steps; homesoc plans at most {} per query, so combine conditions into fewer steps (one `where` with `and`)",
                        super::MAX_OPERATORS,
                        super::MAX_OPERATORS
                    ),
                    pipe,
                ));
            }
            operators.push(self.parse_operator()?);
        }
        Ok(operators)
    }

    /// True at a token that ends an operator: `|`, `)`, `}`, `;` or the end.
    fn at_operator_end(&mut self) -> PResult<bool> {
        Ok(matches!(
            self.peek()?.kind,
            TokenKind::Pipe
                | TokenKind::RParen
                | TokenKind::RBrace
                | TokenKind::Semi
                | TokenKind::Eof
        ))
    }

    /// Reads an operator name after `|`: an identifier that may contain
    /// hyphens between words (`project-away`, `mv-expand`).
    fn parse_operator_name(&mut self) -> PResult<Ident> {
        let start = lexer::skip_trivia(self.src, self.pos);
        let mut end = lexer::ident_end(self.src, start);
        if end == start {
            let token = self.peek()?;
            return Err(self.unexpected(&token, "a query operator after `|`"));
        }
        while self.src[end..].starts_with('-')
            && self.src[end + 1..].starts_with(lexer::is_ident_start)
        {
            end = lexer::ident_end(self.src, end + 1);
        }
        self.advance_to(end);
        Ok(Ident {
            name: self.src[start..end].to_string(),
            span: Span::new(start, end),
        })
    }

    fn parse_operator(&mut self) -> PResult<Operator> {
        let name = self.parse_operator_name()?;
        let start = name.span.start;
        let kind = match name.name.as_str() {
            "where" | "filter" => OperatorKind::Where(self.parse_expr()?),
            "project" => OperatorKind::Project(self.parse_named_expr_list()?),
            "project-away" => OperatorKind::ProjectAway(self.parse_wildcard_list()?),
            "project-keep" => OperatorKind::ProjectKeep(self.parse_wildcard_list()?),
            "project-rename" => OperatorKind::ProjectRename(self.parse_rename_list()?),
            "project-reorder" => OperatorKind::ProjectReorder(self.parse_reorder_list()?),
            "extend" => OperatorKind::Extend(self.parse_named_expr_list()?),
            "summarize" => OperatorKind::Summarize(self.parse_summarize()?),
            "count" => OperatorKind::Count(if self.eat_word("as")? {
                Some(self.parse_ident("after `count as`")?)
            } else {
                None
            }),
            "take" | "limit" => OperatorKind::Take(self.parse_expr()?),
            "sort" | "order" => {
                self.expect_word("by", &format!("after `{}`", name.name))?;
                OperatorKind::Sort(self.parse_sort_keys()?)
            }
            "top" => {
                let count = self.parse_expr()?;
                self.expect_word("by", "after the `top` row count")?;
                OperatorKind::Top {
                    count,
                    by: self.parse_sort_keys()?,
                }
            }
            "distinct" => OperatorKind::Distinct(self.parse_expr_list()?),
            "project-by-names" => OperatorKind::ProjectByNames(self.parse_expr_list()?),
            "union" => OperatorKind::Union(self.parse_union_spec(start)?),
            "join" => OperatorKind::Join(self.parse_join(start)?),
            "lookup" => OperatorKind::Lookup(self.parse_join(start)?),
            "mv-expand" | "mvexpand" => OperatorKind::MvExpand(self.parse_mv_expand()?),
            "make-series" => OperatorKind::MakeSeries(self.parse_make_series()?),
            "mv-apply" | "mvapply" => OperatorKind::MvApply(self.parse_mv_apply()?),
            "parse" => OperatorKind::Parse(self.parse_parse()?),
            "parse-where" => OperatorKind::ParseWhere(self.parse_parse()?),
            "parse-kv" => OperatorKind::ParseKv(self.parse_parse_kv()?),
            "evaluate" => self.parse_evaluate()?,
            "invoke" => OperatorKind::Invoke(self.parse_call()?),
            "as" => {
                while self.parse_hint()?.is_some() {}
                OperatorKind::As(self.parse_ident("after `as`")?)
            }
            "serialize" => OperatorKind::Serialize(if self.at_operator_end()? {
                Vec::new()
            } else {
                self.parse_named_expr_list()?
            }),
            "getschema" => OperatorKind::GetSchema,
            "render" => {
                let chart = self.parse_ident("for the chart kind after `render`")?;
                self.scan_operator_text()?;
                OperatorKind::Render(chart)
            }
            "sample" => OperatorKind::Sample(self.parse_expr()?),
            "top-nested" => OperatorKind::TopNested(self.parse_top_nested()?),
            "reduce" => OperatorKind::Reduce(self.parse_reduce()?),
            other if UNMODELED_OPERATORS.contains(&other) => OperatorKind::Unsupported {
                name: other.to_string(),
                text: self.scan_operator_text()?,
            },
            other => {
                return Err(Diagnostic::new(
                    format!("unknown query operator `{other}`"),
                    name.span,
                ));
            }
        };

        let token = self.peek()?;
        if !self.at_operator_end()? {
            return Err(Diagnostic::new(
                format!(
                    "unexpected {} after the `{}` operator; expected `|` or the end of the query",
                    self.describe(&token),
                    name.name
                ),
                token.span,
            ));
        }
        Ok(Operator {
            kind,
            span: self.span_from(start),
        })
    }

    /// Parses `evaluate [hints] plugin(args) [: (*, Name: type, ...)]`.
    fn parse_evaluate(&mut self) -> PResult<OperatorKind> {
        while self.parse_hint()?.is_some() {}
        let call = self.parse_call()?;
        if !self.eat(&TokenKind::Colon)? {
            return Ok(OperatorKind::Evaluate(Evaluate { call, output: None }));
        }
        self.expect(&TokenKind::LParen, "to start the output schema after `:`")?;
        let mut output = OutputSchema {
            keep_input: false,
            columns: Vec::new(),
        };
        if self.eat(&TokenKind::Star)? {
            output.keep_input = true;
            if !self.eat(&TokenKind::Comma)? {
                self.expect(&TokenKind::RParen, "after `(*`")?;
                return Ok(OperatorKind::Evaluate(Evaluate {
                    call,
                    output: Some(output),
                }));
            }
        }
        loop {
            output.columns.push(self.parse_column_decl()?);
            if !self.eat(&TokenKind::Comma)? {
                break;
            }
        }
        self.expect(&TokenKind::RParen, "to close the output schema")?;
        Ok(OperatorKind::Evaluate(Evaluate {
            call,
            output: Some(output),
        }))
    }

    /// Consumes the raw text of an operator up to the next `|`, `;` or
    /// closing bracket outside brackets, and returns it trimmed.
    fn scan_operator_text(&mut self) -> PResult<String> {
        let start = lexer::skip_trivia(self.src, self.pos);
        let mut depth = 0usize;
        self.prev_end = start;
        loop {
            let token = self.peek()?;
            match token.kind {
                TokenKind::Eof => break,
                TokenKind::Pipe | TokenKind::Semi if depth == 0 => break,
                TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace if depth == 0 => break,
                TokenKind::LParen | TokenKind::LBracket | TokenKind::LBrace => depth += 1,
                TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace => depth -= 1,
                // Typed literals such as `datetime(2017-01-01T00:00Z)` hold
                // text that does not lex as tokens.
                TokenKind::Ident
                    if self.peek_second()?.kind == TokenKind::LParen
                        && self.parse_typed_literal()?.is_some() =>
                {
                    continue;
                }
                _ => {}
            }
            self.bump()?;
        }
        Ok(self.src[start..self.prev_end].trim().to_string())
    }

    /// Parses `hint.name = value` if it comes next.
    fn parse_hint(&mut self) -> PResult<Option<(Ident, Expr)>> {
        if !(self.at_word("hint")? && self.peek_second()?.kind == TokenKind::Dot) {
            return Ok(None);
        }
        let Some((name, _)) = self.parse_option_name()? else {
            let token = self.peek()?;
            return Err(self.unexpected(&token, "`hint.name=value`"));
        };
        let value = self.parse_option_value()?;
        Ok(Some((name, value)))
    }

    /// Parses an option value: a name or a literal. A name is never taken as
    /// a call, because in `hint.strategy=broadcast (T)` the `(` starts the
    /// next clause.
    pub(super) fn parse_option_value(&mut self) -> PResult<Expr> {
        let token = self.peek()?;
        if token.kind != TokenKind::Ident {
            return self.parse_unary();
        }
        self.bump()?;
        let text = self.text(&token);
        let kind = match text.to_ascii_lowercase().as_str() {
            "true" => ExprKind::Literal(Literal::Bool(true)),
            "false" => ExprKind::Literal(Literal::Bool(false)),
            _ => ExprKind::Name(Ident {
                name: text.to_string(),
                span: token.span,
            }),
        };
        Ok(Expr {
            kind,
            span: token.span,
        })
    }

    /// Parses `word=` when `word` comes next followed by `=`, consuming
    /// both; used for operator options such as `kind=inner`.
    fn eat_option(&mut self, word: &str) -> PResult<bool> {
        if self.at_word(word)? && self.peek_second()?.kind == TokenKind::Assign {
            self.bump()?;
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn parse_expr_list(&mut self) -> PResult<Vec<Expr>> {
        let mut items = vec![self.parse_expr()?];
        while self.eat(&TokenKind::Comma)? {
            items.push(self.parse_expr()?);
        }
        Ok(items)
    }

    fn parse_wildcard_list(&mut self) -> PResult<Vec<Ident>> {
        let mut items = vec![self.parse_wildcard_ident("for the column")?];
        while self.eat(&TokenKind::Comma)? {
            items.push(self.parse_wildcard_ident("for the column")?);
        }
        Ok(items)
    }

    /// Parses `new = old, ...` for `project-rename`.
    fn parse_rename_list(&mut self) -> PResult<Vec<(Ident, Ident)>> {
        let mut items = Vec::new();
        loop {
            let new = self.parse_ident("for the new column")?;
            self.expect(
                &TokenKind::Assign,
                "between the new and the old column name",
            )?;
            let old = self.parse_ident("for the column to rename")?;
            items.push((new, old));
            if !self.eat(&TokenKind::Comma)? {
                return Ok(items);
            }
        }
    }

    /// Parses `name [asc|desc|granny-asc|granny-desc], ...` for
    /// `project-reorder`.
    fn parse_reorder_list(&mut self) -> PResult<Vec<ProjectReorderItem>> {
        let mut items = Vec::new();
        loop {
            let name = self.parse_wildcard_ident("for the column")?;
            let start = lexer::skip_trivia(self.src, self.pos);
            let order = ["granny-asc", "granny-desc", "asc", "desc"]
                .into_iter()
                .find(|word| {
                    let end = start + word.len();
                    self.src[start..].starts_with(word)
                        && lexer::ident_end(self.src, end) == end
                        && !self.src[end..].starts_with('-')
                });
            if let Some(word) = order {
                self.advance_to(start + word.len());
            }
            items.push(ProjectReorderItem {
                name,
                order: order.map(str::to_string),
            });
            if !self.eat(&TokenKind::Comma)? {
                return Ok(items);
            }
        }
    }

    fn parse_summarize(&mut self) -> PResult<Summarize> {
        while self.parse_hint()?.is_some() {}
        let aggregates = if self.at_word("by")? {
            Vec::new()
        } else if self.at_operator_end()? {
            let token = self.peek()?;
            return Err(self.unexpected(&token, "an aggregation or `by` after `summarize`"));
        } else {
            self.parse_named_expr_list()?
        };
        let by = if self.eat_word("by")? {
            self.parse_named_expr_list()?
        } else {
            if !self.at_operator_end()? {
                let token = self.peek()?;
                return Err(
                    self.unexpected(&token, "`by` or `|` after the `summarize` aggregations")
                );
            }
            Vec::new()
        };
        Ok(Summarize { aggregates, by })
    }

    /// Parses `reduce [kind=...] by Expr [with threshold=T, characters=C]`
    /// after the operator name.
    fn parse_reduce(&mut self) -> PResult<Reduce> {
        let kind = if self.eat_option("kind")? {
            Some(self.parse_ident("after `kind=`")?)
        } else {
            None
        };
        self.expect_word("by", "after `reduce`")?;
        let by = self.parse_expr()?;
        let mut threshold = None;
        let mut characters = None;
        if self.eat_word("with")? {
            loop {
                if self.eat_option("threshold")? {
                    threshold = Some(self.parse_expr()?);
                } else if self.eat_option("characters")? {
                    characters = Some(self.parse_expr()?);
                } else {
                    let token = self.peek()?;
                    return Err(self.unexpected(
                        &token,
                        "`threshold=` or `characters=` after `reduce ... with`",
                    ));
                }
                if !self.eat(&TokenKind::Comma)? {
                    break;
                }
            }
        }
        Ok(Reduce {
            kind,
            by,
            threshold,
            characters,
        })
    }

    /// Parses the clauses of `top-nested` after the operator name. Clauses
    /// after the first may repeat the `top-nested` keyword or leave it out.
    fn parse_top_nested(&mut self) -> PResult<Vec<TopNestedLevel>> {
        let mut levels = Vec::new();
        loop {
            let start = self.next_start()?;
            let count = if self.at_word("of")? {
                None
            } else {
                Some(self.parse_expr()?)
            };
            self.expect_word("of", "after the `top-nested` count")?;
            let of = self.parse_named_expr()?;
            let others = if self.eat_word("with")? {
                self.expect_word("others", "after `with` in `top-nested`")?;
                self.expect(&TokenKind::Assign, "after `with others`")?;
                Some(self.parse_expr()?)
            } else {
                None
            };
            self.expect_word("by", "before the `top-nested` aggregation")?;
            let by = self.parse_named_expr()?;
            let ascending = if self.eat_word("asc")? {
                true
            } else {
                self.eat_word("desc")?;
                false
            };
            levels.push(TopNestedLevel {
                count,
                of,
                others,
                by,
                ascending,
                span: self.span_from(start),
            });
            if !self.eat(&TokenKind::Comma)? {
                return Ok(levels);
            }
            let next = lexer::skip_trivia(self.src, self.pos);
            let keyword = "top-nested";
            if self.src[next..].starts_with(keyword)
                && !self.src[next + keyword.len()..].starts_with(lexer::is_ident_char)
            {
                self.advance_to(next + keyword.len());
            }
        }
    }

    /// Parses `expr [asc|desc] [nulls first|last], ...`.
    fn parse_sort_keys(&mut self) -> PResult<Vec<SortKey>> {
        let mut keys = Vec::new();
        loop {
            let expr = self.parse_expr()?;
            let start = expr.span.start;
            let ascending = if self.eat_word("asc")? {
                Some(true)
            } else if self.eat_word("desc")? {
                Some(false)
            } else {
                None
            };
            let nulls_first = if self.eat_word("nulls")? {
                if self.eat_word("first")? {
                    Some(true)
                } else {
                    self.expect_word("last", "or `first` after `nulls`")?;
                    Some(false)
                }
            } else {
                None
            };
            keys.push(SortKey {
                expr,
                ascending,
                nulls_first,
                span: self.span_from(start),
            });
            if !self.eat(&TokenKind::Comma)? {
                return Ok(keys);
            }
        }
    }

    /// Parses the part of `join` or `lookup` after the operator name.
    fn parse_join(&mut self, start: usize) -> PResult<Join> {
        let mut kind = None;
        let mut hints = Vec::new();
        loop {
            if self.eat_option("kind")? {
                let mut value = self.parse_ident("after `kind=`")?;
                value.name.make_ascii_lowercase();
                kind = Some(value);
            } else if let Some(hint) = self.parse_hint()? {
                hints.push(hint);
            } else {
                break;
            }
        }

        let right_start = self.next_start()?;
        let right = match self.parse_source()? {
            Source::Nested(inner) => *inner,
            source => TabularExpr {
                source,
                operators: Vec::new(),
                span: self.span_from(right_start),
            },
        };

        let mut on = Vec::new();
        if !self.at_operator_end()? {
            self.expect_word("on", "after the right side of the join")?;
            loop {
                on.push(self.parse_join_condition()?);
                if !(self.eat(&TokenKind::Comma)? || self.eat_word("and")?) {
                    break;
                }
            }
        }
        Ok(Join {
            kind,
            hints,
            right,
            on,
            span: self.span_from(start),
        })
    }

    /// Parses `Key` or `$left.A == $right.B` (either order).
    fn parse_join_condition(&mut self) -> PResult<JoinCondition> {
        let token = self.peek()?;
        if token.kind != TokenKind::Ident || !self.text(&token).starts_with('$') {
            return Ok(JoinCondition::Column(self.parse_ident("for the join key")?));
        }
        let (first_side, first) = self.parse_join_side()?;
        self.expect(
            &TokenKind::EqEq,
            "between the two sides of the join condition",
        )?;
        let (second_side, second) = self.parse_join_side()?;
        let span = token.span.to(Span::new(self.prev_end, self.prev_end));
        let (left, right) = match (first_side.as_str(), second_side.as_str()) {
            ("$left", "$right") => (first, second),
            ("$right", "$left") => (second, first),
            _ => {
                return Err(Diagnostic::new(
                    "a join condition must compare a `$left` column with a `$right` column",
                    span,
                ));
            }
        };
        Ok(JoinCondition::Equal { left, right, span })
    }

    /// Parses `$left.Name` or `$right.Name` and returns the side and name.
    fn parse_join_side(&mut self) -> PResult<(String, Ident)> {
        let token = self.peek()?;
        let side = self.text(&token);
        if token.kind != TokenKind::Ident || !(side == "$left" || side == "$right") {
            return Err(self.unexpected(&token, "`$left.Column` or `$right.Column`"));
        }
        self.bump()?;
        self.expect(&TokenKind::Dot, "after the join side")?;
        let name = self.parse_ident("for the join column")?;
        Ok((side.to_string(), name))
    }

    fn parse_mv_expand(&mut self) -> PResult<MvExpand> {
        let mut spec = MvExpand {
            bag_expansion: None,
            with_item_index: None,
            columns: Vec::new(),
            limit: None,
        };
        loop {
            if self.eat_option("bagexpansion")? {
                spec.bag_expansion = Some(self.parse_ident("after `bagexpansion=`")?);
            } else if self.eat_option("with_itemindex")? {
                spec.with_item_index = Some(self.parse_ident("after `with_itemindex=`")?);
            } else if self.eat_option("kind")? {
                spec.bag_expansion = Some(self.parse_ident("after `kind=`")?);
            } else if self.parse_hint()?.is_none() {
                break;
            }
        }
        loop {
            let expr = self.parse_named_expr()?;
            let to_type = if self.eat_word("to")? {
                self.expect_word("typeof", "after `to`")?;
                self.expect(&TokenKind::LParen, "after `typeof`")?;
                let ty = self.parse_type_name()?;
                self.expect(&TokenKind::RParen, "to close `typeof(`")?;
                Some(ty)
            } else {
                None
            };
            spec.columns.push(MvExpandColumn { expr, to_type });
            if !self.eat(&TokenKind::Comma)? {
                break;
            }
        }
        if self.eat_word("limit")? {
            spec.limit = Some(self.parse_expr()?);
        }
        Ok(spec)
    }

    /// Parses `make-series [kind=..] [hints] aggs on Axis (from/to/step |
    /// in range(start, stop, step)) [by keys]`.
    fn parse_make_series(&mut self) -> PResult<MakeSeries> {
        let mut kind = None;
        loop {
            if self.eat_option("kind")? {
                kind = Some(self.parse_ident("after `kind=`")?);
            } else if self.parse_hint()?.is_none() {
                break;
            }
        }
        let mut aggregates = Vec::new();
        loop {
            let expr = self.parse_named_expr()?;
            let default = if self.eat_option("default")? {
                Some(self.parse_expr()?)
            } else {
                None
            };
            aggregates.push(SeriesAggregate { expr, default });
            if !self.eat(&TokenKind::Comma)? {
                break;
            }
        }
        self.expect_word("on", "after the aggregations of `make-series`")?;
        // A column or a call: a full expression would read `in range(...)`
        // as the `in` operator.
        let axis = self.parse_unary()?;
        let (from, to, step) = if self.eat_word("in")? {
            self.expect_word("range", "after `in`")?;
            self.expect(&TokenKind::LParen, "after `in range`")?;
            let start = self.parse_expr()?;
            self.expect(&TokenKind::Comma, "after the start of `range(`")?;
            let stop = self.parse_expr()?;
            self.expect(&TokenKind::Comma, "after the stop of `range(`")?;
            let step = self.parse_expr()?;
            self.expect(&TokenKind::RParen, "to close `range(`")?;
            (Some(start), Some(stop), step)
        } else {
            let from = if self.eat_word("from")? {
                Some(self.parse_expr()?)
            } else {
                None
            };
            let to = if self.eat_word("to")? {
                Some(self.parse_expr()?)
            } else {
                None
            };
            self.expect_word("step", "in `make-series` (as in `step 1h`)")?;
            (from, to, self.parse_expr()?)
        };
        let by = if self.eat_word("by")? {
            self.parse_named_expr_list()?
        } else {
            Vec::new()
        };
        Ok(MakeSeries {
            kind,
            aggregates,
            axis,
            from,
            to,
            step,
            by,
        })
    }

    /// Parses the arrays of `mv-apply`, then `on (subquery)`: a pipeline
    /// without a source whose first operator has no `|`.
    fn parse_mv_apply(&mut self) -> PResult<MvApply> {
        let expand = self.parse_mv_expand()?;
        self.expect_word("on", "after the arrays of `mv-apply`")?;
        self.expect(&TokenKind::LParen, "to start the `mv-apply` subquery")?;
        let mut subquery = vec![self.parse_operator()?];
        subquery.extend(self.parse_pipe_operators()?);
        self.expect(&TokenKind::RParen, "to close the `mv-apply` subquery")?;
        Ok(MvApply { expand, subquery })
    }

    /// Parses `expr as (col: type, ...) [with (option = value, ...)]` for
    /// `parse-kv`.
    fn parse_parse_kv(&mut self) -> PResult<ParseKv> {
        let source = self.parse_expr()?;
        self.expect_word("as", "after the `parse-kv` source expression")?;
        let columns = self.parse_column_decls("to start the `parse-kv` column list")?;
        let options = if self.eat_word("with")? {
            self.parse_call_args()?
        } else {
            Vec::new()
        };
        Ok(ParseKv {
            source,
            columns,
            options,
        })
    }

    /// Parses `[kind=..] [flags=..] expr with pattern` for `parse` and
    /// `parse-where`.
    fn parse_parse(&mut self) -> PResult<Parse> {
        let mut kind = None;
        let mut flags = None;
        loop {
            if self.eat_option("kind")? {
                kind = Some(self.parse_ident("after `kind=`")?);
            } else if self.eat_option("flags")? {
                flags = Some(self.parse_ident("after `flags=`")?.name);
            } else {
                break;
            }
        }
        let source = self.parse_expr()?;
        self.expect_word("with", "after the `parse` source expression")?;

        let mut pattern = Vec::new();
        while !self.at_operator_end()? {
            let token = self.peek()?;
            match token.kind {
                TokenKind::String(_) => {
                    let value = self.parse_string_value()?;
                    pattern.push(ParsePart::Literal(value, self.span_from(token.span.start)));
                }
                TokenKind::Star => {
                    self.bump()?;
                    pattern.push(ParsePart::Wildcard(token.span));
                }
                _ if self.at_ident()? => {
                    let name = self.parse_ident("")?;
                    let ty = if self.eat(&TokenKind::Colon)? {
                        Some(self.parse_type_name()?)
                    } else {
                        None
                    };
                    pattern.push(ParsePart::Column { name, ty });
                }
                _ => {
                    return Err(self.unexpected(
                        &token,
                        "a string, `*` or a column name in the `parse` pattern",
                    ));
                }
            }
        }
        if pattern.is_empty() {
            let token = self.peek()?;
            return Err(self.unexpected(&token, "a pattern after `with`"));
        }
        Ok(Parse {
            kind,
            flags,
            source,
            pattern,
        })
    }
}
