//! `parse` and `parse-where`: the pattern becomes one regular expression
//! with a named capture group per column, matched once per row. Also
//! `parse-kv`, whose key-value extraction fills the same kind of struct.

use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::Expr;
use kql::ast::{self, ParsePart};
use kql::{Diagnostic, KqlType, Span};
use regex::Regex;

use super::expr::coerce_to;
use super::tabular::simplify;
use super::{Column, Planner, Relation, column_exprs, project};
use crate::error::EngineError;
use crate::functions::parse::{
    ParsePattern, RowParser, captured, matched, parse_call, row_parser_call,
};
use crate::functions::parse_kv::{Delimiters, KeyValueSpec};
use crate::functions::{self as f};

/// Name of the temporary column that contains the parse result struct.
const PARSED_COLUMN: &str = "__parsed";

/// The three kinds of `parse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParseKind {
    /// Literals match exactly, the pattern covers the whole text, and every
    /// column must convert to its type.
    Simple,
    /// Like `Simple`, but a column that does not convert is null.
    Relaxed,
    /// Literals are regular expressions and the match may start anywhere.
    Regex,
}

impl Planner<'_> {
    /// Plans `parse` (keeps rows that do not match, with null columns) and,
    /// with `drop_unmatched`, `parse-where` (drops them).
    pub(crate) fn plan_parse(
        &mut self,
        input: Relation,
        spec: &ast::Parse,
        drop_unmatched: bool,
        span: Span,
    ) -> Result<Relation, EngineError> {
        let kind = match &spec.kind {
            None => ParseKind::Simple,
            Some(kind) => match kind.name.to_ascii_lowercase().as_str() {
                "simple" => ParseKind::Simple,
                "relaxed" => ParseKind::Relaxed,
                "regex" => ParseKind::Regex,
                other => {
                    return Err(EngineError::semantic(
                        Diagnostic::new(format!("unknown parse kind `{other}`"), kind.span)
                            .with_help("use `kind=simple`, `kind=regex` or `kind=relaxed`"),
                    ));
                }
            },
        };
        let (pattern, new_columns) = build_pattern(spec, kind, span)?;

        let source = self.plan_expr(&spec.source, &input)?;
        let parsed = parse_call(f::to_string(source), pattern);
        self.extend_with_parsed(input, parsed, new_columns, drop_unmatched)
    }

    /// Adds the columns of a [`row_parser_call`] result to `input`,
    /// replacing input columns of the same name, and with
    /// `drop_unmatched` keeps only the rows that matched.
    fn extend_with_parsed(
        &mut self,
        input: Relation,
        parsed: Expr,
        new_columns: Vec<Column>,
        drop_unmatched: bool,
    ) -> Result<Relation, EngineError> {
        let mut exprs = column_exprs(&input.columns);
        // Each new column reads the parsed value, so it is computed once.
        exprs.push(super::computed_once(parsed.alias(PARSED_COLUMN)));
        let mut builder =
            super::project_unqualified(input.plan, exprs).map_err(EngineError::plan)?;
        if drop_unmatched {
            let parsed = super::column_expr(PARSED_COLUMN);
            builder = builder.filter(matched(parsed)).map_err(EngineError::plan)?;
        }
        let plan = builder.build().map_err(EngineError::plan)?;

        let mut columns = input.columns.clone();
        let mut out: Vec<Expr> = columns
            .iter()
            .map(|c| super::column_expr(&c.name))
            .collect();
        for (index, column) in new_columns.into_iter().enumerate() {
            let value = captured(super::column_expr(PARSED_COLUMN), index, column.ty);
            match columns.iter().position(|c| c.name == column.name) {
                Some(existing) => {
                    out[existing] = value;
                    columns[existing].ty = column.ty;
                }
                None => {
                    out.push(value);
                    columns.push(column);
                }
            }
        }
        let out = out
            .into_iter()
            .zip(&columns)
            .map(|(expr, column)| expr.alias(&column.name))
            .collect();
        project(plan, out, columns)
    }
}

