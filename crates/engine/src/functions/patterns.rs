//! Text patterns for the `reduce` operator.
//!
//! Each value is split into terms (runs of letters and digits, plus the
//! characters given with `characters=`) and the text between them. Values
//! with the same number of terms and the same text between them form a
//! group. A value is frequent at a term position when at least
//! `max(2, threshold × rows)` rows of the whole input have it there. A
//! group splits at the position whose frequent values cover the most
//! rows: each frequent value gets a subgroup and the remaining rows
//! another. A group
//! that no position splits becomes a pattern, with `*` at each position
//! where its rows differ. Patterns under the frequency bound, and
//! patterns made only of `*`, count as `others`. A pattern's
//! representative is its smallest value.
//!
//! NOTE: Kusto does not publish its `reduce` algorithm, so patterns of
//! the same input can differ from Kusto's.

use std::collections::HashMap;

use serde_json::Value;

use super::JsonFunction;
use kql::KqlType;

pub const PATTERN_FUNCTIONS: &[JsonFunction] = &[JsonFunction::new(
    "__reduce_patterns",
    3,
    3,
    KqlType::Dynamic,
    reduce_patterns,
)];

/// A value split into terms and the text around them: `gaps` has one
/// more element than `terms`.
struct Split<'a> {
    terms: Vec<&'a str>,
    gaps: Vec<&'a str>,
}

fn split<'a>(text: &'a str, term_chars: &str) -> Split<'a> {
    let is_term = |c: char| c.is_alphanumeric() || term_chars.contains(c);
    let mut terms = Vec::new();
    let mut gaps = Vec::new();
    let mut start = 0;
    let mut in_term = false;
    for (index, c) in text.char_indices() {
        if is_term(c) != in_term {
            if in_term {
                terms.push(&text[start..index]);
            } else {
                gaps.push(&text[start..index]);
            }
            start = index;
            in_term = !in_term;
        }
    }
    if in_term {
        terms.push(&text[start..]);
        gaps.push("");
    } else {
        gaps.push(&text[start..]);
    }
    Split { terms, gaps }
}

/// A finished pattern: its text, its row count and one of its values.
struct Pattern {
    text: String,
    count: usize,
    representative: String,
}

