//! A full disk under `homesoc up`: the data folder lives on a small tmpfs
//! mounted in a private mount namespace (`unshare -m`), so the test fills
//! a real file system without touching the machine's disks.
//!
//! While the disk is full, the sender gets 503 with the `DiskFull` code
//! and `Retry-After`, and the server still runs queries. After space
//! is freed and the server restarts, every acknowledged event is present
//! exactly once and no refused batch left rows behind.
//!
//! Needs `unshare` and the right to mount a tmpfs (root, or unprivileged
//! user namespaces). Outside CI a machine without them skips the test
//! with a note; with CI=true it fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{BIN, query, wait_with_timeout};

/// Records per batch; each batch is one request.
const BATCH: usize = 200;

/// Size of the tmpfs, and how much of it a filler file takes, in MiB.
/// The server gets the difference (a few MiB) for its write-ahead log.
const TMPFS_MIB: u64 = 48;
const FILLER_MIB: u64 = 40;

/// No flush during the test: the write-ahead log alone fills the disk,
/// and the restart replays it.
const CONFIG: &str = r#"
listen = "127.0.0.1:0"
flush_interval_secs = 3600

[[data_collection_rule]]
id = "dcr-disk"

[[data_collection_rule.stream]]
name = "Custom-Disk"
table = "Event"
columns = { TimeGenerated = "datetime", Computer = "string", EventID = "int", RenderedDescription = "string" }
"#;

/// Mounts the tmpfs, creates a key, fills most of the space, then runs
/// `homesoc up` twice: until `stop1` appears, and again after the filler
/// is deleted, until `stop2` appears.
const SCRIPT: &str = r#"
set -eu
mount -t tmpfs -o "size=${TMPFS_MIB}m" tmpfs "$MNT"
mkdir "$MNT/data"
"$BIN" --data-dir "$MNT/data" keys create --name test --scopes ingest,query > "$OUT/key"
dd if=/dev/zero of="$MNT/filler" bs=1M count="$FILLER_MIB" 2>/dev/null
run() {
  "$BIN" --data-dir "$MNT/data" --log warn up --config "$CONF" --no-tls > "$OUT/up$1.out" 2> "$OUT/up$1.err" &
  pid=$!
  while [ ! -e "$OUT/stop$1" ]; do sleep 0.1; done
  kill -TERM "$pid"
  wait "$pid" || echo "up $1 exited with $?" >> "$OUT/script.err"
}
run 1
rm "$MNT/filler"
run 2
"#;

/// Checks that this machine lets the test mount a tmpfs in a private
/// mount namespace.
fn mount_namespaces_work(folder: &Path) -> bool {
    let probe = folder.join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    let works = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=1m tmpfs "$1""#)
        .arg("sh")
        .arg(&probe)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if works {
        return true;
    }
    let message =
        "the full-disk test needs `unshare -m` and the right to mount a tmpfs (run as root)";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("skipped: {message}");
    false
}

