//! Bad files, folders and queries: each gets a clear message and a non-zero
//! exit code, and the data imported before stays as it was.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use common::{corpus_dir, corpus_truth, homesoc, query, stderr_text, stdout_text};

/// A small Security log (18 logon records) imported before each bad action.
const GOOD_FILE: &str = "Command_and_Control__DE_RDP_Tunneling_4624.evtx";
/// A Security log with 101 records in one 64 KiB chunk; its first 10000
/// bytes contain only some of them.
const TRUNCATION_SOURCE: &str = "Command_and_Control__DE_RDP_Tunnel_5156.evtx";

/// A workspace with [`GOOD_FILE`] imported, and its state afterwards.
struct Workspace {
    dir: TempDir,
    tables: Value,
    rows: u64,
}

impl Workspace {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("cannot create a temporary workspace");
        let good = corpus_dir().join(GOOD_FILE);
        let output = homesoc(dir.path(), &["import", "evtx", good.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "importing {GOOD_FILE} failed: {}",
            stderr_text(&output)
        );
        let tables = tables_json(dir.path());
        let rows = row_count(dir.path());
        assert!(rows > 0, "importing {GOOD_FILE} stored no rows");
        Workspace { dir, tables, rows }
    }

    /// Asserts that the tables and the row count are as after the first import.
    fn assert_unchanged(&self, action: &str) {
        assert_eq!(
            tables_json(self.path()),
            self.tables,
            "`tables --json` changed after {action}"
        );
        assert_eq!(
            row_count(self.path()),
            self.rows,
            "the row count changed after {action}"
        );
    }
}

fn tables_json(data_dir: &Path) -> Value {
    let output = homesoc(data_dir, &["tables", "--json"]);
    assert!(
        output.status.success(),
        "`tables --json` failed: {}",
        stderr_text(&output)
    );
    serde_json::from_slice(&output.stdout).expect("`tables --json` did not print JSON")
}

fn row_count(data_dir: &Path) -> u64 {
    query(data_dir, "union SecurityEvent, Event | count").scalar_u64()
}

/// Writes `content` to `name` in a new temporary folder.
fn write_file(name: &str, content: &[u8]) -> (TempDir, PathBuf) {
    let folder = tempfile::tempdir().expect("cannot create a temporary folder");
    let path = folder.path().join(name);
    std::fs::write(&path, content).expect("cannot write the test file");
    (folder, path)
}

/// Bytes from a fixed linear congruential generator, so the file is the
/// same on every run.
fn pseudo_random_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

fn assert_failed_run(output: &std::process::Output, action: &str) {
    assert!(!output.status.success(), "{action} should exit non-zero");
    assert!(
        output.status.code().is_some(),
        "{action} should exit with a code, not die from a signal"
    );
}

#[test]
fn random_bytes_file_fails() {
    let workspace = Workspace::new();
    let (_folder, path) = write_file("x.evtx", &pseudo_random_bytes(70_000));

    let output = homesoc(
        workspace.path(),
        &["import", "evtx", path.to_str().unwrap()],
    );
    let stderr = stderr_text(&output);
    assert_failed_run(&output, "importing random bytes");
    assert!(
        stderr.contains("not an EVTX file"),
        "stderr should say `not an EVTX file`:\n{stderr}"
    );
    assert!(
        stderr.contains("x.evtx"),
        "stderr should name the file x.evtx:\n{stderr}"
    );
    workspace.assert_unchanged("importing random bytes");
}

#[test]
fn empty_file_fails() {
    let workspace = Workspace::new();
    let (_folder, path) = write_file("empty.evtx", b"");

    let output = homesoc(
        workspace.path(),
        &["import", "evtx", path.to_str().unwrap()],
    );
    let stderr = stderr_text(&output);
    assert_failed_run(&output, "importing an empty file");
    assert!(
        stderr.contains("empty.evtx"),
        "stderr should name the file empty.evtx:\n{stderr}"
    );
    assert!(
        stderr.contains("empty"),
        "stderr should say the file is empty:\n{stderr}"
    );
    assert!(
        stderr.contains("not an EVTX file"),
        "stderr should say `not an EVTX file`:\n{stderr}"
    );
    workspace.assert_unchanged("importing an empty file");
}

