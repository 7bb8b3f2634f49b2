//! `externaldata(col: type, ...) [urls] with (props)`: rows read from
//! local files when the query is planned.
//!
//! A URL is a `file://` URL or a local path. `http` and `https` URLs are
//! rejected with an error that explains how to use a local copy, because
//! the engine fetches nothing from the network. Supported formats
//! are `csv` (the default), `tsv`, `txt` (one line per row, first column)
//! and `multijson`/`json` (one JSON object per line, read by column name).
//! Each text field is converted to its column's type as `tolong`,
//! `todatetime` and the other conversions do, so a field that does not
//! convert is null.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use kql::ast::{self, ExprKind};
use kql::{Diagnostic, KqlType, Span};

use super::expr::coerce_to;
use super::functions::constant_string;
use super::{Column, Planner, Relation, Typed, column_expr};
use crate::error::EngineError;
use crate::functions as f;

/// The file layouts `externaldata` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Tsv,
    Text,
    MultiJson,
}

impl Format {
    fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "tsv" | "tsve" => Some(Format::Tsv),
            "txt" | "raw" => Some(Format::Text),
            "json" | "multijson" => Some(Format::MultiJson),
            _ => None,
        }
    }
}

/// The parsed arguments of one `externaldata` call.
struct Request {
    columns: Vec<Column>,
    urls: Vec<(String, Span)>,
    format: Format,
    ignore_first_record: bool,
}

fn semantic(message: impl Into<String>, span: Span) -> EngineError {
    EngineError::semantic(Diagnostic::new(message.into(), span))
}

/// Reads a `with` property value written as a bare word, a string or a
/// bool literal.
fn property_text(value: &ast::Expr) -> Option<String> {
    match &value.kind {
        ExprKind::Name(ident) => Some(ident.name.clone()),
        ExprKind::Literal(ast::Literal::Bool(b)) => Some(b.to_string()),
        _ => constant_string(value),
    }
}

fn parse_request(call: &ast::Call) -> Result<Request, EngineError> {
    let mut request = Request {
        columns: Vec::new(),
        urls: Vec::new(),
        format: Format::Csv,
        ignore_first_record: false,
    };
    // The parser puts the columns first, then the URLs, then the `with`
    // properties; a named argument after a URL is a property.
    for arg in &call.args {
        match (&arg.name, &arg.value.kind) {
            (Some(name), ExprKind::Name(type_name)) if request.urls.is_empty() => {
                let ty = KqlType::from_name(&type_name.name).ok_or_else(|| {
                    semantic(format!("unknown type `{}`", type_name.name), type_name.span)
                })?;
                request.columns.push(Column {
                    name: name.name.clone(),
                    ty,
                });
            }
            (None, _) => {
                let url = constant_string(&arg.value).ok_or_else(|| {
                    semantic(
                        "`externaldata` URLs must be string literals",
                        arg.value.span,
                    )
                })?;
                request.urls.push((url, arg.value.span));
            }
            (Some(name), _) => apply_property(&mut request, name, &arg.value)?,
        }
    }
    if request.columns.is_empty() {
        return Err(semantic(
            "`externaldata` needs at least one column",
            call.span,
        ));
    }
    if request.urls.is_empty() {
        return Err(semantic(
            "`externaldata` needs at least one URL in brackets",
            call.span,
        ));
    }
    Ok(request)
}

fn apply_property(
    request: &mut Request,
    name: &ast::Ident,
    value: &ast::Expr,
) -> Result<(), EngineError> {
    let text = property_text(value).unwrap_or_default();
    match name.name.to_ascii_lowercase().as_str() {
        "format" => {
            request.format = Format::from_name(&text).ok_or_else(|| {
                EngineError::not_supported(Diagnostic::new(
                    format!("`externaldata` format `{text}` is not supported; use csv, tsv, txt or multijson"),
                    value.span,
                ))
            })?;
        }
        "ignorefirstrecord" => request.ignore_first_record = text.eq_ignore_ascii_case("true"),
        other => {
            return Err(EngineError::not_supported(Diagnostic::new(
                format!("`externaldata` property `{other}` is not supported"),
                name.span,
            )));
        }
    }
    Ok(())
}

