//! Tables of rows: query results and lists.

use std::fmt::Write as _;

use serde_json::Value;

use crate::ui::data::cell_text;
use crate::ui::html::escape;

/// The maximum characters of cell text shown in a grid. The full value is
/// in the cell's tooltip and in the downloads.
const MAX_CELL_CHARS: usize = 300;

/// Renders rows as an HTML table with a caption.
pub fn grid(caption: &str, columns: &[String], rows: &[Vec<Value>]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<div class="grid-wrap" tabindex="0" role="region" aria-label="{caption}"><table class="grid"><caption>{caption}</caption><thead><tr>"#,
        caption = escape(caption)
    );
    for column in columns {
        let _ = write!(out, r#"<th scope="col">{}</th>"#, escape(column));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let text = cell_text(cell);
            if text.chars().count() > MAX_CELL_CHARS {
                let short: String = text.chars().take(MAX_CELL_CHARS).collect();
                let _ = write!(
                    out,
                    r#"<td class="long" title="{}">{}…</td>"#,
                    escape(&text),
                    escape(&short)
                );
            } else if is_datetime_text(&text) {
                let _ = write!(out, r#"<td class="nowrap">{}</td>"#, escape(&text));
            } else if has_long_word(&text) {
                let _ = write!(out, r#"<td class="long">{}</td>"#, escape(&text));
            } else {
                let _ = write!(out, "<td>{}</td>", escape(&text));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// True when the text has a word longer than a cell should get for it
/// (command lines with base64, hashes, paths). Such a cell may break
/// anywhere, so that it wraps instead of widening the table; other cells
/// break only between words.
fn has_long_word(text: &str) -> bool {
    text.split_whitespace()
        .any(|word| word.chars().count() > LONG_WORD_CHARS)
}

/// The word length from which a cell may break inside words.
const LONG_WORD_CHARS: usize = 32;

/// True for the ISO 8601 datetimes of query results
/// (`2026-12-05T08:26:02.7749187Z`), which a cell keeps on one line.
fn is_datetime_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 20
        && bytes.len() <= 28
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && text.ends_with('Z')
        && bytes[..4].iter().all(u8::is_ascii_digit)
}

/// Renders an array of JSON objects (alert evidence rows) as a table whose
/// columns are the keys in first-seen order.
pub fn objects(caption: &str, objects: &[Value]) -> String {
    let mut columns: Vec<String> = Vec::new();
    for object in objects {
        if let Value::Object(map) = object {
            for key in map.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    let rows: Vec<Vec<Value>> = objects
        .iter()
        .map(|object| {
            columns
                .iter()
                .map(|key| object.get(key).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    grid(caption, &columns, &rows)
}
