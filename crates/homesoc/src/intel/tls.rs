//! TLS options of `intel feeds add`, `intel feeds set-tls`, `intel misp add`
//! and `intel taxii add`.

use std::path::PathBuf;

use clap::Args;
use intel::FeedConfig;
use intel::fetch::{FetchOptions, Fetcher};

#[derive(Debug, Args)]
pub struct TlsArgs {
    /// PEM file of CA certificates that the server's certificate may chain
    /// to, trusted in addition to the system's CAs. Use it for servers with
    /// a private or self-signed CA.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// PEM file with the client certificate sent to servers that request
    /// one. It may also contain the unencrypted private key.
    #[arg(long)]
    pub client_cert: Option<PathBuf>,
    /// PEM file with the client certificate's unencrypted private key.
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

impl TlsArgs {
    /// Returns `feed` with these files as absolute paths, after checking
    /// that they can be read and used, so that a wrong file fails now and
    /// not at the first pull.
    pub fn apply(self, feed: FeedConfig) -> anyhow::Result<FeedConfig> {
        let absolute = |path: Option<PathBuf>| path.map(std::path::absolute).transpose();
        let feed = FeedConfig {
            ca_file: absolute(self.ca_file)?,
            client_cert_file: absolute(self.client_cert)?,
            client_key_file: absolute(self.client_key)?,
            ..feed
        };
        feed.validate()?;
        Fetcher::new(FetchOptions::default())?.for_feed(&feed)?;
        Ok(feed)
    }
}
