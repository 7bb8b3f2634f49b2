//! CEF parser: any bytes after `CEF:`.
#![no_main]

use homesoc_fuzz::cef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = format!("CEF:{}", String::from_utf8_lossy(data));
    if let Ok(event) = cef::parse(&text, 64) {
        assert!(event.extensions.len() <= 65);
        for (key, _) in &event.extensions {
            assert!(!key.contains(' '));
        }
    }
});
