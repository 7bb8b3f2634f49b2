//! `homesoc-bench generate`: writes a synthetic `SecurityEvent` table.
//!
//! A generator thread builds record batches (see [`crate::rows`]) while the
//! calling thread writes them through `store::Workspace` imports, one Delta
//! commit per import.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use arrow::record_batch::RecordBatch;
use clap::Args;
use store::Workspace;
use store::builder::TableBatchBuilder;

use store::tables::SECURITY_EVENT;

use crate::rows::{Generator, NOISY_IPS};

/// 100 ns ticks in one day.
const TICKS_PER_DAY: u64 = 864_000_000_000;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of rows to write.
    #[arg(long)]
    rows: u64,

    /// Workspace folder. It must not contain a SecurityEvent table yet.
    #[arg(long)]
    data_dir: PathBuf,

    /// Seed of the random number generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Rows per record batch handed to the store.
    #[arg(long, default_value_t = 100_000)]
    batch_rows: usize,

    /// Rows per import. Each import ends with one Delta commit.
    #[arg(long, default_value_t = 1_000_000)]
    import_rows: u64,

    /// Time of the first row, as an ISO 8601 UTC datetime.
    #[arg(long, default_value = "2025-03-01T00:00:00Z")]
    start: String,

    /// Days over which the timestamps spread.
    #[arg(long, default_value_t = 30)]
    days: u32,
}

/// Work items from the generator thread to the writer.
enum Message {
    Batch(RecordBatch),
    /// The import with this index has all its rows and can be committed.
    EndOfImport(u64),
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    if args.rows == 0 || args.batch_rows == 0 || args.import_rows == 0 || args.days == 0 {
        bail!("--rows, --batch-rows, --import-rows and --days must be greater than 0");
    }
    let start_ticks = engine::time::parse_datetime(&args.start).ok_or_else(|| {
        anyhow!(
            "invalid --start value `{}`: use an ISO 8601 UTC datetime such as 2025-03-01T00:00:00Z",
            args.start
        )
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(write_table(args, start_ticks))
}

fn import_id(seed: u64, index: u64) -> String {
    format!("homesoc-bench-seed{seed}-part{index:05}")
}

async fn write_table(args: GenerateArgs, start_ticks: i64) -> anyhow::Result<()> {
    let workspace = Workspace::open(&args.data_dir)?;
    if workspace.open_table(SECURITY_EVENT.name).await?.is_some() {
        bail!(
            "{} already has a SecurityEvent table: generate into an empty folder",
            args.data_dir.display()
        );
    }

    let ingest_ticks = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_nanos()
        / 100;
    let ingest_ticks = i64::try_from(ingest_ticks).context("the system clock is out of range")?;
    let span_ticks = u64::from(args.days) * TICKS_PER_DAY;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Message>(2);
    let (rows, seed, batch_rows, import_rows) =
        (args.rows, args.seed, args.batch_rows, args.import_rows);

    let generator_thread = std::thread::spawn(move || {
        let mut generator = Generator::new(seed, start_ticks, span_ticks, rows);
        let mut row = 0u64;
        let mut import_index = 0u64;
        while row < rows {
            let import_end = rows.min(row + import_rows);
            let mut builder = TableBatchBuilder::new(
                &SECURITY_EVENT,
                &import_id(seed, import_index),
                ingest_ticks,
                batch_rows,
            );
            while row < import_end {
                let batch_end = import_end.min(row + batch_rows as u64);
                for index in row..batch_end {
                    generator.append_row(&mut builder, index);
                }
                row = batch_end;
                if sender
                    .blocking_send(Message::Batch(builder.finish()))
                    .is_err()
                {
                    return generator.counts;
                }
            }
            if sender
                .blocking_send(Message::EndOfImport(import_index))
                .is_err()
            {
                return generator.counts;
            }
            import_index += 1;
        }
        generator.counts
    });

    let started = Instant::now();
    let mut import = None;
    let mut import_index = 0u64;
    let mut written = 0u64;
    while let Some(message) = receiver.recv().await {
        match message {
            Message::Batch(batch) => {
                written += batch.num_rows() as u64;
                let current = import.get_or_insert_with(|| {
                    workspace.begin_import(&import_id(seed, import_index), "homesoc-bench generate")
                });
                tokio::task::block_in_place(|| current.write(&SECURITY_EVENT, batch))?;
            }
            Message::EndOfImport(index) => {
                if let Some(finished) = import.take() {
                    finished.commit().await?;
                }
                import_index += 1;
                eprintln!(
                    "committed import {index}: {written} rows in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    let counts = generator_thread
        .join()
        .map_err(|_| anyhow!("the generator thread panicked"))?;
    let seconds = started.elapsed().as_secs_f64();

    println!(
        "wrote {written} SecurityEvent rows in {seconds:.1} s ({:.0} rows/s)",
        written as f64 / seconds
    );
    for (event_id, count) in &counts.by_event_id {
        println!("  EventID {event_id}: {count} rows");
    }
    println!(
        "  EventID 4625 from {}: {} rows",
        NOISY_IPS[0].0, counts.failures_from_top_ip
    );
    Ok(())
}
