//! `homesoc up` with its syslog listeners: util-linux `logger` sends over
//! UDP and TCP, `openssl s_client` over TLS, and the rows come back through
//! the query API while the server runs and from the Delta tables after it
//! stops.

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{BIN, Server, create_key, query};

/// Returns true when `name` is on the PATH. With `CI=true` a missing tool
/// fails the test; otherwise the test says so and skips.
fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    if !found {
        let message = format!(
            "{name} is not installed; .ci/run installs it (apt-get install bsdutils openssl)"
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}");
        }
        eprintln!("skipped: {message}");
    }
    found
}

/// Finds the address that `homesoc up` printed for `transport`.
fn listening_address(server: &Server, transport: &str) -> String {
    let prefix = format!("homesoc syslog listening on {transport}://");
    server
        .stdout_text()
        .lines()
        .find_map(|line| line.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| {
            panic!(
                "no {transport} listener in the output:\n{}",
                server.stdout_text()
            )
        })
}

fn port_of(address: &str) -> String {
    address.rsplit(':').next().unwrap().to_string()
}

fn run_logger(args: &[&str]) {
    let output = Command::new("logger").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "logger {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Sends one newline-framed message over TLS with `openssl s_client`,
/// which closes the connection when its input ends.
fn send_over_tls(address: &str, ca: &std::path::Path, message: &str) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", address, "-CAfile"])
        .arg(ca)
        .args(["-verify_return_error", "-servername", "localhost"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{message}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "openssl s_client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Polls the query API until `text` returns `expected` rows.
async fn wait_for_rows(
    http: &reqwest::Client,
    server: &Server,
    key: &str,
    text: &str,
    expected: usize,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let result = query(http, &server.url, key, text).await;
        let rows = result["rows"].as_array().cloned().unwrap_or_default();
        if rows.len() >= expected || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn syslog_over_udp_tcp_and_tls_reaches_the_tables() {
    if !require_tool("logger") || !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &[
            "--no-tls",
            "--syslog-udp",
            "127.0.0.1:0",
            "--syslog-tcp",
            "127.0.0.1:0",
            "--syslog-tls",
            "127.0.0.1:0",
        ],
    );
    let udp = listening_address(&server, "udp");
    let tcp = listening_address(&server, "tcp");
    let tls = listening_address(&server, "tls");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let tag = format!("up-{}-{nanos}", std::process::id());

    run_logger(&[
        "--server",
        "127.0.0.1",
        "--port",
        &port_of(&udp),
        "--udp",
        "--rfc3164",
        "-t",
        &tag,
        "-p",
        "auth.warning",
        "failed password for root from 203.0.113.9",
    ]);
    let cef = format!(
        "CEF:0|Fortinet|FortiGate|7.2|13|traffic|5|src=203.0.113.9 dst=192.0.2.1 dpt=3389 act=deny deviceExternalId={tag}"
    );
    run_logger(&[
        "--server",
        "127.0.0.1",
        "--port",
        &port_of(&tcp),
        "--tcp",
        "--rfc5424",
        "--octet-count",
        "-t",
        "fw",
        &cef,
    ]);
    send_over_tls(
        &tls,
        &server.ca(),
        &format!(
            "<38>1 2026-12-05T06:00:00.000Z gateway {tag} 77 - - accepted publickey for alice"
        ),
    );

    let key = create_key(&data, "query");
    let http = reqwest::Client::new();
    let syslog_query = format!(
        "Syslog | where ProcessName == '{tag}' | project SyslogMessage, Facility, SeverityLevel, HostIP | order by SyslogMessage asc"
    );
    let rows = wait_for_rows(&http, &server, &key, &syslog_query, 2).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][0], "accepted publickey for alice");
    assert_eq!(rows[0][1], "auth");
    assert_eq!(rows[1][0], "failed password for root from 203.0.113.9");
    assert_eq!(rows[1][2], "warning");
    assert_eq!(rows[1][3], "127.0.0.1");

    let cef_query = format!(
        "CommonSecurityLog | where DeviceExternalID == '{tag}' | project DeviceVendor, SourceIP, DestinationPort, DeviceAction"
    );
    let rows = wait_for_rows(&http, &server, &key, &cef_query, 1).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "Fortinet");
    assert_eq!(rows[0][1], "203.0.113.9");
    assert_eq!(rows[0][2], 3389);
    assert_eq!(rows[0][3], "deny");

    let metrics = http
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "homesoc_events_accepted_total{source=\"syslog_udp\"} 1",
        "homesoc_events_accepted_total{source=\"syslog_tcp\"} 1",
        "homesoc_events_accepted_total{source=\"syslog_tls\"} 1",
        "homesoc_syslog_connections_opened_total{source=\"syslog_tls\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }

    // After a clean stop the rows are in the Delta tables.
    assert!(server.terminate().success());
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["query", "--format", "json"])
        .arg(format!(
            "union Syslog, CommonSecurityLog | where ProcessName == '{tag}' or DeviceExternalID == '{tag}' | count"
        ))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["rows"][0][0], 3, "{result}");
}

#[test]
fn syslog_address_errors_name_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 2] = [
        (
            &["--syslog-udp", "0.0.0.0:5514"],
            "pass --allow-remote to confirm, or listen on 127.0.0.1",
        ),
        (
            &["--syslog-tcp", "localhost"],
            "invalid syslog address localhost (--syslog-tcp); use IP:PORT",
        ),
    ];
    for (flags, expected) in cases {
        let output = Command::new(BIN)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["up", "--no-tls", "--listen", "127.0.0.1:0"])
            .args(flags)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{flags:?} started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
}
