//! Queries the pages run, and reading their cells.

use engine::{EngineError, QueryOptions, QueryResult};
use serde_json::Value;
use store::TimeWindow;

use crate::app::AppState;

/// The failure of a page's query.
pub enum QueryFailure {
    /// The query is wrong; the error may point at a span of its text.
    Query(EngineError),
    /// The workspace could not be read.
    Store(String),
}

impl QueryFailure {
    /// Returns a one-line description for a page.
    pub fn message(&self) -> String {
        match self {
            QueryFailure::Query(err) => match err.diagnostic() {
                Some(diagnostic) => match &diagnostic.help {
                    Some(help) => format!("{err} ({help})"),
                    None => err.to_string(),
                },
                None => err.to_string(),
            },
            QueryFailure::Store(message) => format!("cannot read the workspace: {message}"),
        }
    }
}

/// Runs `text` over the workspace (live rows included), with the tables
/// restricted to `window` on `TimeGenerated` when given.
pub async fn run(
    state: &AppState,
    text: &str,
    window: Option<TimeWindow>,
) -> Result<QueryResult, QueryFailure> {
    let catalog = store::catalog::load(&state.workspace, &state.engine, window)
        .await
        .map_err(|err| QueryFailure::Store(err.to_string()))?;
    state
        .engine
        .run(text, &catalog, &QueryOptions::default())
        .await
        .map_err(QueryFailure::Query)
}

/// Runs a query that the UI itself wrote. A failure is logged and yields
/// no rows, so one failing panel does not take the page down.
pub async fn rows(state: &AppState, text: &str) -> Rows {
    match run(state, text, None).await {
        Ok(result) => Rows::new(&result),
        Err(failure) => {
            tracing::error!(error = %failure.message(), query = %text, "UI query failed");
            Rows::default()
        }
    }
}

/// Query result cells as JSON, addressed by column name.
#[derive(Debug, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    pub fn new(result: &QueryResult) -> Rows {
        Rows {
            columns: result.columns.iter().map(|c| c.name.clone()).collect(),
            rows: engine::output::rows_json(result),
        }
    }

    fn index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|name| name == column)
    }

    /// Returns the cell as text: strings as they are, other values as JSON,
    /// null as empty.
    pub fn text(&self, row: usize, column: &str) -> String {
        let Some(index) = self.index(column) else {
            return String::new();
        };
        cell_text(&self.rows[row][index])
    }

    /// Returns a numeric cell, or 0.
    pub fn number(&self, row: usize, column: &str) -> f64 {
        self.index(column)
            .and_then(|index| self.rows[row][index].as_f64())
            .unwrap_or(0.0)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Renders one JSON cell as text.
pub fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Quotes a text as a KQL string literal.
pub fn kql_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// Returns the current time in ticks.
pub fn now_ticks() -> i64 {
    engine::time::ticks_from_datetime(chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::kql_string;

    #[test]
    fn kql_string_escapes_quotes_and_backslashes() {
        assert_eq!(kql_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
