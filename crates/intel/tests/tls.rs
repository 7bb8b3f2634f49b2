//! Feeds behind HTTPS servers with a private CA, and servers that require
//! a client certificate. The test makes the CA and the certificates with
//! rcgen and runs a rustls HTTPS server on 127.0.0.1 that serves a folder.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{corpus_dir, quick_fetcher, table_rows};
use intel::{FeedConfig, FeedFormat, FeedsFile, PullReport, PullResult, pull_feed};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use store::Workspace;

const TII: &str = "ThreatIntelligenceIndicator";

/// A certificate and its key, in PEM.
struct Pem {
    cert: String,
    key: String,
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

/// A CA that issues server and client certificates.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn issue(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> Pem {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "homesoc test");
        params.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &*self.issuer).unwrap();
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

/// An HTTPS server on 127.0.0.1 that serves the files of a folder. With
/// `client_ca` it requires a client certificate issued by that CA.
struct TlsServer {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl TlsServer {
    fn start(folder: &Path, ca: &TestCa, client_ca: Option<&TestCa>) -> TlsServer {
        let server = ca.issue(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            Some(client_ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(client_ca.issuer.der().clone()).unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key_der));
        let config = Arc::new(builder.with_single_cert(vec![server.der], key).unwrap());

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let (counter, folder) = (connections.clone(), folder.to_path_buf());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let (config, folder) = (config.clone(), folder.clone());
                std::thread::spawn(move || serve(stream, config, &folder));
            }
        });
        TlsServer { port, connections }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/{path}", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, folder: &Path) {
    let connection = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, stream);
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
        match tls.read(&mut buffer) {
            // A failed handshake ends here, after rustls sent its alert.
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match std::fs::read(folder.join(path.trim_start_matches('/'))) {
        Ok(body) => (200, body),
        Err(_) => (404, b"not found".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = tls.write_all(head.as_bytes());
    let _ = tls.write_all(&body);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn write_file(folder: &Path, name: &str, content: &str) -> PathBuf {
    let path = folder.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn feodo(url: String) -> FeedConfig {
    FeedConfig {
        value_columns: vec![2],
        ..FeedConfig::new("Feodo", &url, FeedFormat::Csv)
    }
}

async fn pull(workspace: &Workspace, feed: &FeedConfig) -> PullReport {
    pull_feed(workspace, &quick_fetcher(), &FeedsFile::default(), feed)
        .await
        .unwrap()
}

/// Checks that `report` failed with an error that contains every one of
/// `expected`, that the failure was recorded, and that the table has
/// `rows` rows.
async fn assert_failed(workspace: &Workspace, report: &PullReport, expected: &[&str], rows: usize) {
    assert_eq!(report.result, PullResult::Failed, "{report:?}");
    let error = report.error.clone().unwrap_or_default();
    for part in expected {
        assert!(
            error.contains(part),
            "error {error:?} should contain {part:?}"
        );
    }
    let pulls = table_rows(workspace, "HomesocIntelPulls", &["FeedName", "Error"]).await;
    assert!(
        pulls
            .iter()
            .any(|row| row["FeedName"] == report.feed && row["Error"] == error),
        "the failure is recorded: {pulls:?}"
    );
    assert_eq!(
        table_rows(workspace, TII, &["IndicatorId"]).await.len(),
        rows
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn private_ca_needs_ca_file() {
    let ca = TestCa::new("homesoc test CA");
    let server = TlsServer::start(&corpus_dir().join("misp/feeds-text"), &ca, None);
    let files = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();

    let feed = feodo(server.url("feodo_ipblocklist.csv"));
    let report = pull(&workspace, &feed).await;
    assert_failed(
        &workspace,
        &report,
        &["TLS failed", "not signed by a CA", "--ca-file", "ca_file"],
        0,
    )
    .await;
    assert_eq!(server.connections(), 1, "a TLS failure is not retried");

    let ca_file = write_file(files.path(), "ca.pem", &ca.pem());
    let feed = FeedConfig {
        ca_file: Some(ca_file),
        ..feed
    };
    let report = pull(&workspace, &feed).await;
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert_eq!(report.added, 28);

    // Another CA's certificate does not make the server trusted.
    let other = write_file(files.path(), "other.pem", &TestCa::new("other CA").pem());
    let feed = FeedConfig {
        ca_file: Some(other),
        ..feed
    };
    let report = pull(&workspace, &feed).await;
    assert_failed(&workspace, &report, &["not signed by a CA"], 28).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn misp_feed_over_https() {
    let ca = TestCa::new("homesoc test CA");
    let server = TlsServer::start(&corpus_dir().join("misp/feed-misp-infoblox"), &ca, None);
    let files = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let feed = FeedConfig {
        ca_file: Some(write_file(files.path(), "ca.pem", &ca.pem())),
        ..FeedConfig::new("Infoblox", &server.url(""), FeedFormat::Misp)
    };
    let report = pull(&workspace, &feed).await;
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert_eq!(report.events_fetched, 7);
    assert_eq!(report.added, 212);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificate_required() {
    let ca = TestCa::new("homesoc test CA");
    let server = TlsServer::start(&corpus_dir().join("misp/feeds-text"), &ca, Some(&ca));
    let files = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let ca_file = write_file(files.path(), "ca.pem", &ca.pem());
    let feed = FeedConfig {
        ca_file: Some(ca_file),
        ..feodo(server.url("feodo_ipblocklist.csv"))
    };

    let report = pull(&workspace, &feed).await;
    assert_failed(
        &workspace,
        &report,
        &["TLS failed", "--client-cert", "client_cert_file"],
        0,
    )
    .await;

    // A certificate from a CA the server does not trust is rejected too.
    let stranger = TestCa::new("other CA").issue(&["soc"], ExtendedKeyUsagePurpose::ClientAuth);
    let feed = FeedConfig {
        client_cert_file: Some(write_file(files.path(), "stranger.pem", &stranger.cert)),
        client_key_file: Some(write_file(files.path(), "stranger.key", &stranger.key)),
        ..feed
    };
    let report = pull(&workspace, &feed).await;
    assert_failed(&workspace, &report, &["--client-cert"], 0).await;

    let client = ca.issue(&["soc"], ExtendedKeyUsagePurpose::ClientAuth);
    let feed = FeedConfig {
        client_cert_file: Some(write_file(files.path(), "client.pem", &client.cert)),
        client_key_file: Some(write_file(files.path(), "client.key", &client.key)),
        ..feed
    };
    let report = pull(&workspace, &feed).await;
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert_eq!(report.added, 28);

    // The key may sit in the certificate file.
    let combined = format!("{}{}", client.cert, client.key);
    let feed = FeedConfig {
        name: "Feodo combined".into(),
        client_cert_file: Some(write_file(files.path(), "client-and-key.pem", &combined)),
        client_key_file: None,
        ..feed
    };
    let report = pull(&workspace, &feed).await;
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert_eq!(report.added, 28);
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_tls_files_fail_pull() {
    let ca = TestCa::new("homesoc test CA");
    let server = TlsServer::start(&corpus_dir().join("misp/feeds-text"), &ca, None);
    let files = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let feed = feodo(server.url("feodo_ipblocklist.csv"));

    let missing = files.path().join("missing.pem");
    let report = pull(
        &workspace,
        &FeedConfig {
            ca_file: Some(missing.clone()),
            ..feed.clone()
        },
    )
    .await;
    let expected = format!("cannot read CA file {}", missing.display());
    assert_failed(&workspace, &report, &[&expected], 0).await;

    let not_pem = write_file(files.path(), "ca.der", "binary DER is not PEM");
    let report = pull(
        &workspace,
        &FeedConfig {
            ca_file: Some(not_pem),
            ..feed.clone()
        },
    )
    .await;
    assert_failed(&workspace, &report, &["contains no PEM certificate"], 0).await;

    let client = ca.issue(&["soc"], ExtendedKeyUsagePurpose::ClientAuth);
    let cert_only = write_file(files.path(), "client.pem", &client.cert);
    let report = pull(
        &workspace,
        &FeedConfig {
            client_cert_file: Some(cert_only),
            ..feed.clone()
        },
    )
    .await;
    assert_failed(
        &workspace,
        &report,
        &["cannot use the client certificate"],
        0,
    )
    .await;

    let key_only = write_file(files.path(), "client.key", &client.key);
    let report = pull(
        &workspace,
        &FeedConfig {
            client_key_file: Some(key_only),
            ..feed.clone()
        },
    )
    .await;
    assert_failed(
        &workspace,
        &report,
        &["client key file but no client certificate"],
        0,
    )
    .await;
    assert_eq!(server.connections(), 0, "no request was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_behind_https_url() {
    // A plain HTTP server that rejects the TLS ClientHello as a bad
    // request, as web servers do.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let feed = feodo(format!("https://127.0.0.1:{port}/feodo_ipblocklist.csv"));

    let report = pull(&workspace, &feed).await;
    assert_failed(
        &workspace,
        &report,
        &["TLS failed", "does not speak TLS on this port", "http://"],
        0,
    )
    .await;
}
