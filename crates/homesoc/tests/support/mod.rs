//! Starts `homesoc up` as a child process and talks to it, for the server
//! integration tests.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_homesoc");

/// A running `homesoc up`.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub output: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the server on a free loopback port and waits until it listens.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let mut command = Command::new(BIN);
        command
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--log")
            .arg("warn")
            .arg("up")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("homesoc up starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (sender, receiver) = std::sync::mpsc::channel();
        {
            let output = output.clone();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(url) = line.strip_prefix("homesoc listening on ") {
                        let _ = sender.send(url.to_string());
                    }
                    output.lock().unwrap().push(line);
                }
            });
        }
        {
            let stderr = stderr.clone();
            let pipe = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    stderr.lock().unwrap().push(line);
                }
            });
        }
        let url = match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "homesoc up did not start; stderr:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
        };
        Server {
            child,
            url,
            data_dir: data_dir.to_path_buf(),
            output,
            stderr,
        }
    }

    /// The generated certificate, which clients must trust.
    pub fn ca(&self) -> PathBuf {
        self.data_dir.join("tls").join("cert.pem")
    }

    pub fn stdout_text(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
        wait_with_timeout(&mut self.child, Duration::from_secs(60))
    }

    /// Kills the server with SIGKILL, as a crash or power cut would.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            panic!("the process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `homesoc keys create` and returns the key.
pub fn create_key(data_dir: &Path, scopes: &str) -> String {
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["keys", "create", "--name", "test", "--scopes", scopes])
        .output()
        .expect("homesoc keys create runs");
    assert!(
        output.status.success(),
        "keys create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// An HTTPS client that trusts the server's generated certificate.
pub fn client(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("the certificate exists");
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Runs a KQL query through `POST /api/query`.
pub async fn query(client: &reqwest::Client, url: &str, key: &str, text: &str) -> Value {
    let response = client
        .post(format!("{url}/api/query"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "query": text }).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "query failed with {status}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Checks that python3 can import `modules`. Outside CI a missing module
/// skips the test with a note; with CI=true it fails.
pub fn python_ready(modules: &[&str]) -> bool {
    let code = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let ok = Command::new("python3")
        .args(["-c", &code])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let message = format!(
            "python3 cannot import {modules:?}; install them with `pip install azure-monitor-ingestion azure-kusto-data elasticsearch` (.ci/run does)"
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}");
        }
        eprintln!("skipped: {message}");
    }
    ok
}

/// Runs a script from tests/scripts with `env` and `input` on standard
/// input, and parses its last output line as JSON.
pub fn python(script: &str, env: &[(&str, String)], input: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("scripts")
        .join(script);
    let mut command = Command::new("python3");
    command
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|err| panic!("{script} printed {stdout}: {err}"))
}

/// The corpus folder beside the repository.
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}
