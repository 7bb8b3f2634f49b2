//! A real `rsyslogd` (Debian's rsyslog 8), started by the test with its own
//! configuration, pid file and work folder in a temporary folder, forwards
//! messages to the listeners over UDP, TCP with octet counting, and TLS
//! (the gtls driver, checking the server certificate's name).

mod syslog_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use syslog_support::{TestServer, logger, marker, require_tool, test_limits, text};

/// An `rsyslogd -n` child process, stopped when dropped.
struct Rsyslogd {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Rsyslogd {
    /// Starts rsyslogd with a Unix socket input and the given forwarding
    /// action, and waits until the socket exists.
    fn start(dir: &Path, globals: &str, action: &str) -> Rsyslogd {
        let work = dir.join("rsyslog-work");
        std::fs::create_dir_all(&work).unwrap();
        let socket = dir.join("rsyslog.sock");
        let config = dir.join("rsyslog.conf");
        let log = dir.join("rsyslogd.log");
        std::fs::write(
            &config,
            format!(
                "global(workDirectory=\"{work}\" {globals})\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{socket}\" CreatePath=\"on\")\n\
                 *.* {action}\n",
                work = work.display(),
                socket = socket.display(),
            ),
        )
        .unwrap();
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&config)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start rsyslogd");
        let rsyslogd = Rsyslogd { child, socket, log };
        let start = Instant::now();
        while !rsyslogd.socket.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "rsyslogd did not create its socket: {}",
                rsyslogd.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        rsyslogd
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends messages into rsyslogd's socket with `logger`.
    async fn send(&self, tag: &str, messages: &[&str]) {
        let socket = self.socket.display().to_string();
        for message in messages {
            logger(&["-u", &socket, "-t", tag, "-p", "local3.err", message]).await;
        }
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tools_present() -> bool {
    require_tool("rsyslogd") && require_tool("logger")
}

/// Sends three messages through rsyslogd and checks the rows.
async fn forward_and_check(server: &TestServer, rsyslogd: &Rsyslogd, tag: &str) {
    rsyslogd
        .send(
            tag,
            &["first message", "second, with = and | signs", "third"],
        )
        .await;
    let query = format!(
        "Syslog | where ProcessName == '{tag}' \
         | project SyslogMessage, Facility, SeverityLevel, HostIP, Computer \
         | order by SyslogMessage asc"
    );
    let rows = server.wait_for_rows(&query, 3).await;
    assert_eq!(rows.len(), 3, "{rows:?}\nrsyslogd: {}", rsyslogd.output());
    let messages: Vec<String> = rows.iter().map(|row| text(row)[0].clone()).collect();
    assert_eq!(
        messages,
        ["first message", "second, with = and | signs", "third"]
    );
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    for row in &rows {
        let cells = text(row);
        assert_eq!(cells[1], "local3");
        assert_eq!(cells[2], "err");
        assert_eq!(cells[3], "127.0.0.1");
        assert_eq!(cells[4], hostname);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_forwards_over_udp() {
    if !tools_present() {
        return;
    }
    let mut server = TestServer::start(test_limits()).await;
    // rsyslog's default forwarding template, RFC 3164 with a hostname.
    let action = format!(
        "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{}\" protocol=\"udp\")",
        server.udp.port()
    );
    let rsyslogd = Rsyslogd::start(server.dir.path(), "", &action);
    let tag = marker("rsudp");
    forward_and_check(&server, &rsyslogd, &tag).await;
    drop(rsyslogd);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_forwards_over_tcp_octet_counted() {
    if !tools_present() {
        return;
    }
    let mut server = TestServer::start(test_limits()).await;
    let action = format!(
        "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{}\" protocol=\"tcp\" \
         TCP_Framing=\"octet-counted\" template=\"RSYSLOG_SyslogProtocol23Format\")",
        server.tcp.port()
    );
    let rsyslogd = Rsyslogd::start(server.dir.path(), "", &action);
    let tag = marker("rstcp");
    forward_and_check(&server, &rsyslogd, &tag).await;
    drop(rsyslogd);
    server.stop().await;
    assert_eq!(
        server
            .source("syslog_tcp")
            .dropped
            .iter()
            .map(|(_, n)| n)
            .sum::<u64>(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_forwards_over_tls() {
    if !tools_present() {
        return;
    }
    let gtls = Path::new("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so");
    if !gtls.exists() {
        let message = "rsyslog's gtls driver is not installed; .ci/run installs rsyslog-gnutls";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}");
        }
        eprintln!("skipped: {message}");
        return;
    }
    let mut server = TestServer::start(test_limits()).await;
    let globals = format!(
        "DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"{}\"",
        server.certificate.display()
    );
    let action = format!(
        "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{}\" protocol=\"tcp\" \
         StreamDriver=\"gtls\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/name\" \
         StreamDriverPermittedPeers=\"localhost\" template=\"RSYSLOG_SyslogProtocol23Format\")",
        server.tls.port()
    );
    let rsyslogd = Rsyslogd::start(server.dir.path(), &globals, &action);
    let tag = marker("rstls");
    forward_and_check(&server, &rsyslogd, &tag).await;
    drop(rsyslogd);
    server.stop().await;
    assert!(server.source("syslog_tls").accepted >= 3);
    assert_eq!(server.source("syslog_tls").tls_handshakes_failed, 0);
}
