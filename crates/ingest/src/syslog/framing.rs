//! Splits a TCP or TLS byte stream into syslog messages.
//!
//! RFC 6587 describes two framings, and senders pick one per connection:
//! octet counting (`LEN SP MSG`, also the only framing of RFC 5425 TLS)
//! and non-transparent framing, where a newline ends each message. The
//! decoder decides per frame, as rsyslog does: a frame that starts with a
//! digit from 1 to 9 followed by digits and a space is octet-counted,
//! anything else runs to the next newline. A syslog message starts with
//! `<`, so the two never clash for valid input.

/// A result of the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One message, without the octet count or the newline.
    Message(Vec<u8>),
    /// A message longer than the limit. Its bytes are skipped.
    TooLong { length: usize },
}

/// The rest of an oversized frame, which the decoder skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    /// Bytes left of an octet-counted frame.
    Bytes(usize),
    /// Everything up to the next newline.
    Line,
}

/// Octet counts have at most this many digits; ten digits already exceed
/// any sane message limit.
const MAX_COUNT_DIGITS: usize = 10;

/// An incremental frame decoder with a message size limit. Memory use is
/// bounded by the limit plus one read.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    /// Start of the unread data in `buffer`.
    start: usize,
    max_frame: usize,
    skip: Skip,
}

impl FrameDecoder {
    /// Creates a decoder that reports frames over `max_frame` bytes as
    /// [`Frame::TooLong`].
    pub fn new(max_frame: usize) -> FrameDecoder {
        FrameDecoder {
            buffer: Vec::new(),
            start: 0,
            max_frame,
            skip: Skip::Nothing,
        }
    }

    /// Appends bytes read from the connection.
    pub fn extend(&mut self, data: &[u8]) {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(data);
    }

    /// Returns the next complete frame, or `None` when more bytes are
    /// needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if !self.skip_pending() {
                return None;
            }
            let data = &self.buffer[self.start..];
            // Blank lines and NUL padding between frames carry nothing.
            let blank = data
                .iter()
                .take_while(|&&b| matches!(b, b'\n' | b'\r' | b'\0'))
                .count();
            if blank > 0 {
                self.start += blank;
                continue;
            }
            let data = &self.buffer[self.start..];
            if data.is_empty() {
                return None;
            }
            return match octet_count(data) {
                CountState::Count { length, header } => self.octet_counted(length, header),
                CountState::NeedMore => None,
                CountState::NotCounted => self.newline_framed(),
            };
        }
    }

    /// Returns what is left when the connection ends: the last
    /// newline-framed message if it had no newline, or the length of an
    /// octet-counted frame cut short (as `Err`).
    pub fn finish(&mut self) -> Option<Result<Frame, usize>> {
        if self.skip != Skip::Nothing {
            return None;
        }
        let data = &self.buffer[self.start..];
        if data.iter().all(|&b| matches!(b, b'\n' | b'\r' | b'\0')) {
            return None;
        }
        let rest = data.to_vec();
        self.start = self.buffer.len();
        match octet_count(&rest) {
            CountState::Count { length, .. } => Some(Err(length)),
            CountState::NeedMore | CountState::NotCounted => Some(Ok(Frame::Message(rest))),
        }
    }

    /// Consumes skipped bytes. Returns true when nothing is left to skip.
    fn skip_pending(&mut self) -> bool {
        let available = self.buffer.len() - self.start;
        match self.skip {
            Skip::Nothing => true,
            Skip::Bytes(left) => {
                let taken = left.min(available);
                self.start += taken;
                self.skip = if taken == left {
                    Skip::Nothing
                } else {
                    Skip::Bytes(left - taken)
                };
                self.skip == Skip::Nothing
            }
            Skip::Line => match self.buffer[self.start..].iter().position(|&b| b == b'\n') {
                Some(newline) => {
                    self.start += newline + 1;
                    self.skip = Skip::Nothing;
                    true
                }
                None => {
                    self.start = self.buffer.len();
                    false
                }
            },
        }
    }

    fn octet_counted(&mut self, length: usize, header: usize) -> Option<Frame> {
        if length > self.max_frame {
            self.start += header;
            self.skip = Skip::Bytes(length);
            return Some(Frame::TooLong { length });
        }
        let data = &self.buffer[self.start..];
        if data.len() < header + length {
            return None;
        }
        let message = data[header..header + length].to_vec();
        self.start += header + length;
        Some(Frame::Message(message))
    }

    fn newline_framed(&mut self) -> Option<Frame> {
        let data = &self.buffer[self.start..];
        match data.iter().position(|&b| b == b'\n') {
            Some(newline) if newline > self.max_frame => {
                self.start += newline + 1;
                Some(Frame::TooLong { length: newline })
            }
            Some(newline) => {
                let message = data[..newline].to_vec();
                self.start += newline + 1;
                Some(Frame::Message(message))
            }
            None if data.len() > self.max_frame => {
                let length = data.len();
                self.start = self.buffer.len();
                self.skip = Skip::Line;
                Some(Frame::TooLong { length })
            }
            None => None,
        }
    }
}

