//! Live ingestion through the write-ahead log: acknowledged rows are
//! queryable, survive a crash, are never stored twice, and a torn log tail
//! is cut.

use std::path::Path;

use arrow::record_batch::RecordBatch;
use store::Workspace;
use store::builder::TableBatchBuilder;
use store::live::{LiveOptions, LiveStore};
use store::tables::EVENT;

fn batch(name: &str, rows: usize) -> RecordBatch {
    let mut builder = TableBatchBuilder::new(&EVENT, name, 0, rows);
    let computer = EVENT.column_index("Computer").unwrap();
    let event_id = EVENT.column_index("EventID").unwrap();
    for i in 0..rows {
        builder.set_time_generated(17_000_000_000_000_000 + i as i64 * 10_000_000);
        builder.set_string(computer, name);
        builder.set_int(event_id, i as i32);
        builder.finish_row().unwrap();
    }
    builder.finish()
}

async fn count(workspace: &Workspace) -> i64 {
    let engine = engine::Engine::new();
    let catalog = store::catalog::load(workspace, &engine, None)
        .await
        .unwrap();
    let result = engine
        .run("Event | count", &catalog, &engine::QueryOptions::default())
        .await
        .unwrap();
    engine::output::rows_json(&result)[0][0].as_i64().unwrap()
}

async fn open(root: &Path) -> (Workspace, LiveStore, store::live::Recovery) {
    let workspace = Workspace::open(root).unwrap();
    let (live, recovery) = LiveStore::open(&workspace, LiveOptions::default())
        .await
        .unwrap();
    (workspace, live, recovery)
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_rows_are_queryable_and_flushed_once() {
    let dir = tempfile::tempdir().unwrap();
    let (workspace, live, _) = open(dir.path()).await;
    live.append(&EVENT, batch("a", 10)).await.unwrap();
    live.append(&EVENT, batch("b", 5)).await.unwrap();
    assert_eq!(count(&workspace).await, 15, "memtable rows are queryable");

    let report = live.flush().await.unwrap();
    assert_eq!(report.rows, 15);
    assert_eq!(live.memtable().rows(), 0);
    assert_eq!(
        count(&workspace).await,
        15,
        "flushed rows are read from Delta only"
    );
    live.append(&EVENT, batch("c", 1)).await.unwrap();
    assert_eq!(count(&workspace).await, 16);
    live.close().await.unwrap();
    assert!(live.append(&EVENT, batch("d", 1)).await.is_err());

    let (workspace, live, recovery) = open(dir.path()).await;
    assert_eq!(recovery.rows, 0);
    assert_eq!(count(&workspace).await, 16);
    live.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_replays_the_log_without_duplicating_flushed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("wal");
    let (workspace, live, _) = open(dir.path()).await;
    live.append(&EVENT, batch("a", 10)).await.unwrap();
    live.append(&EVENT, batch("b", 10)).await.unwrap();
    assert_eq!(count(&workspace).await, 20);

    // Keep the segments the flush deletes, to put them back as if the
    // process had died between the Delta commit and the deletion.
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    live.flush().await.unwrap();
    live.append(&EVENT, batch("c", 7)).await.unwrap();
    // A crash: the store is never closed.
    std::mem::forget(live);
    for (path, bytes) in saved {
        std::fs::write(path, bytes).unwrap();
    }

    let (workspace, live, recovery) = open(dir.path()).await;
    assert_eq!(recovery.rows, 7, "only the unflushed batch is replayed");
    assert_eq!(recovery.skipped_records, 2, "flushed records are skipped");
    assert_eq!(count(&workspace).await, 27);
    live.close().await.unwrap();
    let (workspace, live, recovery) = open(dir.path()).await;
    assert_eq!(recovery.rows, 0);
    assert_eq!(count(&workspace).await, 27);
    live.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_tail_is_cut_and_the_records_before_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_, live, _) = open(dir.path()).await;
    live.append(&EVENT, batch("a", 3)).await.unwrap();
    live.append(&EVENT, batch("b", 4)).await.unwrap();
    std::mem::forget(live);

    let segment = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let whole = std::fs::metadata(&segment).unwrap().len();
    // Half of a third record, as a crash in the middle of a write leaves.
    let mut torn = Vec::new();
    store::live::wal::encode_record(&mut torn, 3, &EVENT, &batch("c", 5)).unwrap();
    torn.truncate(torn.len() / 2);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&torn);
    std::fs::write(&segment, &bytes).unwrap();

    let (workspace, live, recovery) = open(dir.path()).await;
    assert_eq!(recovery.torn_segments, 1);
    assert_eq!(recovery.rows, 7);
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        whole,
        "the torn tail is cut"
    );
    assert_eq!(count(&workspace).await, 7);
    live.close().await.unwrap();
}
