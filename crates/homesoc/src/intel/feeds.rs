//! `homesoc intel feeds …` and `homesoc intel pull`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use intel::config::SecretSource;
use intel::fetch::{FetchOptions, Fetcher};
use intel::misp::defaults::parse_default_feeds;
use intel::state::FeedState;
use intel::{FeedConfig, FeedFormat, FeedsFile, PullResult, pull_feed};
use serde_json::json;
use store::Workspace;

use super::tls::TlsArgs;

#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// Add the feeds of MISP's default feed list (defaults.json), keeping
    /// each entry's enabled flag. Feeds whose name or URL is listed already
    /// are skipped.
    ImportMispDefaults {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// List the feeds with their last pull.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a feed.
    Add {
        /// Unique name, also the SourceSystem of the feed's indicators.
        #[arg(long)]
        name: String,
        /// http(s):// or file:// URL, or a local path; for a MISP feed the
        /// folder that holds manifest.json.
        #[arg(long)]
        url: String,
        /// misp, csv or freetext. MISP servers and TAXII collections have
        /// their own commands: `intel misp add` and `intel taxii add`.
        #[arg(long)]
        format: String,
        /// CSV: 1-based column that contains the values; repeat for several.
        /// Every column when omitted.
        #[arg(long = "value-column")]
        value_columns: Vec<usize>,
        /// CSV: the field delimiter, one ASCII character.
        #[arg(long, default_value_t = ',')]
        delimiter: char,
        /// ConfidenceScore (0 to 100) given to every indicator of the feed,
        /// replacing the one from tags.
        #[arg(long)]
        confidence: Option<f64>,
        /// Skip values that match this regular expression.
        #[arg(long)]
        exclude_regex: Option<String>,
        /// Add the feed disabled.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Set the CA file and client certificate of a feed, replacing the ones
    /// it has. Without options, the feed goes back to the system's CAs and
    /// no client certificate.
    SetTls {
        name: String,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Enable a feed.
    Enable { name: String },
    /// Disable a feed.
    Disable { name: String },
}

#[derive(Debug, Subcommand)]
pub enum MispCommand {
    /// Add a MISP server as a feed, pulled through /attributes/restSearch.
    /// The API key is read from a file or an environment variable at each
    /// pull and is never stored in the feed list.
    Add {
        /// Unique name, also the SourceSystem of the server's indicators.
        #[arg(long)]
        name: String,
        /// The server's base URL, for example https://misp.example.org.
        #[arg(long)]
        url: String,
        /// File that contains the API key.
        #[arg(
            long,
            conflicts_with = "api_key_env",
            required_unless_present = "api_key_env"
        )]
        api_key_file: Option<PathBuf>,
        /// Environment variable that contains the API key.
        #[arg(long)]
        api_key_env: Option<String>,
        /// Pull only attributes with one of these tags; repeat for several.
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Pull only attributes of published events.
        #[arg(long)]
        published_only: bool,
        /// ConfidenceScore (0 to 100) given to every indicator of the server.
        #[arg(long)]
        confidence: Option<f64>,
        /// Attributes per restSearch page.
        #[arg(long, default_value_t = 1000)]
        page_size: usize,
        #[command(flatten)]
        tls: TlsArgs,
    },
}

pub fn misp(data_dir: &Path, command: MispCommand) -> anyhow::Result<ExitCode> {
    let MispCommand::Add {
        name,
        url,
        api_key_file,
        api_key_env,
        tags,
        published_only,
        confidence,
        page_size,
        tls,
    } = command;
    let workspace = Workspace::open(data_dir)?;
    let mut feeds = FeedsFile::load(workspace.root())?;
    let api_key = match (api_key_file, api_key_env) {
        (Some(file), _) => SecretSource::File(std::path::absolute(&file)?),
        (None, Some(variable)) => SecretSource::Env(variable),
        (None, None) => bail!("give --api-key-file or --api-key-env"),
    };
    feeds.add(tls.apply(FeedConfig {
        api_key: Some(api_key),
        tags,
        published_only,
        confidence,
        page_size,
        ..FeedConfig::new(&name, &url, FeedFormat::MispApi)
    })?)?;
    feeds.save(workspace.root())?;
    println!("added MISP server {name:?}");
    Ok(ExitCode::SUCCESS)
}