/// Splits `rows` (indexes into `values`) further or turns them into a
/// pattern.
fn refine(
    values: &[Split<'_>],
    originals: &[&str],
    rows: Vec<usize>,
    decided: &mut Vec<bool>,
    min_count: usize,
    out: &mut Vec<Pattern>,
) {
    let width = decided.len();
    let mut best: Option<(usize, Vec<&str>, usize)> = None;
    for position in (0..width).filter(|p| !decided[*p]) {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for &row in &rows {
            *counts.entry(values[row].terms[position]).or_default() += 1;
        }
        if counts.len() < 2 {
            continue;
        }
        let mut frequent: Vec<&str> = counts
            .iter()
            .filter(|(_, count)| **count >= min_count)
            .map(|(value, _)| *value)
            .collect();
        frequent.sort_unstable();
        let covered: usize = frequent.iter().map(|v| counts[v]).sum();
        if covered > 0 && best.as_ref().is_none_or(|(_, _, c)| covered > *c) {
            best = Some((position, frequent, covered));
        }
    }
    let Some((position, frequent, _)) = best else {
        out.push(pattern(values, originals, &rows));
        return;
    };
    decided[position] = true;
    let mut rest = Vec::new();
    let mut subgroups: Vec<Vec<usize>> = vec![Vec::new(); frequent.len()];
    for row in rows {
        match frequent.binary_search(&values[row].terms[position]) {
            Ok(index) => subgroups[index].push(row),
            Err(_) => rest.push(row),
        }
    }
    for subgroup in subgroups {
        refine(values, originals, subgroup, decided, min_count, out);
    }
    if !rest.is_empty() {
        refine(values, originals, rest, decided, min_count, out);
    }
    decided[position] = false;
}

/// Builds the pattern of a group: each term position keeps its value when
/// all rows agree and becomes `*` otherwise.
fn pattern(values: &[Split<'_>], originals: &[&str], rows: &[usize]) -> Pattern {
    let first = &values[rows[0]];
    let mut text = String::new();
    for (position, gap) in first.gaps.iter().enumerate() {
        text.push_str(gap);
        if let Some(term) = first.terms.get(position) {
            if rows.iter().all(|row| values[*row].terms[position] == *term) {
                text.push_str(term);
            } else {
                text.push('*');
            }
        }
    }
    // The smallest value, so that the representative does not depend on
    // the order the rows arrive in.
    let representative = rows
        .iter()
        .map(|row| originals[*row])
        .min()
        .unwrap_or_default();
    Pattern {
        text,
        count: rows.len(),
        representative: representative.to_string(),
    }
}

/// True when a pattern has no term left, only `*` and the text between.
fn only_wildcards(text: &str, term_chars: &str) -> bool {
    !text
        .chars()
        .any(|c| c.is_alphanumeric() || (c != '*' && term_chars.contains(c)))
}

/// `__reduce_patterns(values, threshold, characters)`: the patterns of an
/// array of strings as `[pattern, count, representative]` arrays, the
/// largest first, with an `others` entry for the rows of no pattern.
fn reduce_patterns(args: &[Value]) -> Value {
    let Some(items) = args[0].as_array() else {
        return Value::Null;
    };
    let threshold = args[1].as_f64().unwrap_or(0.1);
    let term_chars = args[2].as_str().unwrap_or("");
    let originals: Vec<&str> = items.iter().map(|v| v.as_str().unwrap_or("")).collect();
    let values: Vec<Split<'_>> = originals.iter().map(|t| split(t, term_chars)).collect();
    let min_count = ((threshold * originals.len() as f64).ceil() as usize).max(2);

    let mut groups: HashMap<&[&str], Vec<usize>> = HashMap::new();
    for (row, value) in values.iter().enumerate() {
        groups.entry(&value.gaps).or_default().push(row);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    groups.sort_by_key(|rows| rows[0]);

    let mut patterns = Vec::new();
    for rows in groups {
        let mut decided = vec![false; values[rows[0]].terms.len()];
        refine(
            &values,
            &originals,
            rows,
            &mut decided,
            min_count,
            &mut patterns,
        );
    }
    let (kept, others): (Vec<Pattern>, Vec<Pattern>) = patterns
        .into_iter()
        .partition(|p| p.count >= min_count && !only_wildcards(&p.text, term_chars));
    let mut kept = kept;
    kept.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
    let mut rows: Vec<Value> = kept
        .into_iter()
        .map(|p| {
            Value::Array(vec![
                Value::String(p.text),
                Value::from(p.count),
                Value::String(p.representative),
            ])
        })
        .collect();
    let other_count: usize = others.iter().map(|p| p.count).sum();
    if other_count > 0 {
        rows.push(Value::Array(vec![
            Value::String("others".into()),
            Value::from(other_count),
            Value::String(String::new()),
        ]));
    }
    Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(values: Vec<String>, threshold: f64, chars: &str) -> Value {
        reduce_patterns(&[json!(values), json!(threshold), json!(chars)])
    }

    #[test]
    fn unique_single_terms_are_others() {
        let values = (1..=10).map(|x| format!("fooZ{x}")).collect();
        assert_eq!(run(values, 0.1, ""), json!([["others", 10, ""]]));
    }

    #[test]
    fn varying_terms_become_wildcards() {
        let mut values: Vec<String> = (0..8)
            .map(|x| format!("Failed password for user{x} from 10.0.0.{x}"))
            .collect();
        values.push("Accepted password for root from 10.0.0.1".into());
        values.push("Accepted password for root from 10.0.0.2".into());
        let result = run(values, 0.1, "");
        assert_eq!(
            result[0],
            json!([
                "Failed password for * from 10.0.0.*",
                8,
                "Failed password for user0 from 10.0.0.0"
            ])
        );
        assert_eq!(
            result[1][0],
            json!("Accepted password for root from 10.0.0.*")
        );
        assert_eq!(result[1][1], json!(2));
    }

    #[test]
    fn characters_keep_terms_whole() {
        let values: Vec<String> = (0..6).map(|x| format!("key=v{}", x % 2)).collect();
        let result = run(values, 0.1, "=");
        assert_eq!(
            result,
            json!([["key=v0", 3, "key=v0"], ["key=v1", 3, "key=v1"]])
        );
    }
}
