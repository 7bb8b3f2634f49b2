//! Pulls from a small MISP REST API server on 127.0.0.1 that answers
//! `/attributes/restSearch` from a sample event, page by page.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::{corpus_dir, quick_fetcher, table_rows};
use intel::config::SecretSource;
use intel::{FeedConfig, FeedFormat, FeedsFile, PullResult, pull_feed};
use serde_json::{Value, json};
use store::Workspace;

const API_KEY: &str = "test-key-0123456789";

/// The attributes of a sample event in `restSearch` form: each with its
/// event and the event's tags marked inherited.
fn rest_attributes() -> Vec<Value> {
    let path = corpus_dir().join("misp/events-pymisp/long_event.json");
    let json: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let event = &json["Event"];
    let event_tags: Vec<Value> = event["Tag"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut tag| {
            tag["inherited"] = json!(1);
            tag
        })
        .collect();
    event["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attribute| {
            let mut attribute = attribute.clone();
            let mut tags = attribute["Tag"].as_array().cloned().unwrap_or_default();
            tags.extend(event_tags.iter().cloned());
            attribute["Tag"] = json!(tags);
            attribute["Event"] =
                json!({"uuid": event["uuid"], "info": event["info"], "Orgc": event["Orgc"]});
            attribute
        })
        .collect()
}

fn is_to_ids(attribute: &Value) -> bool {
    matches!(&attribute["to_ids"], Value::Bool(true))
        || attribute["to_ids"] == json!("1")
        || attribute["to_ids"] == json!(1)
}

/// Serves `restSearch` over `attributes` and records each request body.
fn start_server(attributes: Arc<Mutex<Vec<Value>>>, bodies: Arc<Mutex<Vec<Value>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0usize;
            let mut authorization = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    } else if name.eq_ignore_ascii_case("authorization") {
                        authorization = value.trim().to_string();
                    }
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let (status, answer) = if !request_line.starts_with("POST /attributes/restSearch ") {
                (404, json!({"message": "not found"}))
            } else if authorization != API_KEY {
                (403, json!({"message": "Authentication failed."}))
            } else {
                let request: Value = serde_json::from_slice(&body).unwrap();
                bodies.lock().unwrap().push(request.clone());
                let since = request["timestamp"].as_i64().unwrap_or(i64::MIN);
                let selected: Vec<Value> = attributes
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|a| a["timestamp"].as_str().unwrap().parse::<i64>().unwrap() >= since)
                    .filter(|a| match request.get("to_ids") {
                        Some(flag) if flag == &json!(1) => is_to_ids(a),
                        Some(_) => !is_to_ids(a),
                        None => request.get("deleted").is_none() || a["deleted"] == json!(true),
                    })
                    .cloned()
                    .collect();
                let limit = request["limit"].as_u64().unwrap() as usize;
                let page = request["page"].as_u64().unwrap() as usize;
                let slice: Vec<Value> = selected
                    .into_iter()
                    .skip((page - 1) * limit)
                    .take(limit)
                    .collect();
                (200, json!({"response": {"Attribute": slice}}))
            };
            let text = answer.to_string();
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_search_paging_and_withdrawal() {
    let attributes = Arc::new(Mutex::new(rest_attributes()));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let port = start_server(attributes.clone(), bodies.clone());

    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("misp.key");
    std::fs::write(&key_file, format!("{API_KEY}\n")).unwrap();
    let feed = FeedConfig {
        api_key: Some(SecretSource::File(key_file)),
        page_size: 100,
        ..FeedConfig::new(
            "lab-misp",
            &format!("http://127.0.0.1:{port}"),
            FeedFormat::MispApi,
        )
    };
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let fetcher = quick_fetcher();

    let report = pull_feed(&workspace, &fetcher, &FeedsFile::default(), &feed)
        .await
        .unwrap();
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert_eq!(
        report.added, 257,
        "the to_ids attributes that map to a column"
    );
    let pages: Vec<u64> = bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["page"].as_u64().unwrap())
        .collect();
    assert_eq!(pages, [1, 2, 3], "258 attributes in pages of 100");
    for body in bodies.lock().unwrap().iter() {
        assert_eq!(body["to_ids"], 1);
        assert_eq!(body["includeEventTags"], 1);
        assert!(
            body.get("timestamp").is_none(),
            "the first pull asks for everything"
        );
    }
    let rows = table_rows(
        &workspace,
        "ThreatIntelligenceIndicator",
        &["SourceSystem", "TrafficLightProtocolLevel"],
    )
    .await;
    assert_eq!(rows.len(), 257);
    assert!(rows.iter().all(|r| r["SourceSystem"] == "lab-misp"));

    // The analyst clears to_ids on one attribute, which raises its timestamp.
    let withdrawn_uuid = {
        let mut attributes = attributes.lock().unwrap();
        let attribute = attributes
            .iter_mut()
            .find(|a| is_to_ids(a) && a["type"] == "url")
            .unwrap();
        attribute["to_ids"] = json!(false);
        attribute["timestamp"] = json!("2000000000");
        attribute["uuid"].as_str().unwrap().to_string()
    };
    bodies.lock().unwrap().clear();
    let report = pull_feed(&workspace, &fetcher, &FeedsFile::default(), &feed)
        .await
        .unwrap();
    assert_eq!(
        (report.added, report.updated, report.deactivated),
        (0, 0, 1),
        "{report:?}"
    );
    let second = bodies.lock().unwrap().clone();
    assert!(
        second.iter().all(|b| b.get("timestamp").is_some()),
        "later pulls are incremental: {second:?}"
    );
    assert!(
        second.iter().any(|b| b["to_ids"] == 0),
        "withdrawn attributes are asked for"
    );

    let latest = intel::stored::latest_indicators(&workspace).await.unwrap();
    let withdrawn = latest
        .iter()
        .find(|i| i.external_id == withdrawn_uuid)
        .unwrap();
    assert!(!withdrawn.active);
    assert_eq!(latest.iter().filter(|i| i.active).count(), 256);
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_search_wrong_key_fails() {
    let port = start_server(
        Arc::new(Mutex::new(rest_attributes())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let feed = FeedConfig {
        api_key: Some(SecretSource::Env("HOMESOC_TEST_MISP_KEY_UNSET".into())),
        ..FeedConfig::new(
            "lab-misp",
            &format!("http://127.0.0.1:{port}"),
            FeedFormat::MispApi,
        )
    };
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let report = pull_feed(&workspace, &quick_fetcher(), &FeedsFile::default(), &feed)
        .await
        .unwrap();
    assert_eq!(report.result, PullResult::Failed);
    assert!(
        report
            .error
            .unwrap()
            .contains("HOMESOC_TEST_MISP_KEY_UNSET")
    );

    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("misp.key");
    std::fs::write(&key_file, "wrong-key").unwrap();
    let feed = FeedConfig {
        api_key: Some(SecretSource::File(key_file)),
        ..feed
    };
    let report = pull_feed(&workspace, &quick_fetcher(), &FeedsFile::default(), &feed)
        .await
        .unwrap();
    assert_eq!(report.result, PullResult::Failed);
    let error = report.error.unwrap();
    assert!(error.contains("HTTP 403"), "{error}");
    assert!(
        !error.contains("wrong-key"),
        "the key is not in the message"
    );
}
