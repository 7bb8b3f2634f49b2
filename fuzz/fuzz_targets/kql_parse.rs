//! KQL parser: any text, and any bytes after a lossy UTF-8 conversion.
//! Neither parsing nor rendering the error under the query may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn check(text: &str) {
    if let Err(diagnostic) = kql::parse(text) {
        let rendered = kql::render_diagnostic(text, &diagnostic);
        assert!(!rendered.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(text) => check(text),
        // Replacement characters are three bytes wide, so spans computed
        // on the converted text differ from the input's byte offsets.
        Err(_) => check(&String::from_utf8_lossy(data)),
    }
});
