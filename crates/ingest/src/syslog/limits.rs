//! Size limits and batching settings of the syslog listeners.

use std::time::Duration;

/// Limits that protect homesoc from oversized or endless input, and the
/// batching of rows before they reach the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum bytes of one message after framing. A longer message is
    /// dropped and counted as `too_long`. RFC 5425 requires receivers to
    /// accept at least 2048 bytes and recommends 8192.
    pub max_message_bytes: usize,
    /// Maximum number of fields in one message: CEF extension pairs, or
    /// RFC 5424 structured-data parameters. More is counted as
    /// `too_many_fields`.
    pub max_fields: usize,
    /// Rows that make a batch full, so that it goes to the sink at once.
    pub batch_rows: usize,
    /// Maximum time a row waits in a batch that is not full.
    pub batch_delay: Duration,
    /// Rows parsed but not yet handed to the sink. A full queue slows TCP
    /// and TLS readers down and drops UDP datagrams (counted as `queue_full`).
    pub queue_rows: usize,
    /// Open TCP and TLS connections per listener; more are closed at once.
    pub max_connections: usize,
    /// A TCP or TLS connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Maximum duration of a TLS handshake.
    pub handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 64 * 1024,
            max_fields: 512,
            batch_rows: 2000,
            batch_delay: Duration::from_millis(200),
            queue_rows: 20_000,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(600),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}
