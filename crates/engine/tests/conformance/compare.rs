//! Compares an engine result with the expected table of a KQL conformance
//! case.
//!
//! Both sides have the shape of `engine::output::to_json_document`:
//! `{"columns": [{"name", "type"}], "rows": [[cell, ...], ...]}`. The rules
//! are those the corpus prescribes for runners:
//!
//! * Columns match by count and by name, in order and case-sensitively,
//!   unless the case sets `names_unreliable`. Column types are advisory and
//!   only select how cells compare.
//! * Rows match position by position when the case is `ordered`, otherwise
//!   as multisets: every expected row needs a distinct matching actual row.
//! * Cells compare by the expected column type, falling back to the actual
//!   column type and then to the JSON type of the value (see [`CellKind`]).

use std::fmt;

use serde_json::Value;

/// Smallest absolute tolerance for two real numbers.
const MIN_ABS_TOLERANCE: f64 = 1e-9;
/// Relative tolerance for two real numbers.
const REL_TOLERANCE: f64 = 1e-6;
/// Ticks (100 ns units) per second, the resolution of KQL datetimes and
/// timespans.
const TICKS_PER_SECOND: i128 = 10_000_000;
/// Maximum length, in characters, of a value that a mismatch message
/// quotes in full.
const MAX_QUOTED_CHARS: usize = 80;

/// Per-case settings that change how a result compares.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaseRules {
    /// Rows must appear in the expected order.
    pub ordered: bool,
    /// Column names are not compared, only their count.
    pub names_unreliable: bool,
    /// Absolute tolerance for numbers that replaces the last-place unit.
    pub abs_tolerance: Option<f64>,
}

impl CaseRules {
    /// Reads the rule fields of one case object.
    pub fn from_case(case: &Value) -> CaseRules {
        CaseRules {
            ordered: case["ordered"].as_bool().unwrap_or(false),
            names_unreliable: case["names_unreliable"].as_bool().unwrap_or(false),
            abs_tolerance: case["abs_tolerance"].as_f64(),
        }
    }
}

/// The first difference found between an expected and an actual table.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// A fixed label, such as "row count differs", for grouping failures.
    pub category: &'static str,
    /// The positions and values involved.
    pub detail: String,
}

impl Mismatch {
    fn new(category: &'static str, detail: String) -> Mismatch {
        Mismatch { category, detail }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.category, self.detail)
    }
}

/// How the cells of one column compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// `int` and `long`: integers must be equal exactly.
    Integer,
    /// `real`: the numeric tolerance rule.
    Real,
    /// `decimal`: exact for integers, otherwise the numeric tolerance rule.
    Decimal,
    Bool,
    String,
    /// Instants at 100 ns resolution, in either text shape.
    Datetime,
    /// Durations in ticks.
    Timespan,
    /// Case-insensitive text.
    Guid,
    /// Deep JSON equality with the numeric rule for numbers.
    Dynamic,
}

impl CellKind {
    /// Maps a KQL type name to its cell kind; `None` for an unknown name.
    pub fn from_type_name(name: &str) -> Option<CellKind> {
        let kind = match name {
            "int" | "long" => CellKind::Integer,
            "real" => CellKind::Real,
            "decimal" => CellKind::Decimal,
            "bool" => CellKind::Bool,
            "string" => CellKind::String,
            "datetime" => CellKind::Datetime,
            "timespan" => CellKind::Timespan,
            "guid" => CellKind::Guid,
            "dynamic" => CellKind::Dynamic,
            _ => return None,
        };
        Some(kind)
    }
}

/// Chooses the cell kind of a column from the expected type, else the
/// actual type. A column that neither side types compares by the JSON type
/// of each value, which is what [`CellKind::Dynamic`] does.
fn column_kind(expected_type: &Value, actual_type: &Value) -> CellKind {
    expected_type
        .as_str()
        .and_then(CellKind::from_type_name)
        .or_else(|| actual_type.as_str().and_then(CellKind::from_type_name))
        .unwrap_or(CellKind::Dynamic)
}

