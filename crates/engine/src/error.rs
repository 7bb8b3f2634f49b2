//! Errors of the engine crate.

use kql::Diagnostic;

/// Why a query failed. Each variant says whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The query text is not valid KQL.
    #[error("syntax error: {0}")]
    Syntax(Diagnostic),
    /// The query is valid KQL but refers to something that does not exist or
    /// uses a value of the wrong type.
    #[error("{0}")]
    Semantic(Diagnostic),
    /// The query uses a KQL feature this engine does not implement yet.
    #[error("{0}")]
    NotSupported(Diagnostic),
    /// DataFusion rejected the plan or failed while running it.
    #[error("query failed: {0}")]
    Execution(String),
    /// An invariant of the engine broke; this is a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    pub fn semantic(diagnostic: Diagnostic) -> EngineError {
        EngineError::Semantic(diagnostic)
    }

    pub fn not_supported(diagnostic: Diagnostic) -> EngineError {
        EngineError::NotSupported(diagnostic)
    }

    pub(crate) fn plan(err: datafusion::error::DataFusionError) -> EngineError {
        EngineError::Internal(format!("building the plan failed: {err}"))
    }

    pub(crate) fn internal(err: datafusion::error::DataFusionError) -> EngineError {
        EngineError::Internal(err.to_string())
    }

    /// Returns the diagnostic that points into the query text, if any.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            EngineError::Syntax(d) | EngineError::Semantic(d) | EngineError::NotSupported(d) => {
                Some(d)
            }
            EngineError::Execution(_) | EngineError::Internal(_) => None,
        }
    }

    /// Formats the error for a terminal: with the query line and a caret
    /// under the span when there is one.
    pub fn render(&self, query: &str) -> String {
        match self {
            EngineError::Syntax(d) => kql::render_diagnostic(query, d),
            EngineError::Semantic(d) => kql::render_diagnostic(query, d),
            EngineError::NotSupported(d) => kql::render_diagnostic(query, d),
            other => format!("error: {other}\n"),
        }
    }
}
