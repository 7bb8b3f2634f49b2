//! Counters served at `/metrics` in the Prometheus text format.
//!
//! Names follow Prometheus habits: `homesoc_` prefix, `_total` for
//! counters, base units. Every refused event is counted under its source
//! and reason, so nothing is dropped silently.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ingest::syslog::SourceSnapshot;
use store::live::LiveStats;
use store::live::stats::SYNC_BUCKETS;

/// The server's counters. Schedulers started by `homesoc up` increment
/// [`Metrics::rule_runs`] and [`Metrics::intel_pulls`].
#[derive(Debug, Default)]
pub struct Metrics {
    /// (source, outcome, reason) to events; outcome is received, accepted
    /// or dropped, and the reason is empty except for drops.
    events: Mutex<BTreeMap<(String, &'static str, String), u64>>,
    /// Result columns of a transform that the output table lacks.
    dropped_fields: Mutex<BTreeMap<(String, String), u64>>,
    /// Scheduled rule runs, by outcome (`ok` or `error`).
    pub rule_runs: OutcomeCounter,
    /// Threat-intelligence feed pulls, by outcome.
    pub intel_pulls: OutcomeCounter,
    /// Requests refused for a missing or wrong credential.
    pub auth_failures: AtomicU64,
}

/// A counter with an `ok` and an `error` series.
#[derive(Debug, Default)]
pub struct OutcomeCounter {
    pub ok: AtomicU64,
    pub error: AtomicU64,
}

impl OutcomeCounter {
    /// Counts one run.
    pub fn record(&self, success: bool) {
        let counter = if success { &self.ok } else { &self.error };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts events that arrived from `source`.
    pub fn received(&self, source: &str, count: usize) {
        self.add(source, "received", "", count);
    }

    /// Counts events of `source` stored.
    pub fn accepted(&self, source: &str, count: usize) {
        self.add(source, "accepted", "", count);
    }

    /// Counts events of `source` refused for `reason`.
    pub fn dropped(&self, source: &str, reason: &str, count: usize) {
        self.add(source, "dropped", reason, count);
    }

    /// Counts a transform result column that the output table lacks.
    pub fn dropped_field(&self, stream: &str, column: &str) {
        let mut fields = self
            .dropped_fields
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *fields
            .entry((stream.to_string(), column.to_string()))
            .or_default() += 1;
    }

    fn add(&self, source: &str, outcome: &'static str, reason: &str, count: usize) {
        if count == 0 {
            return;
        }
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        *events
            .entry((source.to_string(), outcome, reason.to_string()))
            .or_default() += count as u64;
    }

    /// Returns the count of one series, for tests.
    pub fn events(&self, source: &str, outcome: &str, reason: &str) -> u64 {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events
            .iter()
            .filter(|((s, o, r), _)| s == source && *o == outcome && r == reason)
            .map(|(_, count)| *count)
            .sum()
    }

    /// Renders every metric in the Prometheus text format, with the syslog
    /// listeners' counters under the same event metrics.
    pub fn render(
        &self,
        live: &LiveStats,
        memtable_rows: usize,
        syslog: &[SourceSnapshot],
    ) -> String {
        let mut out = String::new();
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for source in syslog {
            let name = source.source.to_string();
            events.insert((name.clone(), "received", String::new()), source.received);
            events.insert((name.clone(), "accepted", String::new()), source.accepted);
            for (reason, count) in &source.dropped {
                if *count > 0 {
                    events.insert((name.clone(), "dropped", reason.to_string()), *count);
                }
            }
        }
        for (outcome, help) in [
            ("received", "Events that arrived, by source."),
            ("accepted", "Events stored durably, by source."),
            ("dropped", "Events refused, by source and reason."),
        ] {
            let _ = writeln!(out, "# HELP homesoc_events_{outcome}_total {help}");
            let _ = writeln!(out, "# TYPE homesoc_events_{outcome}_total counter");
            for ((source, o, reason), count) in &events {
                if *o != outcome {
                    continue;
                }
                if outcome == "dropped" {
                    let _ = writeln!(
                        out,
                        "homesoc_events_{outcome}_total{{source=\"{}\",reason=\"{}\"}} {count}",
                        escape(source),
                        escape(reason)
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "homesoc_events_{outcome}_total{{source=\"{}\"}} {count}",
                        escape(source)
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP homesoc_transform_fields_dropped_total Transform result columns that the output table lacks."
        );
        let _ = writeln!(out, "# TYPE homesoc_transform_fields_dropped_total counter");
        for ((stream, column), count) in self
            .dropped_fields
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "homesoc_transform_fields_dropped_total{{stream=\"{}\",column=\"{}\"}} {count}",
                escape(stream),
                escape(column)
            );
        }

        let stats = live.snapshot();
        let _ = writeln!(
            out,
            "# HELP homesoc_wal_fsync_seconds Latency of write-ahead log syncs (one per group of batches)."
        );
        let _ = writeln!(out, "# TYPE homesoc_wal_fsync_seconds histogram");
        for (bound, count) in SYNC_BUCKETS.iter().zip(&stats.sync_cumulative) {
            let _ = writeln!(
                out,
                "homesoc_wal_fsync_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "homesoc_wal_fsync_seconds_bucket{{le=\"+Inf\"}} {}",
            stats.sync_count
        );
        let _ = writeln!(out, "homesoc_wal_fsync_seconds_sum {}", stats.sync_seconds);
        let _ = writeln!(out, "homesoc_wal_fsync_seconds_count {}", stats.sync_count);
        for (name, kind, help, value) in [
            (
                "homesoc_wal_batches_total",
                "counter",
                "Batches written to the write-ahead log.",
                stats.batches_synced as f64,
            ),
            (
                "homesoc_flushes_total",
                "counter",
                "Flushes of live rows to the Delta tables.",
                stats.flushes as f64,
            ),
            (
                "homesoc_flush_errors_total",
                "counter",
                "Failed flushes (retried).",
                stats.flush_errors as f64,
            ),
            (
                "homesoc_rows_flushed_total",
                "counter",
                "Rows flushed to the Delta tables.",
                stats.rows_flushed as f64,
            ),
            (
                "homesoc_memtable_rows",
                "gauge",
                "Acknowledged rows not yet flushed.",
                memtable_rows as f64,
            ),
            (
                "homesoc_auth_failures_total",
                "counter",
                "Requests refused for a missing or wrong credential.",
                self.auth_failures.load(Ordering::Relaxed) as f64,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        for (name, help, counter) in [
            (
                "homesoc_rule_runs_total",
                "Scheduled analytics rule runs, by outcome.",
                &self.rule_runs,
            ),
            (
                "homesoc_intel_pulls_total",
                "Threat-intelligence feed pulls, by outcome.",
                &self.intel_pulls,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(
                out,
                "{name}{{outcome=\"ok\"}} {}",
                counter.ok.load(Ordering::Relaxed)
            );
            let _ = writeln!(
                out,
                "{name}{{outcome=\"error\"}} {}",
                counter.error.load(Ordering::Relaxed)
            );
        }
        for (name, help, value) in [
            (
                "homesoc_syslog_connections_opened_total",
                "Syslog TCP and TLS connections accepted, by source.",
                (|s: &SourceSnapshot| s.connections_opened) as fn(&SourceSnapshot) -> u64,
            ),
            (
                "homesoc_syslog_connections_rejected_total",
                "Syslog connections closed at once at the connection limit, by source.",
                |s: &SourceSnapshot| s.connections_rejected,
            ),
            (
                "homesoc_syslog_tls_handshakes_failed_total",
                "Syslog TLS handshakes that failed or timed out.",
                |s: &SourceSnapshot| s.tls_handshakes_failed,
            ),
        ] {
            if syslog.is_empty() {
                break;
            }
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for source in syslog {
                let _ = writeln!(
                    out,
                    "{name}{{source=\"{}\"}} {}",
                    source.source,
                    value(source)
                );
            }
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
