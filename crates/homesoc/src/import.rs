//! `homesoc import evtx PATH...`.
//!
//! Each file is read on a blocking thread (the evtx parser uses its own
//! worker threads) and its batches flow through a bounded channel into a
//! store import, so memory stays bounded whatever the file size. A file's
//! rows are committed together after the whole file was read, and a file
//! that fails is not committed at all. Files are committed in groups (see
//! [`GROUP_FILES`]), each file still all or nothing, so that a folder of
//! many small files costs a few Delta commits.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use ingest::evtx::{EvtxFileStats, EvtxReader, TableBatch};
use serde_json::json;
use store::{Import, ImportState, Workspace};

/// Failures listed per file in the summary; all are counted.
const MAX_REPORTED_FAILURES: usize = 20;

/// Files read before their rows are committed together. Each commit
/// costs a Delta log entry per table and makes later commits slower, so a
/// folder of many small files is committed in groups.
const GROUP_FILES: usize = 64;

/// Rows read before they are committed, whatever the number of files, so
/// that rows become visible while a large import goes on.
const GROUP_ROWS: u64 = 1_000_000;

#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// Import Windows event log files (.evtx); folders are searched
    /// recursively for *.evtx files.
    Evtx {
        /// Files or folders to import.
        #[arg(required = true)]
        paths: Vec<PathBuf>,

        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The outcome of importing one file.
#[derive(Debug)]
enum FileOutcome {
    Imported {
        records: u64,
        failed: u64,
        rows: BTreeMap<String, u64>,
        /// The first failures with their chunk, record number and reason.
        failures: Vec<serde_json::Value>,
    },
    Skipped,
    Failed(String),
}

pub async fn run(data_dir: &Path, source: ImportSource) -> anyhow::Result<ExitCode> {
    let ImportSource::Evtx {
        paths,
        json: json_output,
    } = source;
    let (summary, any_failed) = import_evtx(data_dir, &paths, !json_output).await?;
    if json_output {
        crate::query::write_stdout(&format!("{summary}\n"))?;
    } else {
        crate::query::write_stdout(&summary_text(&summary))?;
    }
    Ok(if any_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Imports the EVTX files of `paths` into the workspace at `data_dir` and
/// returns the import summary (the JSON `import evtx --json` prints) and
/// whether any file failed. `show_progress` draws a progress bar on a
/// terminal and reports failed files on standard error.
pub async fn import_evtx(
    data_dir: &Path,
    paths: &[PathBuf],
    show_progress: bool,
) -> anyhow::Result<(serde_json::Value, bool)> {
    let json_output = !show_progress;
    let files = collect_files(paths)?;
    let total_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let workspace = Workspace::open(data_dir)?;
    let _lock = workspace.lock_for_writing()?;

    let progress = if std::io::stderr().is_terminal() && !json_output {
        let bar = ProgressBar::new(total_bytes);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let started = Instant::now();
    let mut outcomes: Vec<Option<FileOutcome>> = files.iter().map(|_| None).collect();
    let mut group = Group::default();
    let mut records_total = 0u64;
    for (index, file) in files.iter().enumerate() {
        progress.set_message(format!(
            "file {}/{} {} records",
            index + 1,
            files.len(),
            records_total
        ));
        match read_file(&workspace, file, &group).await {
            Ok(Read::Done(outcome)) => outcomes[index] = Some(outcome),
            Ok(Read::Ready(ready)) => {
                records_total += ready.stats.records_read;
                group.rows += ready.stats.records_read;
                group.files.push((index, *ready));
            }
            Err(err) => outcomes[index] = Some(FileOutcome::Failed(format!("{err:#}"))),
        }
        progress.inc(std::fs::metadata(file).map(|m| m.len()).unwrap_or(0));
        let last = index + 1 == files.len();
        if last || group.files.len() >= GROUP_FILES || group.rows >= GROUP_ROWS {
            let group = std::mem::take(&mut group);
            for (index, outcome) in commit_group(&workspace, group).await {
                outcomes[index] = Some(outcome);
            }
        }
    }
    let outcomes: Vec<(PathBuf, FileOutcome)> = files
        .iter()
        .cloned()
        .zip(outcomes)
        .map(|(file, outcome)| {
            let outcome = outcome
                .unwrap_or_else(|| FileOutcome::Failed("the file was not committed".to_string()));
            (file, outcome)
        })
        .collect();
    for (file, outcome) in &outcomes {
        match outcome {
            FileOutcome::Imported {
                records, failed, ..
            } => {
                tracing::info!(file = %file.display(), records, failed, "imported file");
            }
            FileOutcome::Skipped => {
                // The summary counts skipped files; each is named at info level.
                tracing::info!(file = %file.display(), "skipped file: already imported (same content)");
            }
            FileOutcome::Failed(reason) => {
                let message = format!("failed {}: {reason}", file.display());
                if progress.is_hidden() && !json_output {
                    eprintln!("{message}");
                } else {
                    progress.println(message);
                }
            }
        }
    }
    progress.finish_and_clear();

    let seconds = started.elapsed().as_secs_f64();
    let summary = summarize(&outcomes, total_bytes, seconds);
    let any_failed = outcomes
        .iter()
        .any(|(_, o)| matches!(o, FileOutcome::Failed(_)));
    Ok((summary, any_failed))
}

/// Expands folders into the *.evtx files below them, sorted by path. A file
/// named explicitly is taken whatever its extension.
fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let metadata =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if metadata.is_file() {
            files.push(path.clone());
            continue;
        }
        let before = files.len();
        walk(path, &mut files)?;
        if files.len() == before {
            bail!("no .evtx files found in {}", path.display());
        }
    }
    Ok(files)
}

fn walk(folder: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot list {}", folder.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, files)?;
        } else if entry
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("evtx"))
        {
            files.push(entry);
        }
    }
    Ok(())
}

