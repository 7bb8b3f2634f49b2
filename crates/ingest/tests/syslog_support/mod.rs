//! A syslog server on 127.0.0.1 for the tests: the real listeners and
//! pipeline, writing through [`WorkspaceSink`] into a Delta workspace in a
//! temporary folder, read back with KQL through the engine.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{Engine, QueryOptions};
use ingest::sink::WorkspaceSink;
use ingest::syslog::{Limits, SyslogMetrics, SyslogPipeline, serve_tcp, serve_tls, serve_udp};
use serde_json::Value;
use store::Workspace;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub workspace: Workspace,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub tls: SocketAddr,
    /// The self-signed certificate of the TLS listener, for `CN=localhost`.
    pub certificate: PathBuf,
    pub metrics: Arc<SyslogMetrics>,
    shutdown: CancellationToken,
    listeners: Vec<JoinHandle<()>>,
    batcher: JoinHandle<()>,
}

impl TestServer {
    /// Starts UDP, TCP and TLS listeners on ports the system picks.
    pub async fn start(limits: Limits) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary folder");
        let workspace = Workspace::open(dir.path().join("workspace")).expect("workspace");
        let sink = Arc::new(WorkspaceSink::new(workspace.clone(), "syslog-test"));
        let (pipeline, batcher) = SyslogPipeline::start(sink, limits, Some("soc-test".into()));
        let shutdown = CancellationToken::new();

        let udp_socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let tcp_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind TCP");
        let tls_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind TLS");
        let udp = udp_socket.local_addr().unwrap();
        let tcp = tcp_listener.local_addr().unwrap();
        let tls = tls_listener.local_addr().unwrap();
        let (tls_config, certificate) = tls_config(dir.path());

        let listeners = vec![
            tokio::spawn(serve_udp(udp_socket, pipeline.clone(), shutdown.clone())),
            tokio::spawn(serve_tcp(tcp_listener, pipeline.clone(), shutdown.clone())),
            tokio::spawn(serve_tls(
                tls_listener,
                tls_config,
                pipeline.clone(),
                shutdown.clone(),
            )),
        ];
        TestServer {
            metrics: pipeline.metrics(),
            dir,
            workspace,
            udp,
            tcp,
            tls,
            certificate,
            shutdown,
            listeners,
            batcher,
        }
    }

    /// Stops the listeners and waits until every queued row is stored.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        for listener in self.listeners.drain(..) {
            listener.await.expect("listener task");
        }
        (&mut self.batcher).await.expect("batcher task");
    }

    /// Runs a KQL query over the workspace and returns its rows as JSON.
    pub async fn query(&self, kql: &str) -> Vec<Vec<Value>> {
        let engine = Engine::new();
        let catalog = store::catalog::load(&self.workspace, &engine, None)
            .await
            .expect("catalog");
        let result = engine
            .run(kql, &catalog, &QueryOptions::default())
            .await
            .unwrap_or_else(|err| panic!("query failed: {kql}: {err}"));
        engine::output::rows_json(&result)
    }

    /// Polls a query until it returns `expected` rows, for up to 30 s, and
    /// returns the rows.
    pub async fn wait_for_rows(&self, kql: &str, expected: usize) -> Vec<Vec<Value>> {
        let start = Instant::now();
        loop {
            let rows = self.query(kql).await;
            if rows.len() >= expected || start.elapsed() > Duration::from_secs(30) {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Returns the counters of one source (`syslog_udp`, `syslog_tcp` or
    /// `syslog_tls`).
    pub fn source(&self, source: &str) -> ingest::syslog::SourceSnapshot {
        self.metrics
            .snapshot()
            .into_iter()
            .find(|s| s.source == source)
            .expect("source counters")
    }
}

/// Limits with a short batch delay, so rows show up quickly.
pub fn test_limits() -> Limits {
    Limits {
        batch_delay: Duration::from_millis(50),
        ..Limits::default()
    }
}

/// Makes a self-signed certificate for `localhost` and 127.0.0.1 with the
/// `openssl` command and returns the rustls config and the certificate
/// path.
pub fn tls_config(dir: &Path) -> (Arc<ServerConfig>, PathBuf) {
    require_tool("openssl");
    let certificate = dir.join("server.pem");
    let key = dir.join("server.key");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl req failed");
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certificate)
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("certificate PEM");
    let private_key = PrivateKeyDer::from_pem_file(&key).expect("key PEM");
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .expect("server certificate");
    (Arc::new(config), certificate)
}

/// Returns true when the command is on the PATH. With `CI=true` a missing
/// tool fails the test; otherwise the test says so and skips.
pub fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    if !found {
        let message = format!(
            "{name} is not installed; .ci/run installs it (apt-get install rsyslog rsyslog-gnutls bsdutils openssl)"
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}");
        }
        eprintln!("skipped: {message}");
    }
    found
}

/// Runs `logger` with the arguments and asserts that it succeeded.
pub async fn logger(args: &[&str]) {
    let output = tokio::process::Command::new("logger")
        .args(args)
        .output()
        .await
        .expect("run logger");
    assert!(
        output.status.success(),
        "logger {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A string unique to one test run, to find that test's rows. It stays
/// short because rsyslog's traditional forward format cuts tags at 32
/// characters.
pub fn marker(name: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{name}-{}", &id[..12])
}

/// Returns a JSON row's cells as text.
pub fn text(row: &[Value]) -> Vec<String> {
    row.iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}
