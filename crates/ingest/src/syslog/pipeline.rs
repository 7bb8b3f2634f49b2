//! Parses received messages, counts them, and batches their rows for the
//! sink.
//!
//! Listeners parse on their own tasks and queue rows to one batching task,
//! which hands a table's rows to the [`RowSink`] when `batch_rows` rows are
//! waiting or the oldest has waited `batch_delay`. The batching task ends,
//! after a last flush, once every [`SyslogPipeline`] clone is dropped: so
//! stopping the listeners and awaiting the task's handle flushes all rows.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store::builder::Row;
use store::schema::TableDef;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::limits::Limits;
use super::metrics::{DropReason, SyslogMetrics, Transport};
use super::rows::{ReceiveContext, TimeGeneratedFrom, parse_message};
use crate::sink::{RowSink, now_ticks};

/// A parsed row on its way to the batching task.
struct QueuedRow {
    transport: Transport,
    row: Row,
}

/// The shared front of the syslog listeners: limits, counters and the
/// queue to the batching task. Cheap to clone; each listener takes one.
#[derive(Clone)]
pub struct SyslogPipeline {
    queue: mpsc::Sender<QueuedRow>,
    metrics: Arc<SyslogMetrics>,
    limits: Arc<Limits>,
    collector_host_name: Option<Arc<str>>,
    drop_log: Arc<RateLimitedLog>,
}

impl SyslogPipeline {
    /// Starts the batching task that writes to `sink` and returns the
    /// pipeline with the task's handle. `collector_host_name` fills
    /// `CollectorHostName` (the name of the host running homesoc).
    ///
    /// Must be called within a Tokio runtime.
    pub fn start(
        sink: Arc<dyn RowSink>,
        limits: Limits,
        collector_host_name: Option<String>,
    ) -> (SyslogPipeline, JoinHandle<()>) {
        let (queue, receiver) = mpsc::channel(limits.queue_rows.max(1));
        let metrics = Arc::new(SyslogMetrics::default());
        let drop_log = Arc::new(RateLimitedLog::new(Duration::from_secs(1)));
        let batcher = Batcher {
            sink,
            metrics: metrics.clone(),
            batch_rows: limits.batch_rows.max(1),
            batch_delay: limits.batch_delay,
            pending: BTreeMap::new(),
            pending_rows: 0,
            drop_log: drop_log.clone(),
        };
        let handle = tokio::spawn(batcher.run(receiver));
        let pipeline = SyslogPipeline {
            queue,
            metrics,
            limits: Arc::new(limits),
            collector_host_name: collector_host_name.map(Arc::from),
            drop_log,
        };
        (pipeline, handle)
    }

    /// Returns the counters, to read them for `/metrics`.
    pub fn metrics(&self) -> Arc<SyslogMetrics> {
        self.metrics.clone()
    }

    /// Returns the limits the listeners apply.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Counts, parses and queues one message. With `wait` the call waits
    /// for room in the queue, which pushes back on TCP and TLS senders.
    /// Without it (UDP) a full queue drops the message.
    pub(crate) async fn submit(
        &self,
        transport: Transport,
        bytes: &[u8],
        sender: Option<IpAddr>,
        wait: bool,
    ) {
        self.metrics.add_received(transport);
        let context = ReceiveContext {
            received_ticks: now_ticks(),
            sender,
            collector_host_name: self.collector_host_name.as_deref(),
            time_generated: TimeGeneratedFrom::Received,
        };
        let row = match parse_message(bytes, &context, &self.limits) {
            Ok(row) => row,
            Err(err) => {
                let reason = err.drop_reason();
                self.count_drop(transport, reason, 1);
                self.drop_log.warn(|suppressed| {
                    tracing::warn!(
                        source = transport.source_label(),
                        reason = reason.label(),
                        sender = ?sender,
                        error = %err,
                        suppressed,
                        "dropped a syslog message"
                    );
                });
                return;
            }
        };
        let queued = QueuedRow { transport, row };
        let sent = if wait {
            self.queue.send(queued).await.is_ok()
        } else {
            self.queue.try_send(queued).is_ok()
        };
        if !sent {
            self.count_drop(transport, DropReason::QueueFull, 1);
            self.drop_log.warn(|suppressed| {
                tracing::warn!(
                    source = transport.source_label(),
                    reason = DropReason::QueueFull.label(),
                    suppressed,
                    "dropped a syslog message: the queue to the sink is full"
                );
            });
        }
    }

