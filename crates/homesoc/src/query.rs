//! `homesoc query` and `homesoc tables`.

use std::io::{IsTerminal, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use engine::{Engine, QueryOptions, output};
use serde_json::json;
use store::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Ndjson,
}

/// Bytes in a mebibyte, the unit of `--memory-limit`.
const MIB: usize = 1024 * 1024;

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The KQL query. Read from --file or standard input when omitted.
    query: Option<String>,

    /// Read the query from this file.
    #[arg(long, conflicts_with = "query")]
    file: Option<PathBuf>,

    /// Output format; `table` on a terminal, `json` otherwise.
    #[arg(long, value_enum)]
    format: Option<Format>,

    /// The instant `now()` and `ago()` use, as an ISO 8601 UTC datetime
    /// (for example 2024-05-01T12:00:00Z). Defaults to the current time.
    #[arg(long)]
    now: Option<String>,

    /// Cancel the query after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,

    /// Memory the query may hold, in MiB. Sorts and some aggregations spill
    /// to temporary files at the limit, and a query that needs more fails.
    #[arg(long, default_value_t = (engine::DEFAULT_MEMORY_LIMIT / MIB) as u64, value_parser = clap::value_parser!(u64).range(1..))]
    memory_limit: u64,

    /// Print the KQL plan and the optimized DataFusion plan instead of
    /// running the query.
    #[arg(long)]
    explain: bool,
}

fn read_query(args: &QueryArgs) -> anyhow::Result<String> {
    if let Some(query) = &args.query {
        return Ok(query.clone());
    }
    if let Some(file) = &args.file {
        return std::fs::read_to_string(file)
            .with_context(|| format!("cannot read query file {}", file.display()));
    }
    if std::io::stdin().is_terminal() {
        bail!("no query given: pass it as an argument, with --file FILE, or on standard input");
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the query from standard input")?;
    Ok(text)
}

pub async fn run(data_dir: &Path, args: QueryArgs) -> anyhow::Result<ExitCode> {
    let text = read_query(&args)?;
    if text.trim().is_empty() {
        bail!("the query is empty");
    }
    let mut options = QueryOptions {
        timeout: Duration::from_secs(args.timeout),
        ..QueryOptions::default()
    };
    if let Some(now) = &args.now {
        options.now_ticks = engine::time::parse_datetime(now).with_context(|| {
            format!("invalid --now value `{now}`: use an ISO 8601 UTC datetime such as 2024-05-01T12:00:00Z")
        })?;
    }

    let workspace = Workspace::open_for_reading(data_dir)?;
    let memory_limit =
        usize::try_from(args.memory_limit.saturating_mul(MIB as u64)).unwrap_or(usize::MAX);
    let engine = Engine::with_memory_limit(memory_limit);
    let catalog = store::catalog::load(&workspace, &engine, None).await?;
    let warn_if_empty = || {
        if !workspace.exists() && catalog.any_table_read() {
            eprintln!(
                "note: the workspace {} does not exist, so every table is empty; import events with `homesoc --data-dir {} import evtx PATH`",
                workspace.root().display(),
                data_dir.display()
            );
        }
    };

    if args.explain {
        match engine.explain(&text, &catalog, &options).await {
            Ok(plan) => write_stdout(&format!("{plan}\n"))?,
            Err(err) => {
                eprint!("{}", err.render(&text));
                return Ok(ExitCode::FAILURE);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let outcome = engine.run(&text, &catalog, &options).await;
    warn_if_empty();
    let result = match outcome {
        Ok(result) => result,
        Err(err) => {
            eprint!("{}", err.render(&text));
            return Ok(ExitCode::FAILURE);
        }
    };

    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let rendered = match format {
        Format::Json => format!("{}\n", output::to_json_document(&result)),
        Format::Ndjson => output::to_ndjson(&result),
        Format::Csv => output::to_csv(&result),
        Format::Table => {
            let mut text = output::to_text_table(&result, 60);
            let rows = result.row_count();
            text.push_str(&format!(
                "({rows} {})\n",
                if rows == 1 { "row" } else { "rows" }
            ));
            text
        }
    };
    write_stdout(&rendered)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes to standard output; a closed pipe (`homesoc ... | head`) is not
/// an error.
pub(crate) fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        // A closed pipe (`homesoc query ... | head`) is not an error.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(err.into()),
    }
}

pub async fn tables(data_dir: &Path, json_output: bool) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::open_for_reading(data_dir)?;
    let infos = workspace.tables().await?;
    let engine = Engine::new();
    let catalog = store::catalog::load(&workspace, &engine, None).await?;
    let options = QueryOptions::default();

    let mut rows = Vec::new();
    for info in &infos {
        let query = format!(
            "{} | summarize Earliest = min(TimeGenerated), Latest = max(TimeGenerated)",
            info.name
        );
        let result = engine
            .run(&query, &catalog, &options)
            .await
            .with_context(|| format!("cannot read the time range of {}", info.name))?;
        let cells = output::rows_json(&result);
        let (earliest, latest) = cells
            .first()
            .map(|row| (row[0].clone(), row[1].clone()))
            .unwrap_or((serde_json::Value::Null, serde_json::Value::Null));
        rows.push(json!({
            "table": info.name,
            "rows": info.rows,
            "files": info.files,
            "version": info.version,
            "earliest": earliest,
            "latest": latest,
        }));
    }

    if json_output {
        write_stdout(&format!("{}\n", serde_json::Value::Array(rows)))?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        eprintln!(
            "no tables yet in {}; import events with `homesoc --data-dir {} import evtx PATH`",
            workspace.root().display(),
            data_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "{:<16} {:>12}  {:<28}  {}\n",
        "TABLE", "ROWS", "EARLIEST", "LATEST"
    );
    for row in &rows {
        text.push_str(&format!(
            "{:<16} {:>12}  {:<28}  {}\n",
            row["table"].as_str().unwrap_or_default(),
            row["rows"].as_u64().unwrap_or(0),
            row["earliest"].as_str().unwrap_or("-"),
            row["latest"].as_str().unwrap_or("-"),
        ));
    }
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
