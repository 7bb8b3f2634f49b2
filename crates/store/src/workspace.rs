//! A workspace folder and the Delta tables in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use deltalake::DeltaTable;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use tracing::info;
use url::Url;

use crate::error::StoreError;
use crate::files::TableFiles;
use crate::live::{LIVE_APP_ID, Memtable};
use crate::schema::{DATE_COLUMN, TableDef, storage_schema};
use crate::tables::ALL_TABLES;

/// The Delta application id under which an import is recorded. Delta's
/// `txn` action makes the import idempotent: a table whose log contains this
/// id has the file's rows already. The action's version is the import's
/// table mask (see [`table_bit`]): the tables the import writes. An import
/// committed to some of its tables only (after a crash between the commits)
/// is then distinguished from a complete one.
fn import_app_id(import_id: &str) -> String {
    format!("homesoc-import-{import_id}")
}

/// Returns the bit of a table in an import's table mask: its position in
/// [`ALL_TABLES`], which only grows at the end.
fn table_bit(name: &str) -> u64 {
    ALL_TABLES
        .iter()
        .position(|t| t.name == name)
        .map_or(0, |index| 1 << index)
}

/// Returns the tables of a table mask, in [`ALL_TABLES`] order.
fn tables_of_mask(mask: u64) -> Vec<&'static TableDef> {
    ALL_TABLES
        .iter()
        .enumerate()
        .filter(|(index, _)| mask & (1 << index) != 0)
        .map(|(_, table)| *table)
        .collect()
}

/// How much of one import a workspace contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportState {
    /// No table contains the import.
    New,
    /// Every table the import wrote contains it.
    Complete,
    /// Some tables contain the import and others it wrote do not, because
    /// the import stopped between its per-table commits.
    Partial {
        /// Tables still missing the import's rows.
        missing: Vec<&'static TableDef>,
        /// The table mask that the committed tables recorded.
        mask: u64,
    },
}

/// The workspace's folder for an import's temporary files. Only an import
/// holding the write lock uses it, so taking the lock clears it.
const TMP_FOLDER: &str = "tmp";

/// An opened workspace folder.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    /// Tables opened before, brought up to date on each open. Loading a
    /// Delta log from scratch costs time in proportion to its files, so an
    /// import of many files reopens each table incrementally instead.
    opened: std::sync::Arc<tokio::sync::Mutex<BTreeMap<String, DeltaTable>>>,
    /// Rows of live ingestion not yet in Delta, once `homesoc up` attached
    /// its memtable; catalogs read them beside the Delta tables.
    memtable: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<Memtable>>>,
}

/// Row count and time range of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableInfo {
    pub name: String,
    pub rows: u64,
    pub version: u64,
    pub files: usize,
}

