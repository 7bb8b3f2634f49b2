//! TCP frame decoder: a byte stream cut into reads at fuzzer-chosen points.
#![no_main]

use homesoc_fuzz::framing::{Frame, FrameDecoder};
use libfuzzer_sys::fuzz_target;

const MAX_FRAME: usize = 256;

fuzz_target!(|input: (Vec<u8>, &[u8])| {
    let (cuts, stream) = input;
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    let mut position = 0;
    let mut consumed = 0usize;
    for cut in cuts.iter().chain(std::iter::once(&u8::MAX)) {
        let end = (position + usize::from(*cut) + 1).min(stream.len());
        decoder.extend(&stream[position..end]);
        position = end;
        while let Some(frame) = decoder.next_frame() {
            if let Frame::Message(message) = frame {
                assert!(message.len() <= MAX_FRAME);
                consumed += message.len();
            }
        }
        if position == stream.len() {
            break;
        }
    }
    assert!(consumed <= stream.len());
    let _ = decoder.finish();
});
