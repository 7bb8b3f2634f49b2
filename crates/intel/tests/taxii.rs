//! Pulls TAXII 2.1 collections from medallion, the OASIS TAXII 2.1
//! reference server (installed from PyPI by .ci/run), on 127.0.0.1 with its
//! memory backend, loaded with the STIX bundles of the shared corpus.

mod common;

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Canned, FolderServer, corpus_dir, quick_fetcher, table_rows};
use intel::config::SecretSource;
use intel::state::FeedState;
use intel::taxii::TAXII_MEDIA_TYPE;
use intel::{FeedConfig, FeedFormat, FeedsFile, PullReport, PullResult, pull_feed};
use serde_json::{Value, json};
use store::Workspace;

const USER: &str = "homesoc";
const PASSWORD: &str = "taxii-test-password-7f3a";
const API_ROOT: &str = "api1";
const COLLECTION: &str = "365fed99-08fa-fdcd-a1b3-fb247eb41d01";
/// Small, so that a pull of the corpus takes several pages.
const MAX_PAGE_SIZE: usize = 20;

/// A medallion process, killed when dropped.
struct Medallion {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Medallion {
    fn api_root(&self) -> String {
        format!("http://127.0.0.1:{}/{API_ROOT}/", self.port)
    }

    /// Adds objects to the collection through the TAXII "add objects"
    /// endpoint, as a producer would.
    async fn add_objects(&self, objects: &[Value]) {
        let url = format!("{}collections/{COLLECTION}/objects/", self.api_root());
        let response = reqwest::Client::new()
            .post(&url)
            .basic_auth(USER, Some(PASSWORD))
            .header("Accept", TAXII_MEDIA_TYPE)
            .header("Content-Type", TAXII_MEDIA_TYPE)
            .body(json!({ "objects": objects }).to_string())
            .send()
            .await
            .expect("POST to medallion");
        let status = response.status();
        let body = response.bytes().await.expect("TAXII status resource");
        let body: Value = serde_json::from_slice(&body).expect("status resource is JSON");
        assert_eq!(status.as_u16(), 202, "{body}");
        assert_eq!(body["success_count"], objects.len(), "{body}");
    }
}

/// The objects of the corpus's STIX 2.1 bundles, each id and version once.
fn corpus_objects() -> Vec<Value> {
    let mut files: Vec<PathBuf> = Vec::new();
    for folder in std::fs::read_dir(corpus_dir().join("stix")).expect("corpus stix folder") {
        let folder = folder.unwrap().path();
        for file in std::fs::read_dir(&folder).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files.sort();
    let mut seen = BTreeSet::new();
    let mut objects = Vec::new();
    for file in files {
        let json: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        if json["type"] != "bundle" {
            continue;
        }
        for object in json["objects"].as_array().unwrap() {
            let version = object
                .get("modified")
                .or_else(|| object.get("created"))
                .cloned()
                .unwrap_or(Value::Null);
            if seen.insert((object["id"].to_string(), version.to_string())) {
                objects.push(object.clone());
            }
        }
    }
    objects
}

/// Writes medallion's configuration and its memory backend's data file,
/// with every object in one collection and added on 2025-01-01, one second
/// apart.
fn write_server_files(dir: &Path, port: u16, objects: &[Value]) -> PathBuf {
    let mut stored = Vec::new();
    let mut manifest = Vec::new();
    for (position, object) in objects.iter().enumerate() {
        let date_added = (chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap()
            + chrono::Duration::seconds(position as i64))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
        let mut object = object.clone();
        // Medallion versions objects without `modified` and `created`
        // (cyber-observables) by this hidden field.
        let version = match object.get("modified").or_else(|| object.get("created")) {
            Some(version) => version.as_str().unwrap().to_string(),
            None => {
                object["_date_added"] = json!(date_added);
                date_added.clone()
            }
        };
        manifest.push(json!({
            "id": object["id"],
            "date_added": date_added,
            "version": version,
            "media_type": "application/stix+json;version=2.1",
        }));
        stored.push(object);
    }
    let api_root = format!("http://127.0.0.1:{port}/{API_ROOT}/");
    let data = json!({
        "/discovery": {
            "title": "homesoc test server",
            "default": api_root,
            "api_roots": [api_root],
        },
        API_ROOT: {
            "information": {
                "title": "homesoc test API root",
                "versions": [TAXII_MEDIA_TYPE],
                "max_content_length": 10_485_760,
            },
            "status": [],
            "collections": [{
                "id": COLLECTION,
                "title": "STIX corpus",
                "can_read": true,
                "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": stored,
                "manifest": manifest,
            }],
        },
    });
    let data_file = dir.join("data.json");
    std::fs::write(&data_file, data.to_string()).unwrap();
    let config = json!({
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": data_file,
        },
        "users": { USER: PASSWORD },
        "taxii": { "max_page_size": MAX_PAGE_SIZE },
    });
    let config_file = dir.join("config.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    config_file
}

/// Starts medallion on a free port of 127.0.0.1, serving `objects`.
fn start_medallion(objects: &[Value]) -> Medallion {
    let installed = Command::new("python3")
        .args(["-c", "import medallion"])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        installed,
        "medallion (the TAXII 2.1 reference server) is not installed for python3; run .ci/run, which installs it with pip"
    );

    let dir = tempfile::tempdir().unwrap();
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = write_server_files(dir.path(), port, objects);
    let log_path = dir.path().join("medallion.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new("python3")
        .args(["-m", "medallion.scripts.run", "--host", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start python3 -m medallion.scripts.run");
    let mut server = Medallion {
        child,
        port,
        _dir: dir,
    };

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!(
                "medallion exited with {status}: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "medallion did not listen on 127.0.0.1:{port} within 30 s: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Returns a TAXII feed for the test collection, with the password in a file.
fn taxii_feed(api_root: &str, password_file: &Path) -> FeedConfig {
    FeedConfig {
        collection: Some(COLLECTION.to_string()),
        user: Some(USER.to_string()),
        password: Some(SecretSource::File(password_file.to_path_buf())),
        ..FeedConfig::new("lab-taxii", api_root, FeedFormat::Taxii)
    }
}

fn write_password(dir: &Path, password: &str) -> PathBuf {
    let file = dir.join("taxii.password");
    std::fs::write(&file, format!("{password}\n")).unwrap();
    file
}

/// Returns the external ids of the feed's active indicators in the table.
async fn active_ids(workspace: &Workspace) -> BTreeSet<String> {
    intel::stored::latest_indicators(workspace)
        .await
        .unwrap()
        .into_iter()
        .filter(|indicator| indicator.active && indicator.source_system == "lab-taxii")
        .map(|indicator| indicator.external_id)
        .collect()
}

/// Returns a new indicator object with the given STIX pattern.
fn new_indicator(pattern: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--{}", uuid::Uuid::new_v4()),
        "created": "2026-03-01T10:00:00.000Z",
        "modified": "2026-03-01T10:00:00.000Z",
        "name": "added during the test",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-03-01T10:00:00Z",
    })
}

async fn pull(workspace: &Workspace, feed: &FeedConfig) -> PullReport {
    pull_feed(workspace, &quick_fetcher(), &FeedsFile::default(), feed)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn medallion_pull_then_added_after() {
    let objects = corpus_objects();
    let expected = intel::stix::object_indicators(&objects, "corpus", "lab-taxii").unwrap();
    let expected_ids: BTreeSet<String> = expected
        .indicators
        .iter()
        .map(|indicator| indicator.external_id.clone())
        .collect();
    let expected_rejected = expected.compound + expected.unmapped + expected.other_pattern_types;
    let indicator_objects = objects.iter().filter(|o| o["type"] == "indicator").count();
    assert!(
        expected_ids.len() > MAX_PAGE_SIZE,
        "the corpus has too few supported indicators ({}) to span pages",
        expected_ids.len()
    );
    assert!(
        expected_rejected > 1,
        "the corpus needs several unsupported patterns to tell a full read from an incremental one"
    );
    assert_eq!(
        expected_ids.len() as u64 + expected_rejected,
        indicator_objects as u64
    );
    assert!(
        objects.len() > 4 * MAX_PAGE_SIZE,
        "the corpus spans several pages"
    );

    let server = start_medallion(&objects);
    let secrets = tempfile::tempdir().unwrap();
    let feed = taxii_feed(
        &server.api_root(),
        &write_password(secrets.path(), PASSWORD),
    );
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();

    // The first pull reads every page of the collection.
    let first = pull(&workspace, &feed).await;
    assert_eq!(first.result, PullResult::Succeeded, "{first:?}");
    assert_eq!(first.added, expected_ids.len() as u64, "{first:?}");
    assert_eq!(first.rejected, expected_rejected, "{first:?}");
    assert_eq!(active_ids(&workspace).await, expected_ids);
    let state = FeedState::load(data.path(), "lab-taxii").unwrap();
    let first_mark = state.taxii_added_after.clone().expect("added_after stored");
    assert_eq!(
        first_mark,
        format!(
            "2025-01-01T00:{:02}:{:02}.000000Z",
            (objects.len() - 1) / 60,
            (objects.len() - 1) % 60
        ),
        "the date_added of the newest object"
    );

    // A producer adds two indicators, one compound pattern and an identity.
    let added_ip = new_indicator("[ipv4-addr:value = '198.51.100.77']");
    let added_domain = new_indicator("[domain-name:value = 'taxii-test.example.net']");
    let compound =
        new_indicator("[ipv4-addr:value = '198.51.100.78'] OR [ipv4-addr:value = '198.51.100.79']");
    let identity = json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": format!("identity--{}", uuid::Uuid::new_v4()),
        "created": "2026-03-01T10:00:00.000Z",
        "modified": "2026-03-01T10:00:00.000Z",
        "name": "test producer",
        "identity_class": "organization",
    });
    server
        .add_objects(&[added_ip.clone(), added_domain.clone(), compound, identity])
        .await;

    // The second pull requests objects added after the first pull, so only
    // the new compound pattern is rejected, not the corpus's ones again.
    let second = pull(&workspace, &feed).await;
    assert_eq!(second.result, PullResult::Succeeded, "{second:?}");
    assert_eq!(
        (second.added, second.updated, second.deactivated),
        (2, 0, 0),
        "{second:?}"
    );
    assert_eq!(second.rejected, 1, "{second:?}");
    let mut with_new = expected_ids.clone();
    with_new.insert(added_ip["id"].as_str().unwrap().to_string());
    with_new.insert(added_domain["id"].as_str().unwrap().to_string());
    assert_eq!(active_ids(&workspace).await, with_new);
    let second_mark = FeedState::load(data.path(), "lab-taxii")
        .unwrap()
        .taxii_added_after
        .unwrap();
    assert!(
        second_mark.as_str() > first_mark.as_str(),
        "{second_mark} follows {first_mark}"
    );

    // Nothing was added since, so the third pull reads no object.
    let third = pull(&workspace, &feed).await;
    assert_eq!(third.result, PullResult::NotModified, "{third:?}");
    let note = third.note.clone().unwrap_or_default();
    assert!(
        note.contains(&format!("no objects added after {second_mark}")),
        "{note}"
    );

    // A wrong password fails the pull, records it and keeps the indicators.
    let wrong = taxii_feed(
        &server.api_root(),
        &write_password(secrets.path(), "not-the-password"),
    );
    let failed = pull(&workspace, &wrong).await;
    assert_eq!(failed.result, PullResult::Failed, "{failed:?}");
    let error = failed.error.clone().unwrap();
    assert!(error.contains("HTTP 401"), "{error}");
    assert!(error.contains("credentials"), "{error}");
    assert!(!error.contains("not-the-password"), "{error}");
    assert_eq!(active_ids(&workspace).await, with_new);
    let state = FeedState::load(data.path(), "lab-taxii").unwrap();
    assert_eq!(state.last_pull.unwrap().result, PullResult::Failed);
    assert_eq!(
        state.taxii_added_after.as_deref(),
        Some(second_mark.as_str()),
        "a failed pull keeps the added_after of the last successful one"
    );

    let pulls = table_rows(
        &workspace,
        "HomesocIntelPulls",
        &["Result", "Error", "FeedFormat"],
    )
    .await;
    let results: Vec<&str> = pulls.iter().map(|row| row["Result"].as_str()).collect();
    assert_eq!(pulls.len(), 4, "{pulls:?}");
    assert_eq!(
        results.iter().filter(|result| **result == "Failed").count(),
        1,
        "{pulls:?}"
    );
    assert!(pulls.iter().all(|row| row["FeedFormat"] == "taxii"));
    assert!(
        pulls
            .iter()
            .any(|row| row["Result"] == "Failed" && row["Error"].contains("HTTP 401"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn taxii_failures_keep_indicators() {
    let objects = corpus_objects();
    let server = start_medallion(&objects);
    let secrets = tempfile::tempdir().unwrap();
    let password_file = write_password(secrets.path(), PASSWORD);
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();
    let first = pull(&workspace, &taxii_feed(&server.api_root(), &password_file)).await;
    assert_eq!(first.result, PullResult::Succeeded, "{first:?}");
    let before = active_ids(&workspace).await;
    assert_eq!(before.len() as u64, first.added);

    // Each case sets the response to the first page request of a pull.
    let folder = tempfile::tempdir().unwrap();
    let other = FolderServer::start(folder.path());
    let page = format!("{API_ROOT}/collections/{COLLECTION}/objects/?limit=1000");
    let closed_port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cases: Vec<(&str, String, Option<Canned>, &str)> = vec![
        (
            "unreachable",
            format!("http://127.0.0.1:{closed_port}/{API_ROOT}/"),
            None,
            "cannot fetch",
        ),
        (
            "server error",
            other.url(&format!("{API_ROOT}/")),
            Some(Canned {
                status: 500,
                content_type: TAXII_MEDIA_TYPE,
                body: br#"{"title": "InternalError"}"#.to_vec(),
            }),
            "HTTP 500",
        ),
        (
            "plain text",
            other.url(&format!("{API_ROOT}/")),
            Some(Canned {
                status: 200,
                content_type: "text/plain",
                body: b"hello".to_vec(),
            }),
            "not application/taxii+json",
        ),
        (
            "JSON without an envelope",
            other.url(&format!("{API_ROOT}/")),
            Some(Canned {
                status: 200,
                content_type: "application/json",
                body: br#"{"status": "ok"}"#.to_vec(),
            }),
            "neither \"objects\" nor \"more\"",
        ),
        ("unknown collection", server.api_root(), None, "HTTP 404"),
    ];
    for (case, url, canned, expected_error) in cases {
        if let Some(canned) = canned {
            other.set_canned(&page, canned);
        }
        let mut feed = taxii_feed(&url, &password_file);
        if case == "unknown collection" {
            feed.collection = Some("no-such-collection".into());
        }
        let report = pull(&workspace, &feed).await;
        assert_eq!(report.result, PullResult::Failed, "{case}: {report:?}");
        let error = report.error.clone().unwrap();
        assert!(
            error.contains(expected_error),
            "{case}: {error:?} lacks {expected_error:?}"
        );
        assert!(!error.contains(PASSWORD), "{case}: {error}");
        assert_eq!(
            active_ids(&workspace).await,
            before,
            "{case}: the indicators stay"
        );
        let state = FeedState::load(data.path(), "lab-taxii").unwrap();
        assert_eq!(
            state.last_pull.unwrap().error.as_deref(),
            Some(error.as_str()),
            "{case}: the failure is the recorded last pull"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_url_finds_api_root() {
    let objects = corpus_objects();
    let expected = intel::stix::object_indicators(&objects, "corpus", "lab-taxii").unwrap();
    let server = start_medallion(&objects);
    let secrets = tempfile::tempdir().unwrap();
    let discovery = format!("http://127.0.0.1:{}/taxii2/", server.port);
    let feed = taxii_feed(&discovery, &write_password(secrets.path(), PASSWORD));
    let data = tempfile::tempdir().unwrap();
    let workspace = Workspace::open(data.path()).unwrap();

    let report = pull(&workspace, &feed).await;
    assert_eq!(report.result, PullResult::Succeeded, "{report:?}");
    assert_eq!(report.added, expected.indicators.len() as u64, "{report:?}");
    assert_eq!(report.url, discovery, "the report names the configured URL");
    assert_eq!(
        active_ids(&workspace).await.len(),
        expected.indicators.len()
    );
}
