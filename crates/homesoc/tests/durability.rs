//! The durability contract of `homesoc up`: a load generator sends batches
//! as fast as it can while the test kills the server with SIGKILL at a
//! random moment of a 30 s window; after a restart every acknowledged
//! event is present exactly once, and a batch that was not acknowledged is
//! present whole or not at all. Repeated 20 times on one data folder, so
//! that recoveries stack.
//!
//! `HOMESOC_DURABILITY_RUNS` and `HOMESOC_DURABILITY_WINDOW_SECS` change
//! the repetitions and the window (defaults 20 and 30).

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng as _;
use serde_json::{Value, json};
use support::{Server, create_key, query};

/// Records per batch; each batch is one request.
const BATCH: usize = 200;

/// Concurrent senders.
const SENDERS: usize = 4;

const CONFIG: &str = r#"
listen = "127.0.0.1:0"
flush_interval_secs = 2

[[data_collection_rule]]
id = "dcr-load"

[[data_collection_rule.stream]]
name = "Custom-Load"
table = "Event"
columns = { TimeGenerated = "datetime", Computer = "string", EventID = "int", Source = "string" }
"#;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sends batches until `stop`; returns the batch names acknowledged (204).
async fn send_until_stopped(
    url: String,
    key: String,
    sender: usize,
    run: u64,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let endpoint =
        format!("{url}/dataCollectionRules/dcr-load/streams/Custom-Load?api-version=2023-01-01");
    let mut number = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let name = format!("r{run}-s{sender}-b{number}");
        number += 1;
        let records: Vec<Value> = (0..BATCH)
            .map(|i| json!({"TimeGenerated": "2024-06-01T00:00:00Z", "Computer": name, "EventID": i, "Source": "load"}))
            .collect();
        let response = http
            .post(&endpoint)
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(Value::Array(records).to_string())
            .send()
            .await;
        match response {
            Ok(response) if response.status() == 204 => acked.lock().unwrap().push(name),
            Ok(_) => {}
            // The server is gone: the batch is in doubt, which the check allows.
            Err(_) => break,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_acknowledged_event_survives_sigkill_exactly_once() {
    let runs = env_number("HOMESOC_DURABILITY_RUNS", 20);
    let window = env_number("HOMESOC_DURABILITY_WINDOW_SECS", 30) as f64;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.path().join("homesoc.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let args = ["--config", config.to_str().unwrap(), "--no-tls"];
    let key = create_key(&data, "ingest,query");
    let acked = Arc::new(Mutex::new(Vec::new()));

    for run in 0..runs {
        let server = Server::start(&data, &args);
        let stop = Arc::new(AtomicBool::new(false));
        let senders: Vec<_> = (0..SENDERS)
            .map(|sender| {
                tokio::spawn(send_until_stopped(
                    server.url.clone(),
                    key.clone(),
                    sender,
                    run,
                    stop.clone(),
                    acked.clone(),
                ))
            })
            .collect();
        let kill_after = rand::rng().random_range(0.5..window);
        tokio::time::sleep(Duration::from_secs_f64(kill_after)).await;
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for sender in senders {
            sender.await.unwrap();
        }

        let server = Server::start(&data, &args);
        let http = reqwest::Client::new();
        let result = query(
            &http,
            &server.url,
            &key,
            "Event | where Source == 'load' | summarize n = count(), total = sum(EventID), low = min(EventID), high = max(EventID) by Computer",
        )
        .await;
        let mut stored: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
        for row in result["rows"].as_array().unwrap() {
            let row = row.as_array().unwrap();
            let numbers: Vec<i64> = row[1..].iter().map(|v| v.as_i64().unwrap()).collect();
            stored.insert(
                row[0].as_str().unwrap().to_string(),
                (numbers[0], numbers[1], numbers[2], numbers[3]),
            );
        }
        let whole = (
            BATCH as i64,
            (BATCH as i64 * (BATCH as i64 - 1)) / 2,
            0,
            BATCH as i64 - 1,
        );
        for (name, summary) in &stored {
            assert_eq!(
                *summary, whole,
                "run {run}: batch {name} is stored partly or twice"
            );
        }
        let acked_now = acked.lock().unwrap().clone();
        for name in &acked_now {
            assert!(
                stored.contains_key(name),
                "run {run}: acknowledged batch {name} is missing after SIGKILL"
            );
        }
        eprintln!(
            "run {run}: killed after {kill_after:.1} s; {} batches acknowledged in total, {} stored",
            acked_now.len(),
            stored.len()
        );
        assert!(server.terminate().success());
    }
    assert!(
        !acked.lock().unwrap().is_empty(),
        "the load generator got no acknowledgement"
    );
}
