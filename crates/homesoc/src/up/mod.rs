//! `homesoc up`: the server. The logic lives in the `server` crate; the
//! rule scheduler, the intel refresher and the notification delivery run
//! beside it ([`jobs`]).

mod jobs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address to listen on, such as 127.0.0.1:8443 (port 0 picks a free
    /// port). Defaults to `listen` in the configuration file.
    #[arg(long)]
    listen: Option<String>,

    /// Configuration file; `homesoc.toml` in the data folder by default,
    /// written with commented defaults on first run.
    #[arg(long)]
    config: Option<PathBuf>,

    /// PEM certificate chain to serve instead of the generated one.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Serve plain HTTP instead of HTTPS, for local tests only.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    no_tls: bool,

    /// Allow a listen address that other machines can reach.
    #[arg(long)]
    allow_remote: bool,
}

pub async fn run(data_dir: &Path, args: UpArgs) -> anyhow::Result<ExitCode> {
    server::up::run(server::up::UpOptions {
        data_dir: data_dir.to_path_buf(),
        config: args.config,
        listen: args.listen,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        no_tls: args.no_tls,
        allow_remote: args.allow_remote,
        jobs: vec![
            Box::new(jobs::RuleScheduler),
            Box::new(jobs::IntelRefresher),
            Box::new(jobs::NotificationDelivery),
        ],
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
