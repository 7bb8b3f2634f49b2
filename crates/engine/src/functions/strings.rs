//! String operators (`has`, `contains`, `startswith`, ...) with KQL's case
//! rules and term semantics.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use kql::ast::StringOpKind;

use super::{str_at, utf8};
use crate::udf;

/// Lower-cases a string expression (Unicode-aware).
pub fn lower(expr: Expr) -> Expr {
    datafusion::functions::string::expr_fn::lower(expr)
}

/// Builds `haystack <op> needle` for one of the term and substring
/// operators.
pub fn string_operator(
    kind: StringOpKind,
    case_sensitive: bool,
    haystack: Expr,
    needle: Expr,
) -> Expr {
    let name = format!("{kind:?}_{}", if case_sensitive { "cs" } else { "ci" }).to_lowercase();
    let body: udf::ArrayFn = Arc::new(move |args: &[ArrayRef]| {
        let haystacks = utf8(&args[0])?;
        let needles = utf8(&args[1])?;
        let mut out = Vec::with_capacity(haystacks.len());
        let mut cache: Option<(String, String)> = None;
        for row in 0..haystacks.len() {
            let needle = str_at(&needles, row);
            let folded_needle = match &cache {
                Some((raw, folded)) if raw == needle => folded.clone(),
                _ => {
                    let folded = fold(needle, case_sensitive);
                    cache = Some((needle.to_string(), folded.clone()));
                    folded
                }
            };
            let haystack = fold(str_at(&haystacks, row), case_sensitive);
            out.push(Some(matches(kind, &haystack, &folded_needle)));
        }
        Ok(Arc::new(BooleanArray::from(out)) as ArrayRef)
    });
    udf::call(
        &name,
        DataType::Boolean,
        false,
        body,
        vec![haystack, needle],
    )
}

/// A term argument of `has_any` / `has_all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermArg {
    /// A string: one term.
    Text,
    /// Dynamic JSON text, read at run time: each element of an array is a
    /// term, any other value is one term.
    Dynamic,
}

/// Returns the terms of one argument at `row`.
fn row_terms(terms: &ArrayRef, kind: TermArg, row: usize) -> Vec<String> {
    let text = str_at(terms, row);
    if kind == TermArg::Text {
        return vec![fold(text, false)];
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(term) => fold(term, false),
                other => fold(&other.to_string(), false),
            })
            .collect(),
        Ok(serde_json::Value::Null) => Vec::new(),
        Ok(serde_json::Value::String(term)) => vec![fold(&term, false)],
        _ => vec![fold(text, false)],
    }
}

/// Builds `haystack has_any (terms)` or, with `all`, `has_all`. `kinds`
/// tells for each term argument whether it is one term or a dynamic value
/// whose array elements are the terms.
pub fn has_any(haystack: Expr, terms: Vec<Expr>, kinds: Vec<TermArg>, all: bool) -> Expr {
    let name = if all { "has_all" } else { "has_any" };
    let body: udf::ArrayFn = Arc::new(move |args: &[ArrayRef]| {
        let haystacks = utf8(&args[0])?;
        let term_arrays = args[1..].iter().map(utf8).collect::<Result<Vec<_>>>()?;
        // A dynamic term argument is usually the same value on every row
        // (a `let` or a subquery), so its parsed terms are kept while the
        // text stays the same.
        let mut parsed: Vec<(String, Vec<String>)> = vec![(String::new(), Vec::new()); kinds.len()];
        let mut out = Vec::with_capacity(haystacks.len());
        for row in 0..haystacks.len() {
            let haystack = fold(str_at(&haystacks, row), false);
            let mut row_hits = Vec::new();
            for (index, terms) in term_arrays.iter().enumerate() {
                let text = str_at(terms, row);
                if parsed[index].0 != text || row == 0 {
                    parsed[index] = (text.to_string(), row_terms(terms, kinds[index], row));
                }
                row_hits.extend(
                    parsed[index]
                        .1
                        .iter()
                        .map(|term| matches(StringOpKind::Has, &haystack, term)),
                );
            }
            out.push(Some(if all {
                row_hits.iter().all(|h| *h)
            } else {
                row_hits.iter().any(|h| *h)
            }));
        }
        Ok(Arc::new(BooleanArray::from(out)) as ArrayRef)
    });
    let mut args = vec![haystack];
    args.extend(terms);
    udf::call(name, DataType::Boolean, false, body, args)
}

