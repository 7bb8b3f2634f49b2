//! `homesoc intel stix import`, `intel lookup` and `intel hunt`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use intel::FeedsFile;
use intel::indicator::now_ticks;
use intel::matching::{lookup as match_value, retro_hunt};
use intel::misp::hashes::find_in_feed_hashes;
use intel::stix::bundle_indicators;
use intel::stored::latest_indicators;
use intel::write::write_rows;
use serde_json::json;
use sha2::{Digest, Sha256};
use store::{ImportState, Workspace};

use super::format_ticks;

#[derive(Debug, Subcommand)]
pub enum StixCommand {
    /// Import the indicators of a STIX 2.1 bundle file. A file imported
    /// before is skipped.
    Import {
        file: PathBuf,
        /// SourceSystem of the indicators; the file name when omitted.
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Only indicators with at least this ConfidenceScore.
    #[arg(long, default_value_t = 0.0)]
    min_confidence: f64,
    /// Print the matches as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn stix(data_dir: &Path, command: StixCommand) -> anyhow::Result<ExitCode> {
    let StixCommand::Import { file, source, json } = command;
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let source = source.unwrap_or_else(|| {
        file.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "STIX".to_string())
    });
    let bundle = bundle_indicators(&bytes, &file.display().to_string(), &source)?;

    let workspace = Workspace::open(data_dir)?;
    let _lock = workspace.lock_for_writing()?;
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let import_id = format!("stix-{digest}");
    let already = workspace.import_state(&import_id).await? == ImportState::Complete;
    let indicators = bundle.indicators.len();
    if !already {
        let feeds = FeedsFile::load(workspace.root())?;
        write_rows(
            &workspace,
            &import_id,
            &format!("STIX bundle {}", file.display()),
            bundle.indicators,
            Vec::new(),
            now_ticks(),
            feeds.validity,
        )
        .await?;
    }
    if json {
        println!(
            "{}",
            json!({"file": file, "skipped": already, "indicators": indicators,
                   "compound_patterns": bundle.compound, "unmapped_patterns": bundle.unmapped})
        );
    } else if already {
        println!("{}: skipped, imported before", file.display());
    } else {
        println!(
            "{}: {indicators} indicators imported; {} compound patterns and {} patterns without a column left out",
            file.display(),
            bundle.compound,
            bundle.unmapped
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn lookup(data_dir: &Path, value: &str, json_output: bool) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::open_for_reading(data_dir)?;
    let indicators = latest_indicators(&workspace).await?;
    let matches = match_value(&indicators, value);
    let feeds = FeedsFile::load(workspace.root())?;
    let listings = find_in_feed_hashes(workspace.root(), &feeds, value)?;
    let now = now_ticks();
    if json_output {
        let mut rows: Vec<_> = matches
            .iter()
            .map(|m| {
                json!({"column": m.column, "observable": m.observable,
                       "current": m.indicator.is_current(now), "indicator": m.indicator})
            })
            .collect();
        rows.extend(listings.iter().map(|listing| {
            json!({"column": "hashes.csv", "observable": value.trim(),
                   "feed": listing.feed, "event_uuid": listing.event_uuid})
        }));
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if matches.is_empty() && listings.is_empty() {
        println!("{value}: no indicator");
    } else {
        if matches.is_empty() {
            println!("{value}: no indicator");
        }
        for listing in &listings {
            println!(
                "{} is listed in event {} of MISP feed {:?} (hashes.csv)",
                value.trim(),
                listing.event_uuid,
                listing.feed
            );
        }
        for m in &matches {
            let indicator = &m.indicator;
            println!(
                "{} {}={} from {} ({}, confidence {}, {}{}, expires {})",
                indicator.indicator_id,
                m.column,
                m.observable,
                indicator.source_system,
                indicator.threat_type,
                indicator.confidence,
                if indicator.active {
                    "active"
                } else {
                    "inactive"
                },
                if indicator.is_current(now) {
                    ""
                } else {
                    ", not current"
                },
                indicator
                    .expires_ticks
                    .map(format_ticks)
                    .unwrap_or_default()
            );
        }
    }
    Ok(if matches.is_empty() && listings.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn hunt(data_dir: &Path, args: HuntArgs) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::open_for_reading(data_dir)?;
    let indicators = latest_indicators(&workspace).await?;
    let min_confidence = args.min_confidence;
    let matches = retro_hunt(&workspace, &indicators, now_ticks(), |indicator| {
        indicator.confidence >= min_confidence
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&matches)?);
        return Ok(ExitCode::SUCCESS);
    }
    if matches.is_empty() {
        println!("no stored event matches a current indicator");
    }
    for m in &matches {
        println!(
            "{}.{} = {}: {} events {}..{} on {} match {} from {} (confidence {})",
            m.table,
            m.column,
            m.value,
            m.events,
            format_ticks(m.first_ticks),
            format_ticks(m.last_ticks),
            m.computers.join(","),
            m.indicator.indicator_id,
            m.indicator.source_system,
            m.indicator.confidence
        );
    }
    Ok(ExitCode::SUCCESS)
}
