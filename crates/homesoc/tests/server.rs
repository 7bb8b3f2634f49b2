//! `homesoc up` end to end: first run, restart, auth, the Logs Ingestion
//! API with Azure's client, `_bulk` with the elasticsearch client and
//! Winlogbeat documents, and Kusto queries with azure-kusto-data.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::{BIN, Server, client, create_key, python, python_ready, query};

#[tokio::test(flavor = "multi_thread")]
async fn first_run_creates_state_and_a_restart_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let printed = server.stdout_text();
    let password = printed
        .lines()
        .find_map(|line| line.strip_prefix("created user admin with password "))
        .expect("the first run prints the admin password")
        .to_string();
    assert!(data.join("homesoc.toml").is_file());
    let auth = std::fs::read_to_string(data.join("auth.json")).unwrap();
    assert!(
        auth.contains("$argon2id$"),
        "the password is stored as an argon2id hash"
    );
    assert!(
        !auth.contains(&password),
        "the password itself is not stored"
    );
    let cert = std::fs::read(server.ca()).unwrap();
    assert!(server.url.starts_with("https://127.0.0.1:"));

    let http = client(&server.ca());
    let health = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    for path in ["/metrics", "/"] {
        let refused = http
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{path} needs a credential");
    }
    let refused = http
        .post(format!("{}/api/query", server.url))
        .body(r#"{"query":"print 1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // The admin password works as basic auth; a login opens a session.
    let metrics = http
        .get(format!("{}/metrics", server.url))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("homesoc_wal_fsync_seconds_bucket"), "{text}");
    // The scheduler runs the built-in rules at its first tick.
    let mut text = text;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while rule_runs_ok(&text) == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        text = http
            .get(format!("{}/metrics", server.url))
            .basic_auth("admin", Some(&password))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    }
    assert!(rule_runs_ok(&text) > 0, "no rule run counted:\n{text}");
    let login: Value = http
        .post(format!("{}/api/login", server.url))
        .body(json!({"user": "admin", "password": password}).to_string())
        .send()
        .await
        .unwrap()
        .json_text()
        .await;
    let token = login["token"].as_str().unwrap();
    let result = query(&http, &server.url, token, "print x = 1 + 1").await;
    assert_eq!(result["rows"], json!([[2]]));

    // An ingest-only key cannot query.
    let ingest_key = create_key(&data, "ingest");
    let forbidden = http
        .post(format!("{}/api/query", server.url))
        .bearer_auth(&ingest_key)
        .body(r#"{"query":"print 1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);

    // Wrong passwords are throttled after a few attempts.
    let mut last = 0;
    for _ in 0..7 {
        last = http
            .post(format!("{}/api/login", server.url))
            .body(json!({"user": "admin", "password": "wrong"}).to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);

    let status = server.terminate();
    assert!(status.success(), "SIGTERM exits 0, got {status}");

    let again = Server::start(&data, &[]);
    assert!(!again.stdout_text().contains("created user admin"));
    assert_eq!(std::fs::read(again.ca()).unwrap(), cert);
    assert!(again.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn import_refuses_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--no-tls"]);
    assert!(server.url.starts_with("http://"));
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["import", "evtx"])
        .arg(support::corpus().join("evtx/samples__Security_short_selected.evtx"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("homesoc up"), "{stderr}");
    assert!(server.terminate().success());
}

trait JsonText {
    async fn json_text(self) -> Value;
}

impl JsonText for reqwest::Response {
    async fn json_text(self) -> Value {
        let status = self.status();
        let text = self.text().await.unwrap();
        assert!(status.is_success(), "{status}: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

const DCR_CONFIG: &str = r#"
listen = "127.0.0.1:0"
flush_interval_secs = 1

[[data_collection_rule]]
id = "dcr-test"

[[data_collection_rule.stream]]
name = "Custom-AppEvents"
table = "Event"
transform_kql = "source | where Level != 'debug' | extend Computer = strcat(Host, '.example.org'), EventID = toint(Code) | project TimeGenerated, Computer, EventID, RenderedDescription = Message, Source = 'app', Extra = 1"
columns = { TimeGenerated = "datetime", Host = "string", Code = "long", Message = "string", Level = "string" }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn logs_ingestion_api_with_the_azure_client() {
    if !python_ready(&["azure.monitor.ingestion"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.path().join("homesoc.toml");
    std::fs::write(&config, DCR_CONFIG).unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let key = create_key(&data, "ingest,query");

    let records = json!([
        {"TimeGenerated": "2024-05-01T10:00:00.1234567Z", "Host": "web01", "Code": 1001, "Message": "started", "Level": "info"},
        {"TimeGenerated": "2024-05-01T10:00:01Z", "Host": "web02", "Code": 1002, "Message": "ready", "Level": "info"},
        {"TimeGenerated": "2024-05-01T10:00:02Z", "Host": "web03", "Code": 1003, "Message": "noise", "Level": "debug"},
        {"TimeGenerated": "2024-05-01T10:00:03Z", "Host": "web04", "Code": "not a number", "Message": "bad", "Level": "info"},
        {"TimeGenerated": "2024-05-01T10:00:04Z", "Host": "web05", "Code": 1005, "Message": "last", "Level": "warning"}
    ]);
    let env = [
        ("HOMESOC_URL", server.url.clone()),
        ("HOMESOC_KEY", key.clone()),
        ("HOMESOC_CA", server.ca().display().to_string()),
        ("HOMESOC_RULE", "dcr-test".to_string()),
        ("HOMESOC_STREAM", "Custom-AppEvents".to_string()),
    ];
    let outcome = python("logs_ingestion.py", &env, &records.to_string());
    assert_eq!(outcome["failures"], json!([]), "{outcome}");

    let http = client(&server.ca());
    let result = query(
        &http,
        &server.url,
        &key,
        "Event | where Source == 'app' | project TimeGenerated, Computer, EventID, RenderedDescription | order by EventID asc",
    )
    .await;
    assert_eq!(
        result["rows"],
        json!([
            [
                "2024-05-01T10:00:00.1234567Z",
                "web01.example.org",
                1001,
                "started"
            ],
            [
                "2024-05-01T10:00:01.0000000Z",
                "web02.example.org",
                1002,
                "ready"
            ],
            [
                "2024-05-01T10:00:04.0000000Z",
                "web05.example.org",
                1005,
                "last"
            ]
        ]),
        "{result}"
    );

    let metrics = http
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let source = "logs_ingestion/Custom-AppEvents";
    for line in [
        format!("homesoc_events_received_total{{source=\"{source}\"}} 5"),
        format!("homesoc_events_accepted_total{{source=\"{source}\"}} 3"),
        format!("homesoc_events_dropped_total{{source=\"{source}\",reason=\"bad_value\"}} 1"),
        format!(
            "homesoc_events_dropped_total{{source=\"{source}\",reason=\"filtered_by_transform\"}} 1"
        ),
        "homesoc_transform_fields_dropped_total{stream=\"Custom-AppEvents\",column=\"Extra\"} 1"
            .to_string(),
    ] {
        assert!(metrics.contains(&line), "missing {line} in\n{metrics}");
    }

    // A batch of bad records only is refused whole with each error.
    let refused = http
        .post(format!(
            "{}/dataCollectionRules/dcr-test/streams/Custom-AppEvents?api-version=2023-01-01",
            server.url
        ))
        .bearer_auth(&key)
        .body(r#"[{"TimeGenerated": "yesterday"}, 7]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
    assert_eq!(
        body["error"]["details"].as_array().unwrap().len(),
        2,
        "{body}"
    );

    // The rows survive a restart: they are flushed or replayed.
    assert!(server.terminate().success());
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let again = query(
        &http_for(&server),
        &server.url,
        &key,
        "Event | where Source == 'app' | count",
    )
    .await;
    assert_eq!(again["rows"], json!([[3]]));
    assert!(server.terminate().success());
}

/// Returns the value of `homesoc_rule_runs_total{outcome="ok"}`.
fn rule_runs_ok(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("homesoc_rule_runs_total{outcome=\"ok\"} "))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no homesoc_rule_runs_total in\n{metrics}"))
}

fn http_for(server: &Server) -> reqwest::Client {
    client(&server.ca())
}

/// Removes the whitespace between XML tags, which the EVTX renderer adds
/// and a rebuilt `EventData` does not have, and reads CR LF as LF, as an
/// XML parser does.
fn compact_xml(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    let mut pending = String::new();
    for c in text.chars() {
        if c.is_whitespace() && (out.ends_with('>') || !pending.is_empty()) {
            pending.push(c);
            continue;
        }
        if c != '<' {
            out.push_str(&pending);
        }
        pending.clear();
        out.push(c);
    }
    out.push_str(&pending);
    out
}

fn rows_with_compact_event_data(result: &Value) -> Vec<Value> {
    let columns = result["columns"].as_array().unwrap();
    let event_data = columns
        .iter()
        .position(|c| c["name"] == "EventData")
        .unwrap();
    result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let mut row = row.clone();
            if let Some(text) = row[event_data].as_str() {
                row[event_data] = Value::String(compact_xml(text));
            }
            row
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn winlogbeat_documents_over_bulk_match_the_evtx_import() {
    if !python_ready(&["elasticsearch"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let corpus = support::corpus().join("evtx");
    let made = Command::new("python3")
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/scripts/winlogbeat_documents.py"),
        )
        .arg(corpus.join("SAMPLES.jsonl"))
        .arg("Security")
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let samples: Vec<Value> = serde_json::from_slice(&made.stdout).unwrap();
    assert!(
        samples.len() >= 20,
        "the samples hold {} Security events",
        samples.len()
    );

    // The same events, imported from their EVTX files.
    let imported = dir.path().join("imported");
    let mut files: Vec<String> = samples
        .iter()
        .map(|s| s["file"].as_str().unwrap().to_string())
        .collect();
    files.sort();
    files.dedup();
    let status = Command::new(BIN)
        .arg("--data-dir")
        .arg(&imported)
        .args(["import", "evtx"])
        .args(files.iter().map(|f| corpus.join(f)))
        .status()
        .unwrap();
    assert!(status.success());

    let data = dir.path().join("live");
    let server = Server::start(&data, &[]);
    let key = create_key(&data, "ingest,query");
    let documents: Vec<Value> = samples.iter().map(|s| s["document"].clone()).collect();
    // Junk is refused per item while the rest is stored.
    let mut with_junk = documents.clone();
    with_junk.push(json!({"message": "a Filebeat line, not a Windows event"}));
    let env = [
        ("HOMESOC_URL", server.url.clone()),
        ("HOMESOC_KEY", key.clone()),
        ("HOMESOC_CA", server.ca().display().to_string()),
    ];
    let outcome = python("es_bulk.py", &env, &Value::Array(with_junk).to_string());
    assert_eq!(outcome["success"], json!(documents.len()), "{outcome}");
    assert_eq!(outcome["errors"].as_array().unwrap().len(), 1, "{outcome}");

    let times: Vec<String> = documents
        .iter()
        .map(|d| {
            format!(
                "datetime({})",
                d["winlog"]["time_created"].as_str().unwrap()
            )
        })
        .collect();
    let text = format!(
        "SecurityEvent | where TimeGenerated in ({}) | order by TimeGenerated asc, EventID asc, Computer asc",
        times.join(", ")
    );
    let http = client(&server.ca());
    let live = query(&http, &server.url, &key, &text).await;
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(&imported)
        .args(["query", "--format", "json", &text])
        .output()
        .unwrap();
    assert!(output.status.success());
    let from_import: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(live["columns"], from_import["columns"]);
    let live_rows = rows_with_compact_event_data(&live);
    let import_rows = rows_with_compact_event_data(&from_import);
    assert_eq!(live_rows.len(), documents.len());
    let names: Vec<&str> = live["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let time = names.iter().position(|n| *n == "TimeGenerated").unwrap();
    let event_id = names.iter().position(|n| *n == "EventID").unwrap();
    let mut compared = 0;
    for row in &live_rows {
        if import_rows.contains(row) {
            compared += 1;
            continue;
        }
        let counterparts: Vec<&Value> = import_rows
            .iter()
            .filter(|imported| imported[time] == row[time] && imported[event_id] == row[event_id])
            .collect();
        assert!(
            !counterparts.is_empty(),
            "no imported event at {} with EventID {}",
            row[time],
            row[event_id]
        );
        // Name the columns that differ from the imported rows of the same event.
        let differences: Vec<String> = counterparts
            .iter()
            .map(|imported| {
                names
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| imported[*i] != row[*i])
                    .map(|(i, name)| format!("{name}: {} != {}", row[i], imported[i]))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .collect();
        panic!("a Winlogbeat row differs from the imported rows of its time: {differences:?}");
    }
    assert!(
        compared >= 20,
        "only {compared} Winlogbeat rows matched imported rows"
    );
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn kusto_client_queries_with_an_api_key() {
    if !python_ready(&["azure.kusto.data"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let key = create_key(&data, "query");
    let text = "range i from 1 to 3 step 1 | extend s = strcat('n', tostring(i)), t = datetime(2024-05-01) + i * 1h, d = dynamic({\"a\": 1}), r = i * 0.5";
    let env = [
        ("HOMESOC_URL", server.url.clone()),
        ("HOMESOC_KEY", key.clone()),
        ("HOMESOC_QUERY", text.to_string()),
        ("REQUESTS_CA_BUNDLE", server.ca().display().to_string()),
    ];
    let outcome = python("kusto_query.py", &env, "");
    assert_eq!(
        outcome["columns"],
        json!([
            {"name": "i", "type": "long"}, {"name": "s", "type": "string"},
            {"name": "t", "type": "datetime"}, {"name": "d", "type": "dynamic"},
            {"name": "r", "type": "real"}
        ]),
        "{outcome}"
    );
    assert_eq!(outcome["rows"].as_array().unwrap().len(), 3);
    assert_eq!(outcome["rows"][1][0], "2");
    assert_eq!(outcome["rows"][1][1], "n2");
    assert!(
        outcome["rows"][1][2]
            .as_str()
            .unwrap()
            .starts_with("2024-05-01 02:00:00"),
        "{outcome}"
    );

    // A query error reaches the client as an exception with the message.
    let env_bad = [
        ("HOMESOC_URL", server.url.clone()),
        ("HOMESOC_KEY", key),
        ("HOMESOC_QUERY", "NoSuchTable | take 1".to_string()),
        ("REQUESTS_CA_BUNDLE", server.ca().display().to_string()),
    ];
    let failed = Command::new("python3")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/kusto_query.py"))
        .envs(env_bad.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("NoSuchTable"));
    assert!(server.terminate().success());
}