/// Builds `haystack matches regex pattern`: true when the pattern matches
/// anywhere in the value. An invalid pattern is an execution error naming
/// the pattern.
pub fn matches_regex(haystack: Expr, pattern: Expr) -> Expr {
    let body: udf::ArrayFn = Arc::new(|args: &[ArrayRef]| {
        let haystacks = utf8(&args[0])?;
        let patterns = utf8(&args[1])?;
        let mut compiled: Option<(String, regex::Regex)> = None;
        let mut out = Vec::with_capacity(haystacks.len());
        for row in 0..haystacks.len() {
            let pattern = str_at(&patterns, row);
            if compiled.as_ref().is_none_or(|(p, _)| p != pattern) {
                let regex = regex::Regex::new(pattern).map_err(|err| {
                    DataFusionError::Execution(format!(
                        "invalid regular expression `{pattern}`: {err}"
                    ))
                })?;
                compiled = Some((pattern.to_string(), regex));
            }
            let (_, regex) = compiled.as_ref().expect("compiled above");
            out.push(Some(regex.is_match(str_at(&haystacks, row))));
        }
        Ok(Arc::new(BooleanArray::from(out)) as ArrayRef)
    });
    udf::call(
        "matches_regex",
        DataType::Boolean,
        false,
        body,
        vec![haystack, pattern],
    )
}

fn fold(text: &str, case_sensitive: bool) -> String {
    if case_sensitive {
        text.to_string()
    } else if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    }
}

fn matches(kind: StringOpKind, haystack: &str, needle: &str) -> bool {
    match kind {
        StringOpKind::Contains => haystack.contains(needle),
        StringOpKind::StartsWith => haystack.starts_with(needle),
        StringOpKind::EndsWith => haystack.ends_with(needle),
        StringOpKind::Has => term_match(haystack, needle, true, true),
        StringOpKind::HasPrefix => term_match(haystack, needle, true, false),
        StringOpKind::HasSuffix => term_match(haystack, needle, false, true),
        StringOpKind::MatchesRegex => false,
    }
}

/// True when a character is part of a term: KQL cuts strings into maximal
/// runs of alphanumeric characters.
fn is_term_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Finds `needle` in `haystack` where it starts at a term start (when
/// `at_start`) and ends at a term end (when `at_end`). An empty needle
/// matches everything, as in Kusto. A needle that begins or ends with a
/// separator needs no boundary on that side.
pub(crate) fn term_match(haystack: &str, needle: &str, at_start: bool, at_end: bool) -> bool {
    if needle.is_empty() {
        return true;
    }
    let needle_starts_with_term = needle.chars().next().is_some_and(is_term_char);
    let needle_ends_with_term = needle.chars().next_back().is_some_and(is_term_char);
    let mut from = 0;
    while let Some(offset) = haystack[from..].find(needle) {
        let start = from + offset;
        let end = start + needle.len();
        let before_ok = !at_start
            || !needle_starts_with_term
            || haystack[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !is_term_char(c));
        let after_ok = !at_end
            || !needle_ends_with_term
            || haystack[end..]
                .chars()
                .next()
                .is_none_or(|c| !is_term_char(c));
        if before_ok && after_ok {
            return true;
        }
        from = start + haystack[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_matches_whole_terms_only() {
        assert!(term_match(
            "kustoexplorerqueryrun",
            "kustoexplorerqueryrun",
            true,
            true
        ));
        assert!(!term_match("kustoexplorerqueryrun", "explorer", true, true));
        assert!(term_match(
            "c:\\windows\\system32\\cmd.exe",
            "cmd.exe",
            true,
            true
        ));
        assert!(term_match("ad67d136-c1db-4f9f", "c1db", true, true));
        assert!(!term_match("ad67d136-c1db-4f9f", "c1d", true, true));
    }

    #[test]
    fn hasprefix_and_hassuffix() {
        assert!(term_match("north america", "amer", true, false));
        assert!(!term_match("north america", "merica", true, false));
        assert!(term_match("north america", "rica", false, true));
    }
}