/// Files read and written but not committed yet.
#[derive(Default)]
struct Group {
    files: Vec<(usize, ReadyFile)>,
    rows: u64,
}

impl Group {
    fn contains(&self, import_id: &str) -> bool {
        self.files.iter().any(|(_, f)| f.import_id == import_id)
    }
}

/// A file whose rows are written and wait for their commit.
struct ReadyFile {
    import_id: String,
    import: Import,
    stats: EvtxFileStats,
    /// The tables this import writes, when it completes a partial import.
    resumed: Option<Vec<&'static str>>,
}

/// The result of reading one file.
enum Read {
    Done(FileOutcome),
    Ready(Box<ReadyFile>),
}

/// Hashes a file, checks whether the workspace has it, and reads and
/// writes its rows unless it has.
async fn read_file(workspace: &Workspace, file: &Path, group: &Group) -> anyhow::Result<Read> {
    let path = file.to_path_buf();
    let import_id = tokio::task::spawn_blocking(move || ingest::sha256_file(&path))
        .await?
        .with_context(|| format!("cannot read {}", file.display()))?;
    if group.contains(&import_id) {
        // The same content under another name earlier in this import.
        return Ok(Read::Done(FileOutcome::Skipped));
    }
    let mut import = workspace.begin_import(&import_id, &file.display().to_string());
    let mut resumed = None;
    match workspace.import_state(&import_id).await? {
        ImportState::New => {}
        ImportState::Complete => return Ok(Read::Done(FileOutcome::Skipped)),
        ImportState::Partial { missing, mask } => {
            let names: Vec<&'static str> = missing.iter().map(|t| t.name).collect();
            tracing::warn!(
                file = %file.display(),
                tables = ?names,
                "an earlier import of this file stopped between its commits; importing the rows of the missing tables"
            );
            import.resume(&missing, mask);
            resumed = Some(names);
        }
    }

    let ingest_ticks = engine::time::ticks_from_datetime(chrono::Utc::now());
    let reader = EvtxReader::new(&import_id, ingest_ticks);
    let path = file.to_path_buf();
    let (written, read_result) =
        tokio::task::spawn_blocking(move || read_and_write(&reader, &path, import)).await?;
    // A write error stops the reader too; it is the cause to report.
    let import = written?;
    let stats = read_result?;
    Ok(Read::Ready(Box::new(ReadyFile {
        import_id,
        import,
        stats,
        resumed,
    })))
}

/// Commits a group's files together and returns each file's outcome: all
/// imported, or all failed with the commit's error.
async fn commit_group(workspace: &Workspace, group: Group) -> Vec<(usize, FileOutcome)> {
    if group.files.is_empty() {
        return Vec::new();
    }
    let mut imports = Vec::with_capacity(group.files.len());
    let mut files = Vec::with_capacity(group.files.len());
    for (index, ready) in group.files {
        imports.push(ready.import);
        files.push((index, ready.stats, ready.resumed));
    }
    match workspace.commit_imports(imports).await {
        Ok(_) => files
            .into_iter()
            .map(|(index, stats, resumed)| (index, imported(&stats, resumed.as_deref())))
            .collect(),
        Err(err) => {
            let reason = format!("{:#}", anyhow::Error::from(err));
            files
                .into_iter()
                .map(|(index, _, _)| (index, FileOutcome::Failed(reason.clone())))
                .collect()
        }
    }
}

/// Describes an imported file. A resumed import counts the rows of the
/// tables it wrote only.
fn imported(stats: &EvtxFileStats, resumed: Option<&[&str]>) -> FileOutcome {
    FileOutcome::Imported {
        records: stats.records_read,
        failed: stats.records_failed,
        rows: stats
            .rows_per_table
            .iter()
            .filter(|(table, _)| resumed.is_none_or(|names| names.contains(table)))
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        failures: stats
            .failures
            .iter()
            .take(MAX_REPORTED_FAILURES)
            .map(|f| json!({"chunk": f.chunk, "record": f.record_id, "reason": f.reason}))
            .collect(),
    }
}

