//! Helpers of the intel integration tests: the corpus location, a small
//! HTTP server on 127.0.0.1 that serves a folder and counts requests, and
//! readers of the indicator tables.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray};
use intel::fetch::{FetchOptions, Fetcher};
use store::Workspace;

/// The crate folder, read when the test runs: Cargo can reuse a test binary
/// built in another checkout that shares the build cache, and a path fixed
/// at compile time would then point into that checkout.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

/// The shared corpus, which sits beside the repository.
pub fn corpus_dir() -> PathBuf {
    manifest_dir().join("../../../shared/corpus")
}

/// A canned answer for one path, replacing the file.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// An HTTP/1.1 server on 127.0.0.1 that serves the files of a folder with
/// an ETag (the file's length and modification time) and answers 304 to a
/// matching `If-None-Match`. It counts requests per path. With
/// [`FolderServer::compress`] it gzips files for clients that send
/// `Accept-Encoding: gzip`, as a web server with compression turned on does.
pub struct FolderServer {
    pub port: u16,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<BTreeMap<String, usize>>,
    canned: Mutex<BTreeMap<String, Canned>>,
    /// Extra header lines per path, such as `Content-Encoding: gzip`.
    headers: Mutex<BTreeMap<String, Vec<String>>>,
    compress: AtomicBool,
    /// Answers sent with `Content-Encoding: gzip` by compression.
    gzipped: AtomicUsize,
}

impl FolderServer {
    pub fn start(folder: &Path) -> FolderServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let folder = folder.to_path_buf();
        let state = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (folder, state) = (folder.clone(), state.clone());
                std::thread::spawn(move || serve(stream, &folder, &state));
            }
        });
        FolderServer { port, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// Answers `path` with `canned` instead of the file.
    pub fn set_canned(&self, path: &str, canned: Canned) {
        self.shared
            .canned
            .lock()
            .unwrap()
            .insert(format!("/{path}"), canned);
    }

    /// Adds a header line (`Name: value`) to every answer for `path`.
    pub fn add_header(&self, path: &str, line: &str) {
        self.shared
            .headers
            .lock()
            .unwrap()
            .entry(format!("/{path}"))
            .or_default()
            .push(line.to_string());
    }

    /// Turns gzip compression of files on or off.
    pub fn compress(&self, on: bool) {
        self.shared.compress.store(on, Ordering::SeqCst);
    }

    /// Returns how many answers were gzip-compressed.
    pub fn gzipped_answers(&self) -> usize {
        self.shared.gzipped.load(Ordering::SeqCst)
    }

    /// Returns how often each path was requested, and forgets the counts.
    pub fn take_requests(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.shared.requests.lock().unwrap())
    }
}

/// Compresses `data` with gzip.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("compress");
    encoder.finish().expect("compress")
}

fn serve(stream: TcpStream, folder: &Path, shared: &Shared) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut if_none_match = None;
    let mut accepts_gzip = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("if-none-match") {
                if_none_match = Some(value.trim().to_string());
            }
            if name.eq_ignore_ascii_case("accept-encoding") {
                accepts_gzip = value.split(',').any(|coding| coding.trim() == "gzip");
            }
        }
    }
    *shared
        .requests
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default() += 1;

    let canned = shared.canned.lock().unwrap().get(&path).cloned();
    let mut gzipped = false;
    let (status, content_type, etag, body) = if let Some(answer) = canned {
        (answer.status, answer.content_type, None, answer.body)
    } else {
        let file = folder.join(path.trim_start_matches('/'));
        match std::fs::read(&file) {
            Ok(body) => {
                let modified = std::fs::metadata(&file)
                    .and_then(|m| m.modified())
                    .map(|t| {
                        t.duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_nanos()
                    })
                    .unwrap_or(0);
                let etag = format!("\"{}-{modified}\"", body.len());
                if if_none_match.as_deref() == Some(etag.as_str()) {
                    (304, "text/plain", Some(etag), Vec::new())
                } else if accepts_gzip && shared.compress.load(Ordering::SeqCst) {
                    gzipped = true;
                    (200, "application/octet-stream", Some(etag), gzip(&body))
                } else {
                    (200, "application/octet-stream", Some(etag), body)
                }
            }
            Err(_) => (404, "text/plain", None, b"not found".to_vec()),
        }
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(etag) = etag {
        head.push_str(&format!("ETag: {etag}\r\n"));
    }
    if gzipped {
        head.push_str("Content-Encoding: gzip\r\n");
        shared.gzipped.fetch_add(1, Ordering::SeqCst);
    }
    for line in shared
        .headers
        .lock()
        .unwrap()
        .get(&path)
        .into_iter()
        .flatten()
    {
        head.push_str(&format!("{line}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
}

/// A fetcher with short retries, so that failure tests stay fast.
pub fn quick_fetcher() -> Fetcher {
    Fetcher::new(FetchOptions {
        connect_timeout: std::time::Duration::from_secs(2),
        request_timeout: std::time::Duration::from_secs(10),
        retries: 2,
        backoff: std::time::Duration::from_millis(20),
    })
    .expect("fetcher")
}

/// Reads text columns of every row of a table (all versions), with empty
/// strings for nulls.
pub async fn table_rows(
    workspace: &Workspace,
    table: &'static str,
    columns: &[&str],
) -> Vec<BTreeMap<String, String>> {
    let Some(batches) = intel::stored::read_columns(workspace, table, columns)
        .await
        .expect("read table")
    else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for batch in &batches {
        let texts: Vec<_> = columns
            .iter()
            .map(|name| {
                let column = batch.column_by_name(name).expect("column");
                arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)
                    .expect("cast to text")
            })
            .collect();
        for row in 0..batch.num_rows() {
            let mut values = BTreeMap::new();
            for (name, array) in columns.iter().zip(&texts) {
                let text = if array.is_null(row) {
                    String::new()
                } else {
                    array.as_string::<i32>().value(row).to_string()
                };
                values.insert(name.to_string(), text);
            }
            rows.push(values);
        }
    }
    rows
}

/// Counts the rows that fill each column.
pub fn filled_counts(rows: &[BTreeMap<String, String>]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        for (column, value) in row {
            if !value.is_empty() {
                *counts.entry(column.clone()).or_default() += 1;
            }
        }
    }
    counts
}

/// Counts the rows per value of one column.
pub fn value_counts(rows: &[BTreeMap<String, String>], column: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        *counts.entry(row[column].clone()).or_default() += 1;
    }
    counts
}

/// The observable and metadata columns the tests count.
pub const INDICATOR_COLUMNS: &[&str] = &[
    "IndicatorId",
    "ExternalIndicatorId",
    "SourceSystem",
    "ThreatType",
    "Active",
    "ConfidenceScore",
    "TrafficLightProtocolLevel",
    "NetworkIP",
    "NetworkSourceIP",
    "NetworkDestinationIP",
    "NetworkCidrBlock",
    "NetworkSourceCidrBlock",
    "NetworkDestinationCidrBlock",
    "NetworkPort",
    "NetworkDestinationPort",
    "DomainName",
    "Url",
    "FileHashType",
    "FileHashValue",
    "FileName",
    "EmailSenderAddress",
    "EmailSourceDomain",
    "EmailRecipient",
];
