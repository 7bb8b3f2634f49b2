//! `homesoc up`: open the workspace for live ingestion and serve HTTPS
//! until SIGINT or SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use engine::Engine;
use store::Workspace;
use store::live::{LiveOptions, LiveStore};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::app::{AppState, router};
use crate::auth::{AuthFile, Authenticator, Role, UserRecord, hash_secret, random_secret};
use crate::config::Config;
use crate::error::{ServerError, io_error};
use crate::metrics::Metrics;
use crate::syslog::SyslogAddresses;

/// How long open requests may finish after a shutdown signal.
const GRACE_PERIOD: Duration = Duration::from_secs(10);

/// Settings of one `homesoc up` run; `None` fields come from the
/// configuration file.
pub struct UpOptions {
    pub data_dir: PathBuf,
    /// The configuration file; `homesoc.toml` in the data folder by default.
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP (local tests only).
    pub no_tls: bool,
    /// Allow a listen address other than loopback.
    pub allow_remote: bool,
    /// Syslog listener addresses; each one set here overrides the
    /// configuration file's.
    pub syslog: SyslogAddresses,
    /// Jobs to run beside the server, such as the rule scheduler.
    pub jobs: Vec<Box<dyn BackgroundJob>>,
    /// Runs after a feed pull that the web UI started, such as a
    /// retro-hunt of the new indicators.
    pub after_pull: Option<AfterPull>,
}

/// Work to do after a feed pull outside the intel refresher's schedule,
/// given the pull's report. It takes the incident lock itself when it
/// writes incidents.
pub type AfterPull = Arc<
    dyn Fn(JobContext, Vec<intel::PullReport>) -> Pin<Box<dyn Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// What a background job gets: the workspace (whose catalogs include the
/// live rows), an engine, and the metrics to count its runs in.
#[derive(Clone)]
pub struct JobContext {
    pub data_dir: PathBuf,
    pub workspace: Workspace,
    pub engine: Engine,
    pub metrics: Arc<Metrics>,
    /// The lock every incident writer takes; see [`AppState::incident_writes`].
    pub incident_writes: Arc<tokio::sync::Mutex<()>>,
}