/// Compares an actual result document with the expected table of a case.
pub fn compare_tables(expected: &Value, actual: &Value, rules: &CaseRules) -> Result<(), Mismatch> {
    let empty = Vec::new();
    let expected_columns = expected["columns"].as_array().unwrap_or(&empty);
    let actual_columns = actual["columns"].as_array().unwrap_or(&empty);
    let expected_rows = expected["rows"].as_array().unwrap_or(&empty);
    let actual_rows = actual["rows"].as_array().unwrap_or(&empty);

    if expected_columns.len() != actual_columns.len() {
        return Err(Mismatch::new(
            "column count differs",
            format!(
                "expected {} columns {}, got {} columns {}",
                expected_columns.len(),
                column_names(expected_columns),
                actual_columns.len(),
                column_names(actual_columns)
            ),
        ));
    }
    if !rules.names_unreliable {
        for (index, (expected_column, actual_column)) in
            expected_columns.iter().zip(actual_columns).enumerate()
        {
            if expected_column["name"] != actual_column["name"] {
                return Err(Mismatch::new(
                    "column name differs",
                    format!(
                        "column {index}: expected {}, got {}",
                        expected_column["name"], actual_column["name"]
                    ),
                ));
            }
        }
    }

    let columns: Vec<ColumnRule> = expected_columns
        .iter()
        .zip(actual_columns)
        .map(|(expected_column, actual_column)| ColumnRule {
            name: expected_column["name"].as_str().unwrap_or("?").to_string(),
            kind: column_kind(&expected_column["type"], &actual_column["type"]),
        })
        .collect();

    if expected_rows.len() != actual_rows.len() {
        return Err(Mismatch::new(
            "row count differs",
            format!(
                "expected {} rows, got {}",
                expected_rows.len(),
                actual_rows.len()
            ),
        ));
    }

    let tables = Tables {
        columns: &columns,
        expected_rows,
        actual_rows,
        abs_tolerance: rules.abs_tolerance,
    };
    if rules.ordered {
        tables.compare_ordered()
    } else {
        tables.compare_unordered()
    }
}

/// Lists the expected column types that differ from the actual ones,
/// treating `int` and `long` as the same type and skipping untyped
/// expected columns. Types are advisory, so callers report these without
/// failing a case.
pub fn type_differences(expected: &Value, actual: &Value) -> Vec<String> {
    let empty = Vec::new();
    let expected_columns = expected["columns"].as_array().unwrap_or(&empty);
    let actual_columns = actual["columns"].as_array().unwrap_or(&empty);
    let mut differences = Vec::new();
    for (expected_column, actual_column) in expected_columns.iter().zip(actual_columns) {
        let Some(expected_type) = expected_column["type"].as_str() else {
            continue;
        };
        let actual_type = actual_column["type"].as_str().unwrap_or("?");
        let integers = ["int", "long"];
        let same = expected_type == actual_type
            || (integers.contains(&expected_type) && integers.contains(&actual_type));
        if !same {
            differences.push(format!(
                "{}: expected {expected_type}, got {actual_type}",
                expected_column["name"]
            ));
        }
    }
    differences
}

fn column_names(columns: &[Value]) -> String {
    let names: Vec<&str> = columns
        .iter()
        .map(|column| column["name"].as_str().unwrap_or("?"))
        .collect();
    format!("[{}]", names.join(", "))
}

struct ColumnRule {
    name: String,
    kind: CellKind,
}

/// The rows of both sides, ready for row matching.
struct Tables<'a> {
    columns: &'a [ColumnRule],
    expected_rows: &'a [Value],
    actual_rows: &'a [Value],
    abs_tolerance: Option<f64>,
}

