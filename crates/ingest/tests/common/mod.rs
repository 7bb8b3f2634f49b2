//! Helpers shared by the EVTX integration tests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch};
use arrow::util::display::array_value_to_string;
use ingest::evtx::{EvtxFileStats, EvtxReader, TableBatch};

/// Returns the EVTX corpus folder, next to the repository.
pub fn corpus_dir() -> PathBuf {
    manifest_dir().join("../../../shared/corpus/evtx")
}

/// The crate folder, read when the test runs: Cargo can reuse a test binary
/// built in another checkout that shares the build cache, and a path fixed
/// at compile time would then point into that checkout.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

/// Reads a file and keeps every batch.
pub fn read_all(path: &Path) -> (EvtxFileStats, Vec<TableBatch>) {
    let mut batches = Vec::new();
    let reader = EvtxReader::new("test-import", 0);
    let stats = reader
        .read(path, |batch| {
            batches.push(batch);
            Ok::<(), std::io::Error>(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    (stats, batches)
}

/// Returns a cell as text, `None` when null. Integers print in decimal.
/// A null text column reads as `""`, as KQL shows it: the store writes
/// empty strings as null.
pub fn cell(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let array = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    if array.is_null(row) && array.data_type() == &arrow::datatypes::DataType::Utf8 {
        Some(String::new())
    } else if array.is_null(row) {
        None
    } else {
        Some(array_value_to_string(array, row).expect("printable cell"))
    }
}

/// Returns one row as a map from column name to text (null columns are absent).
pub fn row_map(batch: &RecordBatch, row: usize) -> HashMap<String, String> {
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .filter_map(|f| cell(batch, f.name(), row).map(|v| (f.name().clone(), v)))
        .collect()
}