enum CountState {
    Count { length: usize, header: usize },
    NeedMore,
    NotCounted,
}

/// Reads an octet count (`LEN SP`) at the start of the data.
fn octet_count(data: &[u8]) -> CountState {
    if !matches!(data.first(), Some(b'1'..=b'9')) {
        return CountState::NotCounted;
    }
    let digits = data.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > MAX_COUNT_DIGITS {
        return CountState::NotCounted;
    }
    match data.get(digits) {
        None => CountState::NeedMore,
        Some(b' ') => {
            let text = std::str::from_utf8(&data[..digits]).expect("ASCII digits");
            match text.parse() {
                Ok(length) => CountState::Count {
                    length,
                    header: digits + 1,
                },
                Err(_) => CountState::NotCounted,
            }
        }
        Some(_) => CountState::NotCounted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(decoder: &mut FrameDecoder, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut frames = Vec::new();
        for chunk in chunks {
            decoder.extend(chunk);
            while let Some(frame) = decoder.next_frame() {
                frames.push(frame);
            }
        }
        frames
    }

    fn message(text: &str) -> Frame {
        Frame::Message(text.as_bytes().to_vec())
    }

    #[test]
    fn octet_counted_frames_split_anywhere() {
        let stream = b"11 <13>hello a5 <13>x12 <13>line\none";
        let expected = vec![
            message("<13>hello a"),
            message("<13>x"),
            message("<13>line\none"),
        ];
        for split in 0..stream.len() {
            let mut decoder = FrameDecoder::new(100);
            let frames = decode_all(&mut decoder, &[&stream[..split], &stream[split..]]);
            assert_eq!(frames, expected, "split at {split}");
        }
    }

    #[test]
    fn newline_frames_and_final_frame_without_newline() {
        let mut decoder = FrameDecoder::new(100);
        let frames = decode_all(
            &mut decoder,
            &[b"<13>one\r\n<13>two\n\n<13>thr", b"ee\n<13>last"],
        );
        assert_eq!(
            frames,
            vec![
                message("<13>one\r"),
                message("<13>two"),
                message("<13>three")
            ]
        );
        assert_eq!(decoder.finish(), Some(Ok(message("<13>last"))));
        assert_eq!(decoder.finish(), None);
    }

    #[test]
    fn mixed_framing_in_one_stream() {
        let mut decoder = FrameDecoder::new(100);
        let frames = decode_all(&mut decoder, &[b"<13>a\n5 <13>b<13>c\n"]);
        assert_eq!(
            frames,
            vec![message("<13>a"), message("<13>b"), message("<13>c")]
        );
    }

    #[test]
    fn oversized_octet_counted_frame_is_skipped() {
        let mut decoder = FrameDecoder::new(5);
        let frames = decode_all(&mut decoder, &[b"10 0123", b"456789", b"3 <1>"]);
        assert_eq!(frames, vec![Frame::TooLong { length: 10 }, message("<1>")]);
    }

    #[test]
    fn oversized_line_is_skipped_to_the_newline() {
        let mut decoder = FrameDecoder::new(5);
        let frames = decode_all(&mut decoder, &[b"<13>abcdef", b"ghij", b"kl\n<1>x\n"]);
        assert_eq!(frames, vec![Frame::TooLong { length: 10 }, message("<1>x")]);
        let frames = decode_all(&mut decoder, &[b"<13>abcdefgh\n"]);
        assert_eq!(frames, vec![Frame::TooLong { length: 12 }]);
    }

    #[test]
    fn truncated_octet_counted_frame_at_end() {
        let mut decoder = FrameDecoder::new(100);
        let frames = decode_all(&mut decoder, &[b"20 <13>short"]);
        assert!(frames.is_empty());
        assert_eq!(decoder.finish(), Some(Err(20)));
    }

    #[test]
    fn digits_without_space_are_newline_framed() {
        let mut decoder = FrameDecoder::new(100);
        let frames = decode_all(&mut decoder, &[b"123abc\n99999999999 x\n"]);
        assert_eq!(frames, vec![message("123abc"), message("99999999999 x")]);
    }
}
