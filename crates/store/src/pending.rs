//! Imports whose rows go to several tables and are not committed to all of
//! them yet.
//!
//! Delta Lake commits one table at a time, so an import with rows for two
//! tables takes two commits. Before the first, [`Workspace::commit_imports`]
//! writes a marker file named after the import id into
//! `imports/pending/`, and it deletes the marker once every table has the
//! import. Catalogs leave out the rows of marked imports, so a crash
//! between the commits hides the rows of the tables already committed
//! until a rerun of the import completes it.
//!
//! [`Workspace::commit_imports`]: crate::Workspace::commit_imports

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The folder of the markers, under the workspace folder.
pub const PENDING_FOLDER: &str = "imports/pending";

fn folder(root: &Path) -> PathBuf {
    root.join(PENDING_FOLDER)
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a marker for each import id and syncs the folder, so that the
/// markers are on disk before the first commit.
pub(crate) fn mark(root: &Path, import_ids: &[&str]) -> Result<(), StoreError> {
    if import_ids.is_empty() {
        return Ok(());
    }
    let folder = folder(root);
    std::fs::create_dir_all(&folder).map_err(|source| io_error(&folder, source))?;
    for id in import_ids {
        let path = folder.join(id);
        std::fs::File::create(&path).map_err(|source| io_error(&path, source))?;
    }
    sync(&folder)
}

/// Deletes the markers of import ids that every table has now.
pub(crate) fn clear(root: &Path, import_ids: &[&str]) -> Result<(), StoreError> {
    if import_ids.is_empty() {
        return Ok(());
    }
    let folder = folder(root);
    for id in import_ids {
        let path = folder.join(id);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_error(&path, err)),
        }
    }
    sync(&folder)
}

/// Returns the ids of the imports that are marked as not committed to all
/// of their tables.
pub fn pending_imports(root: &Path) -> Result<BTreeSet<String>, StoreError> {
    let folder = folder(root);
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(err) => return Err(io_error(&folder, err)),
    };
    let mut ids = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(|source| io_error(&folder, source))?;
        if let Some(name) = entry.file_name().to_str() {
            ids.insert(name.to_string());
        }
    }
    Ok(ids)
}

fn sync(folder: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    std::fs::File::open(folder)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| io_error(folder, source))?;
    #[cfg(not(unix))]
    let _ = folder;
    Ok(())
}