/// Waits for `up` run `run` to print its address, and returns it.
fn wait_for_url(out: &Path, run: u32, script: &mut Child) -> String {
    let started = Instant::now();
    let stdout = out.join(format!("up{run}.out"));
    loop {
        let text = std::fs::read_to_string(&stdout).unwrap_or_default();
        if let Some(url) = text
            .lines()
            .find_map(|line| line.strip_prefix("homesoc listening on "))
        {
            return url.to_string();
        }
        if let Some(status) = script.try_wait().unwrap() {
            panic!(
                "the script ended with {status} before up {run} listened; stderr:\n{}",
                read(out, &format!("up{run}.err"))
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "up {run} did not listen within 60 s; stderr:\n{}",
            read(out, &format!("up{run}.err"))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read(out: &Path, name: &str) -> String {
    std::fs::read_to_string(out.join(name)).unwrap_or_default()
}

/// Posts one batch named `name`; returns the status and the body.
async fn send(http: &reqwest::Client, url: &str, key: &str, name: &str) -> (u16, Value, String) {
    // A long description makes each batch take about 100 KiB of log.
    let padding = "x".repeat(400);
    let records: Vec<Value> = (0..BATCH)
        .map(|i| {
            json!({"TimeGenerated": "2024-06-01T00:00:00Z", "Computer": name, "EventID": i,
                   "RenderedDescription": padding})
        })
        .collect();
    let response = http
        .post(format!(
            "{url}/dataCollectionRules/dcr-disk/streams/Custom-Disk?api-version=2023-01-01"
        ))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(Value::Array(records).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::Null),
        retry_after,
    )
}

/// Counts the Event rows of each batch name.
async fn counts(http: &reqwest::Client, url: &str, key: &str) -> Vec<(String, u64)> {
    let result = query(
        http,
        url,
        key,
        "Event | summarize Rows = count() by Computer | sort by Computer asc",
    )
    .await;
    result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row[0].as_str().unwrap().to_string(),
                row[1].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_disk_refuses_batches_and_loses_nothing() {
    let folder = tempfile::tempdir().unwrap();
    if !mount_namespaces_work(folder.path()) {
        return;
    }
    let mount: PathBuf = folder.path().join("mnt");
    let out = folder.path().join("out");
    std::fs::create_dir_all(&mount).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let config = folder.path().join("homesoc.toml");
    std::fs::write(&config, CONFIG).unwrap();

    let mut script = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", SCRIPT])
        .env("BIN", BIN)
        .env("MNT", &mount)
        .env("OUT", &out)
        .env("CONF", &config)
        .env("TMPFS_MIB", TMPFS_MIB.to_string())
        .env("FILLER_MIB", FILLER_MIB.to_string())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare runs");
    let url = wait_for_url(&out, 1, &mut script);
    let key = read(&out, "key").trim().to_string();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Send until the disk is full.
    let mut acked: Vec<String> = Vec::new();
    let mut refusal = None;
    for number in 0..2_000 {
        let name = format!("b{number:05}");
        let (status, body, retry_after) = send(&http, &url, &key, &name).await;
        match status {
            204 => acked.push(name),
            503 => {
                refusal = Some((body, retry_after));
                break;
            }
            other => panic!("batch {name}: unexpected status {other}: {body}"),
        }
    }
    let (body, retry_after) = refusal.expect("the disk filled up within 2,000 batches");
    assert!(!acked.is_empty(), "some batches fit before the disk filled");
    assert_eq!(body["error"]["code"], "DiskFull", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("is full") && message.contains("free space"),
        "the message says what happened and what to do: {message}"
    );
    assert_eq!(retry_after, "5");

    // Still full: later batches are refused the same way, and queries
    // return exactly the acknowledged rows.
    let (status, body, _) = send(&http, &url, &key, "refused-again").await;
    assert_eq!(status, 503, "{body}");
    let live: Vec<(String, u64)> = counts(&http, &url, &key).await;
    let expected: Vec<(String, u64)> = acked
        .iter()
        .map(|name| (name.clone(), BATCH as u64))
        .collect();
    assert_eq!(live, expected, "rows while the disk is full");

    // Free the space, restart, and check again from the replayed log.
    std::fs::write(out.join("stop1"), "").unwrap();
    let url = wait_for_url(&out, 2, &mut script);
    let replayed = counts(&http, &url, &key).await;
    assert_eq!(replayed, expected, "rows after the restart");
    let (status, body, _) = send(&http, &url, &key, "after-space-freed").await;
    assert_eq!(status, 204, "{body}");

    std::fs::write(out.join("stop2"), "").unwrap();
    let status = wait_with_timeout(&mut script, Duration::from_secs(60));
    let mut script_stderr = String::new();
    if let Some(mut pipe) = script.stderr.take() {
        use std::io::Read as _;
        let _ = pipe.read_to_string(&mut script_stderr);
    }
    assert!(
        status.success(),
        "the script failed: {script_stderr}\n{}",
        read(&out, "script.err")
    );
    let log = read(&out, "up1.err");
    assert!(
        log.contains("write-ahead log write failed"),
        "the server logs the failed write:\n{log}"
    );
    // The first server's last flush may not fit on the full disk. Then it
    // exits non-zero with a message that the rows wait in the log, which the
    // second server replayed above. The second server stops cleanly.
    let exits = read(&out, "script.err");
    if exits.contains("up 1 exited") {
        assert!(
            log.contains("the acknowledged rows stay in the write-ahead log"),
            "up 1 explains its failed last flush:\n{log}"
        );
    }
    assert!(
        !exits.contains("up 2 exited"),
        "up 2 stops cleanly: {exits}\n{}",
        read(&out, "up2.err")
    );
}