impl Planner<'_> {
    /// Plans `parse-kv`: every input row is kept, and each requested key
    /// becomes a column that is null where the key is missing or its value
    /// does not convert.
    pub(crate) fn plan_parse_kv(
        &mut self,
        input: Relation,
        spec: &ast::ParseKv,
    ) -> Result<Relation, EngineError> {
        let mut keys = Vec::with_capacity(spec.columns.len());
        let mut new_columns = Vec::with_capacity(spec.columns.len());
        for decl in &spec.columns {
            let ty = KqlType::from_name(&decl.ty.name).ok_or_else(|| {
                EngineError::semantic(Diagnostic::new(
                    format!("unknown type `{}`", decl.ty.name),
                    decl.ty.span,
                ))
            })?;
            keys.push((decl.name.name.clone(), ty));
            new_columns.push(Column {
                name: decl.name.name.clone(),
                ty,
            });
        }

        let mut pair = None;
        let mut key_value = None;
        let mut greedy = false;
        let mut quotes = None;
        let mut escape = None;
        for option in &spec.options {
            let Some(name) = &option.name else {
                return Err(EngineError::semantic(Diagnostic::new(
                    "`parse-kv` options are written `name = value`",
                    option.value.span,
                )));
            };
            let text = self.constant_text(&option.value, &input)?;
            match name.name.as_str() {
                "pair_delimiter" => pair = Some(text),
                "kv_delimiter" => key_value = Some(text),
                "greedy" => greedy = text.eq_ignore_ascii_case("true"),
                "quote" => {
                    let mut chars = text.chars();
                    quotes = match (chars.next(), chars.next(), chars.next()) {
                        (Some(open), None, _) => Some((open, open)),
                        (Some(open), Some(close), None) => Some((open, close)),
                        _ => {
                            return Err(EngineError::semantic(Diagnostic::new(
                                format!("`quote` takes one or two characters, not `{text}`"),
                                option.value.span,
                            )));
                        }
                    };
                }
                "escape" => escape = text.chars().next(),
                other => {
                    return Err(EngineError::semantic(
                        Diagnostic::new(format!("unknown `parse-kv` option `{other}`"), name.span)
                            .with_help(
                                "the options are pair_delimiter, kv_delimiter, quote, escape and greedy",
                            ),
                    ));
                }
            }
        }
        let delimiters = (pair.is_some() || key_value.is_some()).then(|| Delimiters {
            pair: pair.unwrap_or_else(|| " ".to_string()),
            key_value: key_value.unwrap_or_else(|| "=".to_string()),
            greedy,
        });
        let kv = KeyValueSpec {
            keys,
            delimiters,
            quotes,
            escape,
        };

        let source = self.plan_expr(&spec.source, &input)?;
        let name = format!("parse_kv_{kv:?}");
        let types = kv.keys.iter().map(|(_, ty)| *ty).collect();
        let parser: RowParser = Arc::new(move |text| Some(kv.extract(text)));
        let parsed = row_parser_call(f::to_string(source), &name, types, parser);
        self.extend_with_parsed(input, parsed, new_columns, false)
    }

    /// Folds a constant option value to its text.
    fn constant_text(
        &mut self,
        value: &ast::Expr,
        input: &Relation,
    ) -> Result<String, EngineError> {
        let typed = self.plan_expr(value, input)?;
        match simplify(coerce_to(typed, KqlType::String))? {
            Expr::Literal(ScalarValue::Utf8(Some(text)), _) => Ok(text),
            _ => Err(EngineError::semantic(Diagnostic::new(
                "expected a constant value",
                value.span,
            ))),
        }
    }
}

