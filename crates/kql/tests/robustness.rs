//! The parser must return `Ok` or `Err` for any input: random text,
//! truncated real queries and very deep nesting never panic or overflow the
//! stack.

use std::fs;

/// A small deterministic xorshift generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Parses `text` and checks that an error span lies on char boundaries
/// inside the text.
fn check(text: &str) {
    if let Err(diagnostic) = kql::parse(text) {
        let span = diagnostic.span;
        assert!(
            span.start <= span.end && span.end <= text.len(),
            "span {span:?} outside {text:?}"
        );
        assert!(
            text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
            "span {span:?} splits a character in {text:?}"
        );
        assert!(!diagnostic.message.is_empty());
        kql::render_diagnostic(text, &diagnostic);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..5_000 {
        let len = rng.below(80);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn random_kql_fragments_never_panic() {
    const PIECES: &[&str] = &[
        "T",
        "|",
        "where",
        "project",
        "summarize",
        "by",
        "join",
        "on",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ";",
        "=",
        "==",
        "let",
        "x",
        "1",
        "1.5",
        "1h",
        "'s'",
        "\"",
        "'",
        "@'",
        "```",
        "datetime(",
        "dynamic(",
        "$left",
        ".",
        "..",
        "in",
        "!in~",
        "has_any",
        "between",
        "-",
        "+",
        "*",
        "/",
        "count()",
        "mv-expand",
        "parse",
        "with",
        "kind=",
        "union",
        "datatable",
        "print",
        "range",
        "from",
        "to",
        "step",
        "é",
        "//",
        "\n",
        " ",
        "\\",
        "h",
        "0x",
        "timespan(",
        "!",
        "~",
        ":",
    ];
    let mut rng = Rng(42);
    for _ in 0..10_000 {
        let count = rng.below(30);
        let text: String = (0..count)
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect::<Vec<_>>()
            .join(" ");
        check(&text);
        let glued: String = (0..count)
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect();
        check(&glued);
    }
}

#[test]
fn truncated_queries_never_panic() {
    let root = manifest_dir().join("../../../shared/corpus");
    let cases =
        fs::read_to_string(root.join("kql-conformance/cases.jsonl")).expect("conformance cases");
    let mut queries: Vec<String> = cases
        .lines()
        .filter(|line| !line.trim().is_empty())
        .step_by(7)
        .map(|line| {
            let case: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            case["query"].as_str().expect("string query").to_string()
        })
        .collect();
    let rules = fs::read_dir(root.join("sentinel/rules")).expect("rules directory");
    for entry in rules.take(10) {
        queries.push(fs::read_to_string(entry.expect("entry").path()).expect("UTF-8 rule"));
    }
    let mut prefixes = 0;
    for query in &queries {
        for (end, _) in query.char_indices() {
            check(&query[..end]);
            prefixes += 1;
        }
    }
    assert!(prefixes > 10_000, "only {prefixes} prefixes were checked");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = 10_000;
    let inputs = [
        format!("print {}1{}", "(".repeat(deep), ")".repeat(deep)),
        format!("print {}", "(".repeat(deep)),
        format!("{}T{}", "(".repeat(deep), ")".repeat(deep)),
        format!("print {}1", "-".repeat(deep)),
        format!("print {}1", "- ".repeat(deep)),
        format!("print {}", "f(".repeat(deep)),
        format!("print a{}", "[0]".repeat(deep)),
        format!("print a{}", ".b".repeat(deep)),
        format!("print {}", "a + ".repeat(deep) + "a"),
        format!("print {}", "a in (".repeat(deep)),
        format!("print dynamic({})", "[".repeat(deep)),
        format!("let f = () {{ {} }}; print 1", "let g = () { ".repeat(deep)),
        format!("T {}", "| where x in (T ".repeat(deep)),
        "T | where x == 1 ".repeat(deep),
    ];
    for input in &inputs {
        let result = kql::parse(input);
        let prefix: String = input.chars().take(20).collect();
        assert!(
            result.is_err(),
            "expected an error for input starting {prefix:?}"
        );
    }
}

#[test]
fn long_but_legal_chains_parse_and_drop() {
    let sum = format!("print {}a", "a + ".repeat(1_000));
    kql::parse(&sum).expect("1000 chained additions parse");
    let nested = format!("print {}1{}", "(".repeat(100), ")".repeat(100));
    kql::parse(&nested).expect("100 nested parentheses parse");
}

/// The crate folder, read when the test runs: Cargo can reuse a test binary
/// built in another checkout that shares the build cache, and a path fixed
/// at compile time would then point into that checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}
