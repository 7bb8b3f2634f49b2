//! KQL (Kusto Query Language) front end: lexer, parser and an AST whose nodes
//! keep their source spans.
//!
//! This crate knows only syntax. It has no dependency on the query engine so
//! that it builds fast and can be fuzzed on its own. The `engine` crate binds
//! the tree against table schemas and plans it onto DataFusion.
//!
//! ```
//! let query = kql::parse("SecurityEvent | where EventID == 4625 | count").unwrap();
//! assert_eq!(query.body.unwrap().operators.len(), 2);
//! ```

pub mod ast;
pub mod diagnostic;
mod lexer;
mod parser;
pub mod span;
pub mod types;

pub use diagnostic::{Diagnostic, render_diagnostic};
pub use span::Span;
pub use types::KqlType;

/// Parses a whole query: `let` statements and an optional tabular body.
///
/// Returns the first syntax error with its span; the parser does not try to
/// recover and report several errors.
pub fn parse(text: &str) -> Result<ast::Query, Diagnostic> {
    parser::parse_query(text)
}