impl Tables<'_> {
    /// Returns the first cell of a row pair that differs, as
    /// `(column index, reason)`.
    fn first_difference(
        &self,
        expected_row: &Value,
        actual_row: &Value,
    ) -> Option<(usize, String)> {
        let empty = Vec::new();
        let expected_cells = expected_row.as_array().unwrap_or(&empty);
        let actual_cells = actual_row.as_array().unwrap_or(&empty);
        if expected_cells.len() != actual_cells.len() {
            return Some((
                0,
                format!(
                    "expected {} cells, got {}",
                    expected_cells.len(),
                    actual_cells.len()
                ),
            ));
        }
        for (index, column) in self.columns.iter().enumerate() {
            let expected_cell = &expected_cells[index];
            let actual_cell = &actual_cells[index];
            if !cells_match(column.kind, expected_cell, actual_cell, self.abs_tolerance) {
                return Some((
                    index,
                    format!(
                        "column `{}` ({:?}): expected {}, got {}",
                        column.name,
                        column.kind,
                        quote(expected_cell),
                        quote(actual_cell)
                    ),
                ));
            }
        }
        None
    }

    /// Counts the cells of a row pair that match, to find the actual row
    /// closest to an expected row without a match.
    fn matching_cells(&self, expected_row: &Value, actual_row: &Value) -> usize {
        let (Some(expected_cells), Some(actual_cells)) =
            (expected_row.as_array(), actual_row.as_array())
        else {
            return 0;
        };
        self.columns
            .iter()
            .zip(expected_cells.iter().zip(actual_cells))
            .filter(|(column, (e, a))| cells_match(column.kind, e, a, self.abs_tolerance))
            .count()
    }

    fn compare_ordered(&self) -> Result<(), Mismatch> {
        for (index, (expected_row, actual_row)) in
            self.expected_rows.iter().zip(self.actual_rows).enumerate()
        {
            if let Some((_, reason)) = self.first_difference(expected_row, actual_row) {
                return Err(Mismatch::new(
                    "cell value differs",
                    format!("row {index}, {reason}"),
                ));
            }
        }
        Ok(())
    }

    /// Matches rows as multisets. Because numeric tolerances make "matches"
    /// a relation rather than an equivalence, a greedy pass could pair rows
    /// badly. This finds a maximum bipartite matching with augmenting paths
    /// (Kuhn's algorithm) instead.
    fn compare_unordered(&self) -> Result<(), Mismatch> {
        let count = self.expected_rows.len();
        let candidates: Vec<Vec<usize>> = self
            .expected_rows
            .iter()
            .map(|expected_row| {
                (0..count)
                    .filter(|&actual| {
                        self.first_difference(expected_row, &self.actual_rows[actual])
                            .is_none()
                    })
                    .collect()
            })
            .collect();

        let mut owner_of_actual: Vec<Option<usize>> = vec![None; count];
        let mut unmatched = None;
        for expected in 0..count {
            let mut visited = vec![false; count];
            if !augment(expected, &candidates, &mut owner_of_actual, &mut visited)
                && unmatched.is_none()
            {
                unmatched = Some(expected);
            }
        }
        let Some(expected) = unmatched else {
            return Ok(());
        };

        let expected_row = &self.expected_rows[expected];
        let closest = (0..count)
            .max_by_key(|&actual| {
                // Among equally close rows, prefer the earliest one.
                (
                    self.matching_cells(expected_row, &self.actual_rows[actual]),
                    count - actual,
                )
            })
            .expect("row counts are equal and a row is unmatched, so there is at least one row");
        let reason = self
            .first_difference(expected_row, &self.actual_rows[closest])
            .map(|(_, reason)| reason)
            .unwrap_or_else(|| "its matching rows all pair with other expected rows".to_string());
        Err(Mismatch::new(
            "cell value differs",
            format!(
                "expected row {expected} has no matching actual row; closest is actual row {closest}, {reason}"
            ),
        ))
    }
}

/// Tries to pair `expected` with an actual row, moving earlier pairs along
/// augmenting paths where needed.
fn augment(
    expected: usize,
    candidates: &[Vec<usize>],
    owner_of_actual: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    for &actual in &candidates[expected] {
        if visited[actual] {
            continue;
        }
        visited[actual] = true;
        let free = match owner_of_actual[actual] {
            None => true,
            Some(owner) => augment(owner, candidates, owner_of_actual, visited),
        };
        if free {
            owner_of_actual[actual] = Some(expected);
            return true;
        }
    }
    false
}

fn quote(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_QUOTED_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    format!("{cut}…")
}

/// Compares one cell.
pub fn cells_match(
    kind: CellKind,
    expected: &Value,
    actual: &Value,
    abs_tolerance: Option<f64>,
) -> bool {
    if expected.is_null() {
        // KQL strings are never null, so an empty string stands for null.
        return actual.is_null() || (kind == CellKind::String && actual.as_str() == Some(""));
    }
    match kind {
        CellKind::Integer => integers_match(expected, actual, abs_tolerance),
        CellKind::Real => numbers_match(expected, actual, abs_tolerance),
        CellKind::Decimal => decimals_match(expected, actual, abs_tolerance),
        CellKind::Bool => expected.is_boolean() && expected == actual,
        CellKind::String => match (expected.as_str(), actual) {
            (Some(""), Value::Null) => true,
            (Some(e), Value::String(a)) => e == a,
            _ => false,
        },
        CellKind::Datetime => match (
            expected.as_str().and_then(parse_datetime_ticks),
            actual.as_str().and_then(parse_datetime_ticks),
        ) {
            (Some(e), Some(a)) => e == a,
            _ => false,
        },
        CellKind::Timespan => match (
            expected.as_str().and_then(parse_timespan_ticks),
            actual.as_str().and_then(parse_timespan_ticks),
        ) {
            (Some(e), Some(a)) => e == a,
            _ => false,
        },
        CellKind::Guid => match (expected.as_str(), actual.as_str()) {
            (Some(e), Some(a)) => e.eq_ignore_ascii_case(a),
            _ => false,
        },
        CellKind::Dynamic => dynamic_equal(expected, actual, abs_tolerance),
    }
}