/// Resolves once `homesoc up` is shutting down.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Waits for the shutdown signal.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// A task that runs for the life of the server, such as the rule scheduler
/// or the intel refresher. `run` must return soon after `shutdown` resolves.
pub trait BackgroundJob: Send {
    /// A short name for logs.
    fn name(&self) -> &str;
    /// Runs the job until shutdown.
    fn run(
        self: Box<Self>,
        context: JobContext,
        shutdown: Shutdown,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// Runs the server until SIGINT or SIGTERM, then flushes and returns.
pub async fn run(options: UpOptions) -> Result<(), ServerError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let data_dir = &options.data_dir;
    std::fs::create_dir_all(data_dir).map_err(|source| io_error(data_dir, source))?;
    let workspace = Workspace::open(data_dir)?;
    let data_dir = workspace.root().to_path_buf();
    let _write_lock = workspace.lock_for_writing()?;

    let config_path = options
        .config
        .clone()
        .unwrap_or_else(|| data_dir.join("homesoc.toml"));
    let (config, created) = Config::load_or_create(&config_path)?;
    if created {
        eprintln!(
            "wrote the default configuration to {}",
            config_path.display()
        );
    }
    ensure_admin(&data_dir)?;

    let listen = options
        .listen
        .clone()
        .unwrap_or_else(|| config.listen.clone());
    let address: SocketAddr = listen.parse().map_err(|_| {
        ServerError::Usage(format!(
            "invalid listen address {listen}; use IP:PORT such as 127.0.0.1:8443"
        ))
    })?;
    let tls_enabled = config.tls.enabled && !options.no_tls;
    if !address.ip().is_loopback() {
        if !options.allow_remote {
            return Err(ServerError::Usage(format!(
                "{address} accepts connections from other machines; pass --allow-remote to confirm, or listen on 127.0.0.1"
            )));
        }
        if !tls_enabled {
            warn!(%address, "TLS is off while listening beyond loopback: API keys and events cross the network in clear text");
        }
    }
    let tls = if tls_enabled {
        Some(tls_paths(&options, &config, &data_dir)?)
    } else {
        None
    };
    let syslog_addresses = SyslogAddresses {
        udp: options.syslog.udp.clone().or(config.syslog.udp.clone()),
        tcp: options.syslog.tcp.clone().or(config.syslog.tcp.clone()),
        tls: options.syslog.tls.clone().or(config.syslog.tls.clone()),
    };
    // The syslog TLS listener serves the HTTPS certificate, even when
    // HTTPS itself is off.
    let syslog_tls = match (&syslog_addresses.tls, &tls) {
        (None, _) => None,
        (Some(_), Some(paths)) => Some(paths.clone()),
        (Some(_), None) => Some(tls_paths(&options, &config, &data_dir)?),
    };

    let engine = Engine::new();
    let live_options = LiveOptions {
        flush_interval: Duration::from_secs(config.flush_interval_secs.max(1)),
        ..LiveOptions::default()
    };
    let (live, recovery) = LiveStore::open(&workspace, live_options).await?;
    if recovery.rows > 0 {
        info!(
            rows = recovery.rows,
            "recovered acknowledged rows from the write-ahead log"
        );
    }
    // No commit has started yet, so staged notifications were left by a
    // crash; queue those whose commit happened.
    let staged = detect::automation::outbox::recover_staged(&workspace).await?;
    if staged.promoted + staged.dropped > 0 {
        info!(
            queued = staged.promoted,
            dropped = staged.dropped,
            "settled notifications staged before a crash"
        );
    }
    let live = Arc::new(live);
    let metrics = Arc::new(Metrics::default());
    let syslog = if syslog_addresses.is_empty() {
        None
    } else {
        let listeners = crate::syslog::start(
            &syslog_addresses,
            &config.syslog,
            options.allow_remote,
            syslog_tls,
            live.clone(),
        )
        .await?;
        for (transport, address) in &listeners.bound {
            info!(transport, %address, "syslog listening");
            println!("homesoc syslog listening on {transport}://{address}");
        }
        Some(listeners)
    };
    let incident_writes = Arc::new(tokio::sync::Mutex::new(()));
    let state = Arc::new(AppState {
        config,
        data_dir: data_dir.clone(),
        workspace: workspace.clone(),
        live: live.clone(),
        engine,
        auth: Authenticator::new(&data_dir)?,
        metrics,
        syslog_metrics: syslog.as_ref().map(|listeners| listeners.metrics()),
        incident_writes,
        ui: crate::ui::UiState::new(),
        after_pull: options.after_pull.clone(),
    });

    let listener = std::net::TcpListener::bind(address)
        .map_err(|source| io_error(&PathBuf::from(&listen), source))?;
    listener
        .set_nonblocking(true)
        .map_err(|source| io_error(&PathBuf::from(&listen), source))?;
    let local = listener
        .local_addr()
        .map_err(|source| io_error(&PathBuf::from(&listen), source))?;

    let (stop, stopped) = watch::channel(false);
    let mut background = Vec::new();
    {
        let live = live.clone();
        let mut shutdown = Shutdown(stopped.clone());
        background.push(tokio::spawn(async move {
            live.run_flusher(async move { shutdown.wait().await }).await;
        }));
    }
    // Background jobs (rule scheduler, intel refresher) start here.
    let context = state.job_context();
    for job in options.jobs {
        info!(job = job.name(), "starting background job");
        background.push(tokio::spawn(
            job.run(context.clone(), Shutdown(stopped.clone())),
        ));
    }

    let handle = axum_server::Handle::new();
    tokio::spawn(signal_shutdown(StopSignals::install()?, handle.clone()));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(address = %local, scheme, "listening");
    println!("homesoc listening on {scheme}://{local}");
    println!("web UI: {scheme}://{local}/ui");

    let served = match tls {
        Some((cert, key)) => {
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .map_err(|err| {
                    ServerError::Tls(format!(
                        "cannot load {} and {}: {err}",
                        cert.display(),
                        key.display()
                    ))
                })?;
            // TCP_NODELAY: without it, a response written in two parts
            // (headers, then body) waits for the client's delayed ACK,
            // about 40 ms on Linux, before its body leaves.
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
                .acceptor(axum_server::accept::NoDelayAcceptor::new());
            let mut server = axum_server::from_tcp(listener).acceptor(acceptor);
            allow_long_queries(server.http_builder());
            server.handle(handle).serve(app).await
        }
        None => {
            let mut server = axum_server::from_tcp(listener)
                .acceptor(axum_server::accept::NoDelayAcceptor::new());
            allow_long_queries(server.http_builder());
            server.handle(handle).serve(app).await
        }
    };
    if let Err(err) = served {
        warn!(error = %err, "the server stopped with an error");
    }

    // Rows the listeners already parsed reach the write-ahead log before
    // the last flush.
    if let Some(listeners) = syslog {
        listeners.stop().await;
    }
    let _ = stop.send(true);
    for task in background {
        let _ = task.await;
    }
    let report = live.close().await.map_err(ServerError::FinalFlush)?;
    info!(rows = report.rows, "flushed live rows; stopped");
    Ok(())
}

/// Creates the admin user with a random password on first run and prints
/// the password once.
fn ensure_admin(data_dir: &std::path::Path) -> Result<(), ServerError> {
    let mut file = AuthFile::load(data_dir)?;
    if !file.users.is_empty() {
        return Ok(());
    }
    let password = random_secret(18);
    file.users.push(UserRecord {
        name: "admin".to_string(),
        role: Role::Admin,
        hash: hash_secret(&password),
    });
    file.save(data_dir)?;
    println!("created user admin with password {password}");
    println!("this password is shown only once and stored only as a hash; keep it now");
    Ok(())
}

fn tls_paths(
    options: &UpOptions,
    config: &Config,
    data_dir: &std::path::Path,
) -> Result<(PathBuf, PathBuf), ServerError> {
    let cert = options.tls_cert.clone().or_else(|| config.tls.cert.clone());
    let key = options.tls_key.clone().or_else(|| config.tls.key.clone());
    match (cert, key) {
        (Some(cert), Some(key)) => Ok((cert, key)),
        (None, None) => {
            let (paths, created) = crate::tls::ensure_self_signed(data_dir)?;
            if created {
                eprintln!(
                    "generated a self-signed TLS certificate {}; clients must trust it (or give your own with --tls-cert and --tls-key)",
                    paths.cert.display()
                );
            }
            Ok((paths.cert, paths.key))
        }
        _ => Err(ServerError::Usage(
            "give both --tls-cert and --tls-key, or neither to use the generated certificate"
                .to_string(),
        )),
    }
}

/// The signals that stop the server. They are installed before the server
/// reports that it listens, so a signal sent right after that message
/// starts a clean shutdown instead of killing the process.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Result<StopSignals, ServerError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let failed = |err: std::io::Error| {
                ServerError::Usage(format!(
                    "cannot install the SIGINT and SIGTERM handlers: {err}"
                ))
            };
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt()).map_err(failed)?,
                terminate: signal(SignalKind::terminate()).map_err(failed)?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Starts a graceful shutdown at SIGINT or SIGTERM: stop accepting, let
/// open requests finish.
/// Raises the HTTP/2 header limit from 16 KiB to 1 MiB. The web UI's Logs
/// page sends its KQL query in the address, and published rule queries
/// can be longer than 16 KiB.
fn allow_long_queries(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
) {
    builder.http2().max_header_list_size(1 << 20);
}

async fn signal_shutdown(signals: StopSignals, handle: axum_server::Handle) {
    signals.wait().await;
    info!("shutting down: no new connections; flushing");
    handle.graceful_shutdown(Some(GRACE_PERIOD));
}
