//! The `homesoc` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use homesoc::{hunt, import, incidents, intel, keys, query, rules, up, users};

/// homesoc: a self-hosted security operations center in one program.
#[derive(Debug, Parser)]
#[command(name = "homesoc", version, about)]
struct Cli {
    /// Workspace folder that contains the tables.
    #[arg(
        long,
        global = true,
        env = "HOMESOC_DATA_DIR",
        default_value = "./homesoc-data"
    )]
    data_dir: PathBuf,

    /// Log level filter, for example `info` or `homesoc=debug`.
    #[arg(
        long,
        global = true,
        env = "HOMESOC_LOG",
        default_value = "warn,ingest=error,evtx=error,buoyant_kernel=error,deltalake_core=error"
    )]
    log: String,

    /// The user that incident changes are attributed to.
    #[arg(long, global = true, env = "USER", default_value = "homesoc")]
    user: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import events from files.
    Import {
        #[command(subcommand)]
        source: import::ImportSource,
    },
    /// List the tables with row counts and time ranges.
    Tables {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a KQL query.
    Query(query::QueryArgs),
    /// Check, run and backtest analytics rules.
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// Import EVTX files into a temporary workspace (or the --data-dir
    /// given) and run Sigma and Sentinel rules over all of it once.
    Hunt(hunt::HuntArgs),
    /// List, show and work incidents.
    Incidents {
        #[command(subcommand)]
        command: incidents::IncidentsCommand,
    },
    /// Threat intelligence: feeds, pulls, STIX imports, lookups and hunts.
    Intel {
        #[command(subcommand)]
        command: intel::IntelCommand,
    },
    /// Run the server: live ingestion, queries over HTTPS.
    Up(up::UpArgs),
    /// Create, list and revoke API keys.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Add, list and remove the users who sign in with a password.
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
    },
}

/// Whether the user named the workspace (`--data-dir` or
/// `HOMESOC_DATA_DIR`) rather than relying on the default; `hunt` keeps
/// its workspace only then.
fn data_dir_given() -> bool {
    std::env::var_os("HOMESOC_DATA_DIR").is_some()
        || std::env::args_os().any(|arg| {
            let arg = arg.to_string_lossy();
            arg == "--data-dir" || arg.starts_with("--data-dir=")
        })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();

    // Query plans are planned and run recursively on these threads; 8 MiB
    // (only touched pages are committed) leaves a wide margin below the
    // parser's operator limit.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Import { source } => import::run(&cli.data_dir, source).await,
            Command::Tables { json } => query::tables(&cli.data_dir, json).await,
            Command::Query(args) => query::run(&cli.data_dir, args).await,
            Command::Rules { command } => rules::run(&cli.data_dir, command).await,
            Command::Hunt(args) => {
                let kept = data_dir_given().then_some(cli.data_dir.as_path());
                hunt::run(kept, args).await
            }
            Command::Incidents { command } => {
                incidents::run(&cli.data_dir, &cli.user, command).await
            }
            Command::Intel { command } => intel::run(&cli.data_dir, command).await,
            Command::Up(args) => up::run(&cli.data_dir, data_dir_given(), args).await,
            Command::Keys { command } => keys::run(&cli.data_dir, command).await,
            Command::Users { command } => users::run(&cli.data_dir, command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
