//! `homesoc intel taxii add`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use intel::config::SecretSource;
use intel::{FeedConfig, FeedFormat, FeedsFile};
use store::Workspace;

use super::tls::TlsArgs;

#[derive(Debug, Subcommand)]
pub enum TaxiiCommand {
    /// Add a TAXII 2.1 collection as a feed. Each pull reads the objects
    /// added since the last successful pull, and its indicator objects
    /// become indicators. The password is read from a file or an
    /// environment variable at each pull and is never stored in the feed
    /// list.
    Add {
        /// The API root URL, such as https://taxii.example.org/api1/, or the
        /// server's discovery URL (ending in /taxii2/), whose default API
        /// root is then looked up at each pull.
        #[arg(long)]
        url: String,
        /// The collection id, as listed by the API root's collections
        /// endpoint.
        #[arg(long)]
        collection: String,
        /// Unique name, also the SourceSystem of the collection's
        /// indicators. "TAXII <collection>" when omitted.
        #[arg(long)]
        name: Option<String>,
        /// User name for HTTP basic authentication.
        #[arg(long)]
        user: Option<String>,
        /// File that contains the password.
        #[arg(long, requires = "user", conflicts_with = "password_env")]
        password_file: Option<PathBuf>,
        /// Environment variable that contains the password.
        #[arg(long, requires = "user")]
        password_env: Option<String>,
        /// ConfidenceScore (0 to 100) given to every indicator of the
        /// collection, replacing the indicators' own confidence.
        #[arg(long)]
        confidence: Option<f64>,
        /// Objects requested per page (the `limit` parameter); the server
        /// may return fewer.
        #[arg(long, default_value_t = 1000)]
        page_size: usize,
        #[command(flatten)]
        tls: TlsArgs,
    },
}

pub fn run(data_dir: &Path, command: TaxiiCommand) -> anyhow::Result<ExitCode> {
    let TaxiiCommand::Add {
        url,
        collection,
        name,
        user,
        password_file,
        password_env,
        confidence,
        page_size,
        tls,
    } = command;
    let workspace = Workspace::open(data_dir)?;
    let mut feeds = FeedsFile::load(workspace.root())?;
    let password = match (password_file, password_env) {
        (Some(file), _) => Some(SecretSource::File(std::path::absolute(&file)?)),
        (None, Some(variable)) => Some(SecretSource::Env(variable)),
        (None, None) => None,
    };
    let name = name.unwrap_or_else(|| format!("TAXII {collection}"));
    feeds.add(tls.apply(FeedConfig {
        collection: Some(collection),
        user,
        password,
        confidence,
        page_size,
        ..FeedConfig::new(&name, &url, FeedFormat::Taxii)
    })?)?;
    feeds.save(workspace.root())?;
    println!("added TAXII collection {name:?}");
    Ok(ExitCode::SUCCESS)
}