#[test]
fn truncated_file_imports_partially() {
    let workspace = Workspace::new();
    let source = std::fs::read(corpus_dir().join(TRUNCATION_SOURCE))
        .expect("cannot read the truncation source");
    let full_records = corpus_truth()[TRUNCATION_SOURCE].total;
    let (_folder, path) = write_file("truncated.evtx", &source[..10_000]);

    let output = homesoc(
        workspace.path(),
        &["import", "evtx", path.to_str().unwrap(), "--json"],
    );
    assert!(
        output.status.code().is_some(),
        "importing a truncated file should not die from a signal:\n{}",
        stderr_text(&output)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "import --json did not print JSON ({e}):\n{}",
            stdout_text(&output)
        )
    });
    let file = &summary["files"][0];
    println!(
        "truncated file: exit {}, summary entry {file}",
        output.status
    );

    // The reader documents that a truncated file is read as far as it
    // goes: records complete before the cut are kept, later ones fail.
    assert_eq!(
        file["status"], "imported",
        "a truncated file should import its complete records"
    );
    assert!(
        output.status.success(),
        "a partial import is no failure and should exit zero"
    );
    let records = file["records"].as_u64().expect("records should be a count");
    assert!(
        records > 0,
        "the first 10000 bytes hold complete records, but none were read"
    );
    assert!(
        records < full_records,
        "{records} records read from 10000 bytes, the whole file has only {full_records}"
    );
    // The records after the cut are lost, so the summary should say so.
    assert!(
        file["records_failed"].as_u64().unwrap_or(0) > 0,
        "{records} of {full_records} records were read, but the summary reports no failed records: {file}"
    );
    assert_eq!(
        row_count(workspace.path()),
        workspace.rows + records,
        "the stored rows should grow by exactly the records read"
    );
}

#[test]
fn folder_without_logs_fails() {
    let workspace = Workspace::new();
    let (folder, _path) = write_file("notes.txt", b"no event logs here\n");

    let output = homesoc(
        workspace.path(),
        &["import", "evtx", folder.path().to_str().unwrap()],
    );
    let stderr = stderr_text(&output);
    assert_failed_run(&output, "importing a folder without logs");
    assert!(
        stderr.contains("no .evtx files found"),
        "stderr should say `no .evtx files found`:\n{stderr}"
    );
    let folder_name = folder.path().file_name().unwrap().to_str().unwrap();
    assert!(
        stderr.contains(folder_name),
        "stderr should name the folder {folder_name}:\n{stderr}"
    );
    workspace.assert_unchanged("importing a folder without logs");
}

#[test]
fn reimport_is_skipped() {
    let workspace = Workspace::new();
    let good = corpus_dir().join(GOOD_FILE);

    let output = homesoc(
        workspace.path(),
        &["import", "evtx", good.to_str().unwrap(), "--json"],
    );
    assert!(
        output.status.success(),
        "re-importing a file should succeed: {}",
        stderr_text(&output)
    );
    let summary: Value =
        serde_json::from_slice(&output.stdout).expect("import --json did not print JSON");
    assert_eq!(
        summary["files_skipped"].as_u64(),
        Some(1),
        "the re-imported file should be skipped: {summary}"
    );
    assert_eq!(
        summary["files_imported"].as_u64(),
        Some(0),
        "nothing should be imported again: {summary}"
    );
    assert_eq!(
        summary["files"][0]["status"], "skipped",
        "the file entry should say skipped: {summary}"
    );
    workspace.assert_unchanged("re-importing the same file");
}

#[test]
fn copies_in_one_folder_import_once() {
    let dir = tempfile::tempdir().expect("cannot create a temporary folder");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let good = corpus_dir().join(GOOD_FILE);
    std::fs::copy(&good, logs.join("a.evtx")).unwrap();
    std::fs::copy(&good, logs.join("b.evtx")).unwrap();
    let data = dir.path().join("data");

    let output = homesoc(&data, &["import", "evtx", logs.to_str().unwrap(), "--json"]);
    assert!(output.status.success(), "{}", stderr_text(&output));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["files_imported"].as_u64(), Some(1), "{summary}");
    assert_eq!(summary["files_skipped"].as_u64(), Some(1), "{summary}");
    assert_eq!(summary["files"][1]["status"], "skipped", "{summary}");

    let reference = Workspace::new();
    assert_eq!(
        row_count(&data),
        reference.rows,
        "two copies of one file store its rows once"
    );
}