/// Deep JSON equality: object keys are unordered, arrays ordered, and
/// numbers use [`numbers_match`] so that `5` equals `5.0`. Two JSON
/// integers must be equal exactly, because the tolerance exists for printed
/// doubles and would let distinct 64-bit values such as hashes pass.
fn dynamic_equal(expected: &Value, actual: &Value, abs_tolerance: Option<f64>) -> bool {
    match (expected, actual) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(e), Value::Bool(a)) => e == a,
        (Value::Number(_), Value::Number(_)) => {
            if let (Some(e), Some(a)) = (json_integer(expected), json_integer(actual)) {
                e == a
            } else {
                numbers_match(expected, actual, abs_tolerance)
            }
        }
        (Value::String(e), Value::String(a)) => e == a,
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len()
                && e.iter()
                    .zip(a)
                    .all(|(e, a)| dynamic_equal(e, a, abs_tolerance))
        }
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter().all(|(key, e)| {
                    a.get(key)
                        .is_some_and(|a| dynamic_equal(e, a, abs_tolerance))
                })
        }
        _ => false,
    }
}

/// Returns a JSON number as an integer when it is written as one.
fn json_integer(value: &Value) -> Option<i128> {
    value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from))
}

/// `int` and `long` cells: equal values exactly. An actual double passes
/// when it contains the same integral value; an expected value written with a
/// fraction falls back to the numeric rule.
fn integers_match(expected: &Value, actual: &Value, abs_tolerance: Option<f64>) -> bool {
    let Some(e) = json_integer(expected) else {
        return numbers_match(expected, actual, abs_tolerance);
    };
    if let Some(a) = json_integer(actual) {
        return e == a;
    }
    actual
        .as_f64()
        .is_some_and(|a| a.fract() == 0.0 && a == e as f64)
}

/// `decimal` cells: the corpus writes decimals with all their digits, so
/// integers compare exactly. Other values use the numeric rule on doubles.
/// The engine may render a decimal as a JSON number or as text.
fn decimals_match(expected: &Value, actual: &Value, abs_tolerance: Option<f64>) -> bool {
    let actual = match actual {
        Value::String(text) => match text.trim().parse::<serde_json::Number>() {
            Ok(number) => Value::Number(number),
            Err(_) => return false,
        },
        other => other.clone(),
    };
    if let (Some(e), Some(a)) = (json_integer(expected), json_integer(&actual)) {
        return e == a;
    }
    numbers_match(expected, &actual, abs_tolerance)
}

/// Compares two numbers by the numeric rule for reals:
/// `|actual - expected| <= max(1e-6 * |expected|, 1e-9, u)`. The unit `u`
/// is `abs_tolerance` when the case sets one. Otherwise it is one unit in
/// the last decimal place of the expected value when that value has three
/// or more fractional digits, and 0 when it has fewer. The strings `"NaN"`,
/// `"Infinity"` and `"-Infinity"` match only themselves.
pub fn numbers_match(expected: &Value, actual: &Value, abs_tolerance: Option<f64>) -> bool {
    if let Value::String(special) = expected {
        return actual.as_str() == Some(special.as_str());
    }
    let (Value::Number(expected_number), Some(a)) = (expected, actual.as_f64()) else {
        return false;
    };
    let Some(e) = expected_number.as_f64() else {
        return false;
    };
    let unit = abs_tolerance.unwrap_or_else(|| last_place_unit(&expected_number.to_string()));
    let tolerance = (REL_TOLERANCE * e.abs()).max(MIN_ABS_TOLERANCE).max(unit);
    (a - e).abs() <= tolerance
}

