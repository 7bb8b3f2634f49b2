//! `homesoc intel`: feeds, pulls, TAXII collections, STIX imports, lookups
//! and retro-hunts.

mod feeds;
mod indicators;
pub(crate) mod refresh;
mod taxii;
mod tls;

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum IntelCommand {
    /// Manage the feed list (stored in <data-dir>/intel/feeds.json).
    Feeds {
        #[command(subcommand)]
        command: feeds::FeedsCommand,
    },
    /// Pull every enabled feed, or the named one (enabled or not).
    Pull {
        /// The feed to pull.
        name: Option<String>,
        /// Print the outcomes as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage MISP servers pulled through their REST API.
    Misp {
        #[command(subcommand)]
        command: feeds::MispCommand,
    },
    /// Manage TAXII 2.1 collections pulled as feeds.
    Taxii {
        #[command(subcommand)]
        command: taxii::TaxiiCommand,
    },
    /// Import STIX 2.1 content.
    Stix {
        #[command(subcommand)]
        command: indicators::StixCommand,
    },
    /// Show the indicators that match a value (IP, domain, URL, hash, …),
    /// and the MISP feed events whose hashes.csv lists it.
    Lookup {
        value: String,
        /// Print the matches as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search stored SecurityEvent rows for IP addresses that match a
    /// current indicator (CIDR aware).
    Hunt(indicators::HuntArgs),
    /// Pull the enabled feeds whose pull interval has passed, then, when
    /// indicators were added or updated, retro-hunt them over all stored
    /// events and store the alerts.
    Refresh(refresh::RefreshArgs),
}

pub async fn run(data_dir: &Path, command: IntelCommand) -> anyhow::Result<ExitCode> {
    match command {
        IntelCommand::Feeds { command } => feeds::run(data_dir, command),
        IntelCommand::Misp { command } => feeds::misp(data_dir, command),
        IntelCommand::Taxii { command } => taxii::run(data_dir, command),
        IntelCommand::Pull { name, json } => feeds::pull(data_dir, name.as_deref(), json).await,
        IntelCommand::Stix { command } => indicators::stix(data_dir, command).await,
        IntelCommand::Lookup { value, json } => indicators::lookup(data_dir, &value, json).await,
        IntelCommand::Hunt(args) => indicators::hunt(data_dir, args).await,
        IntelCommand::Refresh(args) => refresh::run(data_dir, args).await,
    }
}

/// Formats 100 ns ticks since the Unix epoch as an RFC 3339 UTC time.
fn format_ticks(ticks: i64) -> String {
    chrono::DateTime::from_timestamp(ticks.div_euclid(10_000_000), 0)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
