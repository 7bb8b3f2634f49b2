//! Why a syslog or CEF message was rejected.

/// A message that cannot be turned into a row. Every variant is the
/// sender's fault: the message is dropped and counted, and the listener
/// goes on with the next message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty message: a syslog message needs at least one character after the framing")]
    Empty,

    #[error(
        "message of {length} bytes is longer than the limit of {max} bytes; \
         raise the message size limit or shorten the message at the sender"
    )]
    TooLong { length: usize, max: usize },

    #[error(
        "message has {count} fields, more than the limit of {max}; \
         raise the field limit or send fewer extension fields"
    )]
    TooManyFields { count: usize, max: usize },

    #[error("invalid PRI `{text}`: expected `<N>` with N from 0 to 191 at the start")]
    InvalidPri { text: String },

    #[error(
        "invalid RFC 5424 timestamp `{text}`: expected `-` or RFC 3339 such as 2003-10-11T22:14:15.003Z"
    )]
    InvalidTimestamp { text: String },

    #[error("truncated RFC 5424 header: {field} is missing")]
    MissingField { field: &'static str },

    #[error("invalid RFC 5424 structured data at byte {offset}: {reason}")]
    InvalidStructuredData { offset: usize, reason: &'static str },

    #[error("invalid CEF header: {reason}")]
    InvalidCef { reason: String },
}

impl ParseError {
    /// Returns the reason label under which a drop is counted.
    pub fn drop_reason(&self) -> crate::syslog::metrics::DropReason {
        use crate::syslog::metrics::DropReason;
        match self {
            ParseError::TooLong { .. } => DropReason::TooLong,
            ParseError::TooManyFields { .. } => DropReason::TooManyFields,
            _ => DropReason::Invalid,
        }
    }
}
