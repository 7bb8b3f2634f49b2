//! Rendering query results: the JSON shape scripts rely on, CSV, NDJSON and
//! an aligned text table for terminals.

use serde_json::{Map, Value, json};

use crate::QueryResult;
use crate::value::{to_json, to_kql_string};

/// Returns every row as a list of JSON cells, in column order.
pub fn rows_json(result: &QueryResult) -> Vec<Vec<Value>> {
    let mut rows = Vec::with_capacity(result.row_count());
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            let cells = result
                .columns
                .iter()
                .enumerate()
                .map(|(i, column)| {
                    let value = to_json(batch.column(i), row, column.ty);
                    match (value, column.ty) {
                        (Value::Null, kql::KqlType::String) => Value::String(String::new()),
                        (value, _) => value,
                    }
                })
                .collect();
            rows.push(cells);
        }
    }
    rows
}

/// The `--format json` document:
/// `{"columns":[{"name":..,"type":..}],"rows":[[..],..]}`.
pub fn to_json_document(result: &QueryResult) -> Value {
    let columns: Vec<Value> = result
        .columns
        .iter()
        .map(|c| json!({"name": c.name, "type": c.ty.name()}))
        .collect();
    json!({"columns": columns, "rows": rows_json(result)})
}

/// One JSON object per row, keyed by column name.
pub fn to_ndjson(result: &QueryResult) -> String {
    let mut out = String::new();
    for row in rows_json(result) {
        let object: Map<String, Value> = result
            .columns
            .iter()
            .zip(row)
            .map(|(c, v)| (c.name.clone(), v))
            .collect();
        out.push_str(&Value::Object(object).to_string());
        out.push('\n');
    }
    out
}

/// CSV with a header row; cells are rendered as `tostring()` would.
pub fn to_csv(result: &QueryResult) -> String {
    let mut out = String::new();
    let header: Vec<String> = result.columns.iter().map(|c| csv_cell(&c.name)).collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = result
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| csv_cell(&to_kql_string(batch.column(i), row, c.ty)))
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
    }
    out
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// An aligned text table; cells longer than `max_width` characters are cut
/// with an ellipsis.
pub fn to_text_table(result: &QueryResult, max_width: usize) -> String {
    let mut cells: Vec<Vec<String>> = Vec::new();
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            cells.push(
                result
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| truncate(&to_kql_string(batch.column(i), row, c.ty), max_width))
                    .collect(),
            );
        }
    }
    let headers: Vec<String> = result.columns.iter().map(|c| c.name.clone()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |values: &[String]| -> String {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{v:<width$}", width = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(&headers);
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    out.push('\n');
    for row in &cells {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

fn truncate(text: &str, max_width: usize) -> String {
    let single_line = text.replace(['\n', '\r'], " ");
    if single_line.chars().count() <= max_width {
        return single_line;
    }
    let mut cut: String = single_line
        .chars()
        .take(max_width.saturating_sub(1))
        .collect();
    cut.push('…');
    cut
}