/// Returns one unit in the last decimal place of a number's text when it
/// has three or more fractional digits, else 0. `1.5e-7` has 8.
///
/// NOTE: serde_json (without `arbitrary_precision`) keeps doubles, not
/// their text, so the caller passes the shortest text that reads back as
/// the same double. That text drops trailing zeros (`0.100` becomes `0.1`)
/// and digits beyond 17 significant ones. No expected number in the corpus
/// is written with three or more fractional digits ending in zero.
pub fn last_place_unit(text: &str) -> f64 {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let fraction_digits = mantissa.find('.').map_or(0, |dot| mantissa.len() - dot - 1) as i32;
    let places = fraction_digits - exponent;
    // Dividing by an exact power of ten rounds once, so the unit equals the
    // literal `1e-places`.
    if places >= 3 {
        1.0 / 10f64.powi(places)
    } else {
        0.0
    }
}

/// Parses a UTC datetime in either shape the corpus and the engine use,
/// `2017-01-01 00:00:00.0000000` or `2017-01-01T00:00:00Z`, into ticks
/// since 1970-01-01. Seconds, the fraction (up to 7 digits) and the `Z` are
/// optional; a date alone is midnight. Returns `None` for other text.
pub fn parse_datetime_ticks(text: &str) -> Option<i128> {
    let text = text.trim();
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = match text.find([' ', 'T']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };

    let mut date_parts = date.split('-');
    let year: i64 = parse_digits(date_parts.next()?, 4)?;
    let month: i64 = parse_digits(date_parts.next()?, 2)?;
    let day: i64 = parse_digits(date_parts.next()?, 2)?;
    if date_parts.next().is_some()
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
    {
        return None;
    }

    let time_of_day = match time {
        Some(time) => parse_time_of_day(time)?,
        None => 0,
    };
    let days = days_from_civil(year, month, day);
    Some(i128::from(days) * 86_400 * TICKS_PER_SECOND + time_of_day)
}

/// Parses `hh:mm[:ss[.fffffff]]` into ticks since midnight.
fn parse_time_of_day(text: &str) -> Option<i128> {
    let mut parts = text.split(':');
    let hours: i64 = parse_digits(parts.next()?, 2)?;
    let minutes: i64 = parse_digits(parts.next()?, 2)?;
    let seconds = match parts.next() {
        Some(seconds) => parse_seconds(seconds)?,
        None => 0,
    };
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds >= 60 * TICKS_PER_SECOND {
        return None;
    }
    Some((i128::from(hours) * 3600 + i128::from(minutes) * 60) * TICKS_PER_SECOND + seconds)
}

/// Parses `ss[.fffffff]` into ticks.
fn parse_seconds(text: &str) -> Option<i128> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let seconds: i64 = parse_digits(whole, 2)?;
    if fraction.len() > 7 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{fraction:0<7}");
    let fraction_ticks: i128 = padded.parse().ok()?;
    Some(i128::from(seconds) * TICKS_PER_SECOND + fraction_ticks)
}

