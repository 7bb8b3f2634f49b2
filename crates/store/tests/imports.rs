//! Imports into a workspace on disk: commits, table masks and resuming an
//! import that stopped between its per-table commits.

use arrow::record_batch::RecordBatch;
use store::builder::TableBatchBuilder;
use store::tables::{EVENT, SECURITY_EVENT};
use store::{ImportState, TableDef, Workspace};

/// 2024-01-01T12:00:00Z in ticks since the Unix epoch.
const NOON: i64 = 17_041_104_000_000_000;

/// Builds `rows` rows of `table` of the import `import_id`, with only the
/// time set.
fn rows(import_id: &str, table: &'static TableDef, rows: usize) -> RecordBatch {
    let mut builder = TableBatchBuilder::new(table, import_id, 0, rows);
    for row in 0..rows {
        builder.set_time_generated(NOON + row as i64);
        builder.finish_row().unwrap();
    }
    builder.finish()
}

/// Returns the row counts of SecurityEvent and Event that queries see.
async fn query_counts(workspace: &Workspace) -> (u64, u64) {
    let engine = engine::Engine::new();
    let catalog = store::catalog::load(workspace, &engine, None)
        .await
        .unwrap();
    let mut counts = Vec::new();
    for table in ["SecurityEvent", "Event"] {
        let result = engine
            .run(
                &format!("{table} | count"),
                &catalog,
                &engine::QueryOptions::default(),
            )
            .await
            .unwrap();
        let batch = &result.batches[0];
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        counts.push(column.value(0) as u64);
    }
    (counts[0], counts[1])
}

async fn row_counts(workspace: &Workspace) -> Vec<(String, u64)> {
    let tables = workspace.tables().await.unwrap();
    tables.into_iter().map(|t| (t.name, t.rows)).collect()
}

#[tokio::test]
async fn import_state_tracks_tables() {
    let dir = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(dir.path()).unwrap();
    assert_eq!(workspace.import_state("a").await.unwrap(), ImportState::New);

    let mut import = workspace.begin_import("a", "test");
    import
        .write(&SECURITY_EVENT, rows("a", &SECURITY_EVENT, 3))
        .unwrap();
    import.write(&EVENT, rows("a", &EVENT, 2)).unwrap();
    let committed = import.commit().await.unwrap();
    assert_eq!(committed, vec!["Event", "SecurityEvent"]);
    assert_eq!(
        workspace.import_state("a").await.unwrap(),
        ImportState::Complete
    );
    assert_eq!(
        row_counts(&workspace).await,
        vec![("SecurityEvent".to_string(), 3), ("Event".to_string(), 2)]
    );
    assert_eq!(query_counts(&workspace).await, (3, 2));
}

#[tokio::test]
async fn resume_completes_partial_import() {
    let dir = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(dir.path()).unwrap();
    // Table mask of SecurityEvent and Event, the first two tables.
    let both = 0b11;

    // An import that committed SecurityEvent and stopped before Event.
    let mut first = workspace.begin_import("b", "test");
    first.resume(&[&SECURITY_EVENT], both);
    first
        .write(&SECURITY_EVENT, rows("b", &SECURITY_EVENT, 3))
        .unwrap();
    first.write(&EVENT, rows("b", &EVENT, 2)).unwrap();
    first.commit().await.unwrap();
    let state = workspace.import_state("b").await.unwrap();
    assert_eq!(
        state,
        ImportState::Partial {
            missing: vec![&EVENT],
            mask: both
        }
    );

    // Until the rerun, queries see none of the import's rows.
    assert_eq!(query_counts(&workspace).await, (0, 0));

    // The rerun writes Event only.
    let mut second = workspace.begin_import("b", "test");
    second.resume(&[&EVENT], both);
    second
        .write(&SECURITY_EVENT, rows("b", &SECURITY_EVENT, 3))
        .unwrap();
    second.write(&EVENT, rows("b", &EVENT, 2)).unwrap();
    assert_eq!(second.commit().await.unwrap(), vec!["Event"]);
    assert_eq!(
        workspace.import_state("b").await.unwrap(),
        ImportState::Complete
    );
    assert_eq!(
        row_counts(&workspace).await,
        vec![("SecurityEvent".to_string(), 3), ("Event".to_string(), 2)]
    );
    assert_eq!(query_counts(&workspace).await, (3, 2));
    assert!(
        store::pending::pending_imports(workspace.root())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn dropped_import_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(dir.path()).unwrap();
    let mut import = workspace.begin_import("c", "test");
    import.write(&EVENT, rows("c", &EVENT, 5)).unwrap();
    import.finish_files().unwrap();
    drop(import);

    let mut left = Vec::new();
    let mut folders = vec![dir.path().to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                left.push(path);
            }
        }
    }
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(workspace.import_state("c").await.unwrap(), ImportState::New);
}
