//! Input that is not a whole EVTX file: an error that names the file, or
//! as many records as the file still holds, and never a panic.

mod common;

use std::io::Write;
use std::path::Path;

use ingest::evtx::{EvtxError, EvtxFileStats, EvtxReader, read_evtx};

use common::corpus_dir;

/// A multi-chunk corpus file (hayabusa/EVTX-ATTACK-SAMPLES SMB password
/// guessing, 49 chunks).
const MULTI_CHUNK_FILE: &str = "evtx__smb-password-guessing-security.evtx";
const HEADER_SIZE: usize = 4096;
const CHUNK_SIZE: usize = 65536;

fn read(path: &Path) -> Result<EvtxFileStats, EvtxError> {
    EvtxReader::new("test", 0).read(path, |_| Ok::<(), std::io::Error>(()))
}

fn temp_file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".evtx")
        .tempfile()
        .expect("temp file");
    file.write_all(bytes).expect("write temp file");
    file.flush().expect("flush temp file");
    file
}

#[test]
fn empty_file_is_not_evtx() {
    let file = temp_file_with(&[]);
    let error = read(file.path()).expect_err("empty file");
    assert!(matches!(error, EvtxError::NotEvtx { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("not an EVTX file"), "{message}");
    assert!(message.contains("empty"), "{message}");
    assert!(
        message.contains(&file.path().display().to_string()),
        "{message}"
    );
}

#[test]
fn random_bytes_are_not_evtx() {
    // A fixed xorshift sequence, so the test is repeatable.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let file = temp_file_with(&bytes);
    let error = read(file.path()).expect_err("random bytes");
    let message = error.to_string();
    assert!(message.contains("bad magic"), "{message}");
}

#[test]
fn short_file_is_not_evtx() {
    let file = temp_file_with(b"Elf");
    let error = read(file.path()).expect_err("3 bytes");
    assert!(matches!(error, EvtxError::NotEvtx { .. }), "{error}");
}

#[test]
fn missing_file_is_an_open_error() {
    let error = read(Path::new("/nonexistent/homesoc/missing.evtx")).expect_err("missing");
    assert!(matches!(error, EvtxError::Open { .. }), "{error}");
}

#[test]
fn evtx_magic_with_garbage_chunks() {
    let mut bytes = std::fs::read(corpus_dir().join(MULTI_CHUNK_FILE)).expect("corpus file");
    bytes.truncate(HEADER_SIZE);
    bytes.extend((0..3 * CHUNK_SIZE).map(|i| (i % 253) as u8 + 1));
    let file = temp_file_with(&bytes);
    let stats = read(file.path()).expect("a valid header is read");
    assert_eq!(stats.records_read, 0);
    assert_eq!(stats.records_failed, 3, "one failure per unreadable chunk");
    assert!(
        stats.failures.iter().all(|f| f.chunk.is_some()),
        "{:?}",
        stats.failures
    );
}

#[test]
fn header_only_file_has_no_records() {
    let bytes = std::fs::read(corpus_dir().join(MULTI_CHUNK_FILE)).expect("corpus file");
    let file = temp_file_with(&bytes[..100]);
    let stats = read(file.path()).expect("a header that starts right is read");
    assert_eq!(stats.records_read, 0);
}

#[test]
fn truncated_file_keeps_whole_records() {
    let path = corpus_dir().join(MULTI_CHUNK_FILE);
    let bytes = std::fs::read(&path).expect("corpus file");
    let full = read(&path).expect("full file");

    let at_chunk_boundary = temp_file_with(&bytes[..HEADER_SIZE + 2 * CHUNK_SIZE]);
    let two_chunks = read(at_chunk_boundary.path()).expect("two whole chunks");
    assert!(two_chunks.records_read > 0);
    assert!(two_chunks.records_read < full.records_read);

    let cut = HEADER_SIZE + 2 * CHUNK_SIZE + CHUNK_SIZE / 2;
    let mid_chunk = temp_file_with(&bytes[..cut]);
    let partial = read(mid_chunk.path()).expect("a truncated file is read");
    assert!(
        partial.records_read > two_chunks.records_read,
        "records of the cut chunk before the cut are kept: {} vs {}",
        partial.records_read,
        two_chunks.records_read
    );
    assert!(partial.records_read < full.records_read);
}

#[test]
fn batches_respect_batch_rows() {
    let path = corpus_dir().join(MULTI_CHUNK_FILE);
    let mut sizes = Vec::new();
    let stats = read_evtx(&path, "test", 0, 7, |batch| {
        sizes.push(batch.batch.num_rows());
        Ok::<(), std::io::Error>(())
    })
    .expect("read");
    assert!(sizes.iter().all(|&n| n > 0), "{sizes:?}");
    assert!(sizes.iter().all(|&n| n <= 7), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>() as u64, stats.records_read);
    assert!(sizes.len() > 2);
}

#[test]
fn consumer_error_stops_the_read() {
    let path = corpus_dir().join(MULTI_CHUNK_FILE);
    let mut calls = 0;
    let error = read_evtx(&path, "test", 0, 10, |_| {
        calls += 1;
        Err(std::io::Error::other("disk full"))
    })
    .expect_err("consumer fails");
    assert_eq!(calls, 1);
    assert!(matches!(error, EvtxError::Consumer { .. }), "{error}");
    assert!(error.to_string().contains("disk full"), "{error}");
}
