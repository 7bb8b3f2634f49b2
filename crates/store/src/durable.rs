//! Syncing written files to disk before they count as stored, so that a
//! power loss after a commit or an acknowledgement loses nothing.

use std::path::PathBuf;

use crate::error::StoreError;

/// Syncs data files and their folders to disk.
pub(crate) async fn sync_files(paths: Vec<PathBuf>) -> Result<(), StoreError> {
    tokio::task::spawn_blocking(move || {
        let mut folders = std::collections::BTreeSet::new();
        for path in &paths {
            std::fs::File::open(path)
                .and_then(|file| file.sync_all())
                .map_err(|source| StoreError::Io {
                    path: path.clone(),
                    source,
                })?;
            if let Some(folder) = path.parent() {
                folders.insert(folder.to_path_buf());
            }
        }
        folders
            .iter()
            .try_for_each(|folder| crate::live::wal::sync_folder(folder))
    })
    .await
    .map_err(|join| StoreError::Io {
        path: PathBuf::new(),
        source: std::io::Error::other(join.to_string()),
    })?
}

/// Syncs the newest commit file of a Delta log and the log folder.
pub(crate) async fn sync_delta_log(folder: PathBuf) -> Result<(), StoreError> {
    let newest = std::fs::read_dir(&folder)
        .map_err(|source| StoreError::Io {
            path: folder.clone(),
            source,
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .max();
    let mut paths: Vec<PathBuf> = newest.into_iter().collect();
    paths.push(folder);
    sync_files(paths).await
}