    /// Counts messages dropped before parsing (framing problems).
    pub(crate) fn count_drop(&self, transport: Transport, reason: DropReason, count: u64) {
        self.metrics.add_dropped(transport, reason, count);
    }

    /// Logs a framing drop, rate-limited like parse failures.
    pub(crate) fn log_frame_drop(
        &self,
        transport: Transport,
        reason: DropReason,
        peer: IpAddr,
        length: usize,
    ) {
        self.drop_log.warn(|suppressed| {
            tracing::warn!(
                source = transport.source_label(),
                reason = reason.label(),
                sender = %peer,
                length,
                max = self.limits.max_message_bytes,
                suppressed,
                "dropped a syslog frame"
            );
        });
    }
}

/// Rows of one table waiting for the sink, with how many came from each
/// transport, so that the counters can be moved when the sink returns.
struct PendingTable {
    table: &'static TableDef,
    rows: Vec<Row>,
    per_transport: [u64; 3],
    oldest: Instant,
}

struct Batcher {
    sink: Arc<dyn RowSink>,
    metrics: Arc<SyslogMetrics>,
    batch_rows: usize,
    batch_delay: Duration,
    pending: BTreeMap<&'static str, PendingTable>,
    pending_rows: usize,
    drop_log: Arc<RateLimitedLog>,
}

impl Batcher {
    async fn run(mut self, mut receiver: mpsc::Receiver<QueuedRow>) {
        loop {
            let deadline = self
                .pending
                .values()
                .map(|p| p.oldest + self.batch_delay)
                .min();
            let received = match deadline {
                Some(deadline) => {
                    tokio::select! {
                        received = receiver.recv() => received,
                        () = tokio::time::sleep_until(deadline.into()) => {
                            self.flush_due().await;
                            continue;
                        }
                    }
                }
                None => receiver.recv().await,
            };
            let Some(queued) = received else {
                break;
            };
            self.push(queued);
            if self.pending_rows >= self.batch_rows {
                self.flush_all().await;
            }
        }
        self.flush_all().await;
        tracing::debug!("syslog batching stopped");
    }

    fn push(&mut self, queued: QueuedRow) {
        let table = queued.row.table();
        let pending = self
            .pending
            .entry(table.name)
            .or_insert_with(|| PendingTable {
                table,
                rows: Vec::new(),
                per_transport: [0; 3],
                oldest: Instant::now(),
            });
        pending.rows.push(queued.row);
        pending.per_transport[queued.transport as usize] += 1;
        self.pending_rows += 1;
    }

    async fn flush_due(&mut self) {
        let now = Instant::now();
        let due: Vec<&'static str> = self
            .pending
            .iter()
            .filter(|(_, p)| p.oldest + self.batch_delay <= now)
            .map(|(name, _)| *name)
            .collect();
        for name in due {
            if let Some(pending) = self.pending.remove(name) {
                self.write(pending).await;
            }
        }
    }

    async fn flush_all(&mut self) {
        while let Some((_, pending)) = self.pending.pop_first() {
            self.write(pending).await;
        }
    }

    async fn write(&mut self, pending: PendingTable) {
        let rows = pending.rows.len();
        self.pending_rows -= rows;
        let result = self.sink.write_rows(pending.table, pending.rows).await;
        for transport in Transport::ALL {
            let count = pending.per_transport[transport as usize];
            if count == 0 {
                continue;
            }
            match &result {
                Ok(()) => self.metrics.add_accepted(transport, count),
                Err(_) => self
                    .metrics
                    .add_dropped(transport, DropReason::SinkFailed, count),
            }
        }
        if let Err(err) = result {
            self.drop_log.warn(|suppressed| {
                tracing::error!(
                    table = pending.table.name,
                    rows,
                    error = %err,
                    suppressed,
                    "dropped a batch of syslog rows: the sink failed"
                );
            });
        }
    }
}

/// Lets a warning through at most once per interval and counts the ones
/// held back, so that a flood of bad messages cannot flood the log.
pub(crate) struct RateLimitedLog {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    pub(crate) fn new(interval: Duration) -> RateLimitedLog {
        RateLimitedLog {
            interval,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Calls `log` with the number of warnings held back since the last
    /// one, unless a warning went out less than an interval ago.
    pub(crate) fn warn(&self, log: impl FnOnce(u64)) {
        let now = Instant::now();
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_some_and(|last| now.duration_since(last) < self.interval) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(now);
        drop(last);
        log(self.suppressed.swap(0, Ordering::Relaxed));
    }
}
