//! Recursive-descent parser from query text to [`ast::Query`].
//!
//! The parser pulls tokens from the lexer at a byte offset, so it can look
//! ahead, back up, and scan raw text (typed literals, unsupported operators)
//! without a token buffer. Submodules hold the statement and source level
//! ([`tabular`]), pipe operators ([`operators`]), scalar expressions
//! ([`expr`]) and typed literals ([`literal`]).

mod expr;
mod literal;
mod operators;
mod tabular;

use crate::ast::{self, Ident, TypeName};
use crate::diagnostic::Diagnostic;
use crate::lexer::{self, Token, TokenKind};
use crate::span::Span;
use crate::types::KqlType;

type PResult<T> = Result<T, Diagnostic>;

/// Maximum nesting of parentheses, brackets, calls, signs and sub-queries. It bounds recursion so that hostile input returns an error
/// instead of overflowing the stack.
const MAX_DEPTH: usize = 256;

/// Maximum height of an expression tree, counting both nesting and chains of
/// binary operators (`a + b + c ...` builds a left-deep tree). It bounds the
/// recursion of later passes and of `Drop` over the tree.
const MAX_HEIGHT: usize = 1024;

/// Maximum number of tabular operators (`| where`, `| extend`, ...) in a
/// whole query. Each one nests the query plan one level deeper, and the
/// engine plans and runs the plan recursively on threads with a few MiB
/// of stack. Published rules use a few dozen.
pub(crate) const MAX_OPERATORS: usize = 200;

/// Stack size of the thread that runs the parser. Unoptimized builds use
/// roughly 26 KiB of stack per nesting level (measured on x86-64 with a
/// debug build), so [`MAX_DEPTH`] levels need several MiB, more than the
/// 2 MiB default of spawned threads. Only the touched pages are committed.
const PARSER_STACK_BYTES: usize = 32 * 1024 * 1024;

/// Parses `text` on a scoped thread with a [`PARSER_STACK_BYTES`] stack, so
/// that deeply nested input hits the [`MAX_DEPTH`] error instead of the
/// caller's stack limit. Falls back to the calling thread if the thread
/// cannot be spawned.
pub(crate) fn parse_query(text: &str) -> PResult<ast::Query> {
    let run = || Parser::new(text).parse_query();
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("kql-parser".into())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, run)
        {
            Ok(handle) => match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(_) => run(),
        }
    })
}

