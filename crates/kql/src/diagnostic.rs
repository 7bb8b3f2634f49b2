//! Errors that point at the query text.

use crate::span::Span;

/// An error in a query, with the span of the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Diagnostic {
    /// One plain sentence: what is wrong, on which value.
    pub message: String,
    pub span: Span,
    /// An optional hint, such as "did you mean `IpAddress`?".
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            message: message.into(),
            span,
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Renders a diagnostic the way a compiler does: the message, the query line
/// that holds the span, and a row of carets under the span.
///
/// ```text
/// error: unknown column `IpAdress`
///   |
/// 2 | | where IpAdress == "10.0.0.1"
///   |         ^^^^^^^^
///   = help: did you mean `IpAddress`?
/// ```
pub fn render_diagnostic(text: &str, diagnostic: &Diagnostic) -> String {
    let start = diagnostic.span.start.min(text.len());
    let end = diagnostic.span.end.clamp(start, text.len());

    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_number = text[..start].matches('\n').count() + 1;
    let line = &text[line_start..line_end];

    let column = text[line_start..start].chars().count();
    let caret_end = end.min(line_end);
    let width = text[start..caret_end].chars().count().max(1);

    let gutter = line_number.to_string();
    let pad = " ".repeat(gutter.len());
    let mut out = format!(
        "error: {}\n{pad} |\n{gutter} | {line}\n",
        diagnostic.message
    );
    out.push_str(&format!(
        "{pad} | {}{}\n",
        " ".repeat(column),
        "^".repeat(width)
    ));
    if let Some(help) = &diagnostic.help {
        out.push_str(&format!("{pad} = help: {help}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_span_on_second_line() {
        let text = "SecurityEvent\n| where IpAdress == 1";
        let start = text.find("IpAdress").unwrap();
        let diagnostic = Diagnostic::new("unknown column `IpAdress`", Span::new(start, start + 8))
            .with_help("did you mean `IpAddress`?");
        let rendered = render_diagnostic(text, &diagnostic);
        assert!(rendered.contains("2 | | where IpAdress == 1"), "{rendered}");
        assert!(rendered.contains("  |         ^^^^^^^^\n"), "{rendered}");
        assert!(
            rendered.contains("help: did you mean `IpAddress`?"),
            "{rendered}"
        );
    }

    #[test]
    fn span_past_end_is_clamped() {
        let diagnostic = Diagnostic::new("unexpected end of query", Span::new(99, 120));
        let rendered = render_diagnostic("print 1 +", &diagnostic);
        assert!(rendered.contains("^"), "{rendered}");
    }
}