impl Workspace {
    /// Opens the workspace at `root`, creating the folder if it is missing.
    pub fn open(root: impl AsRef<Path>) -> Result<Workspace, StoreError> {
        let root = root.as_ref();
        std::fs::create_dir_all(root.join("tables")).map_err(|source| StoreError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let root = root.canonicalize().map_err(|source| StoreError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(Workspace {
            root,
            opened: Default::default(),
            memtable: Default::default(),
        })
    }

    /// Opens the workspace at `root` for reading without creating anything.
    /// A missing folder is an empty workspace: every table exists and has no
    /// rows. Use [`Workspace::exists`] to tell the user.
    pub fn open_for_reading(root: impl AsRef<Path>) -> Result<Workspace, StoreError> {
        let root = root.as_ref();
        if root.exists() && !root.is_dir() {
            return Err(StoreError::Io {
                path: root.to_path_buf(),
                source: std::io::Error::other("the workspace path is a file; give a folder"),
            });
        }
        let root = if root.exists() {
            root.canonicalize().map_err(|source| StoreError::Io {
                path: root.to_path_buf(),
                source,
            })?
        } else {
            std::path::absolute(root).map_err(|source| StoreError::Io {
                path: root.to_path_buf(),
                source,
            })?
        };
        Ok(Workspace {
            root,
            opened: Default::default(),
            memtable: Default::default(),
        })
    }

    /// Returns true when the workspace folder exists.
    pub fn exists(&self) -> bool {
        self.root.join("tables").is_dir()
    }

    /// Takes the workspace's write lock, so that two imports never write at
    /// once: each checks for already imported files before it writes, and
    /// two concurrent imports of one file would both pass that check.
    /// The lock is released when the returned guard is dropped or the
    /// process exits.
    pub fn lock_for_writing(&self) -> Result<WriteLock, StoreError> {
        let path = self.root.join("write.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {
                // Left behind by an import that did not finish.
                let tmp = self.root.join(TMP_FOLDER);
                if tmp.exists() {
                    std::fs::remove_dir_all(&tmp).map_err(|source| StoreError::Io {
                        path: tmp.clone(),
                        source,
                    })?;
                }
                Ok(WriteLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked { path }),
            Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io { path, source }),
        }
    }

    /// Makes `memtable`'s rows part of every catalog loaded from this
    /// workspace (and its clones). Only the first call has an effect.
    pub fn attach_memtable(&self, memtable: std::sync::Arc<Memtable>) {
        let _ = self.memtable.set(memtable);
    }

    /// The attached memtable, if live ingestion runs in this process.
    pub fn memtable(&self) -> Option<&std::sync::Arc<Memtable>> {
        self.memtable.get()
    }

    /// Returns the last WAL sequence number that `table` holds, or 0.
    pub(crate) async fn live_flushed_seq(&self, table: &TableDef) -> Result<u64, StoreError> {
        let Some(delta) = self.open_table(table.name).await? else {
            return Ok(0);
        };
        let state = delta
            .snapshot()
            .map_err(|source| StoreError::delta(table.name, source))?;
        let version = state
            .transaction_version(delta.log_store().as_ref(), LIVE_APP_ID)
            .await
            .map_err(|source| StoreError::delta(table.name, source))?;
        Ok(version.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
    }

    /// Commits flushed live rows to `table` in one Delta commit that
    /// records `last_seq` under [`LIVE_APP_ID`]. Deletes the files when the
    /// commit fails.
    pub(crate) async fn commit_live(
        &self,
        table: &'static TableDef,
        adds: Vec<Add>,
        last_seq: u64,
    ) -> Result<(), StoreError> {
        if adds.is_empty() {
            return Ok(());
        }
        let commit = TableCommit {
            table,
            adds,
            transactions: vec![Transaction::new(
                LIVE_APP_ID,
                i64::try_from(last_seq).unwrap_or(i64::MAX),
            )],
            sources: vec![serde_json::json!({ "walSeq": last_seq })],
        };
        let committed = self.commit_table(&commit).await;
        if committed.is_err() {
            remove_files(&self.table_path(table.name), &commit.adds);
        }
        committed
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns the folder of a table's Delta table.
    pub fn table_path(&self, table: &str) -> PathBuf {
        self.root.join("tables").join(table)
    }

    fn table_url(&self, table: &str) -> Result<Url, StoreError> {
        let path = self.table_path(table);
        Url::from_directory_path(&path).map_err(|()| StoreError::InvalidPath { path })
    }

    /// Opens a table's Delta table, or returns `None` when nothing has been
    /// written to it yet.
    pub async fn open_table(&self, table: &str) -> Result<Option<DeltaTable>, StoreError> {
        let log = self.table_path(table).join("_delta_log");
        if !log.is_dir() {
            return Ok(None);
        }
        let mut opened = self.opened.lock().await;
        if let Some(delta) = opened.get_mut(table) {
            delta
                .update_incremental(None)
                .await
                .map_err(|source| StoreError::delta(table, source))?;
            return Ok(Some(delta.clone()));
        }
        let url = self.table_url(table)?;
        let delta = deltalake::open_table(url)
            .await
            .map_err(|source| StoreError::delta(table, source))?;
        opened.insert(table.to_string(), delta.clone());
        Ok(Some(delta))
    }

    /// Opens a table, creating an empty Delta table with the table's storage
    /// schema and date partitioning if it does not exist.
    pub async fn ensure_table(&self, table: &TableDef) -> Result<DeltaTable, StoreError> {
        if let Some(delta) = self.open_table(table.name).await? {
            return Ok(delta);
        }
        let path = self.table_path(table.name);
        std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let schema: StructType = storage_schema(table)
            .try_into_kernel()
            .map_err(|source| StoreError::delta(table.name, source.into()))?;
        let url = self.table_url(table.name)?;
        // `build` does not read the (still missing) log, unlike
        // `DeltaTable::try_from_url`, which logs an error for it.
        let delta = deltalake::DeltaTableBuilder::from_url(url)
            .and_then(|builder| builder.build())
            .map_err(|source| StoreError::delta(table.name, source))?
            .create()
            .with_table_name(table.name)
            .with_columns(schema.fields().cloned())
            .with_partition_columns([DATE_COLUMN])
            .with_save_mode(SaveMode::Ignore)
            .await
            .map_err(|source| StoreError::delta(table.name, source))?;
        info!(table = table.name, "created table");
        Ok(delta)
    }

    /// Returns how much of `import_id` the workspace contains.
    pub async fn import_state(&self, import_id: &str) -> Result<ImportState, StoreError> {
        let app_id = import_app_id(import_id);
        let mut present = 0u64;
        let mut expected = 0u64;
        for table in ALL_TABLES {
            let Some(delta) = self.open_table(table.name).await? else {
                continue;
            };
            let state = delta
                .snapshot()
                .map_err(|source| StoreError::delta(table.name, source))?;
            let version = state
                .transaction_version(delta.log_store().as_ref(), &app_id)
                .await
                .map_err(|source| StoreError::delta(table.name, source))?;
            if let Some(mask) = version {
                present |= table_bit(table.name);
                // Imports made before table masks recorded version 1.
                expected |= u64::try_from(mask).unwrap_or(0);
            }
        }
        let missing = expected & !present;
        Ok(if present == 0 {
            ImportState::New
        } else if missing == 0 {
            ImportState::Complete
        } else {
            ImportState::Partial {
                missing: tables_of_mask(missing),
                mask: expected,
            }
        })
    }

    /// Lists the tables that exist, with their row counts from the Delta log.
    pub async fn tables(&self) -> Result<Vec<TableInfo>, StoreError> {
        let mut infos = Vec::new();
        for table in ALL_TABLES {
            let Some(delta) = self.open_table(table.name).await? else {
                continue;
            };
            let state = delta
                .snapshot()
                .map_err(|source| StoreError::delta(table.name, source))?;
            let mut rows = 0u64;
            let mut files = 0usize;
            for add in state.log_data().iter() {
                files += 1;
                rows += add.num_records().unwrap_or(0) as u64;
            }
            infos.push(TableInfo {
                name: table.name.to_string(),
                rows,
                version: delta.version().unwrap_or(0),
                files,
            });
        }
        Ok(infos)
    }

    /// Starts an import whose rows become visible together at
    /// [`Import::commit`], or never if the import is dropped.
    pub fn begin_import(&self, import_id: &str, source: &str) -> Import {
        Import {
            workspace: self.clone(),
            import_id: import_id.to_string(),
            source: source.to_string(),
            spool_folder: self
                .root
                .join(TMP_FOLDER)
                .join(format!("import-{}", uuid::Uuid::new_v4())),
            files: BTreeMap::new(),
            finished: Vec::new(),
            resumed: None,
        }
    }
}

/// The workspace's write lock; see [`Workspace::lock_for_writing`].
#[derive(Debug)]
pub struct WriteLock {
    _file: std::fs::File,
}

/// Rows of one source (an EVTX file) on their way into the workspace.
///
/// Batches are encoded into Parquet files as they come, on the thread that
/// calls [`write`], so memory stays bounded. No file is referenced from a
/// Delta log until [`commit`], so until then readers see none of the rows.
/// Dropping an import without committing deletes the files it wrote.
///
/// [`write`]: Import::write
/// [`commit`]: Import::commit
pub struct Import {
    workspace: Workspace,
    import_id: String,
    source: String,
    /// Folder for the spool of rows that arrive out of day order.
    spool_folder: PathBuf,
    files: BTreeMap<&'static str, (&'static TableDef, TableFiles)>,
    /// Tables whose files are closed, with their `add` actions, in name
    /// order, until committed.
    finished: Vec<(&'static TableDef, Vec<Add>)>,
    /// The tables to write and the table mask to record, when set by
    /// [`Import::resume`].
    resumed: Option<(u64, u64)>,
}

impl Import {
    /// Adds a batch in the table's storage schema. Blocks while the batch is
    /// encoded and written, so call it off the async runtime's threads.
    pub fn write(
        &mut self,
        table: &'static TableDef,
        batch: RecordBatch,
    ) -> Result<(), StoreError> {
        if let Some((tables, _)) = self.resumed
            && tables & table_bit(table.name) == 0
        {
            return Ok(());
        }
        let folder = self.workspace.table_path(table.name);
        let spool = self.spool_folder.join(table.name);
        let (_, files) = self
            .files
            .entry(table.name)
            .or_insert_with(|| (table, TableFiles::new(table, folder, spool)));
        files.write(batch)
    }

    /// Limits this import to the tables that a [partial](ImportState::Partial)
    /// import still misses. Rows for other tables are dropped, since those
    /// tables have them already, and the commits record `mask` again.
    pub fn resume(&mut self, missing: &[&'static TableDef], mask: u64) {
        let tables = missing.iter().fold(0, |bits, t| bits | table_bit(t.name));
        self.resumed = Some((tables, mask));
    }

    /// Closes every table's files, encoding what was spooled. Blocks like
    /// [`write`](Import::write); [`commit`](Import::commit) calls it if it
    /// was not called before.
    pub fn finish_files(&mut self) -> Result<(), StoreError> {
        while let Some((name, (table, mut files))) = self.files.pop_first() {
            match files.finish() {
                Ok(adds) if adds.is_empty() => {}
                Ok(adds) => self.finished.push((table, adds)),
                Err(err) => {
                    files.discard();
                    return Err(err);
                }
            }
            tracing::debug!(table = name, "closed import files");
        }
        Ok(())
    }

    /// Commits every table's files, one Delta commit per table, each
    /// carrying the import id as a Delta application transaction. Returns
    /// the tables written, in name order. See [`Workspace::commit_imports`]
    /// to commit several imports together.
    ///
    /// A file whose records go to two tables gets two commits. Until the
    /// second, catalogs leave out the import's rows (see
    /// [`crate::pending`]), and a crash between them leaves a
    /// [partial](ImportState::Partial) import whose rows stay hidden until
    /// a rerun completes it through [`Import::resume`].
    ///
    /// NOTE: a reader that opens its table snapshot while the commits run
    /// can still see the first table's rows without the second's, when the
    /// marker is deleted between its reads of the two tables and its
    /// second read of the markers.
    pub async fn commit(self) -> Result<Vec<String>, StoreError> {
        let workspace = self.workspace.clone();
        workspace.commit_imports(vec![self]).await
    }

    /// Returns the table mask that this import's commits record.
    fn mask(&self) -> u64 {
        match self.resumed {
            Some((_, mask)) => mask,
            None => self
                .finished
                .iter()
                .fold(0, |bits, (table, _)| bits | table_bit(table.name)),
        }
    }
}

/// The files, transactions and sources of one table's commit.
struct TableCommit {
    table: &'static TableDef,
    adds: Vec<Add>,
    transactions: Vec<Transaction>,
    sources: Vec<serde_json::Value>,
}

impl Workspace {
    /// Commits several imports together, one Delta commit per table with
    /// every import's files and one application transaction per import.
    /// Each import stays all or nothing per table, and a folder of many
    /// small files costs a few commits instead of one or two per file.
    /// Returns the tables written, in name order.
    ///
    /// When a commit fails, the imports' files for that table and the
    /// tables after it are deleted. Tables committed before it keep theirs,
    /// so the imports are then [partial](ImportState::Partial).
    pub async fn commit_imports(
        &self,
        mut imports: Vec<Import>,
    ) -> Result<Vec<String>, StoreError> {
        for import in &mut imports {
            import.finish_files()?;
        }
        let mut commits: BTreeMap<&'static str, TableCommit> = BTreeMap::new();
        for import in &imports {
            let mask = i64::try_from(import.mask()).unwrap_or(i64::MAX);
            for (table, adds) in &import.finished {
                let commit = commits.entry(table.name).or_insert_with(|| TableCommit {
                    table,
                    adds: Vec::new(),
                    transactions: Vec::new(),
                    sources: Vec::new(),
                });
                commit.adds.extend(adds.iter().cloned());
                commit
                    .transactions
                    .push(Transaction::new(import_app_id(&import.import_id), mask));
                commit.sources.push(serde_json::json!({
                    "importId": import.import_id,
                    "source": import.source,
                }));
            }
        }
        // Imports with rows for several tables stay hidden from catalogs
        // until every table has them (see `crate::pending`).
        let mut fresh = Vec::new();
        let mut resumed = Vec::new();
        for import in imports
            .iter()
            .filter(|import| import.mask().count_ones() > 1)
        {
            let id = import.import_id.clone();
            if import.resumed.is_some() {
                resumed.push(id);
            } else {
                fresh.push(id);
            }
        }
        let marked: Vec<&str> = fresh.iter().chain(&resumed).map(String::as_str).collect();
        crate::pending::mark(&self.root, &marked)?;

        let mut committed = Vec::new();
        for (name, commit) in commits {
            self.commit_table(&commit).await?;
            // The files are referenced now: the imports must not delete them.
            for import in &mut imports {
                import.finished.retain(|(table, _)| table.name != name);
            }
            committed.push(name.to_string());
        }

        // A fresh import has every table now; a resumed one only if the
        // tables it wrote were the last ones missing.
        let mut complete = fresh;
        for id in resumed {
            if self.import_state(&id).await? == ImportState::Complete {
                complete.push(id);
            }
        }
        let complete: Vec<&str> = complete.iter().map(String::as_str).collect();
        crate::pending::clear(&self.root, &complete)?;
        Ok(committed)
    }

    async fn commit_table(&self, commit: &TableCommit) -> Result<(), StoreError> {
        let name = commit.table.name;
        let delta = self.ensure_table(commit.table).await?;
        // The data files reach the disk before the commit that references
        // them, and the commit before the import reports success, so a
        // power loss after an import loses nothing and breaks no table.
        let table_folder = self.table_path(name);
        let data_files: Vec<PathBuf> = commit
            .adds
            .iter()
            .map(|add| table_folder.join(&add.path))
            .collect();
        crate::durable::sync_files(data_files).await?;
        let actions: Vec<Action> = commit.adds.iter().cloned().map(Action::Add).collect();
        let properties = CommitProperties::default()
            .with_application_transactions(commit.transactions.clone())
            .with_metadata([(
                "homesoc.imports".to_string(),
                serde_json::json!(commit.sources),
            )]);
        let snapshot = delta
            .snapshot()
            .map_err(|source| StoreError::delta(name, source))?;
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(vec![DATE_COLUMN.to_string()]),
            predicate: None,
        };
        CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), delta.log_store(), operation)
            .await
            .map_err(|source| StoreError::delta(name, source))?;
        crate::durable::sync_delta_log(table_folder.join("_delta_log")).await?;
        info!(
            table = name,
            files = commit.adds.len(),
            imports = commit.transactions.len(),
            "committed imports"
        );
        Ok(())
    }
}

impl Drop for Import {
    /// Deletes the files of tables not committed, and the spool folder.
    fn drop(&mut self) {
        while let Some((_, (_, files))) = self.files.pop_first() {
            files.discard();
        }
        for (table, adds) in std::mem::take(&mut self.finished) {
            remove_files(&self.workspace.table_path(table.name), &adds);
        }
        if self.spool_folder.exists()
            && let Err(err) = std::fs::remove_dir_all(&self.spool_folder)
        {
            tracing::warn!(path = %self.spool_folder.display(), error = %err, "cannot remove the import's spool folder");
        }
    }
}

/// Deletes data files that were written but not committed.
fn remove_files(folder: &Path, adds: &[Add]) {
    for add in adds {
        let path = folder.join(&add.path);
        if let Err(err) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove an uncommitted data file");
        }
    }
}
