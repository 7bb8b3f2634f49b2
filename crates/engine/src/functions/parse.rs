//! The row function behind `parse` and `parse-where`: matches a text
//! against the regular expression built from the pattern and converts each
//! captured column to its type.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, StructArray};
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::logical_expr::Expr;
use kql::KqlType;
use regex::Regex;
use serde_json::Value;

use super::dynamic::json_array;
use super::{str_at, utf8};
use crate::plan::physical_type;
use crate::time;
use crate::udf;

/// Name of the struct field that is true when the text matched.
const MATCHED_FIELD: &str = "matched";

/// A compiled `parse` pattern.
#[derive(Debug, Clone)]
pub struct ParsePattern {
    /// The whole pattern. Capture group `c{i}` captures column `i`.
    pub regex: Regex,
    /// The KQL type of each captured column, in pattern order.
    pub types: Vec<KqlType>,
    /// `kind=relaxed`: a capture that does not convert to its type gives
    /// null for that column only. Otherwise it fails the whole match.
    pub relaxed: bool,
    /// `kind=regex`: string captures lose trailing white space, as in
    /// Kusto, where a greedy `.*` before the next literal would otherwise
    /// keep the space or line break that separates them.
    pub trim_strings: bool,
}

impl ParsePattern {
    /// Returns the struct field name of column `index`.
    pub fn field_name(index: usize) -> String {
        format!("c{index}")
    }

    /// Matches one text. Returns `None` when the text does not match (or,
    /// unless relaxed, when a capture does not convert), else one JSON value
    /// per column with datetimes and timespans as ticks.
    pub fn match_text(&self, text: &str) -> Option<Vec<Value>> {
        let captures = self.regex.captures(text)?;
        let mut values = Vec::with_capacity(self.types.len());
        for (index, ty) in self.types.iter().enumerate() {
            let captured = captures
                .name(&Self::field_name(index))
                .map_or("", |m| m.as_str());
            let captured = if self.trim_strings && *ty == KqlType::String {
                captured.trim_end()
            } else {
                captured
            };
            match convert_capture(captured, *ty) {
                Some(value) => values.push(value),
                None if self.relaxed => values.push(Value::Null),
                None => return None,
            }
        }
        Some(values)
    }
}

/// Converts captured text to a column type; `None` when it is not a value
/// of that type. Text always converts to string.
pub(crate) fn convert_capture(text: &str, ty: KqlType) -> Option<Value> {
    let trimmed = text.trim();
    let value = match ty {
        KqlType::String | KqlType::Guid => Value::String(text.to_string()),
        KqlType::Int => Value::from(trimmed.parse::<i32>().ok()?),
        KqlType::Long => Value::from(trimmed.parse::<i64>().ok()?),
        KqlType::Real | KqlType::Decimal => {
            let number: f64 = trimmed.parse().ok()?;
            crate::value::real_json(number)
        }
        KqlType::Bool => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return None,
        },
        KqlType::Datetime => Value::from(time::parse_datetime(trimmed)?),
        KqlType::Timespan => Value::from(time::parse_timespan(trimmed)?),
        KqlType::Dynamic => {
            serde_json::from_str(trimmed).unwrap_or_else(|_| Value::String(text.to_string()))
        }
    };
    Some(value)
}

/// A function that extracts the columns of one text: `None` when the text
/// does not match, else one JSON value per column (see
/// [`ParsePattern::match_text`] for the encoding).
pub type RowParser = Arc<dyn Fn(&str) -> Option<Vec<Value>> + Send + Sync>;

/// Builds the call that parses `text` with `pattern`: a struct with the
/// matched flag and one field per column (null where the text
/// did not match).
pub fn parse_call(text: Expr, pattern: ParsePattern) -> Expr {
    let name = format!(
        "parse_{}_{:?}_{}",
        pattern.regex.as_str(),
        pattern.types,
        pattern.relaxed
    );
    let types = pattern.types.clone();
    let parser: RowParser = Arc::new(move |text| pattern.match_text(text));
    row_parser_call(text, &name, types, parser)
}

