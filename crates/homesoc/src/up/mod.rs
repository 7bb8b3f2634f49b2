//! `homesoc up`: the server. The logic lives in the `server` crate; the
//! rule scheduler, the intel refresher and the notification delivery run
//! beside it ([`jobs`]).

mod jobs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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

    /// Receive syslog over UDP on this address, such as 127.0.0.1:5514.
    /// Overrides `udp` under [syslog] in the configuration file.
    #[arg(long, value_name = "ADDRESS")]
    syslog_udp: Option<String>,

    /// Receive syslog over TCP (octet-counted or newline-framed) on this
    /// address. Overrides `tcp` under [syslog].
    #[arg(long, value_name = "ADDRESS")]
    syslog_tcp: Option<String>,

    /// Receive syslog over TLS (RFC 5425) on this address, with the HTTPS
    /// certificate. Overrides `tls` under [syslog].
    #[arg(long, value_name = "ADDRESS")]
    syslog_tls: Option<String>,

    /// Start with demo data: a day of a Windows honeypot attacked over
    /// RDP, a demo threat-intel feed and an admin user, in ./homesoc-demo
    /// unless --data-dir is given. An existing demo folder is reused.
    #[arg(long)]
    demo: bool,

    /// The seed of the demo data; the same seed gives the same events,
    /// with times relative to the start.
    #[arg(long, default_value_t = 7, requires = "demo")]
    seed: u64,
}

/// Runs `homesoc up`. `data_dir_given` tells whether the user named the
/// data folder; `--demo` uses its own folder otherwise.
pub async fn run(data_dir: &Path, data_dir_given: bool, args: UpArgs) -> anyhow::Result<ExitCode> {
    let data_dir = if args.demo && !data_dir_given {
        PathBuf::from(crate::demo::DEFAULT_DEMO_DIR)
    } else {
        data_dir.to_path_buf()
    };
    if args.demo {
        let setup = crate::demo::prepare(&data_dir, args.seed).await?;
        match &setup.existing_since {
            Some(since) => println!(
                "demo: reusing the demo data generated at {since} in {}; delete that folder for a fresh day",
                data_dir.display()
            ),
            None => println!(
                "demo: generated {} events of a honeypot day (seed {}) in {}",
                setup.rows,
                args.seed,
                data_dir.display()
            ),
        }
        println!(
            "demo: sign in as admin with password {} (kept in {})",
            setup.password,
            setup.password_file.display()
        );
        println!("demo: the rule scheduler opens incidents within a minute of start");
    }
    server::up::run(server::up::UpOptions {
        data_dir,
        config: args.config,
        listen: args.listen,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        no_tls: args.no_tls,
        allow_remote: args.allow_remote,
        syslog: server::syslog::SyslogAddresses {
            udp: args.syslog_udp,
            tcp: args.syslog_tcp,
            tls: args.syslog_tls,
        },
        jobs: vec![
            Box::new(jobs::RuleScheduler),
            Box::new(jobs::IntelRefresher),
            Box::new(jobs::NotificationDelivery),
        ],
        after_pull: Some(Arc::new(|context, reports| {
            Box::pin(async move { jobs::retro_hunt(&context, &reports).await })
        })),
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