/// Returns the local path of a `file://` URL or a plain path.
fn local_path(url: &str, span: Span) -> Result<String, EngineError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Err(EngineError::not_supported(Diagnostic::new(
            format!(
                "`externaldata` cannot fetch `{url}`: homesoc reads only local files; download the file and use a file:// URL"
            ),
            span,
        )));
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    Ok(percent_decode(path))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Splits a file's text into rows of text fields, one per column.
fn read_rows(text: &str, request: &Request) -> Result<Vec<Vec<String>>, String> {
    let width = request.columns.len();
    let mut rows: Vec<Vec<String>> = match request.format {
        Format::Csv | Format::Tsv => {
            let delimiter = if request.format == Format::Csv {
                b','
            } else {
                b'\t'
            };
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .delimiter(delimiter)
                .from_reader(text.as_bytes());
            let mut rows = Vec::new();
            for record in reader.records() {
                let record = record.map_err(|e| e.to_string())?;
                rows.push(record.iter().map(str::to_string).collect());
            }
            rows
        }
        Format::Text => text.lines().map(|line| vec![line.to_string()]).collect(),
        Format::MultiJson => {
            let mut rows = Vec::new();
            for line in text.lines().filter(|line| !line.trim().is_empty()) {
                let value: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| e.to_string())?;
                let row = request
                    .columns
                    .iter()
                    .map(|column| match &value[&column.name] {
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                rows.push(row);
            }
            rows
        }
    };
    if request.ignore_first_record && !rows.is_empty() {
        rows.remove(0);
    }
    for row in &mut rows {
        row.resize(width, String::new());
    }
    Ok(rows)
}

impl Planner<'_> {
    /// Plans an `externaldata` call: reads every URL's file now and
    /// returns its rows with the declared column types.
    pub(crate) fn plan_externaldata(&mut self, call: &ast::Call) -> Result<Relation, EngineError> {
        let request = parse_request(call)?;

        let mut rows = Vec::new();
        for (url, span) in &request.urls {
            let path = local_path(url, *span)?;
            let text = std::fs::read_to_string(&path).map_err(|e| {
                semantic(
                    format!("cannot read `externaldata` file {path}: {e}"),
                    *span,
                )
            })?;
            let file_rows = read_rows(&text, &request)
                .map_err(|e| semantic(format!("invalid `externaldata` file {path}: {e}"), *span))?;
            rows.extend(file_rows);
        }

        let text_columns: Vec<ArrayRef> = (0..request.columns.len())
            .map(|i| {
                let values: StringArray = rows.iter().map(|row| Some(row[i].as_str())).collect();
                Arc::new(values) as ArrayRef
            })
            .collect();
        let fields: Vec<Field> = request
            .columns
            .iter()
            .map(|c| Field::new(&c.name, DataType::Utf8, true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), text_columns)
            .map_err(|e| EngineError::internal(e.into()))?;
        let table = datafusion::datasource::MemTable::try_new(schema, vec![vec![batch]])
            .map_err(EngineError::plan)?;
        let source = datafusion::datasource::provider_as_source(Arc::new(table));

        let projection: Vec<Expr> = request
            .columns
            .iter()
            .map(|c| {
                let text = column_expr(&c.name);
                let typed = match c.ty {
                    KqlType::Dynamic => f::convert::parse_json(text),
                    ty => coerce_to(Typed::new(text, KqlType::String), ty),
                };
                typed.alias(&c.name)
            })
            .collect();
        let plan = LogicalPlanBuilder::scan("externaldata", source, None)
            .and_then(|b| b.project(projection))
            .and_then(|b| b.build())
            .map_err(EngineError::plan)?;
        Ok(Relation {
            plan,
            columns: request.columns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(format: Format, ignore_first_record: bool, names: &[&str]) -> Request {
        Request {
            columns: names
                .iter()
                .map(|name| Column {
                    name: name.to_string(),
                    ty: KqlType::String,
                })
                .collect(),
            urls: Vec::new(),
            format,
            ignore_first_record,
        }
    }

    #[test]
    fn csv_rows_skip_header() {
        let rows = read_rows(
            "Name,Count\n\"a,b\",1\nc\n",
            &request(Format::Csv, true, &["Name", "Count"]),
        )
        .unwrap();
        assert_eq!(rows, vec![vec!["a,b", "1"], vec!["c", ""]]);
    }

    #[test]
    fn multijson_rows_by_name() {
        let rows = read_rows(
            "{\"b\": 2, \"a\": \"x\"}\n",
            &request(Format::MultiJson, false, &["a", "b"]),
        )
        .unwrap();
        assert_eq!(rows, vec![vec!["x", "2"]]);
    }

    #[test]
    fn http_urls_are_rejected() {
        let error = local_path("https://example.com/a.csv", Span::default()).unwrap_err();
        assert!(error.to_string().contains("file://"), "{error}");
        assert_eq!(
            local_path("file:///tmp/a%20b.csv", Span::default()).unwrap(),
            "/tmp/a b.csv"
        );
    }
}
