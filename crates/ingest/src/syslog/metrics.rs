//! Counters of the syslog listeners, for the server's `/metrics`.
//!
//! Every message is counted once as received, then once as accepted (the
//! sink stored it) or as dropped with one [`DropReason`]. Counters only
//! grow; a snapshot reads them without locks.

use std::sync::atomic::{AtomicU64, Ordering};

/// The transport a message arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub const ALL: [Transport; 3] = [Transport::Udp, Transport::Tcp, Transport::Tls];

    /// Returns the source label used in metrics: `syslog_udp`, `syslog_tcp`
    /// or `syslog_tls`.
    pub fn source_label(self) -> &'static str {
        match self {
            Transport::Udp => "syslog_udp",
            Transport::Tcp => "syslog_tcp",
            Transport::Tls => "syslog_tls",
        }
    }
}

/// Why a message was dropped. Every drop is unintended from the sender's
/// point of view and is logged (rate-limited) as well as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Longer than the message size limit.
    TooLong,
    /// More fields than the field limit.
    TooManyFields,
    /// Not parseable: invalid PRI, RFC 5424 header or CEF header, or empty.
    Invalid,
    /// The queue to the sink was full (UDP only; TCP and TLS wait).
    QueueFull,
    /// The sink returned an error for the batch that held the message.
    SinkFailed,
    /// An octet-counted frame cut short by the end of the connection.
    Truncated,
}

impl DropReason {
    pub const ALL: [DropReason; 6] = [
        DropReason::TooLong,
        DropReason::TooManyFields,
        DropReason::Invalid,
        DropReason::QueueFull,
        DropReason::SinkFailed,
        DropReason::Truncated,
    ];

    /// Returns the reason label used in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::TooLong => "too_long",
            DropReason::TooManyFields => "too_many_fields",
            DropReason::Invalid => "invalid",
            DropReason::QueueFull => "queue_full",
            DropReason::SinkFailed => "sink_failed",
            DropReason::Truncated => "truncated",
        }
    }

    fn index(self) -> usize {
        DropReason::ALL
            .iter()
            .position(|r| *r == self)
            .expect("every reason is in ALL")
    }
}

/// Counters of one transport.
#[derive(Debug, Default)]
struct TransportCounters {
    received: AtomicU64,
    accepted: AtomicU64,
    dropped: [AtomicU64; 6],
    connections_opened: AtomicU64,
    connections_rejected: AtomicU64,
    tls_handshakes_failed: AtomicU64,
}

/// The counters of all syslog listeners that share one pipeline.
#[derive(Debug, Default)]
pub struct SyslogMetrics {
    transports: [TransportCounters; 3],
}

/// Counter values of one transport at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSnapshot {
    /// `syslog_udp`, `syslog_tcp` or `syslog_tls`.
    pub source: &'static str,
    /// Messages read off the wire (datagrams or frames).
    pub received: u64,
    /// Messages whose rows the sink stored.
    pub accepted: u64,
    /// Dropped messages per reason label, every reason listed.
    pub dropped: Vec<(&'static str, u64)>,
    /// TCP or TLS connections accepted.
    pub connections_opened: u64,
    /// Connections closed at once because the connection limit was reached.
    pub connections_rejected: u64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshakes_failed: u64,
}

impl SyslogMetrics {
    fn counters(&self, transport: Transport) -> &TransportCounters {
        &self.transports[transport as usize]
    }

    pub(crate) fn add_received(&self, transport: Transport) {
        self.counters(transport)
            .received
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_accepted(&self, transport: Transport, count: u64) {
        self.counters(transport)
            .accepted
            .fetch_add(count, Ordering::Relaxed);
    }

    pub(crate) fn add_dropped(&self, transport: Transport, reason: DropReason, count: u64) {
        self.counters(transport).dropped[reason.index()].fetch_add(count, Ordering::Relaxed);
    }

    pub(crate) fn add_connection(&self, transport: Transport) {
        self.counters(transport)
            .connections_opened
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_rejected_connection(&self, transport: Transport) {
        self.counters(transport)
            .connections_rejected
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_failed_handshake(&self) {
        self.counters(Transport::Tls)
            .tls_handshakes_failed
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter, one [`SourceSnapshot`] per transport in
    /// [`Transport::ALL`] order.
    pub fn snapshot(&self) -> Vec<SourceSnapshot> {
        Transport::ALL
            .iter()
            .map(|&transport| {
                let counters = self.counters(transport);
                SourceSnapshot {
                    source: transport.source_label(),
                    received: counters.received.load(Ordering::Relaxed),
                    accepted: counters.accepted.load(Ordering::Relaxed),
                    dropped: DropReason::ALL
                        .iter()
                        .map(|&reason| {
                            (
                                reason.label(),
                                counters.dropped[reason.index()].load(Ordering::Relaxed),
                            )
                        })
                        .collect(),
                    connections_opened: counters.connections_opened.load(Ordering::Relaxed),
                    connections_rejected: counters.connections_rejected.load(Ordering::Relaxed),
                    tls_handshakes_failed: counters.tls_handshakes_failed.load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_counts_per_transport() {
        let metrics = SyslogMetrics::default();
        metrics.add_received(Transport::Tcp);
        metrics.add_received(Transport::Tcp);
        metrics.add_accepted(Transport::Tcp, 1);
        metrics.add_dropped(Transport::Tcp, DropReason::Invalid, 1);
        let snapshot = metrics.snapshot();
        assert_eq!(snapshot[0].source, "syslog_udp");
        assert_eq!(snapshot[0].received, 0);
        let tcp = &snapshot[1];
        assert_eq!(tcp.source, "syslog_tcp");
        assert_eq!(tcp.received, 2);
        assert_eq!(tcp.accepted, 1);
        assert!(tcp.dropped.contains(&("invalid", 1)));
        assert!(tcp.dropped.contains(&("too_long", 0)));
    }
}
