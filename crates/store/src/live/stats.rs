//! Counters of live ingestion, read by the server's `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds, in seconds, of the WAL sync latency histogram buckets.
pub const SYNC_BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Counters updated by the WAL writer and the flush.
#[derive(Debug, Default)]
pub struct LiveStats {
    /// Syncs per bucket of [`SYNC_BUCKETS`], not cumulative; the last slot
    /// counts syncs slower than every bound.
    sync_buckets: [AtomicU64; SYNC_BUCKETS.len() + 1],
    sync_count: AtomicU64,
    sync_nanos: AtomicU64,
    batches_synced: AtomicU64,
    flushes: AtomicU64,
    flush_errors: AtomicU64,
    rows_flushed: AtomicU64,
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveStatsSnapshot {
    /// Cumulative counts per bucket bound, as Prometheus histograms have
    /// them, then the count of every sync.
    pub sync_cumulative: Vec<u64>,
    pub sync_count: u64,
    pub sync_seconds: f64,
    pub batches_synced: u64,
    pub flushes: u64,
    pub flush_errors: u64,
    pub rows_flushed: u64,
}

impl LiveStats {
    pub(crate) fn record_sync(&self, elapsed: Duration, batches: usize) {
        let seconds = elapsed.as_secs_f64();
        let bucket = SYNC_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(SYNC_BUCKETS.len());
        self.sync_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sync_count.fetch_add(1, Ordering::Relaxed);
        self.sync_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        self.batches_synced
            .fetch_add(batches as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_flush(&self, rows: usize) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.rows_flushed.fetch_add(rows as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_flush_error(&self) {
        self.flush_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> LiveStatsSnapshot {
        let mut running = 0;
        let sync_cumulative = self
            .sync_buckets
            .iter()
            .map(|bucket| {
                running += bucket.load(Ordering::Relaxed);
                running
            })
            .collect();
        LiveStatsSnapshot {
            sync_cumulative,
            sync_count: self.sync_count.load(Ordering::Relaxed),
            sync_seconds: self.sync_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            batches_synced: self.batches_synced.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            flush_errors: self.flush_errors.load(Ordering::Relaxed),
            rows_flushed: self.rows_flushed.load(Ordering::Relaxed),
        }
    }
}
