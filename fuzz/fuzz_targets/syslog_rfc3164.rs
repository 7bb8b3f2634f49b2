//! BSD syslog parser: any bytes and any receive time.
#![no_main]

use homesoc_fuzz::{message, rfc3164};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (i64, &[u8])| {
    let (received_ticks, data) = input;
    let text = String::from_utf8_lossy(data);
    let (pri, rest) = match message::split_pri(&text) {
        Ok(Some(split)) => split,
        Ok(None) => (message::DEFAULT_PRI, text.as_ref()),
        Err(_) => return,
    };
    let parsed = rfc3164::parse(pri, rest, received_ticks);
    assert!(parsed.facility < 24);
    // The parser only splits the text: the message is a suffix of it.
    assert!(rest.ends_with(parsed.message.as_str()));
});