/// Runs a query that must fail and returns its stderr.
fn failed_query(workspace: &Workspace, kql: &str) -> String {
    let output = homesoc(workspace.path(), &["query", "--format", "json", kql]);
    assert_failed_run(&output, &format!("query `{kql}`"));
    assert!(
        output.stdout.is_empty(),
        "failed query `{kql}` printed a result:\n{}",
        stdout_text(&output)
    );
    stderr_text(&output)
}

fn has_caret_line(stderr: &str) -> bool {
    stderr.lines().any(|line| {
        line.contains('^')
            && line
                .trim()
                .chars()
                .all(|c| c == '^' || c == '|' || c == ' ' || c == '-')
    })
}

#[test]
fn unknown_table_is_named() {
    let workspace = Workspace::new();

    let stderr = failed_query(&workspace, "NoSuchTable | count");
    assert!(
        stderr.contains("unknown table"),
        "stderr should say `unknown table`:\n{stderr}"
    );
    assert!(
        stderr.contains("NoSuchTable"),
        "stderr should name NoSuchTable:\n{stderr}"
    );

    let stderr = failed_query(&workspace, "SecurityEvents | count");
    assert!(
        stderr.contains("SecurityEvents"),
        "stderr should name SecurityEvents:\n{stderr}"
    );
    assert!(
        stderr.contains("did you mean `SecurityEvent`"),
        "stderr should suggest SecurityEvent:\n{stderr}"
    );
    assert!(
        has_caret_line(&stderr),
        "stderr should mark the table name with carets:\n{stderr}"
    );
    workspace.assert_unchanged("querying an unknown table");
}

#[test]
fn unknown_column_suggests_name() {
    let workspace = Workspace::new();
    let stderr = failed_query(&workspace, r#"SecurityEvent | where IpAdress == "1""#);
    assert!(
        stderr.contains("unknown column"),
        "stderr should say `unknown column`:\n{stderr}"
    );
    assert!(
        stderr.contains("`IpAdress`"),
        "stderr should name IpAdress:\n{stderr}"
    );
    assert!(
        stderr.contains("did you mean `IpAddress`"),
        "stderr should suggest IpAddress:\n{stderr}"
    );
    assert!(
        has_caret_line(&stderr),
        "stderr should mark the column with carets:\n{stderr}"
    );
    workspace.assert_unchanged("querying an unknown column");
}

#[test]
fn syntax_error_is_marked() {
    let workspace = Workspace::new();
    let stderr = failed_query(&workspace, "SecurityEvent | where");
    assert!(
        stderr.contains("error"),
        "stderr should start an error message:\n{stderr}"
    );
    assert!(
        stderr.contains("expected"),
        "stderr should say what was expected:\n{stderr}"
    );
    assert!(
        stderr.contains("end of query"),
        "stderr should say the query ended too early:\n{stderr}"
    );
    assert!(
        stderr.contains("SecurityEvent | where"),
        "stderr should quote the query:\n{stderr}"
    );
    assert!(
        has_caret_line(&stderr),
        "stderr should mark the position with a caret:\n{stderr}"
    );
    workspace.assert_unchanged("a query with a syntax error");
}

#[test]
fn print_works_without_data() {
    let empty = tempfile::tempdir().expect("cannot create a temporary workspace");
    let output = homesoc(
        empty.path(),
        &["query", "--format", "json", r#"print x = strcat("a", "b")"#],
    );
    assert!(
        output.status.success(),
        "print failed on an empty workspace: {}",
        stderr_text(&output)
    );
    assert_eq!(
        stdout_text(&output),
        "{\"columns\":[{\"name\":\"x\",\"type\":\"string\"}],\"rows\":[[\"ab\"]]}\n",
        "print should return one string column"
    );
}
