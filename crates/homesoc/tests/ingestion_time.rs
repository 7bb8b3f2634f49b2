//! `ingestion_time()` returns when homesoc stored each row.

mod common;

use common::{imported_corpus, query};

#[test]
fn ingestion_time_set_on_table_rows() {
    let corpus = imported_corpus();
    let missing = query(
        corpus.data_dir(),
        "SecurityEvent | extend Ingested = ingestion_time() | where isnull(Ingested) | count",
    )
    .scalar_u64();
    assert_eq!(missing, 0, "every stored row has an ingestion time");

    let before_event = query(
        corpus.data_dir(),
        "Event | where ingestion_time() < TimeGenerated | count",
    )
    .scalar_u64();
    assert_eq!(before_event, 0, "no row was stored before it happened");
}

#[test]
fn ingestion_time_null_after_project() {
    let corpus = imported_corpus();
    let carried = query(
        corpus.data_dir(),
        "SecurityEvent | project EventID | extend Ingested = ingestion_time() | where isnotnull(Ingested) | count",
    )
    .scalar_u64();
    assert_eq!(carried, 0);
}

#[test]
fn ingestion_time_column_stays_hidden() {
    let corpus = imported_corpus();
    let rows = query(corpus.data_dir(), "WindowsEvent | take 1");
    assert_eq!(rows.columns.len(), 26, "columns: {:?}", rows.columns);
    assert!(rows.columns.iter().all(|(name, _)| !name.starts_with('$')));
}