/// Builds the call that runs `parser` on every row of `text` and returns
/// the struct that [`struct_field`] reads. `name` must identify the parser
/// and its settings uniquely.
pub fn row_parser_call(text: Expr, name: &str, types: Vec<KqlType>, parser: RowParser) -> Expr {
    let mut fields = vec![Field::new(MATCHED_FIELD, DataType::Boolean, false)];
    fields.extend(
        types
            .iter()
            .enumerate()
            .map(|(i, ty)| Field::new(ParsePattern::field_name(i), physical_type(*ty), true)),
    );
    let fields = Fields::from(fields);
    let struct_fields = fields.clone();
    let body: udf::ArrayFn = Arc::new(move |arrays: &[ArrayRef]| {
        let texts = utf8(&arrays[0])?;
        let rows = texts.len();
        let mut matched = Vec::with_capacity(rows);
        let mut columns: Vec<Vec<Value>> = vec![Vec::with_capacity(rows); types.len()];
        for row in 0..rows {
            let values = parser(str_at(&texts, row));
            matched.push(values.is_some());
            let values = values.unwrap_or_else(|| vec![Value::Null; types.len()]);
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
        }
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(BooleanArray::from(matched))];
        arrays.extend(
            columns
                .iter()
                .zip(&types)
                .map(|(values, ty)| json_array(values, *ty)),
        );
        let array = StructArray::try_new(struct_fields.clone(), arrays, None)?;
        Ok(Arc::new(array) as ArrayRef)
    });
    udf::call(name, DataType::Struct(fields), false, body, vec![text])
}

/// Reads one field of the struct that [`parse_call`] returns: field 0 is
/// the matched flag and field `i + 1` is column `i`.
///
/// A UDF instead of DataFusion's `get_field`, because DataFusion 55's
/// `push_down_leaf_projections` rule moves `get_field` below the
/// projection that computes the struct and then fails on duplicate column
/// names.
pub fn struct_field(parsed: Expr, field: usize, data_type: DataType) -> Expr {
    let body: udf::ArrayFn = Arc::new(move |arrays: &[ArrayRef]| {
        let parsed = arrays[0].as_struct();
        Ok(parsed.column(field).clone())
    });
    udf::call(
        &format!("struct_field_{field}_{data_type}"),
        data_type,
        false,
        body,
        vec![parsed],
    )
}

/// Reads the matched flag of a [`parse_call`] result.
pub fn matched(parsed: Expr) -> Expr {
    struct_field(parsed, 0, DataType::Boolean)
}

/// Reads column `index` of a [`parse_call`] result.
pub fn captured(parsed: Expr, index: usize, ty: KqlType) -> Expr {
    struct_field(parsed, index + 1, physical_type(ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(regex: &str, types: Vec<KqlType>, relaxed: bool) -> ParsePattern {
        ParsePattern {
            regex: Regex::new(regex).expect("valid test regex"),
            types,
            relaxed,
            trim_strings: false,
        }
    }

    #[test]
    fn strict_match_needs_every_type() {
        let p = pattern(
            r"(?s)\A.*?n=(?P<c0>.*?), t=(?P<c1>.*?)\z",
            vec![KqlType::String, KqlType::Long],
            false,
        );
        assert_eq!(
            p.match_text("x n=abc, t=27"),
            Some(vec![Value::from("abc"), Value::from(27)])
        );
        assert_eq!(p.match_text("x n=abc, t=oops"), None);
        assert_eq!(p.match_text("no match"), None);
    }

    #[test]
    fn relaxed_match_nulls_bad_columns() {
        let p = pattern(
            r"(?s)\An=(?P<c0>.*?), t=(?P<c1>.*?)\z",
            vec![KqlType::String, KqlType::Long],
            true,
        );
        assert_eq!(
            p.match_text("n=abc, t=oops"),
            Some(vec![Value::from("abc"), Value::Null])
        );
    }

    #[test]
    fn captures_convert_to_datetime() {
        let ticks = time::parse_datetime("2016-02-17 08:40:01").expect("valid datetime");
        assert_eq!(
            convert_capture("02/17/2016 08:40:01", KqlType::Datetime),
            Some(Value::from(ticks))
        );
        assert_eq!(convert_capture("invalid", KqlType::Datetime), None);
    }
}