/// Reads an EVTX file on this thread and encodes its rows on a second one,
/// joined by a bounded channel, so that parsing and Parquet encoding each
/// keep a core busy and memory stays bounded. Returns the import, ready to
/// commit, and the reader's outcome.
fn read_and_write(
    reader: &EvtxReader,
    path: &Path,
    mut import: Import,
) -> (
    Result<Import, store::StoreError>,
    Result<EvtxFileStats, ingest::evtx::EvtxError>,
) {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<TableBatch>(4);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            for batch in receiver {
                import.write(batch.table, batch.batch)?;
            }
            import.finish_files()?;
            Ok(import)
        });
        let read_result = reader.read(path, |batch| {
            sender
                .send(batch)
                .map_err(|_| std::io::Error::other("the store stopped accepting rows"))
        });
        drop(sender);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (written, read_result)
    })
}

fn summarize(
    outcomes: &[(PathBuf, FileOutcome)],
    total_bytes: u64,
    seconds: f64,
) -> serde_json::Value {
    let mut rows_per_table: BTreeMap<String, u64> = BTreeMap::new();
    let mut records = 0u64;
    let mut records_failed = 0u64;
    let mut files = Vec::new();
    let (mut imported, mut skipped, mut failed) = (0, 0, 0);
    for (path, outcome) in outcomes {
        let path = path.display().to_string();
        match outcome {
            FileOutcome::Imported {
                records: r,
                failed: f,
                rows,
                failures,
            } => {
                imported += 1;
                records += r;
                records_failed += f;
                for (table, count) in rows {
                    *rows_per_table.entry(table.clone()).or_default() += count;
                }
                files.push(json!({
                    "file": path,
                    "status": "imported",
                    "records": r,
                    "records_failed": f,
                    "rows": rows,
                    "failures": failures,
                }));
            }
            FileOutcome::Skipped => {
                skipped += 1;
                files
                    .push(json!({"file": path, "status": "skipped", "reason": "already imported"}));
            }
            FileOutcome::Failed(reason) => {
                failed += 1;
                files.push(json!({"file": path, "status": "failed", "reason": reason}));
            }
        }
    }
    let seconds = seconds.max(1e-9);
    json!({
        "files_imported": imported,
        "files_skipped": skipped,
        "files_failed": failed,
        "records_read": records,
        "records_failed": records_failed,
        "rows_per_table": rows_per_table,
        "bytes": total_bytes,
        "seconds": seconds,
        "records_per_second": records as f64 / seconds,
        "megabytes_per_second": total_bytes as f64 / 1e6 / seconds,
        "files": files,
    })
}

/// Formats a file count: `1 file`, `3 files`.
fn files_text(count: &serde_json::Value) -> String {
    match count.as_u64().unwrap_or(0) {
        1 => "1 file".to_string(),
        n => format!("{n} files"),
    }
}

fn summary_text(summary: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "imported {}, skipped {}, failed {}",
        files_text(&summary["files_imported"]),
        summary["files_skipped"],
        summary["files_failed"]
    );
    if summary["files_imported"].as_u64() == Some(0) {
        // Rates over skipped files would describe no work.
        let _ = writeln!(
            out,
            "records read: {}, records failed: {}",
            summary["records_read"], summary["records_failed"]
        );
        if summary["files_skipped"].as_u64().unwrap_or(0) > 0
            && summary["files_failed"].as_u64() == Some(0)
        {
            let _ = writeln!(out, "every file was already imported; nothing changed");
        }
    } else {
        let _ = writeln!(
            out,
            "records read: {}, records failed: {}, {:.0} records/s, {:.1} MB/s",
            summary["records_read"],
            summary["records_failed"],
            summary["records_per_second"].as_f64().unwrap_or(0.0),
            summary["megabytes_per_second"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(tables) = summary["rows_per_table"].as_object() {
        for (table, rows) in tables {
            let _ = writeln!(out, "  {table}: {rows} rows");
        }
    }
    for file in summary["files"].as_array().into_iter().flatten() {
        let failed = file["records_failed"].as_u64().unwrap_or(0);
        if failed == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "  {}: {failed} records failed",
            file["file"].as_str().unwrap_or_default()
        );
        for failure in file["failures"].as_array().into_iter().flatten().take(3) {
            let chunk = failure["chunk"]
                .as_u64()
                .map_or("?".to_string(), |c| c.to_string());
            let _ = writeln!(
                out,
                "    chunk {chunk}: {}",
                failure["reason"].as_str().unwrap_or_default()
            );
        }
    }
    out
}
