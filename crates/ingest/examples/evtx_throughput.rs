//! Reads EVTX files into table batches and prints records per second.
//!
//! Usage: `evtx_throughput [--threads N] [--repeat N] FILE...`

use std::path::PathBuf;
use std::time::Instant;

use ingest::evtx::EvtxReader;

fn main() {
    let mut threads = 2;
    let mut repeat = 1;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--threads N")
            }
            "--repeat" => {
                repeat = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--repeat N")
            }
            _ => files.push(PathBuf::from(arg)),
        }
    }
    assert!(
        !files.is_empty(),
        "usage: evtx_throughput [--threads N] [--repeat N] FILE..."
    );

    let mut reader = EvtxReader::new("throughput", 0);
    reader.threads = threads;
    let mut records = 0u64;
    let mut bytes = 0u64;
    let started = Instant::now();
    for _ in 0..repeat {
        for file in &files {
            let stats = reader
                .read(file, |_| Ok::<(), std::io::Error>(()))
                .unwrap_or_else(|e| panic!("{e}"));
            records += stats.records_read;
            bytes += stats.bytes;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{records} records, {:.1} MB in {seconds:.3} s: {:.0} records/s, {:.1} MB/s ({threads} threads)",
        bytes as f64 / 1e6,
        records as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    );
}