pub fn run(data_dir: &Path, command: FeedsCommand) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::open(data_dir)?;
    let root = workspace.root();
    let mut feeds = FeedsFile::load(root)?;
    match command {
        FeedsCommand::ImportMispDefaults { file, json } => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("cannot read the feed list {}", file.display()))?;
            let listed = parse_default_feeds(&bytes, &file.display().to_string())?;
            let total = listed.len();
            let mut added = Vec::new();
            let mut skipped = Vec::new();
            for feed in listed {
                let exists = feeds
                    .feeds
                    .iter()
                    .any(|known| known.name == feed.name || known.url == feed.url);
                if exists {
                    skipped.push(feed.name);
                } else {
                    added.push(feed.name.clone());
                    feeds.add(feed)?;
                }
            }
            feeds.save(root)?;
            if json {
                println!(
                    "{}",
                    json!({"listed": total, "added": added, "skipped": skipped})
                );
            } else {
                println!(
                    "{} feeds listed: {} added, {} skipped because a feed with that name or URL exists",
                    total,
                    added.len(),
                    skipped.len()
                );
            }
        }
        FeedsCommand::List { json } => list(root, &feeds, json)?,
        FeedsCommand::Add {
            name,
            url,
            format,
            value_columns,
            delimiter,
            confidence,
            exclude_regex,
            disabled,
            tls,
        } => {
            let format: FeedFormat = format.parse()?;
            let feed = tls.apply(FeedConfig {
                value_columns,
                delimiter,
                confidence,
                exclude_regex,
                enabled: !disabled,
                ..FeedConfig::new(&name, &url, format)
            })?;
            feeds.add(feed)?;
            feeds.save(root)?;
            println!("added feed {name:?}");
        }
        FeedsCommand::SetTls { name, tls } => {
            let index = feeds
                .feeds
                .iter()
                .position(|feed| feed.name == name)
                .ok_or_else(|| intel::IntelError::UnknownFeed { name: name.clone() })?;
            feeds.feeds[index] = tls.apply(feeds.feeds[index].clone())?;
            feeds.save(root)?;
            println!("set the TLS files of feed {name:?}");
        }
        FeedsCommand::Enable { name } => {
            feeds.set_enabled(&name, true)?;
            feeds.save(root)?;
            println!("enabled feed {name:?}");
        }
        FeedsCommand::Disable { name } => {
            feeds.set_enabled(&name, false)?;
            feeds.save(root)?;
            println!("disabled feed {name:?}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(root: &Path, feeds: &FeedsFile, json_output: bool) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for feed in &feeds.feeds {
        let state = FeedState::load(root, &feed.name)?;
        rows.push(json!({
            "name": feed.name,
            "format": feed.format.name(),
            "url": feed.url,
            "enabled": feed.enabled,
            "provider": feed.provider,
            "value_columns": feed.value_columns,
            "delimiter": feed.delimiter.to_string(),
            "confidence": feed.confidence,
            "exclude_regex": feed.exclude_regex,
            "collection": feed.collection,
            "user": feed.user,
            "ca_file": feed.ca_file,
            "client_cert_file": feed.client_cert_file,
            "client_key_file": feed.client_key_file,
            "last_pull": state.last_pull,
        }));
    }
    if json_output {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<40} {:<8} {:<7} {:<20} RESULT",
        "NAME", "FORMAT", "ENABLED", "LAST PULL"
    );
    for feed in &feeds.feeds {
        let state = FeedState::load(root, &feed.name)?;
        let (time, result) = match &state.last_pull {
            None => ("never".to_string(), String::new()),
            Some(report) => {
                let detail = match (&report.error, &report.note) {
                    (Some(error), _) => format!("{}: {error}", report.result.name()),
                    (None, note) => format!(
                        "{}: +{} ~{} -{}{}",
                        report.result.name(),
                        report.added,
                        report.updated,
                        report.deactivated,
                        note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
                    ),
                };
                (report.time.clone(), detail)
            }
        };
        println!(
            "{:<40} {:<8} {:<7} {:<20} {}",
            feed.name,
            feed.format.name(),
            if feed.enabled { "yes" } else { "no" },
            time,
            result
        );
    }
    Ok(())
}

pub async fn pull(
    data_dir: &Path,
    name: Option<&str>,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::open(data_dir)?;
    let _lock = workspace.lock_for_writing()?;
    let feeds = FeedsFile::load(workspace.root())?;
    let selected: Vec<&FeedConfig> = match name {
        Some(name) => vec![
            feeds
                .feed(name)
                .ok_or_else(|| intel::IntelError::UnknownFeed {
                    name: name.to_string(),
                })?,
        ],
        None => feeds.feeds.iter().filter(|feed| feed.enabled).collect(),
    };
    if selected.is_empty() {
        bail!(
            "no feed is enabled; add one with `homesoc intel feeds add` or enable one with `homesoc intel feeds enable NAME`"
        );
    }

    let fetcher = Fetcher::new(FetchOptions::default())?;
    let mut reports = Vec::new();
    for (position, feed) in selected.iter().enumerate() {
        if !json_output {
            eprintln!(
                "[{}/{}] pulling {}",
                position + 1,
                selected.len(),
                feed.name
            );
        }
        let report = pull_feed(&workspace, &fetcher, &feeds, feed).await?;
        if !json_output {
            match &report.error {
                Some(error) => println!("{}: failed: {error}", report.feed),
                None => println!(
                    "{}: {} ({} events listed, {} fetched; {} added, {} updated, {} deactivated, {} values rejected){}",
                    report.feed,
                    report.result.name(),
                    report.events_listed,
                    report.events_fetched,
                    report.added,
                    report.updated,
                    report.deactivated,
                    report.rejected,
                    report
                        .note
                        .as_ref()
                        .map(|n| format!("; {n}"))
                        .unwrap_or_default()
                ),
            }
        }
        reports.push(report);
    }
    if json_output {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    let failed = reports.iter().any(|r| r.result == PullResult::Failed);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