struct Parser<'a> {
    src: &'a str,
    /// Offset where lexing of the next token starts.
    pos: usize,
    /// End offset of the last consumed token, for node spans.
    prev_end: usize,
    depth: usize,
    height: usize,
    /// Tabular operators parsed so far, bounded by [`MAX_OPERATORS`].
    operators: usize,
    /// The token at `cached.0`, so repeated peeks do not re-lex.
    cached: Option<(usize, Token)>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            src,
            pos: 0,
            prev_end: 0,
            depth: 0,
            operators: 0,
            height: 0,
            cached: None,
        }
    }

    // ---- token access -------------------------------------------------

    fn peek(&mut self) -> PResult<Token> {
        if let Some((pos, token)) = &self.cached
            && *pos == self.pos
        {
            return Ok(token.clone());
        }
        let token = lexer::next_token(self.src, self.pos)?;
        self.cached = Some((self.pos, token.clone()));
        Ok(token)
    }

    /// Returns the token after the next one.
    fn peek_second(&mut self) -> PResult<Token> {
        let first = self.peek()?;
        if first.kind == TokenKind::Eof {
            return Ok(first);
        }
        lexer::next_token(self.src, first.span.end)
    }

    fn bump(&mut self) -> PResult<Token> {
        let token = self.peek()?;
        self.advance_to(token.span.end);
        Ok(token)
    }

    /// Moves past consumed text that ends at `end`.
    fn advance_to(&mut self, end: usize) {
        self.pos = end;
        self.prev_end = end;
    }

    /// Returns a saved position for [`Parser::restore`].
    fn save(&self) -> (usize, usize) {
        (self.pos, self.prev_end)
    }

    fn restore(&mut self, saved: (usize, usize)) {
        self.pos = saved.0;
        self.prev_end = saved.1;
    }

    /// Start offset of the next token.
    fn next_start(&mut self) -> PResult<usize> {
        Ok(self.peek()?.span.start)
    }

    fn span_from(&self, start: usize) -> Span {
        Span::new(start, self.prev_end.max(start))
    }

    fn text(&self, token: &Token) -> &'a str {
        &self.src[token.span.start..token.span.end]
    }

    fn at(&mut self, kind: &TokenKind) -> PResult<bool> {
        Ok(&self.peek()?.kind == kind)
    }

    fn eat(&mut self, kind: &TokenKind) -> PResult<bool> {
        if self.at(kind)? {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect(&mut self, kind: &TokenKind, context: &str) -> PResult<Token> {
        let token = self.peek()?;
        if &token.kind == kind {
            return self.bump();
        }
        Err(self.unexpected(&token, &format!("{} {context}", describe_kind(kind))))
    }

    /// True when the next token is the identifier `word` (exact case).
    fn at_word(&mut self, word: &str) -> PResult<bool> {
        let token = self.peek()?;
        Ok(token.kind == TokenKind::Ident && self.text(&token) == word)
    }

    fn eat_word(&mut self, word: &str) -> PResult<bool> {
        if self.at_word(word)? {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_word(&mut self, word: &str, context: &str) -> PResult<Token> {
        let token = self.peek()?;
        if token.kind == TokenKind::Ident && self.text(&token) == word {
            return self.bump();
        }
        Err(self.unexpected(&token, &format!("`{word}` {context}")))
    }

    /// Builds "expected X, found Y" at the span of `found`.
    fn unexpected(&self, found: &Token, expected: &str) -> Diagnostic {
        Diagnostic::new(
            format!("expected {expected}, found {}", self.describe(found)),
            found.span,
        )
    }

    /// Names a token for a message: its text in backticks, "a string
    /// literal", or "end of query".
    fn describe(&self, token: &Token) -> String {
        match &token.kind {
            TokenKind::Eof => "end of query".to_string(),
            TokenKind::String(_) => "a string literal".to_string(),
            _ => format!("`{}`", self.text(token)),
        }
    }

    // ---- recursion guard ----------------------------------------------

    /// Runs `f` one nesting level deeper, failing cleanly past [`MAX_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_DEPTH {
            let token = self.peek()?;
            return Err(Diagnostic::new(
                format!(
                    "query is nested too deeply: more than {MAX_DEPTH} levels of parentheses, calls, signs or sub-queries"
                ),
                token.span,
            ));
        }
        if self.height >= MAX_HEIGHT {
            let token = self.peek()?;
            return Err(Diagnostic::new(
                format!("expression is too long: more than {MAX_HEIGHT} chained operators"),
                token.span,
            ));
        }
        self.depth += 1;
        self.height += 1;
        let result = f(self);
        self.depth -= 1;
        self.height -= 1;
        result
    }

    // ---- identifiers and types ----------------------------------------

    /// True when an identifier starts at the next token: a plain name or a
    /// bracketed `['name']`.
    fn at_ident(&mut self) -> PResult<bool> {
        let token = self.peek()?;
        Ok(match token.kind {
            TokenKind::Ident => true,
            TokenKind::LBracket => matches!(self.peek_second()?.kind, TokenKind::String(_)),
            _ => false,
        })
    }

    /// Parses a plain identifier or a bracketed one (`['a b']`, `["x"]`).
    fn parse_ident(&mut self, context: &str) -> PResult<Ident> {
        let token = self.peek()?;
        match token.kind {
            TokenKind::Ident => {
                self.bump()?;
                Ok(Ident {
                    name: self.text(&token).to_string(),
                    span: token.span,
                })
            }
            TokenKind::LBracket if matches!(self.peek_second()?.kind, TokenKind::String(_)) => {
                self.bump()?;
                let name = self.parse_string_value()?;
                self.expect(&TokenKind::RBracket, "to close the bracketed name")?;
                Ok(Ident {
                    name,
                    span: self.span_from(token.span.start),
                })
            }
            _ => {
                let expected = if context.is_empty() {
                    "a name".to_string()
                } else {
                    format!("a name {context}")
                };
                Err(self.unexpected(&token, &expected))
            }
        }
    }

    /// Parses one or more adjacent string literals and joins their values.
    fn parse_string_value(&mut self) -> PResult<String> {
        let mut value = String::new();
        let mut any = false;
        while let TokenKind::String(part) = self.peek()?.kind {
            self.bump()?;
            value.push_str(&part);
            any = true;
        }
        if !any {
            let token = self.peek()?;
            return Err(self.unexpected(&token, "a string literal"));
        }
        Ok(value)
    }

    /// Parses a name that may hold `*` wildcards (`Sec*`, `*Id`), as used by
    /// `union`, `project-away` and `project-keep`; a bracketed name is also
    /// accepted.
    fn parse_wildcard_ident(&mut self, context: &str) -> PResult<Ident> {
        let start = lexer::skip_trivia(self.src, self.pos);
        let end = self.src[start..]
            .char_indices()
            .find(|&(_, c)| !(lexer::is_ident_char(c) || c == '*'))
            .map_or(self.src.len(), |(i, _)| start + i);
        let name = &self.src[start..end];
        let starts_like_name = name.starts_with('*') || name.starts_with(lexer::is_ident_start);
        if name.contains('*') && starts_like_name {
            self.advance_to(end);
            return Ok(Ident {
                name: name.to_string(),
                span: Span::new(start, end),
            });
        }
        self.parse_ident(context)
    }

    /// Parses a scalar type name such as `string` or `long`.
    fn parse_type_name(&mut self) -> PResult<TypeName> {
        let token = self.peek()?;
        if token.kind != TokenKind::Ident {
            return Err(self.unexpected(&token, "a type name"));
        }
        let name = self.text(&token).to_ascii_lowercase();
        if KqlType::from_name(&name).is_none() {
            return Err(Diagnostic::new(format!("unknown type `{}`", self.text(&token)), token.span)
                .with_help("scalar types are bool, int, long, real, decimal, string, datetime, timespan, guid and dynamic"));
        }
        self.bump()?;
        Ok(TypeName {
            name,
            span: token.span,
        })
    }

    /// Parses `name: type`.
    pub(super) fn parse_column_decl(&mut self) -> PResult<ast::ColumnDecl> {
        let name = self.parse_ident("for the column")?;
        self.expect(&TokenKind::Colon, "between the column name and its type")?;
        let ty = self.parse_type_name()?;
        let span = name.span.to(ty.span);
        Ok(ast::ColumnDecl { name, ty, span })
    }

    /// Parses `(name: type, ...)` including the parentheses.
    fn parse_column_decls(&mut self, context: &str) -> PResult<Vec<ast::ColumnDecl>> {
        self.expect(&TokenKind::LParen, context)?;
        let mut columns = Vec::new();
        if self.eat(&TokenKind::RParen)? {
            return Ok(columns);
        }
        loop {
            columns.push(self.parse_column_decl()?);
            if !self.eat(&TokenKind::Comma)? {
                break;
            }
        }
        self.expect(&TokenKind::RParen, "to close the column list")?;
        Ok(columns)
    }
}

fn describe_kind(kind: &TokenKind) -> &'static str {
    match kind {
        TokenKind::Pipe => "`|`",
        TokenKind::LParen => "`(`",
        TokenKind::RParen => "`)`",
        TokenKind::LBracket => "`[`",
        TokenKind::RBracket => "`]`",
        TokenKind::LBrace => "`{`",
        TokenKind::RBrace => "`}`",
        TokenKind::Comma => "`,`",
        TokenKind::Semi => "`;`",
        TokenKind::Colon => "`:`",
        TokenKind::DotDot => "`..`",
        TokenKind::Assign => "`=`",
        TokenKind::EqEq => "`==`",
        TokenKind::Dot => "`.`",
        TokenKind::Eof => "end of query",
        _ => "a token",
    }
}

#[cfg(test)]
mod tests;
