//! RFC 5424 parser: any bytes, as a listener would pass them on.
#![no_main]

use homesoc_fuzz::{message, rfc5424};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pri, rest) = match message::split_pri(&text) {
        Ok(Some(split)) => split,
        Ok(None) => (message::DEFAULT_PRI, text.as_ref()),
        Err(_) => return,
    };
    if let Ok(parsed) = rfc5424::parse(pri, rest, 64) {
        assert!(parsed.facility < 24);
        assert!(parsed.severity < 8);
        assert!(
            parsed
                .structured_data
                .iter()
                .map(|e| e.params.len())
                .sum::<usize>()
                <= 64
        );
    }
});
