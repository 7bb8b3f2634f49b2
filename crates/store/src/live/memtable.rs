//! Rows acknowledged by the write-ahead log and not yet flushed to Delta.

use std::collections::BTreeMap;
use std::sync::Mutex;

use arrow::record_batch::RecordBatch;

use crate::schema::TableDef;

/// The batches of each table with the WAL sequence number that holds them.
///
/// Readers take a snapshot of a table's batches; the flush removes the
/// batches it committed. [`Memtable::visibility`] orders the two, so that a
/// reader sees each row either in the memtable or in Delta, never both.
#[derive(Debug, Default)]
pub struct Memtable {
    tables: Mutex<BTreeMap<&'static str, TableRows>>,
    /// Held for reading while a catalog opens the Delta tables and takes
    /// its memtable snapshot, and for writing while the flush commits and
    /// removes the flushed batches.
    pub visibility: tokio::sync::RwLock<()>,
}

#[derive(Debug)]
struct TableRows {
    table: &'static TableDef,
    batches: Vec<(u64, RecordBatch)>,
    rows: usize,
}

impl Memtable {
    /// Adds a batch held by WAL record `seq`.
    pub fn insert(&self, table: &'static TableDef, seq: u64, batch: RecordBatch) {
        let mut tables = self.lock();
        let entry = tables.entry(table.name).or_insert_with(|| TableRows {
            table,
            batches: Vec::new(),
            rows: 0,
        });
        entry.rows += batch.num_rows();
        entry.batches.push((seq, batch));
    }

    /// Returns the batches of `table`, oldest first.
    pub fn snapshot(&self, table: &str) -> Vec<RecordBatch> {
        self.lock()
            .get(table)
            .map(|rows| rows.batches.iter().map(|(_, b)| b.clone()).collect())
            .unwrap_or_default()
    }

    /// Returns every table's batches held by records up to `last_seq`.
    pub fn up_to(&self, last_seq: u64) -> Vec<(&'static TableDef, Vec<RecordBatch>)> {
        self.lock()
            .values()
            .map(|rows| {
                let batches = rows
                    .batches
                    .iter()
                    .filter(|(seq, _)| *seq <= last_seq)
                    .map(|(_, b)| b.clone())
                    .collect::<Vec<_>>();
                (rows.table, batches)
            })
            .filter(|(_, batches)| !batches.is_empty())
            .collect()
    }

    /// Removes `table`'s batches held by records up to `last_seq`.
    pub fn remove_up_to(&self, table: &str, last_seq: u64) {
        if let Some(rows) = self.lock().get_mut(table) {
            rows.batches.retain(|(seq, _)| *seq > last_seq);
            rows.rows = rows.batches.iter().map(|(_, b)| b.num_rows()).sum();
        }
    }

    /// Rows held, over all tables.
    pub fn rows(&self) -> usize {
        self.lock().values().map(|rows| rows.rows).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, TableRows>> {
        // A panic while holding the lock leaves the map consistent: every
        // method changes it in one step.
        self.tables
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}