/// Translates a pattern into one regular expression and the columns it
/// captures.
///
/// In simple and relaxed mode the expression is anchored at both ends of
/// the text, `*` and string columns match as little as possible, and
/// number and bool columns only match text of their type. In regex mode the
/// literals are regular expressions, the match is not anchored, `*` and
/// string columns are `.*` (greedy, unless the `U` flag swaps greediness),
/// and `flags=` adds inline flags.
fn build_pattern(
    spec: &ast::Parse,
    kind: ParseKind,
    span: Span,
) -> Result<(ParsePattern, Vec<Column>), EngineError> {
    let mut regex = String::new();
    match kind {
        ParseKind::Regex => {
            if let Some(flags) = &spec.flags {
                regex.push_str(&format!("(?{flags})"));
            }
        }
        ParseKind::Simple | ParseKind::Relaxed => regex.push_str(r"(?s)\A"),
    }
    let any = if kind == ParseKind::Regex {
        ".*"
    } else {
        ".*?"
    };

    let mut columns = Vec::new();
    for part in &spec.pattern {
        match part {
            ParsePart::Literal(text, _) => match kind {
                ParseKind::Regex => regex.push_str(&format!("(?:{text})")),
                _ => regex.push_str(&regex::escape(text)),
            },
            ParsePart::Wildcard(_) => regex.push_str(any),
            ParsePart::Column { name, ty } => {
                let ty = match ty {
                    Some(type_name) => KqlType::from_name(&type_name.name).ok_or_else(|| {
                        EngineError::semantic(Diagnostic::new(
                            format!("unknown type `{}`", type_name.name),
                            type_name.span,
                        ))
                    })?,
                    None => KqlType::String,
                };
                let group = ParsePattern::field_name(columns.len());
                let body = match (kind, ty) {
                    (ParseKind::Relaxed, _) => any,
                    (_, KqlType::Int | KqlType::Long) => r"[+-]?\d+",
                    (_, KqlType::Real | KqlType::Decimal) => {
                        r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
                    }
                    (_, KqlType::Bool) => r"(?i:true|false)",
                    _ => any,
                };
                regex.push_str(&format!("(?P<{group}>{body})"));
                columns.push(Column {
                    name: name.name.clone(),
                    ty,
                });
            }
        }
    }
    if kind != ParseKind::Regex {
        regex.push_str(r"\z");
    }

    let regex = Regex::new(&regex).map_err(|err| {
        EngineError::semantic(Diagnostic::new(
            format!("the `parse` pattern is not a valid regular expression: {err}"),
            span,
        ))
    })?;
    let types = columns.iter().map(|c| c.ty).collect();
    let pattern = ParsePattern {
        regex,
        types,
        relaxed: kind == ParseKind::Relaxed,
        trim_strings: kind == ParseKind::Regex,
    };
    Ok((pattern, columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_spec(query: &str) -> ast::Parse {
        let parsed = kql::parse(query).expect("valid test query");
        let body = parsed.body.expect("query has a body");
        match &body.operators[0].kind {
            ast::OperatorKind::Parse(spec) | ast::OperatorKind::ParseWhere(spec) => spec.clone(),
            other => panic!("expected parse, got {other:?}"),
        }
    }

    #[test]
    fn simple_pattern_is_anchored_and_lazy() {
        let spec = parse_spec(r#"T | parse x with * "n=" name ", t=" total: long *"#);
        let (pattern, columns) =
            build_pattern(&spec, ParseKind::Simple, Span::default()).expect("valid pattern");
        assert_eq!(
            pattern.regex.as_str(),
            r"(?s)\A.*?n=(?P<c0>.*?), t=(?P<c1>[+-]?\d+).*?\z"
        );
        assert_eq!(columns.len(), 2);
        assert_eq!(columns[1].ty, KqlType::Long);
    }

    #[test]
    fn simple_pattern_escapes_literals() {
        let spec = parse_spec(r#"T | parse x with "a(" v ")""#);
        let (pattern, _) =
            build_pattern(&spec, ParseKind::Simple, Span::default()).expect("valid pattern");
        assert!(pattern.match_text("a(1)").is_some());
        assert!(pattern.match_text("b(1)").is_none());
    }

    #[test]
    fn regex_pattern_takes_flags_and_is_greedy() {
        let spec = parse_spec(r#"T | parse kind=regex flags=Ui x with * "NAME=" v ',' *"#);
        let (pattern, _) =
            build_pattern(&spec, ParseKind::Regex, Span::default()).expect("valid pattern");
        let values = pattern.match_text("a name=P, b=1, c=2").expect("matches");
        assert_eq!(values[0], serde_json::Value::from("P"));

        let spec = parse_spec(r#"T | parse kind=regex x with * "name=" v ',' *"#);
        let (pattern, _) =
            build_pattern(&spec, ParseKind::Regex, Span::default()).expect("valid pattern");
        let values = pattern.match_text("a name=P, b=1, c=2").expect("matches");
        assert_eq!(values[0], serde_json::Value::from("P, b=1"));
    }
}