/// Parses a run of ASCII digits of exactly `width` characters.
fn parse_digits(text: &str, width: usize) -> Option<i64> {
    if text.len() != width || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date, after Howard
/// Hinnant's `days_from_civil`.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parses a timespan `[-][d.]hh:mm:ss[.fffffff]` into ticks.
pub fn parse_timespan_ticks(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut parts = text.split(':');
    let first = parts.next()?;
    let (days, hours) = first.split_once('.').unwrap_or(("0", first));
    if days.is_empty() || !days.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let days: i128 = days.parse().ok()?;
    let hours: i64 = parse_digits(hours, 2)?;
    let minutes: i64 = parse_digits(parts.next()?, 2)?;
    let seconds = parse_seconds(parts.next()?)?;
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds >= 60 * TICKS_PER_SECOND {
        return None;
    }
    let magnitude = ((days * 24 + i128::from(hours)) * 3600 + i128::from(minutes) * 60)
        * TICKS_PER_SECOND
        + seconds;
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(columns: &[(&str, &str)], rows: Value) -> Value {
        let columns: Vec<Value> = columns
            .iter()
            .map(|(name, ty)| json!({"name": name, "type": ty}))
            .collect();
        json!({"columns": columns, "rows": rows})
    }

    fn real(expected: Value, actual: Value) -> bool {
        cells_match(CellKind::Real, &expected, &actual, None)
    }

    #[test]
    fn real_within_last_written_place() {
        assert!(real(json!(0.31578), json!(0.315784)));
        assert!(real(json!(0.31578), json!(0.315771)));
        assert!(!real(json!(0.31578), json!(0.315792)));
    }

    #[test]
    fn real_two_fraction_digits_stay_strict() {
        assert!(!real(json!(0.3), json!(0.31)));
        assert!(!real(json!(0.31), json!(0.315)));
        assert!(real(json!(0.31), json!(0.3100001)));
    }

    #[test]
    fn real_relative_and_absolute_floor() {
        assert!(real(json!(1000000.0), json!(1000000.5)));
        assert!(!real(json!(1000000.0), json!(1000002.0)));
        assert!(real(json!(0.0), json!(1e-10)));
        assert!(!real(json!(0.0), json!(1e-8)));
    }

    #[test]
    fn real_abs_tolerance_overrides_unit() {
        assert!(cells_match(
            CellKind::Real,
            &json!(2.5),
            &json!(2.54),
            Some(0.05)
        ));
        assert!(!cells_match(
            CellKind::Real,
            &json!(0.31578),
            &json!(0.315784),
            Some(1e-7)
        ));
    }

    #[test]
    fn real_non_finite_match_only_themselves() {
        assert!(real(json!("NaN"), json!("NaN")));
        assert!(real(json!("-Infinity"), json!("-Infinity")));
        assert!(!real(json!("Infinity"), json!("-Infinity")));
        assert!(!real(json!("NaN"), json!(0.0)));
        assert!(!real(json!(1.0), json!("Infinity")));
    }

    #[test]
    fn real_rejects_numeric_text() {
        assert!(!real(json!(1.5), json!("1.5")));
    }

    #[test]
    fn last_place_unit_counts_fraction_digits() {
        assert_eq!(last_place_unit("0.31578"), 1e-5);
        assert_eq!(last_place_unit("0.315"), 1e-3);
        assert_eq!(last_place_unit("0.31"), 0.0);
        assert_eq!(last_place_unit("42"), 0.0);
        assert_eq!(last_place_unit("1.5e-7"), 1e-8);
        assert_eq!(last_place_unit("1.2345e2"), 0.0);
    }

    #[test]
    fn integers_exact_and_interchangeable() {
        assert!(cells_match(CellKind::Integer, &json!(5), &json!(5), None));
        assert!(cells_match(CellKind::Integer, &json!(5), &json!(5.0), None));
        assert!(!cells_match(
            CellKind::Integer,
            &json!(1000000000),
            &json!(1000000001),
            None
        ));
        assert!(!cells_match(
            CellKind::Integer,
            &json!(5),
            &json!(5.5),
            None
        ));
        assert_eq!(
            CellKind::from_type_name("int"),
            CellKind::from_type_name("long")
        );
    }

    #[test]
    fn int_and_long_columns_compare_equal() {
        let expected = table(&[("n", "int")], json!([[1]]));
        let actual = table(&[("n", "long")], json!([[1]]));
        assert_eq!(
            compare_tables(&expected, &actual, &CaseRules::default()),
            Ok(())
        );
        assert!(type_differences(&expected, &actual).is_empty());
        let actual_real = table(&[("n", "real")], json!([[1.0]]));
        assert_eq!(type_differences(&expected, &actual_real).len(), 1);
    }

    #[test]
    fn dynamic_numbers_use_numeric_rule() {
        let dynamic = |e: Value, a: Value| cells_match(CellKind::Dynamic, &e, &a, None);
        assert!(dynamic(json!(5), json!(5.0)));
        assert!(dynamic(
            json!([1, 2.5, {"a": 0.31578}]),
            json!([1.0, 2.5, {"a": 0.315784}])
        ));
        assert!(!dynamic(json!([1, 2]), json!([2, 1])));
        assert!(!dynamic(json!(1234567890123_i64), json!(1234567890124_i64)));
        assert!(!dynamic(json!("5"), json!(5)));
    }

    #[test]
    fn dynamic_objects_ignore_key_order() {
        let dynamic = |e: Value, a: Value| cells_match(CellKind::Dynamic, &e, &a, None);
        assert!(dynamic(
            json!({"a": 1, "b": [true]}),
            json!({"b": [true], "a": 1})
        ));
        assert!(!dynamic(json!({"a": 1}), json!({"a": 1, "b": 2})));
        assert!(!dynamic(json!({"a": 1, "b": 2}), json!({"a": 1})));
        assert!(!dynamic(json!({"a": null}), json!({"b": null})));
    }

    #[test]
    fn datetime_text_shapes_are_same_instant() {
        let datetime =
            |e: &str, a: &str| cells_match(CellKind::Datetime, &json!(e), &json!(a), None);
        assert!(datetime(
            "2017-01-01 00:00:00.0000000",
            "2017-01-01T00:00:00.0000000Z"
        ));
        assert!(datetime(
            "2017-01-01T00:00:00Z",
            "2017-01-01T00:00:00.0000000Z"
        ));
        assert!(datetime(
            "2024-12-15 07:15:24",
            "2024-12-15T07:15:24.0000000Z"
        ));
        assert!(datetime(
            "2016-12-31 23:59:59.9999999",
            "2016-12-31T23:59:59.9999999Z"
        ));
        assert!(!datetime(
            "2016-12-31 23:59:59.9999999",
            "2017-01-01T00:00:00.0000000Z"
        ));
        assert!(!datetime("2017-01-01 00:00:00.0000000", "not a date"));
    }

    #[test]
    fn datetime_ticks_from_epoch() {
        assert_eq!(parse_datetime_ticks("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_datetime_ticks("1970-01-02"),
            Some(86_400 * TICKS_PER_SECOND)
        );
        assert_eq!(
            parse_datetime_ticks("1969-12-31 23:59:59.9999999"),
            Some(-1)
        );
        assert_eq!(
            parse_datetime_ticks("2000-03-01T00:00:00Z"),
            Some(951_868_800 * TICKS_PER_SECOND)
        );
        assert_eq!(parse_datetime_ticks("2017-02-29T00:00:00Z"), None);
        assert_eq!(parse_datetime_ticks("2017-01-01T24:00:00Z"), None);
    }

    #[test]
    fn timespan_parses_to_ticks() {
        assert_eq!(parse_timespan_ticks("00:00:00"), Some(0));
        assert_eq!(
            parse_timespan_ticks("1.00:00:00"),
            Some(86_400 * TICKS_PER_SECOND)
        );
        assert_eq!(parse_timespan_ticks("00:00:00.0010000"), Some(10_000));
        assert_eq!(
            parse_timespan_ticks("-01:00:00"),
            Some(-3600 * TICKS_PER_SECOND)
        );
        assert_eq!(
            parse_timespan_ticks("1.12:30:55.1230000"),
            Some(((36 * 3600 + 30 * 60 + 55) * TICKS_PER_SECOND) + 1_230_000)
        );
        assert_eq!(parse_timespan_ticks("1 day"), None);
        let timespan =
            |e: &str, a: &str| cells_match(CellKind::Timespan, &json!(e), &json!(a), None);
        assert!(timespan("1.00:00:00", "1.00:00:00.0000000"));
        assert!(timespan("00:00:00.5", "00:00:00.5000000"));
        assert!(!timespan("00:00:01", "00:00:00.9999999"));
    }

    #[test]
    fn guid_ignores_case() {
        let guid = |e: &str, a: &str| cells_match(CellKind::Guid, &json!(e), &json!(a), None);
        assert!(guid(
            "01234567-89ab-cdef-0123-456789abcdef",
            "01234567-89AB-CDEF-0123-456789ABCDEF"
        ));
        assert!(!guid(
            "01234567-89ab-cdef-0123-456789abcdef",
            "01234567-89ab-cdef-0123-456789abcdee"
        ));
    }

    #[test]
    fn null_expected_needs_null() {
        assert!(cells_match(
            CellKind::Integer,
            &Value::Null,
            &Value::Null,
            None
        ));
        assert!(!cells_match(
            CellKind::Integer,
            &Value::Null,
            &json!(0),
            None
        ));
        assert!(cells_match(
            CellKind::String,
            &Value::Null,
            &json!(""),
            None
        ));
        assert!(!cells_match(
            CellKind::String,
            &Value::Null,
            &json!("x"),
            None
        ));
        assert!(cells_match(
            CellKind::String,
            &json!(""),
            &Value::Null,
            None
        ));
        assert!(!cells_match(
            CellKind::Real,
            &json!(0.0),
            &Value::Null,
            None
        ));
    }

    #[test]
    fn strings_and_bools_exact() {
        assert!(cells_match(
            CellKind::String,
            &json!("a"),
            &json!("a"),
            None
        ));
        assert!(!cells_match(
            CellKind::String,
            &json!("a"),
            &json!("A"),
            None
        ));
        assert!(!cells_match(CellKind::Bool, &json!(true), &json!(1), None));
        assert!(cells_match(
            CellKind::Bool,
            &json!(false),
            &json!(false),
            None
        ));
    }

    #[test]
    fn decimal_text_or_number() {
        let decimal = |e: Value, a: Value| cells_match(CellKind::Decimal, &e, &a, None);
        assert!(decimal(
            json!(10000000200000000_u64),
            json!("10000000200000000")
        ));
        assert!(decimal(
            json!(10000000200000000_u64),
            json!(10000000200000000_u64)
        ));
        assert!(!decimal(
            json!(10000000200000000_u64),
            json!(10000000200000001_u64)
        ));
        assert!(!decimal(json!(1), json!("one")));
    }

    #[test]
    fn untyped_column_compares_by_value() {
        let expected = json!({"columns": [{"name": "x", "type": null}], "rows": [[5]]});
        let actual = table(&[("x", "real")], json!([[5.0]]));
        assert_eq!(
            compare_tables(&expected, &actual, &CaseRules::default()),
            Ok(())
        );
        let actual_string = table(&[("x", "string")], json!([["5"]]));
        assert!(compare_tables(&expected, &actual_string, &CaseRules::default()).is_err());
    }

    #[test]
    fn column_names_checked_unless_unreliable() {
        let expected = table(&[("result", "real")], json!([[1.0]]));
        let actual = table(&[("print_0", "real")], json!([[1.0]]));
        let mismatch = compare_tables(&expected, &actual, &CaseRules::default()).unwrap_err();
        assert_eq!(mismatch.category, "column name differs");
        let rules = CaseRules {
            names_unreliable: true,
            ..CaseRules::default()
        };
        assert_eq!(compare_tables(&expected, &actual, &rules), Ok(()));
    }

    #[test]
    fn column_and_row_counts_checked() {
        let expected = table(&[("a", "long"), ("b", "long")], json!([[1, 2]]));
        let fewer_columns = table(&[("a", "long")], json!([[1]]));
        let more_rows = table(&[("a", "long"), ("b", "long")], json!([[1, 2], [1, 2]]));
        let rules = CaseRules::default();
        assert_eq!(
            compare_tables(&expected, &fewer_columns, &rules)
                .unwrap_err()
                .category,
            "column count differs"
        );
        assert_eq!(
            compare_tables(&expected, &more_rows, &rules)
                .unwrap_err()
                .category,
            "row count differs"
        );
    }

    #[test]
    fn unordered_rows_match_as_multiset() {
        let expected = table(
            &[("k", "string"), ("n", "long")],
            json!([["a", 1], ["b", 2], ["a", 1]]),
        );
        let shuffled = table(
            &[("k", "string"), ("n", "long")],
            json!([["b", 2], ["a", 1], ["a", 1]]),
        );
        let duplicate_lost = table(
            &[("k", "string"), ("n", "long")],
            json!([["b", 2], ["a", 1], ["b", 2]]),
        );
        let rules = CaseRules::default();
        assert_eq!(compare_tables(&expected, &shuffled, &rules), Ok(()));
        let mismatch = compare_tables(&expected, &duplicate_lost, &rules).unwrap_err();
        assert_eq!(mismatch.category, "cell value differs");
    }

    #[test]
    fn unordered_matching_survives_overlapping_tolerance() {
        // 0.315 accepts both 0.3149 and 0.3154, but 0.3154 is the only
        // match for 0.3154, so a greedy pairing of the first expected row
        // with the first close actual row would fail.
        let expected = table(&[("x", "real")], json!([[0.315], [0.3154]]));
        let actual = table(&[("x", "real")], json!([[0.3154], [0.3149]]));
        assert_eq!(
            compare_tables(&expected, &actual, &CaseRules::default()),
            Ok(())
        );
    }

    #[test]
    fn ordered_rows_compare_by_position() {
        let expected = table(&[("n", "long")], json!([[1], [2]]));
        let reversed = table(&[("n", "long")], json!([[2], [1]]));
        let ordered = CaseRules {
            ordered: true,
            ..CaseRules::default()
        };
        assert!(compare_tables(&expected, &reversed, &ordered).is_err());
        assert_eq!(
            compare_tables(&expected, &reversed, &CaseRules::default()),
            Ok(())
        );
    }
}
